#!/usr/bin/env bash
# bench/libc_io.sh - what the libc hooks (hooks/libc.c) cost a program that
# never talks to an LLM but does a lot of read/write/close: `tar cf -` of a
# tree of small files piped through `cat` (tar, cat and the shell all run
# under the preload). Plain vs LD_PRELOAD=build/lib/libtokentap.so,
# interleaved rounds, medians. Prints one line:
#   libc hooks, I/O-heavy non-LLM command: without X s, with Y s, ratio R
# FILES (20000) and ROUNDS (5) may be set in the environment.
set -euo pipefail
cd "$(dirname "$0")/.."

FILES=${FILES:-20000}
ROUNDS=${ROUNDS:-5}
LIB=$(realpath build/lib/libtokentap.so)
[[ -f $LIB ]] || { echo "build/lib/libtokentap.so missing: run make" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/tt-libc-io-XXXXXX")
trap 'rm -rf "$work"' EXIT

# FILES small files in 100 directories (a source tree's shape).
/usr/bin/python3 - "$work/tree" "$FILES" <<'EOF'
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    d = os.path.join(root, "d%03d" % (i % 100))
    if i < 100:
        os.makedirs(d)
    with open(os.path.join(d, "f%06d.txt" % i), "wb") as f:
        f.write(b"x" * (100 + (i * 37) % 4000))
EOF

cmd="tar -C '$work' -cf - tree | cat > /dev/null"
# A home of its own: nothing here talks to an LLM, so nothing may be
# written there; TOKENTAP_LOG=off keeps stderr clean either way.
export TOKENTAP_HOME="$work/home" TOKENTAP_LOG=off

run() {   # run <preload or empty>: seconds, to stdout
    local t0 t1
    t0=$(date +%s%N)
    if [[ -n $1 ]]; then
        LD_PRELOAD=$1 bash -c "$cmd"
    else
        bash -c "$cmd"
    fi
    t1=$(date +%s%N)
    echo $(( t1 - t0 ))
}

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

run "" >/dev/null; run "$LIB" >/dev/null        # warm the page cache
without=() with=()
for ((i = 0; i < ROUNDS; i++)); do
    without+=("$(run "")")
    with+=("$(run "$LIB")")
    echo "round $((i + 1)): without ${without[-1]} ns, with ${with[-1]} ns" >&2
done
a=$(printf '%s\n' "${without[@]}" | median)
b=$(printf '%s\n' "${with[@]}" | median)
awk -v a="$a" -v b="$b" 'BEGIN {
    printf "libc hooks, I/O-heavy non-LLM command: without %.3f s, with %.3f s, ratio %.3f\n",
           a / 1e9, b / 1e9, b / a }'
