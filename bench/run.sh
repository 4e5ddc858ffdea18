#!/usr/bin/env bash
# bench/run.sh - the figures of `make bench` (QUICK=1: fewer calls and spans).
# Each figure is a ratio of two runs on this same machine, so the machine's
# speed and noise cancel out as far as they can; absolute numbers are only
# comparable on one machine. Progress goes to stderr, the table to stdout.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ -n "${QUICK:-}" && "${QUICK}" != 0 ]]; then
    N=300 ROUNDS=3 M=50000
else
    N=2000 ROUNDS=5 M=200000
fi
PY=/usr/bin/python3     # Debian's, with requests

lat_cmd="N=$N ROUNDS=$ROUNDS $PY bench/latency.py"
ing_cmd="build/bench/ingest build/bin/tokentapd $M"

# A failing figure (e.g. spans missing from the store) stops the bench.
lat=$(N=$N ROUNDS=$ROUNDS $PY bench/latency.py | grep '^ROW')
ing_out=$(build/bench/ingest build/bin/tokentapd "$M")
grep -v '^ROW' <<<"$ing_out" >&2 || true
ing=$(grep '^ROW' <<<"$ing_out")

row() {  # ROW<TAB>figure<TAB>a<TAB>b<TAB>ratio
    IFS=$'\t' read -r _ fig a b ratio <<<"$1"
    printf '%-62s  %-9s  %-12s  %s\n' "$fig" "$a" "$b" "$ratio"
}
header() { printf '%-62s  %-9s  %-12s  %s\n' figure "$1" "$2" ratio; }

echo
echo "tokentap bench ($(nproc) cores; ratios are the figures, absolutes are this machine's)"
echo
header without with
row "$lat"
echo "  \$ $lat_cmd"
echo "    (client: $PY bench/client_calls.py $N, plain vs under build/bin/tokentap run --quiet --;"
echo "     $ROUNDS interleaved rounds each, medians; every traced round stored exactly $((N + 1)) spans)"
echo
header daemon ceiling
row "$ing"
echo "  \$ $ing_cmd"
echo "    (daemon: frames over its socket, first send to \"synced\"; ceiling: tt_store_put_span,"
echo "     one transaction; both stores checked to hold exactly $M rows)"

# libc hooks on a non-LLM, I/O-heavy command (issue #3).
if [[ -n "${QUICK:-}" && "${QUICK}" != 0 ]]; then LFILES=5000 LROUNDS=3; else LFILES=20000 LROUNDS=5; fi
libc=$(FILES=$LFILES ROUNDS=$LROUNDS bash bench/libc_io.sh)
echo
echo "$libc"
echo "  \$ FILES=$LFILES ROUNDS=$LROUNDS bash bench/libc_io.sh"
echo "    (tar cf - of $LFILES small files | cat, plain vs LD_PRELOAD=build/lib/libtokentap.so,"
echo "     $LROUNDS interleaved rounds, medians)"
