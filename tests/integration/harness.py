"""Integration harness: a real mock provider over TLS, real client programs
run unmodified under `tokentap run`, assertions on the exported spans.

Each test gets its own TOKENTAP_HOME and store, so no daemon or spool is
shared between tests."""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.environ.get("TOKENTAP_BIN_DIR", os.path.join(ROOT, "build", "bin"))
TOKENTAP = os.path.join(BIN, "tokentap")
CLIENTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "clients")
# Debian's python3 has requests/httpx; a pyenv shim on PATH may not.
PY = "/usr/bin/python3"

# Prices (USD per 1M tokens) of the models the tests use, from
# data/prices.tsv; the tests recompute cost by hand from these.
PRICE = {
    "gpt-4o-mini": dict(inp=0.15, out=0.60, cr=0.075),
    "claude-sonnet-4-5": dict(inp=3.0, out=15.0, cr=0.30, cw=3.75),
}


class Mock:
    """`tokentap mock` on an ephemeral port, TLS or plain."""

    def __init__(self, plain=False, extra=()):
        self.dir = tempfile.mkdtemp(prefix="tt-mock-")
        self.cert = os.path.join(self.dir, "cert.pem")
        port_file = os.path.join(self.dir, "port")
        args = [TOKENTAP, "mock", "--port", "0", "--port-file", port_file,
                "--quiet"]
        if plain:
            args.append("--plain")
        else:
            args += ["--cert-out", self.cert]
        args += list(extra)
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL)
        deadline = time.time() + 10
        while time.time() < deadline:
            if os.path.exists(port_file) and open(port_file).read().strip():
                break
            if self.proc.poll() is not None:
                raise RuntimeError("mock exited with %s" % self.proc.returncode)
            time.sleep(0.02)
        else:
            raise RuntimeError("mock did not start")
        self.port = int(open(port_file).read().strip())
        self.scheme = "http" if plain else "https"
        self.base = "%s://127.0.0.1:%d" % (self.scheme, self.port)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


MOCK = None


def mock():
    global MOCK
    if MOCK is None:
        MOCK = Mock()
    return MOCK


class Run:
    """The result of one `tokentap run`."""

    def __init__(self, proc, spans, env):
        self.rc = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        self.spans = spans
        self.env = env


class TapTest(unittest.TestCase):
    maxDiff = None

    def setUp(self):
        self.home = tempfile.mkdtemp(prefix="tt-home-")
        self.db = os.path.join(self.home, "traces.db")
        self.m = mock()

    def tearDown(self):
        shutil.rmtree(self.home, ignore_errors=True)

    def env(self, **extra):
        e = dict(os.environ)
        for k in list(e):
            if k.startswith("TOKENTAP_") or k == "TRACEPARENT":
                del e[k]
        e.update(
            TOKENTAP_HOME=self.home,
            TOKENTAP_DB=self.db,
            TOKENTAP_HOSTS="127.0.0.1:%d=auto,localhost:%d=auto"
            % (self.m.port, self.m.port),
            MOCK_BASE=self.m.base,
            MOCK_CA=self.m.cert,
            SSL_CERT_FILE=self.m.cert,
            REQUESTS_CA_BUNDLE=self.m.cert,
        )
        e.update(extra)
        return e

    def tokentap(self, *args, env=None, check=True, timeout=60):
        p = subprocess.run([TOKENTAP] + list(args), env=env or self.env(),
                           capture_output=True, text=True, timeout=timeout,
                           stdin=subprocess.DEVNULL)
        if check and p.returncode != 0:
            self.fail("tokentap %s failed (%d):\n%s%s" % (
                " ".join(args), p.returncode, p.stdout, p.stderr))
        return p

    def spans(self, env=None):
        p = self.tokentap("export", "--format", "jsonl", env=env)
        return [json.loads(line) for line in p.stdout.splitlines() if line.strip()]

    def run_traced(self, argv, env=None, timeout=120, **extra):
        env = env or self.env(**extra)
        p = subprocess.run([TOKENTAP, "run", "--"] + list(argv), env=env,
                           capture_output=True, text=True, timeout=timeout,
                           stdin=subprocess.DEVNULL)
        return Run(p, self.spans(env), env)

    def client(self, name):
        return [PY, os.path.join(CLIENTS, name)]

    # --- assertions -------------------------------------------------------
    def assertCost(self, span, model, inp, out, cr=0, cw=0):
        p = PRICE[model]
        want = ((inp - cr - cw) * p["inp"] + cr * p.get("cr", p["inp"]) +
                cw * p.get("cw", p["inp"]) + out * p["out"]) / 1e6
        self.assertTrue(span["cost_known"], span)
        self.assertAlmostEqual(span["cost_usd"], want, places=12)

    def assertContract(self, s):
        """Every span obeys the export contract's shapes."""
        for k in ("trace_id", "span_id", "kind", "name", "start_time",
                  "end_time", "status", "provider", "operation", "host",
                  "method", "path", "http_status", "request_model", "stream",
                  "input_tokens", "output_tokens", "cache_read_tokens",
                  "cache_write_tokens", "reasoning_tokens", "cost_usd",
                  "cost_known", "usage_known", "pid", "exe"):
            self.assertIn(k, s)
        self.assertRegex(s["trace_id"], r"^[0-9a-f]{32}$")
        self.assertRegex(s["span_id"], r"^[0-9a-f]{16}$")
        self.assertEqual(s["kind"], "llm")
        self.assertIsInstance(s["start_time"], int)
        self.assertGreaterEqual(s["end_time"], s["start_time"])
        self.assertIn(s["status"], ("ok", "error"))
        if s["status"] == "error":
            self.assertTrue(s["error"])


def main():
    """Run the tests given (modules) and end with 'N passed, N failed'."""
    loader = unittest.TestLoader()
    suite = unittest.TestSuite()
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    names = sys.argv[1:] or sorted(
        f[:-3] for f in os.listdir(os.path.dirname(os.path.abspath(__file__)))
        if f.startswith("test_") and f.endswith(".py"))
    for n in names:
        suite.addTests(loader.loadTestsFromName(n))
    result = unittest.TextTestRunner(verbosity=2).run(suite)
    import harness  # the test modules' instance, not __main__'s
    for m in (MOCK, harness.MOCK):
        if m:
            m.stop()
    failed = len(result.failures) + len(result.errors)
    passed = result.testsRun - failed - len(result.skipped)
    print("integration: %d passed, %d failed, %d skipped"
          % (passed, failed, len(result.skipped)))
    sys.exit(1 if failed or result.testsRun == 0 else 0)


if __name__ == "__main__":
    main()
