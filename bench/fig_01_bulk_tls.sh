#!/usr/bin/env bash
# bench/fig_01_bulk_tls.sh - issue #5 figure 1: non-LLM TLS traffic.
#
# A bulk download over loopback TLS from a host and path that are not LLM
# traffic (https://127.0.0.1:<ephemeral port>/bulk/<bytes>), served by a
# small Python TLS HTTP/1.1 server (ssl + http.server, a stream of zeros
# generated on the fly, self-signed EC cert from `openssl req`). Two clients:
#   curl    the curl CLI (libcurl + OpenSSL): throughput = curl's own
#           %{speed_download} (bytes / total time, handshake included)
#   python  /usr/bin/python3 + requests, stream=True, iter_content(1 MiB):
#           throughput timed inside the client around get + read loop
# "with" = the client started with LD_PRELOAD=build/lib/libtokentap.so (what
# `tokentap run` sets; no daemon is needed since nothing here is an LLM call);
# the server is never preloaded and is the same for both. Each "with" client
# checks its own /proc/self/maps for libtokentap.so, so a run that silently
# lost the preload fails the figure. Warm-up runs, then interleaved rounds
# (the order alternates each round), medians of each. ratio = with /
# without as throughput, the median of the per-round ratios with the
# half-width of a bootstrap 90% interval (bench/benchlib.py ratio): >= 0.99
# means at most 1% slower; the verdict is unclear when the interval holds
# 0.99.
#
# QUICK: 64 MiB x 3 rounds; full: 512 MiB x 5 rounds. SIZE_MIB and ROUNDS
# may be set in the environment.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ -n "${QUICK:-}" && "$QUICK" != 0 ]]; then
    SIZE_MIB=${SIZE_MIB:-64} ROUNDS=${ROUNDS:-3}
else
    SIZE_MIB=${SIZE_MIB:-512} ROUNDS=${ROUNDS:-5}
fi
BYTES=$((SIZE_MIB * 1048576))
PY=/usr/bin/python3
LIB=$(realpath build/lib/libtokentap.so)
[[ -f $LIB ]] || { echo "build/lib/libtokentap.so missing: run make" >&2; exit 1; }
command -v curl >/dev/null && command -v openssl >/dev/null ||
    { echo "fig_01: needs curl and openssl" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/tt-fig01-XXXXXX")
srv_pid=
cleanup() {   # under set -e: nothing here may fail (wait returns 143)
    if [[ -n $srv_pid ]]; then
        kill "$srv_pid" 2>/dev/null || true
        wait "$srv_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT
# Nothing here talks to an LLM, so nothing may be written to the store; a
# home of our own keeps the user's untouched, TOKENTAP_LOG=off keeps stderr
# clean either way.
export TOKENTAP_HOME="$work/home" TOKENTAP_LOG=off
unset LD_PRELOAD TOKENTAP_HOSTS

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$work/key.pem" -out "$work/cert.pem" -days 1 -subj /CN=bulk.test \
    -addext subjectAltName=IP:127.0.0.1 2>/dev/null

cat > "$work/server.py" <<'EOF'
import http.server, socketserver, ssl, sys
cert, key, portfile = sys.argv[1:4]
ZEROS = memoryview(bytes(1 << 20))

class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        parts = self.path.split("/")
        if len(parts) != 3 or parts[1] != "bulk" or not parts[2].isdigit():
            self.send_error(404)
            return
        n = int(parts[2])
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(n))
        self.end_headers()
        while n > 0:
            k = min(n, len(ZEROS))
            self.wfile.write(ZEROS[:k])
            n -= k
    def log_message(self, *a):
        pass

class S(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True

ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
srv = S(("127.0.0.1", 0), H)
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
with open(portfile + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
import os
os.rename(portfile + ".tmp", portfile)
srv.serve_forever()
EOF

cat > "$work/client.py" <<'EOF'
# client.py URL CAFILE EXPECT_BYTES WANT_PRELOAD: prints bytes/s
import sys, time
url, ca, expect, want = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] == "1"
with open("/proc/self/maps") as f:
    loaded = "libtokentap.so" in f.read()
if loaded != want:
    sys.exit("client.py: libtokentap.so %s, expected %s" % (
        "loaded" if loaded else "not loaded", "loaded" if want else "not"))
import requests
s = requests.Session()
t0 = time.perf_counter()
r = s.get(url, stream=True, verify=ca)
r.raise_for_status()
n = 0
for chunk in r.iter_content(chunk_size=1 << 20):
    n += len(chunk)
t1 = time.perf_counter()
if n != expect:
    sys.exit("client.py: got %d bytes, expected %d" % (n, expect))
print("%.0f" % (n / (t1 - t0)))
EOF

$PY "$work/server.py" "$work/cert.pem" "$work/key.pem" "$work/port" &
srv_pid=$!
for ((i = 0; i < 100; i++)); do [[ -s $work/port ]] && break; sleep 0.05; done
[[ -s $work/port ]] || { echo "fig_01: server did not start" >&2; exit 1; }
URL="https://127.0.0.1:$(cat "$work/port")/bulk/$BYTES"

# curl cannot look at itself during the timed transfer, so the same curl
# under the same environment reads file:///proc/self/maps first: the
# preload must be there with LD_PRELOAD and absent without.
curl_check() {   # curl_check <0|1>: curl under the same env sees the preload?
    local maps
    if [[ $1 == 1 ]]; then
        maps=$(LD_PRELOAD=$LIB curl -s file:///proc/self/maps)
    else
        maps=$(curl -s file:///proc/self/maps)
    fi
    if [[ $1 == 1 && $maps != *libtokentap.so* ]] || [[ $1 == 0 && $maps == *libtokentap.so* ]]; then
        echo "fig_01: curl preload check failed (want $1)" >&2
        exit 1
    fi
}

run_curl() {   # run_curl <0|1>: bytes/s
    local -a env=()
    [[ $1 == 1 ]] && env=(LD_PRELOAD="$LIB")
    local out size speed
    out=$(env "${env[@]}" curl -sS --fail --http1.1 --cacert "$work/cert.pem" \
        -o /dev/null -w '%{size_download} %{speed_download}\n' "$URL")
    read -r size speed <<<"$out"
    [[ $size == "$BYTES" ]] || { echo "fig_01: curl got $size bytes, expected $BYTES" >&2; exit 1; }
    echo "${speed%.*}"
}

run_python() {   # run_python <0|1>: bytes/s
    local -a env=()
    [[ $1 == 1 ]] && env=(LD_PRELOAD="$LIB")
    env "${env[@]}" $PY "$work/client.py" "$URL" "$work/cert.pem" "$BYTES" "$1"
}

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

curl_check 0; curl_check 1

# The same download counted in instructions (valgrind callgrind: user-space
# instructions of the curl process, exact and repeatable where wall time
# on a shared machine is not). 8 MiB: the per-byte cost shows, and so does
# the fixed one (the loader's: any LD_PRELOAD object is searched first for
# every symbol curl's libraries look up; a GET loads no capture core).
if command -v valgrind >/dev/null; then
    IR_BYTES=$((8 * 1048576))
    ir_curl() {   # ir_curl <0|1>: instructions of one 8 MiB curl download
        local -a env=()
        [[ $1 == 1 ]] && env=(LD_PRELOAD="$LIB")
        env "${env[@]}" valgrind --tool=callgrind --callgrind-out-file=/dev/null \
            curl -sS --fail --http1.1 --cacert "$work/cert.pem" -o /dev/null \
            "https://127.0.0.1:$(cat "$work/port")/bulk/$IR_BYTES" 2>&1 |
            sed -n 's/.*Collected : //p'
    }
    a=$(ir_curl 0); b=$(ir_curl 1)
    [[ -n $a && -n $b ]] || { echo "fig_01: callgrind gave no count" >&2; exit 1; }
    echo "fig_01 curl instructions: without $a, with $b" >&2
    awk -v a="$a" -v b="$b" 'BEGIN {
        printf "ROW|non-LLM TLS bulk 8 MiB, curl CLI: instructions without/with (callgrind)|%d|%d (+%d)|%.4f|≥ 0.99|%s|LD_PRELOAD=build/lib/libtokentap.so valgrind --tool=callgrind curl --http1.1 --cacert CERT -o /dev/null https://127.0.0.1:PORT/bulk/8388608  (bench/fig_01_bulk_tls.sh)\n",
               a, b, b - a, a / b, (a / b >= 0.99 ? "ok" : "MISSED") }'
fi

for client in curl python; do
    echo "fig_01 $client: warm-up ($SIZE_MIB MiB, without and with)" >&2
    "run_$client" 0 >/dev/null; "run_$client" 1 >/dev/null
    without=() with=()
    for ((i = 0; i < ROUNDS; i++)); do
        if ((i % 2 == 0)); then
            without+=("$("run_$client" 0)"); with+=("$("run_$client" 1)")
        else
            with+=("$("run_$client" 1)"); without+=("$("run_$client" 0)")
        fi
        awk -v c="$client" -v r=$((i + 1)) -v a="${without[-1]}" -v b="${with[-1]}" 'BEGIN {
            printf "fig_01 %s round %d: without %.0f MiB/s, with %.0f MiB/s\n", c, r, a / 1048576, b / 1048576 }' >&2
    done
    a=$(printf '%s\n' "${without[@]}" | median)
    b=$(printf '%s\n' "${with[@]}" | median)
    if [[ $client == curl ]]; then
        cmd="curl --http1.1 --cacert CERT -o /dev/null https://127.0.0.1:PORT/bulk/$BYTES  (bench/fig_01_bulk_tls.sh)"
        label="non-LLM TLS bulk ${SIZE_MIB} MiB, curl CLI: throughput"
    else
        cmd="python3 requests stream=True iter_content(1 MiB) https://127.0.0.1:PORT/bulk/$BYTES  (bench/fig_01_bulk_tls.sh)"
        label="non-LLM TLS bulk ${SIZE_MIB} MiB, Python requests: throughput"
    fi
    # The ratio paired by round, with its 90% interval and verdict
    # (bench/benchlib.py: ok, MISSED, or unclear when it holds 0.99).
    q=$(python3 bench/benchlib.py ratio at_least 0.99 "${without[*]}" "${with[*]}")
    awk -v a="$a" -v b="$b" -v label="$label" -v cmd="$cmd" -v n="$ROUNDS" -v q="$q" 'BEGIN {
        split(q, x, " ")
        printf "ROW|%s (median of %d per-round ratios, 90%% interval)|%.0f MiB/s|%.0f MiB/s|%.3f ±%.3f|≥ 0.99|%s|LD_PRELOAD=build/lib/libtokentap.so %s\n",
               label, n, a / 1048576, b / 1048576, x[1], x[2], x[3], cmd }'
done
