#!/usr/bin/env bash
# bench/fig_05_syscall.sh - issue #5 figure 5: non-LLM syscall-heavy work
# under the libc hooks (hooks/libc.c: read/write/send/recv/connect/close...).
# Replaces bench/libc_io.sh (its tar figure is the first line here).
#
#   tar   `tar -C DIR -cf - tree | cat > /dev/null` of a tree of small files
#         in 100 directories (a source tree's shape), run by `bash -c`:
#         bash, tar and cat all run under the preload.
#   http  a local plain-HTTP server/client pair on loopback: a Python
#         ThreadingHTTPServer (http.server, HTTP/1.1 keep-alive) serving a
#         directory of small files on 127.0.0.1:<ephemeral port>, and one
#         `curl` fetching all of them in sequence over one connection (URL
#         glob). "with": both the server and curl run under the preload (two
#         identical servers run for the whole figure, one preloaded, one
#         not; each client talks to its own).
#
# "with" = LD_PRELOAD=build/lib/libtokentap.so (what `tokentap run` sets).
# Before timing, the preloaded processes are checked for libtokentap.so in
# their /proc/PID/maps (and the plain ones for its absence): a "with" that
# silently lost the preload fails the figure. Wall time, warm-up runs, then
# interleaved rounds (the order alternates each round), medians of each.
# ratio = time without / time with (speed with relative to without), the
# median of the per-round ratios with the half-width of a bootstrap 90%
# interval (bench/benchlib.py ratio): >= 0.98 means at most 2% slower; the
# verdict is unclear when the interval holds 0.98.
#
# QUICK: 10,000 files / 1,000 requests, 7 rounds; full: 20,000 files / 2,000
# requests, 15 rounds (the VM is noisy: single runs vary by 20%). FILES, REQUESTS and ROUNDS may be set in the
# environment.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ -n "${QUICK:-}" && "$QUICK" != 0 ]]; then
    FILES=${FILES:-10000} REQUESTS=${REQUESTS:-1000} ROUNDS=${ROUNDS:-7}
else
    FILES=${FILES:-20000} REQUESTS=${REQUESTS:-2000} ROUNDS=${ROUNDS:-15}
fi
PY=/usr/bin/python3
LIB=$(realpath build/lib/libtokentap.so)
[[ -f $LIB ]] || { echo "build/lib/libtokentap.so missing: run make" >&2; exit 1; }
command -v curl >/dev/null || { echo "fig_05: needs curl" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/tt-fig05-XXXXXX")
pids=()
cleanup() {
    local p
    for p in "${pids[@]}"; do   # under set -e: nothing here may fail
        kill "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    rm -rf "$work"
}
trap cleanup EXIT
# Nothing here talks to an LLM, so nothing may be written to the store; a
# home of our own keeps the user's untouched, TOKENTAP_LOG=off keeps stderr
# clean either way.
export TOKENTAP_HOME="$work/home" TOKENTAP_LOG=off
unset LD_PRELOAD TOKENTAP_HOSTS

# FILES small files in 100 directories for tar; REQUESTS of them, flat, for
# the HTTP server.
$PY - "$work" "$FILES" "$REQUESTS" <<'EOF'
import os, sys
root, n, m = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
os.makedirs(os.path.join(root, "www"))
for i in range(n):
    d = os.path.join(root, "tree", "d%03d" % (i % 100))
    if i < 100:
        os.makedirs(d)
    body = b"x" * (100 + (i * 37) % 4000)
    with open(os.path.join(d, "f%06d.txt" % i), "wb") as f:
        f.write(body)
    if i < m:
        with open(os.path.join(root, "www", "f%06d.txt" % i), "wb") as f:
            f.write(body)
EOF

cat > "$work/server.py" <<'EOF'
import functools, http.server, os, sys
root, portfile = sys.argv[1:3]
class H(http.server.SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True   # headers and body are two sends
    def log_message(self, *a):
        pass
srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                      functools.partial(H, directory=root))
srv.daemon_threads = True
with open(portfile + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
os.rename(portfile + ".tmp", portfile)
srv.serve_forever()
EOF

start_server() {   # start_server <name> <preload or empty>
    env ${2:+LD_PRELOAD="$2"} $PY "$work/server.py" "$work/www" "$work/port.$1" &
    pids+=($!)
    echo $! > "$work/pid.$1"
}
start_server plain ""
start_server pre "$LIB"
for ((i = 0; i < 100; i++)); do
    [[ -s $work/port.plain && -s $work/port.pre ]] && break
    sleep 0.05
done
[[ -s $work/port.plain && -s $work/port.pre ]] || { echo "fig_05: servers did not start" >&2; exit 1; }
last=$(printf '%06d' $((REQUESTS - 1)))
url_plain="http://127.0.0.1:$(cat "$work/port.plain")/f[000000-$last].txt"
url_pre="http://127.0.0.1:$(cat "$work/port.pre")/f[000000-$last].txt"

# The preload is where it should be, and only there.
mapped() { grep -c libtokentap.so "$1" || true; }
[[ $(mapped /proc/"$(cat "$work/pid.pre")"/maps) != 0 && $(mapped /proc/"$(cat "$work/pid.plain")"/maps) == 0 ]] ||
    { echo "fig_05: server preload check failed" >&2; exit 1; }
[[ $(LD_PRELOAD=$LIB bash -c 'cat /proc/self/maps' | grep -c libtokentap.so || true) != 0 &&
   $(bash -c 'cat /proc/self/maps' | grep -c libtokentap.so || true) == 0 ]] ||
    { echo "fig_05: tar pipeline preload check failed" >&2; exit 1; }
[[ $(LD_PRELOAD=$LIB curl -s file:///proc/self/maps | grep -c libtokentap.so || true) != 0 ]] ||
    { echo "fig_05: curl preload check failed" >&2; exit 1; }

tar_cmd="tar -C '$work' -cf - tree | cat > /dev/null"
run_tar() {   # run_tar <0|1>: nanoseconds
    local t0 t1
    t0=$(date +%s%N)
    if [[ $1 == 1 ]]; then LD_PRELOAD=$LIB bash -c "$tar_cmd"; else bash -c "$tar_cmd"; fi
    t1=$(date +%s%N)
    echo $((t1 - t0))
}
run_http() {   # run_http <0|1>: nanoseconds
    local t0 t1 n
    t0=$(date +%s%N)
    if [[ $1 == 1 ]]; then
        n=$(LD_PRELOAD=$LIB curl -sS --fail "$url_pre" | wc -c)
    else
        n=$(curl -sS --fail "$url_plain" | wc -c)
    fi
    t1=$(date +%s%N)
    [[ $n == "$http_bytes" ]] || { echo "fig_05: http got $n bytes, expected $http_bytes" >&2; exit 1; }
    echo $((t1 - t0))
}
http_bytes=$(cat "$work"/www/* | wc -c)

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

figure() {   # figure <tar|http> <label> <command for the ROW>
    local what=$1 label=$2 cmd=$3 i a b
    echo "fig_05 $what: warm-up" >&2
    "run_$what" 0 >/dev/null; "run_$what" 1 >/dev/null
    local -a without=() with=()
    for ((i = 0; i < ROUNDS; i++)); do
        if ((i % 2 == 0)); then
            without+=("$("run_$what" 0)"); with+=("$("run_$what" 1)")
        else
            with+=("$("run_$what" 1)"); without+=("$("run_$what" 0)")
        fi
        awk -v l="$what" -v r=$((i + 1)) -v a="${without[-1]}" -v b="${with[-1]}" 'BEGIN {
            printf "fig_05 %s round %d: without %.3f s, with %.3f s\n", l, r, a / 1e9, b / 1e9 }' >&2
    done
    a=$(printf '%s\n' "${without[@]}" | median)
    b=$(printf '%s\n' "${with[@]}" | median)
    # The ratio paired by round, with its 90% interval and verdict
    # (bench/benchlib.py: ok, MISSED, or unclear when it holds 0.98).
    local q
    q=$(python3 bench/benchlib.py ratio at_least 0.98 "${with[*]}" "${without[*]}")
    awk -v a="$a" -v b="$b" -v l="$label" -v n="$ROUNDS" -v cmd="$cmd" -v q="$q" 'BEGIN {
        split(q, x, " ")
        printf "ROW|%s, speed: time without/with (median of %d per-round ratios, 90%% interval)|%.3f s|%.3f s|%.3f ±%.3f|≥ 0.98|%s|%s  (bench/fig_05_syscall.sh)\n",
               l, n, a / 1e9, b / 1e9, x[1], x[2], x[3], cmd }'
}

# tar counted in instructions (valgrind callgrind on tar, the pipeline as
# timed: exact and repeatable; the kernel's share, most of this figure's
# wall time, is not counted, so this is the hooks' cost at its largest).
if command -v valgrind >/dev/null; then
    ir_tar() {   # ir_tar <0|1>: instructions of tar cf - tree
        local -a env=()
        [[ $1 == 1 ]] && env=(LD_PRELOAD="$LIB")
        env "${env[@]}" bash -c "valgrind --tool=callgrind --callgrind-out-file=/dev/null \
            tar -C '$work' -cf - tree 2>'$work/vg.err' | cat > /dev/null"
        sed -n 's/.*Collected : //p' "$work/vg.err"
    }
    a=$(ir_tar 0); b=$(ir_tar 1)
    [[ -n $a && -n $b ]] || { echo "fig_05: callgrind gave no count" >&2; exit 1; }
    echo "fig_05 tar instructions: without $a, with $b" >&2
    awk -v a="$a" -v b="$b" -v f="$FILES" 'BEGIN {
        printf "ROW|libc hooks, non-LLM I/O: tar cf - of %d small files, instructions without/with (callgrind, user space)|%d|%d (+%d)|%.4f|≥ 0.98|%s|LD_PRELOAD=build/lib/libtokentap.so bash -c %cvalgrind --tool=callgrind tar -C DIR -cf - tree | cat > /dev/null%c  (bench/fig_05_syscall.sh)\n",
               f, a, b, b - a, a / b, (a / b >= 0.98 ? "ok" : "MISSED"), 39, 39 }'
fi

figure tar "libc hooks, non-LLM I/O: tar cf - of $FILES small files piped to cat" \
    "LD_PRELOAD=build/lib/libtokentap.so bash -c 'tar -C DIR -cf - tree | cat > /dev/null'"
figure http "libc hooks, non-LLM loopback HTTP: $REQUESTS small files, python http.server + curl, both traced" \
    "LD_PRELOAD=build/lib/libtokentap.so python3 server.py & LD_PRELOAD=build/lib/libtokentap.so curl -s 'http://127.0.0.1:PORT/f[000000-$(printf '%06d' $((REQUESTS - 1)))].txt'"
