#!/usr/bin/env python3
"""bench/forward.py - spans per second that tokentapd forwards (issue #8).

    python3 bench/forward.py [M]        (default M = 50000; needs `make`
                                         build/bench/ingest, root for ClickHouse)

For each destination, build/bench/ingest feeds M synthetic chat spans to a
private tokentapd (socket -> SQLite -> forwarding queue) as fast as the
daemon acks them; the clock runs from the first span sent until the M-th
span is counted AT THE DESTINATION. Destinations:

  otlp-count     a minimal OTLP/HTTP receiver (Python, json-parses each
                 request and counts spans): the exporter's own rate
  otlp-validate  tests/otlp/receiver.mjs, which decodes and round-trips every
                 request through the OpenTelemetry protos (slower receiver)
  clickhouse     Debian's clickhouse-server 18.16 on loopback (count() FINAL)

The daemon's SQLite ingest runs in the same clock (it is the path every
span takes), so a rate is bounded by it too. Prints one line per
destination and the command that reproduces it."""
import http.server
import json
import os
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
INGEST = os.path.join(ROOT, "build", "bench", "ingest")
DAEMON = os.path.join(ROOT, "build", "bin", "tokentapd")


class Counter(http.server.BaseHTTPRequestHandler):
    count = 0
    lock = threading.Lock()

    def do_POST(self):
        n = int(self.headers.get("Content-Length", 0))
        body = json.loads(self.rfile.read(n))
        k = sum(len(ss["spans"]) for rs in body["resourceSpans"] for ss in rs["scopeSpans"])
        with Counter.lock:
            Counter.count += k
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *a):
        pass


def run(m, env, count_fn):
    """Ingest m spans through a tokentapd with env; seconds until count_fn() == m."""
    e = dict(os.environ)
    for k in list(e):
        if k.startswith(("TOKENTAP_", "OTEL_")):
            del e[k]
    e.update(env)
    e.update(TOKENTAP_CONFIG=os.devnull, TOKENTAP_FORWARD_SHUTDOWN_MS="600000",
             TOKENTAP_FORWARD_DIR=tempfile.mkdtemp(prefix="tt-fwd-bench-"))
    done = {}

    def watch():
        while "t" not in done:
            try:
                if count_fn() >= m:
                    done["t"] = time.monotonic()
                    return
            except Exception:
                pass
            time.sleep(0.02)

    t0 = time.monotonic()
    w = threading.Thread(target=watch, daemon=True)
    w.start()
    p = subprocess.run([INGEST, DAEMON, str(m)], env=e, capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit("ingest failed: " + p.stderr[-2000:])
    w.join(600)
    if "t" not in done:
        raise SystemExit("not all %d spans arrived (count %s)" % (m, count_fn()))
    return done["t"] - t0


def main():
    m = int(sys.argv[1]) if len(sys.argv) > 1 else 50000
    rows = []
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Counter)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    t = run(m, {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:%d" % srv.server_port},
            lambda: Counter.count)
    rows.append(("otlp-count", t))
    srv.shutdown()

    from otlprecv import Receiver
    rc = Receiver()
    try:
        t = run(m, {"OTEL_EXPORTER_OTLP_ENDPOINT": rc.base}, lambda: len(rc.spans()))
        rows.append(("otlp-validate", t))
    finally:
        rc.stop()

    from chserver import ClickHouse
    ch = ClickHouse()
    try:
        db = "bench_%d" % os.getpid()
        t = run(m, {"TOKENTAP_CLICKHOUSE_URL": ch.url(db)},
                lambda: int(ch.query("SELECT count() FROM %s.spans" % db).strip() or 0))
        rows.append(("clickhouse", t))
        final = int(ch.query("SELECT count() FROM %s.spans FINAL" % db).strip())
    finally:
        ch.stop()
    print("%-14s %10s %12s" % ("destination", "seconds", "spans/s"))
    for name, t in rows:
        print("%-14s %10.2f %12.0f" % (name, t, m / t))
    print("clickhouse rows under FINAL: %d (want %d)" % (final, m))
    print("command: make build/bench/ingest && python3 bench/forward.py %d" % m)


if __name__ == "__main__":
    main()
