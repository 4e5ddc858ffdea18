#!/usr/bin/env bash
# bench/fig_04_process_start.sh - issue #5 figure 4: process start under an
# inherited LD_PRELOAD.
#
# A shell script that spawns many short processes: one /bin/sh (dash) runs
# a loop of N x /bin/true, and another loop of M x `/usr/bin/python3 -c
# pass`. "with" = the shell started with LD_PRELOAD=build/lib/libtokentap.so
# (what `tokentap run` sets), so the shell and every child it forks and
# execs load the preload, as they would in a traced script. Wall time of the
# whole loop, measured from outside; warm-up runs, then interleaved rounds
# (the order alternates each round), medians. ratio = time with / time
# without: <= 1.05 means at most 5% slower.
#
# Before timing, a child of the preloaded shell checks /proc/self/maps for
# libtokentap.so (and the plain one for its absence): a "with" that silently
# lost the preload fails the figure.
#
# QUICK: 200 x /bin/true, 20 x python3, 5 rounds; full: 1000 and 100,
# 7 rounds. N_TRUE, N_PY and ROUNDS may be set in the environment.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ -n "${QUICK:-}" && "$QUICK" != 0 ]]; then
    N_TRUE=${N_TRUE:-200} N_PY=${N_PY:-20} ROUNDS=${ROUNDS:-5}
else
    N_TRUE=${N_TRUE:-1000} N_PY=${N_PY:-100} ROUNDS=${ROUNDS:-7}
fi
LIB=$(realpath build/lib/libtokentap.so)
[[ -f $LIB ]] || { echo "build/lib/libtokentap.so missing: run make" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/tt-fig04-XXXXXX")
trap 'rm -rf "$work"' EXIT
export TOKENTAP_HOME="$work/home" TOKENTAP_LOG=off
unset LD_PRELOAD

# The preload must reach the shell's children, and only in "with".
check() {   # check <preload or empty>
    local n
    n=$(env ${1:+LD_PRELOAD="$1"} /bin/sh -c '/bin/cat /proc/self/maps' | grep -c libtokentap.so || true)
    if [[ -n $1 && $n == 0 ]] || [[ -z $1 && $n != 0 ]]; then
        echo "fig_04: preload check failed (LD_PRELOAD='$1', libtokentap.so mapped $n times in the child)" >&2
        exit 1
    fi
}
check ""; check "$LIB"

run() {   # run <preload or empty> <script>: nanoseconds
    local t0 t1
    t0=$(date +%s%N)
    env ${1:+LD_PRELOAD="$1"} /bin/sh -c "$2"
    t1=$(date +%s%N)
    echo $((t1 - t0))
}

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

figure() {   # figure <label> <count> <child command>
    local label=$1 count=$2 child=$3 i a b
    local script="i=0; while [ \$i -lt $count ]; do $child || exit 1; i=\$((i + 1)); done"
    echo "fig_04 $label: warm-up" >&2
    run "" "$script" >/dev/null; run "$LIB" "$script" >/dev/null
    local -a without=() with=()
    for ((i = 0; i < ROUNDS; i++)); do
        if ((i % 2 == 0)); then
            without+=("$(run "" "$script")"); with+=("$(run "$LIB" "$script")")
        else
            with+=("$(run "$LIB" "$script")"); without+=("$(run "" "$script")")
        fi
        awk -v l="$label" -v r=$((i + 1)) -v a="${without[-1]}" -v b="${with[-1]}" 'BEGIN {
            printf "fig_04 %s round %d: without %.3f s, with %.3f s\n", l, r, a / 1e9, b / 1e9 }' >&2
    done
    a=$(printf '%s\n' "${without[@]}" | median)
    b=$(printf '%s\n' "${with[@]}" | median)
    awk -v a="$a" -v b="$b" -v l="$label" -v c="$count" -v n="$ROUNDS" -v s="$script" 'BEGIN {
        r = b / a
        printf "ROW|process start, inherited LD_PRELOAD: %d x %s, time with/without (median of %d)|%.3f s (%.0f µs each)|%.3f s (%.0f µs each)|%.3f|≤ 1.05|%s|LD_PRELOAD=build/lib/libtokentap.so /bin/sh -c %c%s%c  (bench/fig_04_process_start.sh)\n",
               c, l, n, a / 1e9, a / 1e3 / c, b / 1e9, b / 1e3 / c, r, (r <= 1.05 ? "ok" : "MISSED"), 39, s, 39 }'
}

figure "/bin/true" "$N_TRUE" /bin/true
figure "python3 -c pass" "$N_PY" "/usr/bin/python3 -c pass"
