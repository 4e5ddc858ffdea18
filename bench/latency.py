"""Per-call latency added by tokentap to a keep-alive Python client.

Starts `tokentap mock` (TLS, ephemeral port, as tests/integration/harness.py
does), then runs bench/client_calls.py N times per round, alternately
(A) plain and (B) under `tokentap run --quiet --`, for ROUNDS rounds.
Interleaving spreads the machine's noise (2 cores, other tenants) over both
variants alike; medians discard the odd slow round. Every B round uses a
fresh store, which must then hold exactly N+1 spans (the warm-up call is
traced too): a benchmark that silently traced nothing would be worthless.

Environment: N (calls per run, default 2000, QUICK=1: 300), ROUNDS (5,
QUICK=1: 3). Progress goes to stderr; stdout gets one line
  ROW<TAB>figure<TAB>without<TAB>with (+added)<TAB>ratio
for bench/run.sh."""
import os
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
TOKENTAP = os.path.join(ROOT, "build", "bin", "tokentap")
CLIENT = os.path.join(ROOT, "bench", "client_calls.py")
PY = "/usr/bin/python3"  # Debian's, which has requests (harness.py does the same)
QUICK = os.environ.get("QUICK", "") not in ("", "0")
N = int(os.environ.get("N") or (300 if QUICK else 2000))
ROUNDS = int(os.environ.get("ROUNDS") or (3 if QUICK else 5))


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def start_mock(tmp):
    cert, port_file = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "port")
    proc = subprocess.Popen([TOKENTAP, "mock", "--port", "0", "--port-file", port_file,
                             "--cert-out", cert, "--quiet"], stdin=subprocess.DEVNULL)
    deadline = time.time() + 10
    while not (os.path.exists(port_file) and open(port_file).read().strip()):
        if proc.poll() is not None or time.time() > deadline:
            proc.kill()
            sys.exit("latency: the mock did not start")
        time.sleep(0.02)
    return proc, int(open(port_file).read().strip()), cert


def run_client(argv, env):
    p = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=600)
    if p.returncode != 0:
        sys.exit("latency: %s failed (%d):\n%s%s" % (" ".join(argv), p.returncode,
                                                     p.stdout, p.stderr))
    return float(p.stdout.split()[-1]) / N * 1e6  # µs per call


def count_spans(db):
    with sqlite3.connect(db) as c:
        return c.execute("SELECT count(*), sum(status = 'ok' AND request_model = 'gpt-4o-mini')"
                         " FROM spans").fetchone()


def main():
    tmp = tempfile.mkdtemp(prefix="tt-bench-")
    mock, port, cert = start_mock(tmp)
    try:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("TOKENTAP_") and k not in ("TRACEPARENT", "LD_PRELOAD")}
        env.update(MOCK_BASE="https://127.0.0.1:%d" % port, MOCK_CA=cert)
        plain = [PY, CLIENT, str(N)]
        traced = [TOKENTAP, "run", "--quiet", "--"] + plain
        a, b = [], []
        for r in range(ROUNDS):
            a.append(run_client(plain, env))
            home = os.path.join(tmp, "home%d" % r)
            db = os.path.join(home, "traces.db")
            b.append(run_client(traced, dict(env, TOKENTAP_HOME=home, TOKENTAP_DB=db,
                                             TOKENTAP_HOSTS="127.0.0.1:%d=auto" % port)))
            total, ok = count_spans(db)
            if total != N + 1 or ok != N + 1:
                sys.exit("latency: round %d stored %d spans (%s ok), want %d"
                         % (r + 1, total, ok, N + 1))
            log("latency round %d/%d: without %.1f µs/call, with %.1f µs/call, %d spans stored"
                % (r + 1, ROUNDS, a[-1], b[-1], total))
    finally:
        mock.send_signal(signal.SIGTERM)
        try:
            mock.wait(5)
        except subprocess.TimeoutExpired:
            mock.kill()
        shutil.rmtree(tmp, ignore_errors=True)
    ma, mb = statistics.median(a), statistics.median(b)
    log("latency: without %s, with %s (µs/call, all rounds)"
        % (" ".join("%.0f" % x for x in a), " ".join("%.0f" % x for x in b)))
    # "with" carries the added time per call, the figure that matters.
    print("ROW\tper-call latency, Python requests keep-alive, 10 KB body (us)"
          "\t%.0f\t%.0f (+%.0f)\t%.2f" % (ma, mb, mb - ma, mb / ma))

if __name__ == "__main__":
    main()
