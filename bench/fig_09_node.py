"""Figure 9 of `make bench` (issue #10): Node with its OpenSSL linked in,
traced by inline hooks. The official Node 22 build of tests/node
(tools/install-deps.sh installs it); the client is bench/node_client.mjs.

  a. non-LLM HTTPS bulk download (https.get of SIZE MiB of zeros from a Node
     HTTPS server on loopback, never preloaded): throughput with the preload
     (patched SSL_read) / without. Target >= 0.99.
  b. `node -e 0` x COUNT in a /bin/sh loop, the shell started with and
     without LD_PRELOAD: wall time ratio. Every preloaded node patches its
     SSL functions in the constructor (dlopen of libZydis, decoding, two
     mprotects per function); this is what that costs. Target <= 1.03.
  c. N sequential keep-alive fetch() chat calls to the mock over TLS (a
     ~10 KB request, a ~5 KB answer), plain and under `tokentap run`: added
     µs per call, paired as in fig 2 (the median of CROUNDS per-round
     differences ± its bootstrap 90% interval; untraced Node runs move by
     ±150 µs per call from one round to the next); the traced store must
     hold N+1 ok spans. Target: the dynamic path's (fig 2), <= +50 µs/call.

Interleaved rounds (the order flips every round), medians; a and b give
the median of the per-round ratios with a bootstrap 90% interval
(benchlib.paired_ratio), and their verdicts say unclear when it holds the
target.
Env: SIZE_MIB (512, QUICK 64), COUNT (100, QUICK 30), N (1000, QUICK 200),
ROUNDS (5, QUICK 3), CROUNDS (rounds of c: 9, QUICK 3)."""
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import (BENCH, QUICK, ROOT, Bench, clean_env, die, log,  # noqa: E402
                      median, paired, paired_ratio, row, verdict_at_least,
                      verdict_at_most)

NODE = os.path.join(ROOT, "tests", "node", "node_modules", "node22", "bin", "node")
CLIENT = os.path.join(BENCH, "node_client.mjs")
LIB = os.path.join(ROOT, "build", "lib", "libtokentap.so")
SIZE_MIB = int(os.environ.get("SIZE_MIB") or (64 if QUICK else 512))
COUNT = int(os.environ.get("COUNT") or (30 if QUICK else 100))
N = int(os.environ.get("N") or (200 if QUICK else 1000))
ROUNDS = int(os.environ.get("ROUNDS") or (3 if QUICK else 5))
CROUNDS = int(os.environ.get("CROUNDS") or (3 if QUICK else 9))
TARGET_US = 50


def orders(r):
    return (False, True) if r % 2 == 0 else (True, False)


def bulk(b):
    key, cert = os.path.join(b.tmp, "bulk-key.pem"), os.path.join(b.tmp, "bulk-cert.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-days", "1", "-subj", "/CN=bulk.test",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key, "-out", cert],
                   check=True, capture_output=True, stdin=subprocess.DEVNULL)
    portfile = os.path.join(b.tmp, "bulk-port")
    env = clean_env(TOKENTAP_LOG="off")
    srv = subprocess.Popen([NODE, CLIENT, "serve", portfile, cert, key], env=env,
                           stdin=subprocess.DEVNULL)
    try:
        deadline = time.time() + 10
        while not os.path.exists(portfile):
            if srv.poll() is not None or time.time() > deadline:
                die("fig09: the Node bulk server did not start")
            time.sleep(0.02)
        nbytes = SIZE_MIB << 20
        url = "https://127.0.0.1:%s/bulk/%d" % (open(portfile).read(), nbytes)
        env = clean_env(BULK_CA=cert, TOKENTAP_LOG="off",
                        TOKENTAP_HOME=os.path.join(b.tmp, "bulk-home"))

        def once(traced):
            e = dict(env, LD_PRELOAD=LIB) if traced else env
            p = subprocess.run([NODE, CLIENT, "bulk", url, str(nbytes), "1" if traced else "0"],
                               env=e, capture_output=True, text=True, stdin=subprocess.DEVNULL,
                               timeout=600)
            if p.returncode != 0:
                die("fig09 bulk: %s" % p.stderr)
            return float(p.stdout.split()[-1])

        once(False), once(True)
        res = {False: [], True: []}
        for r in range(ROUNDS):
            for t in orders(r):
                res[t].append(once(t))
            log("fig09 bulk round %d/%d: without %.0f MiB/s, with %.0f MiB/s"
                % (r + 1, ROUNDS, res[False][-1] / 1048576, res[True][-1] / 1048576))
    finally:
        srv.terminate()
        srv.wait()
    a, w = median(res[False]), median(res[True])
    q, nz = paired_ratio(res[False], res[True])
    row("9a. Node 22 (OpenSSL linked in, inline hooks): non-LLM HTTPS bulk %d MiB, "
        "throughput (median of %d per-round ratios, 90%% interval)" % (SIZE_MIB, ROUNDS),
        "%.0f MiB/s" % (a / 1048576), "%.0f MiB/s" % (w / 1048576), "%.3f ±%.3f" % (q, nz),
        "≥ 0.99", verdict_at_least(q, nz, 0.99),
        "LD_PRELOAD=build/lib/libtokentap.so node bench/node_client.mjs bulk URL  "
        "(bench/fig_09_node.py)")


def start(b):
    script = "i=0; while [ $i -lt %d ]; do %s -e 0 || exit 1; i=$((i + 1)); done" % (COUNT, NODE)
    env = clean_env(TOKENTAP_LOG="off", TOKENTAP_HOME=os.path.join(b.tmp, "start-home"))
    # The preload must be there, and must have patched node: a child reads
    # its own SSL_write entry (0xe9, the jump) through /proc/self/mem.
    probe = ("const fs=require('fs');const m=fs.readFileSync('/proc/self/maps','utf8');"
             "console.log(m.includes('libtokentap.so'))")
    p = subprocess.run(["/bin/sh", "-c", "%s -e \"%s\"" % (NODE, probe)],
                       env=dict(env, LD_PRELOAD=LIB), capture_output=True, text=True)
    if p.stdout.strip() != "true":
        die("fig09 start: the preload is not in the shell's node children")

    def once(traced):
        e = dict(env, LD_PRELOAD=LIB) if traced else env
        t0 = time.perf_counter()
        subprocess.run(["/bin/sh", "-c", script], env=e, check=True, stdin=subprocess.DEVNULL)
        return time.perf_counter() - t0

    once(False), once(True)
    res = {False: [], True: []}
    for r in range(ROUNDS):
        for t in orders(r):
            res[t].append(once(t))
        log("fig09 start round %d/%d: without %.3f s, with %.3f s"
            % (r + 1, ROUNDS, res[False][-1], res[True][-1]))
    a, w = median(res[False]), median(res[True])
    q, nz = paired_ratio(res[False], res[True])
    row("9b. Node 22 start, `node -e 0` x %d under an inherited LD_PRELOAD (patching "
        "included): time (median of %d per-round ratios, 90%% interval)" % (COUNT, ROUNDS),
        "%.3f s (%.1f ms each)" % (a, a / COUNT * 1e3),
        "%.3f s (%.1f ms each)" % (w, w / COUNT * 1e3), "%.3f ±%.3f" % (q, nz), "≤ 1.03",
        verdict_at_most(q, nz, 1.03),
        "LD_PRELOAD=build/lib/libtokentap.so /bin/sh -c 'node -e 0 (x%d)'  "
        "(bench/fig_09_node.py)" % COUNT)


def calls(b):
    env = dict(b.env, NODE_EXTRA_CA_CERTS=b.mock.cert, MOCK_CHUNKS="800")
    argv = [NODE, CLIENT, "calls", str(N)]
    res = {False: [], True: []}
    size = 0
    for r in range(CROUNDS):
        for t in orders(r):
            out, tenv = b.run(argv, t, env=env)
            w = out.split()
            size = int(w[1])
            res[t].append(float(w[3]) / N * 1e6)
            if t:
                b.spans(tenv, N + 1, "calls round %d" % (r + 1))
        log("fig09 calls round %d/%d: without %.1f µs/call, with %.1f µs/call (%d spans stored)"
            % (r + 1, CROUNDS, res[False][-1], res[True][-1], N + 1))
    a, w = median(res[False]), median(res[True])
    added, nz = paired(res[False], res[True])
    log("fig09 calls: per-round differences %s; paired %+.0f ±%.0f µs/call"
        % (" ".join("%+.0f" % (y - x) for x, y in zip(res[False], res[True])), added, nz))
    row("9c. LLM calls from Node 22 fetch(), keep-alive, 10 KB req / %.1f KB resp (µs/call; "
        "added: paired median of %d rounds ± 90%% interval)" % (size / 1000, CROUNDS),
        "%.0f" % a, "%.0f (%+.0f ±%.0f)" % (w, added, nz), "%.2f" % (w / a),
        "<= +%d µs/call" % TARGET_US, verdict_at_most(added, nz, TARGET_US),
        "N=%d CROUNDS=%d python3 bench/fig_09_node.py" % (N, CROUNDS))


def main():
    if not os.path.exists(NODE):
        die("fig09: %s missing: run tools/install-deps.sh" % NODE)
    with Bench("fig09") as b:
        bulk(b)
        start(b)
        calls(b)


if __name__ == "__main__":
    main()
