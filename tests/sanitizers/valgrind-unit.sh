#!/usr/bin/env bash
# Usage: valgrind-unit.sh LOGDIR TEST...
# Each Criterion suite under memcheck. Criterion runs every test in a new
# process (it re-executes itself), so --trace-children=yes puts the tests
# themselves under valgrind; each process logs to LOGDIR/<suite>.<pid>, and
# a suite fails if it fails or if any of its logs counts an error (definite
# leaks included).
set -u
logdir=$1
shift
supp=$(dirname "$0")/valgrind.supp
mkdir -p "$logdir"
pass=0
fail=0
for t in "$@"; do
    name=$(basename "$t")
    rm -f "$logdir/$name".*
    # System programs a test runs (sh, cc, nm) are not ours to check.
    valgrind -q --trace-children=yes --child-silent-after-fork=yes \
        --trace-children-skip='/bin/*,/usr/bin/*,/usr/lib/gcc/*,/usr/libexec/*' \
        --leak-check=full --errors-for-leak-kinds=definite --show-leak-kinds=definite \
        --error-exitcode=99 --num-callers=30 --suppressions="$supp" \
        --log-file="$logdir/$name.%p" "$t" --jobs 2 >"$logdir/$name.out" 2>&1
    rc=$?
    bad=$(grep -lE 'ERROR SUMMARY: [1-9]' "$logdir/$name".[0-9]* 2>/dev/null)
    if [ "$rc" -eq 0 ] && [ -z "$bad" ]; then
        pass=$((pass + 1))
    else
        fail=$((fail + 1))
        echo "FAILED: $t (exit $rc)"
        tail -5 "$logdir/$name.out"
        for f in $bad; do echo "== $f"; cat "$f"; done
    fi
done
echo "unit suites under valgrind: $pass passed, $fail failed"
test "$fail" -eq 0
