#!/bin/sh
# make test-valgrind installs this as $(B)/vgbin/tokentapd, next to a copy of
# the CLI: `tokentap run` starts the daemon it finds next to itself, which is
# then the real $(B)/bin/tokentapd under valgrind. TT_VALGRIND_CMD
# (set by tests/integration/harness.py) is the valgrind command line; the
# harness reads the log files it names.
here=$(dirname "$0")
exec ${TT_VALGRIND_CMD:-valgrind -q --leak-check=full --errors-for-leak-kinds=definite} \
    "$here/../bin/tokentapd" "$@"
