"""Figure 8, the proxy alternative: what a user pays to capture the same LLM
calls with a MITM proxy (`mitmdump`, Debian's mitmproxy) instead of tokentap.

Same mock provider (`tokentap mock`, TLS, ephemeral port), same client
programs, interleaved rounds, medians:

  calls    bench/client_calls.py N (sequential non-streaming keep-alive calls,
           10 KB request, ~5 KB answer; figure 2's workload), per round:
           direct (no proxy, no tokentap); through mitmdump as an explicit
           HTTPS proxy (HTTPS_PROXY) with TCP_NODELAY on the client's socket to
           the proxy (the proxy's own cost, see nodelay()); the same with
           requests' defaults (urllib3 1.26 turns Nagle's algorithm back on for
           proxy connections: every POST then waits ~40 ms for a delayed ACK;
           N_NAGLE calls only); and direct under `tokentap run` (figure 2's
           measurement again, for the side-by-side).
  streams  this script's own --stream-client mode: K streamed chat calls of
           EVENTS content deltas, DELAY ms apart (x-mock-chunks,
           x-mock-delay-ms) on one keep-alive session; per stream the time to
           the first content event (TTFT) and to the last event ([DONE]),
           medians over the K streams; per round: direct, through mitmdump
           with its defaults (what users get: the response body is buffered
           whole before the client sees a byte), and through mitmdump with
           `--set stream_large_bodies=1` (bodies are passed on as they come).

mitmdump runs as `mitmdump -q --set confdir=<tmp>` (its own CA, generated on
start, is the only CA the proxied clients trust, so a call that bypassed the
proxy would fail) with `ssl_verify_upstream_trusted_ca=<the mock's cert>`.
It keeps the flows in memory and prints nothing (-q); writing them out too
(-w) would cost it more. tokentap rounds must store exactly the calls made.

If mitmdump is missing, bench/install-bench-deps.sh installs it (apt, root or
sudo); if that fails the figure fails with a message saying so.

QUICK non-empty: 200 calls, 2 rounds, streams of 200 events; otherwise 2000
calls, 3 rounds, 500 events (STREAMS streams per variant and round: 2/5;
N_NAGLE: 30/100). N, ROUNDS, EVENTS, STREAMS, DELAY_MS, N_NAGLE override.
Progress on stderr; stdout gets ROW|figure|without|with|ratio|target|verdict|command
lines for bench/run.sh (target and verdict "info": this figure is the
comparison, it has no target)."""
import json
import os
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
TOKENTAP = os.path.join(ROOT, "build", "bin", "tokentap")
CLIENT = os.path.join(ROOT, "bench", "client_calls.py")
INSTALL = os.path.join(ROOT, "bench", "install-bench-deps.sh")
SELF = os.path.abspath(__file__)
PY = "/usr/bin/python3"  # Debian's, which has requests (harness.py does the same)
QUICK = os.environ.get("QUICK", "") not in ("", "0")
N = int(os.environ.get("N") or (200 if QUICK else 2000))
ROUNDS = int(os.environ.get("ROUNDS") or (2 if QUICK else 3))
EVENTS = int(os.environ.get("EVENTS") or (200 if QUICK else 500))
STREAMS = int(os.environ.get("STREAMS") or (2 if QUICK else 5))
# requests' own defaults through a proxy cost ~40 ms a call (see nodelay()):
# fewer calls for that variant, it is an average all the same.
N_NAGLE = int(os.environ.get("N_NAGLE") or (30 if QUICK else 100))
DELAY_MS = int(os.environ.get("DELAY_MS") or 1)
CMD = "%s/usr/bin/python3 bench/fig_08_mitm.py" % ("QUICK=1 " if QUICK else "")
PROXY_VARS = ("http_proxy", "https_proxy", "all_proxy", "no_proxy",
              "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


def log(*a):
    print("fig_08:", *a, file=sys.stderr, flush=True)


# --- client side --------------------------------------------------------------

def nodelay():
    """urllib3 1.26 (Debian's, under requests) turns Nagle's algorithm back on
    for connections to a proxy (socket_options=[] in HTTPConnectionPool), so
    http.client's separate writes of the headers and the body of a POST wait
    for the proxy's delayed ACK, ~40 ms a call. That is the client library's
    cost, not the proxy's: set TCP_NODELAY as urllib3 does for direct
    connections."""
    import socket as so
    import urllib3.util.connection as uc
    orig = uc.create_connection

    def create_connection(*a, **kw):
        s = orig(*a, **kw)
        s.setsockopt(so.IPPROTO_TCP, so.TCP_NODELAY, 1)
        return s
    uc.create_connection = create_connection


def calls_client_nodelay(n):
    """bench/client_calls.py N, unchanged, with nodelay() applied first."""
    import runpy
    nodelay()
    sys.argv = [CLIENT, str(n)]
    runpy.run_path(CLIENT, run_name="__main__")



def stream_client(k, events, delay):
    """K streams after one warm-up; prints JSON {ttft: [s...], last: [s...]}.
    MOCK_BASE, MOCK_CA (and, through a proxy, HTTPS_PROXY) from the
    environment."""
    import requests
    nodelay()
    url = os.environ["MOCK_BASE"] + "/v1/chat/completions"
    ca = os.environ["MOCK_CA"]
    body = json.dumps({"model": "gpt-4o-mini", "stream": True, "max_tokens": 1024,
                       "messages": [{"role": "user", "content": "Tell me a story."}]}).encode()

    def one(s, n, d):
        hdrs = {"content-type": "application/json", "authorization": "Bearer sk-bench",
                "x-mock-chunks": str(n), "x-mock-delay-ms": str(d)}
        t0 = time.perf_counter()
        first = None
        deltas = 0
        with s.post(url, data=body, headers=hdrs, verify=ca, timeout=60, stream=True) as r:
            if r.status_code != 200:
                sys.exit("stream: bad response %d: %s" % (r.status_code, r.text[:200]))
            for line in r.iter_lines(chunk_size=None):
                if not line.startswith(b"data:"):
                    continue
                data = line[5:].strip()
                if data == b"[DONE]":
                    last = time.perf_counter()
                    break
                ev = json.loads(data)
                ch = ev.get("choices") or []
                if ch and ch[0].get("delta", {}).get("content"):
                    deltas += 1
                    if first is None:
                        first = time.perf_counter()
            else:
                sys.exit("stream: no [DONE] after %d deltas" % deltas)
        if deltas != n:
            sys.exit("stream: %d content deltas, want %d" % (deltas, n))
        return first - t0, last - t0

    with requests.Session() as s:
        one(s, 2, 0)  # warm-up: TLS handshake, connection (and the proxy's upstream one)
        res = [one(s, k_events, delay) for k_events in [events] * k]
    print(json.dumps({"ttft": [a for a, _ in res], "last": [b for _, b in res]}))


# --- the figure --------------------------------------------------------------

def ensure_mitmdump():
    exe = shutil.which("mitmdump")
    if exe:
        return exe
    log("mitmdump is missing; installing it with bench/install-bench-deps.sh")
    p = subprocess.run(["/bin/bash", INSTALL], stdin=subprocess.DEVNULL,
                       stdout=sys.stderr, stderr=sys.stderr)
    exe = shutil.which("mitmdump")
    if p.returncode != 0 or not exe:
        sys.exit("fig_08: mitmdump (Debian package mitmproxy) is needed and could not be "
                 "installed (bench/install-bench-deps.sh exited %d): install it with "
                 "`apt-get install mitmproxy` as root, or remove bench/fig_08_mitm.py "
                 "from this run" % p.returncode)
    return exe


def wait_file(path, proc, what, timeout=10):
    deadline = time.time() + timeout
    while not (os.path.exists(path) and open(path).read().strip()):
        if proc.poll() is not None or time.time() > deadline:
            sys.exit("fig_08: %s did not start" % what)
        time.sleep(0.02)


def start_mock(tmp):
    cert, port_file = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "port")
    proc = subprocess.Popen([TOKENTAP, "mock", "--port", "0", "--port-file", port_file,
                             "--cert-out", cert, "--quiet"], stdin=subprocess.DEVNULL)
    wait_file(port_file, proc, "the mock")
    return proc, int(open(port_file).read().strip()), cert


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_mitmdump(exe, confdir, mock_cert, extra, log_path):
    for attempt in range(3):
        port = free_port()
        lf = open(log_path, "ab")
        proc = subprocess.Popen([exe, "-q", "--listen-host", "127.0.0.1",
                                 "--listen-port", str(port),
                                 "--set", "confdir=" + confdir,
                                 "--set", "ssl_verify_upstream_trusted_ca=" + mock_cert]
                                + extra, stdin=subprocess.DEVNULL, stdout=lf, stderr=lf)
        lf.close()
        deadline = time.time() + 20
        while time.time() < deadline and proc.poll() is None:
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                ca = os.path.join(confdir, "mitmproxy-ca-cert.pem")
                if os.path.exists(ca):
                    return proc, port
            except OSError:
                pass
            time.sleep(0.05)
        stop(proc)
    sys.exit("fig_08: mitmdump did not start; its log:\n" + open(log_path).read()[-2000:])


def stop(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def run(argv, env, what):
    p = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=600)
    if p.returncode != 0:
        sys.exit("fig_08: %s: %s failed (%d):\n%s%s" % (what, " ".join(argv), p.returncode,
                                                        p.stdout, p.stderr))
    return p.stdout


RESP_BYTES = []


def calls_us(out, n):
    """µs per call from client_calls.py's output: the seconds of its timed
    calls ("... seconds S", or the last word), and the answer's size
    ("bytes B") when it says so."""
    w = out.split()
    try:
        sec = float(w[w.index("seconds") + 1] if "seconds" in w else w[-1])
        if "bytes" in w:
            RESP_BYTES.append(int(w[w.index("bytes") + 1]))
    except (ValueError, IndexError):
        sys.exit("fig_08: cannot read client_calls.py's output: %r" % out[-300:])
    if not 0 < sec < 60 * n:
        sys.exit("fig_08: implausible time from client_calls.py (%r s for %d calls): %r"
                 % (sec, n, out[-300:]))
    return sec / n * 1e6


def count_spans(db):
    with sqlite3.connect(db) as c:
        return c.execute("SELECT count(*), sum(status = 'ok' AND request_model = 'gpt-4o-mini')"
                         " FROM spans WHERE kind = 'llm'").fetchone()


def row(fig, without, with_, a, b):
    """One table line; a and b are the numbers whose ratio is printed."""
    assert "|" not in fig + without + with_ + CMD
    print("ROW|%s|%s|%s|%.2f|info|info|%s" % (fig, without, with_, b / a, CMD), flush=True)


def main():
    if not os.access(TOKENTAP, os.X_OK):
        sys.exit("fig_08: %s missing: run make" % TOKENTAP)
    exe = ensure_mitmdump()
    t_start = time.time()
    tmp = tempfile.mkdtemp(prefix="tt-fig08-")
    procs = []
    try:
        mock, port, cert = start_mock(tmp)
        procs.append(mock)
        confdir = os.path.join(tmp, "mitm")
        mlog = os.path.join(tmp, "mitmdump.log")
        # The first start generates the CA in confdir; the second reuses it.
        m_def, p_def = start_mitmdump(exe, confdir, cert, [], mlog)
        procs.append(m_def)
        m_str, p_str = start_mitmdump(exe, confdir, cert,
                                      ["--set", "stream_large_bodies=1"], mlog)
        procs.append(m_str)
        mitm_ca = os.path.join(confdir, "mitmproxy-ca-cert.pem")
        log("mock on 127.0.0.1:%d; mitmdump (defaults) on :%d, (stream_large_bodies=1) on :%d"
            % (port, p_def, p_str))

        base = {k: v for k, v in os.environ.items()
                if not k.startswith("TOKENTAP_") and k not in ("TRACEPARENT", "LD_PRELOAD")
                and k not in PROXY_VARS}
        base.update(MOCK_BASE="https://127.0.0.1:%d" % port)
        direct = dict(base, MOCK_CA=cert)

        def via(pport):
            # Only the proxy's CA: a call that did not go through it fails.
            return dict(base, MOCK_CA=mitm_ca, HTTPS_PROXY="http://127.0.0.1:%d" % pport)

        calls = [PY, CLIENT, str(N)]
        calls_nd = [PY, SELF, "--calls-client-nodelay", str(N)]
        calls_nagle = [PY, CLIENT, str(N_NAGLE)]
        c_dir, c_mitm, c_nagle, c_tt = [], [], [], []
        for r in range(ROUNDS):
            us = lambda out, n=N: calls_us(out, n)
            c_dir.append(us(run(calls, direct, "calls direct")))
            c_mitm.append(us(run(calls_nd, via(p_def), "calls via mitmdump")))
            c_nagle.append(us(run(calls_nagle, via(p_def), "calls via mitmdump, requests' defaults"),
                              N_NAGLE))
            home = os.path.join(tmp, "home%d" % r)
            db = os.path.join(home, "traces.db")
            c_tt.append(us(run([TOKENTAP, "run", "--quiet", "--"] + calls,
                               dict(direct, TOKENTAP_HOME=home, TOKENTAP_DB=db,
                                    TOKENTAP_HOSTS="127.0.0.1:%d=auto" % port),
                               "calls under tokentap")))
            total, ok = count_spans(db)
            if total != N + 1 or ok != N + 1:
                sys.exit("fig_08: tokentap round %d stored %d spans (%s ok), want %d"
                         % (r + 1, total, ok, N + 1))
            log("calls round %d/%d (%d calls): direct %.0f, via mitmdump %.0f (requests' "
                "defaults, %d calls: %.0f), tokentap %.0f µs/call"
                % (r + 1, ROUNDS, N, c_dir[-1], c_mitm[-1], N_NAGLE, c_nagle[-1], c_tt[-1]))

        sc = [PY, SELF, "--stream-client", str(STREAMS), str(EVENTS), str(DELAY_MS)]
        s_dir, s_def, s_str = ([], []), ([], []), ([], [])
        for r in range(ROUNDS):
            for acc, env, what in ((s_dir, direct, "streams direct"),
                                   (s_def, via(p_def), "streams via mitmdump"),
                                   (s_str, via(p_str), "streams via mitmdump streaming")):
                res = json.loads(run(sc, env, what).strip().splitlines()[-1])
                acc[0].extend(x * 1e3 for x in res["ttft"])
                acc[1].extend(x * 1e3 for x in res["last"])
            log("streams round %d/%d (%d x %d events, %d ms apart): TTFT/last ms: direct "
                "%.1f/%.1f, mitmdump %.1f/%.1f, mitmdump streaming %.1f/%.1f"
                % (r + 1, ROUNDS, STREAMS, EVENTS, DELAY_MS,
                   *(statistics.median(x[-STREAMS:]) for x in (s_dir[0], s_dir[1], s_def[0],
                                                              s_def[1], s_str[0], s_str[1]))))
    finally:
        for p in reversed(procs):
            stop(p)
        shutil.rmtree(tmp, ignore_errors=True)

    log("calls: direct %s; mitmdump %s; mitmdump, requests' defaults %s; tokentap %s "
        "(µs/call, all rounds)"
        % tuple(" ".join("%.0f" % x for x in v) for v in (c_dir, c_mitm, c_nagle, c_tt)))
    log("done in %.1f s" % (time.time() - t_start))

    med = statistics.median
    a, m, g, t = med(c_dir), med(c_mitm), med(c_nagle), med(c_tt)
    resp = " / %.1f KB resp" % (med(RESP_BYTES) / 1000) if RESP_BYTES else ""
    wl = "8. mitmdump proxy: LLM calls, Python requests keep-alive, 10 KB req%s" % resp
    row("%s, direct vs via mitmdump, client TCP_NODELAY to the proxy (µs/call)" % wl,
        "%.0f" % a, "%.0f (+%.0f)" % (m, m - a), a, m)
    row("%s, direct vs via mitmdump, requests' default: Nagle to the proxy (µs/call)" % wl,
        "%.0f" % a, "%.0f (+%.0f)" % (g, g - a), a, g)
    row("%s, direct vs under tokentap, cf. fig 2 (µs/call)" % wl,
        "%.0f" % a, "%.0f (+%.0f)" % (t, t - a), a, t)
    sw = "8. mitmdump proxy: streaming, %d SSE events %d ms apart" % (EVENTS, DELAY_MS)
    for label, (ttft, last) in (("mitmdump defaults (buffers the body)", s_def),
                                ("mitmdump stream_large_bodies=1", s_str)):
        for what, x, y in (("TTFT", s_dir[0], ttft), ("last event", s_dir[1], last)):
            a, b = med(x), med(y)
            row("%s, %s, direct vs via %s (ms)" % (sw, what, label),
                "%.1f" % a, "%.1f (+%.1f)" % (b, b - a), a, b)


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--stream-client":
        stream_client(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
    elif len(sys.argv) == 3 and sys.argv[1] == "--calls-client-nodelay":
        calls_client_nodelay(int(sys.argv[2]))
    else:
        main()
