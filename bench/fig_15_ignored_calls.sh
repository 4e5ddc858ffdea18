#!/usr/bin/env bash
# bench/fig_15_ignored_calls.sh - figure 15: what the preload adds to one
# call it must ignore, in CPU instructions.
#
# Non-LLM I/O is most of what traced programs do (fig 1: a TLS download,
# fig 5: tar through a pipe); each such call passes through a hook that
# must decide "not mine" at once. bench/ignored_calls.c makes N such calls:
#   read      read(2) of 1 byte from /dev/zero
#   write     write(2) of 1 byte to /dev/null
#   ssl_read  SSL_read of 1 byte on a TLS connection whose first request
#             went to a non-LLM host (OpenSSL copies from its buffer: no
#             syscall, so the hook's share is as large as it gets)
# Each runs under valgrind's callgrind (user-space instructions: exact and
# repeatable, unlike wall time on a shared machine) for N1 and N2 calls,
# with and without LD_PRELOAD=build/lib/libtokentap.so:
#   per call = ((with(N2) - with(N1)) - (without(N2) - without(N1))) / (N2 - N1)
# which cancels start-up, the handshake and everything else that does not
# repeat. Without a target of its own in the issue; the goal it serves is
# "an ignored fd or SSL* costs one lookup and a predictable branch".
set -euo pipefail
cd "$(dirname "$0")/.."

N1=${N1:-1000}
N2=${N2:-21000}
LIB=$(realpath build/lib/libtokentap.so)
BIN=build/bench/ignored_calls
[[ -f $LIB ]] || { echo "build/lib/libtokentap.so missing: run make" >&2; exit 1; }
[[ -x $BIN ]] || { echo "$BIN missing: make $BIN" >&2; exit 1; }
command -v valgrind >/dev/null || { echo "fig_15: needs valgrind (tools/install-deps.sh)" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/tt-fig15-XXXXXX")
trap 'rm -rf "$work"' EXIT
export TOKENTAP_HOME="$work/home" TOKENTAP_LOG=off
unset LD_PRELOAD TOKENTAP_HOSTS
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$work/key.pem" -out "$work/cert.pem" -days 1 -subj /CN=bulk.test 2>/dev/null

ir() {   # ir <preload or empty> <mode> <n>: instructions of the whole run
    local out
    out=$(env ${1:+LD_PRELOAD="$1"} valgrind --tool=callgrind --callgrind-out-file=/dev/null \
        "$BIN" "$2" "$3" "$work/cert.pem" "$work/key.pem" 2>&1) ||
        { echo "fig_15: $2 $3 failed: $out" >&2; exit 1; }
    sed -n 's/.*Collected : //p' <<<"$out"
}

for mode in read write ssl_read; do
    a1=$(ir "" $mode "$N1"); a2=$(ir "" $mode "$N2")
    b1=$(ir "$LIB" $mode "$N1"); b2=$(ir "$LIB" $mode "$N2")
    echo "fig_15 $mode: without $a1 / $a2, with $b1 / $b2 instructions ($N1 / $N2 calls)" >&2
    awk -v a1="$a1" -v a2="$a2" -v b1="$b1" -v b2="$b2" -v n=$((N2 - N1)) -v m="$mode" 'BEGIN {
        a = (a2 - a1) / n; b = (b2 - b1) / n
        name = m == "ssl_read" ? "SSL_read(1 byte) on an ignored TLS connection" : m "(2) of 1 byte on a non-socket fd"
        printf "ROW|instructions per ignored call: %s (callgrind, %d calls)|%.1f|%.1f (+%.1f)|%.3f|info|info|LD_PRELOAD=build/lib/libtokentap.so valgrind --tool=callgrind build/bench/ignored_calls %s N  (bench/fig_15_ignored_calls.sh)\n",
               name, n, a, b, b - a, b / a, m }'
done
