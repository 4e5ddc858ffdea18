"""Integration harness: a real mock provider over TLS, real client programs
run unmodified under `tokentap run`, assertions on the exported spans.

Each test gets its own TOKENTAP_HOME and store, so no daemon or spool is
shared between tests."""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DEFAULT_BIN = os.path.join(ROOT, "build", "bin")
# Everything built comes from one tree: <bin>/tokentap, <bin>/tokentapd,
# <bin>/../lib/libtokentap.so, <bin>/../clients/ (make's $(B)).
BIN = os.path.abspath(os.environ.get("TOKENTAP_BIN_DIR", DEFAULT_BIN))
TOKENTAP = os.path.join(BIN, "tokentap")
TOKENTAPD = os.path.join(BIN, "tokentapd")
LIB = os.path.normpath(os.path.join(BIN, "..", "lib", "libtokentap.so"))
CLIENTS_BIN = os.path.normpath(os.path.join(BIN, "..", "clients"))
CLIENTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "clients")
# Debian's python3 has requests/httpx; a pyenv shim on PATH may not.
PY = "/usr/bin/python3"

# Prices (USD per 1M tokens) of the models the tests use, from
# data/catalogue.tsv; the tests recompute cost by hand from these.
PRICE = {
    "gpt-4o-mini": dict(inp=0.15, out=0.60, cr=0.075),
    "claude-sonnet-4-5": dict(inp=3.0, out=15.0, cr=0.30, cw=3.75),
}

# Checked runs (make test-asan | test-tsan | test-valgrind, see the Makefile):
#   TOKENTAP_TEST_SAN            asan, tsan or valgrind ("" : a normal run)
#   TOKENTAP_TEST_PRELOAD_FIRST  the sanitizer runtime that uninstrumented
#                                programs (python3, curl) load before the preload
#   TOKENTAP_TEST_SLOW           factor on the harness's timeouts
#   TOKENTAP_TEST_LOG_DIR        where reports go (default: a new temp dir)
#   TOKENTAP_TEST_MAKE_ARGS      extra make arguments (the install test)
# Every process writes its reports to the log dir; after each test the
# harness fails the test if a new report appeared there.
SAN = os.environ.get("TOKENTAP_TEST_SAN", "")
SLOW = float(os.environ.get("TOKENTAP_TEST_SLOW") or 1)
SAN_FIRST = os.environ.get("TOKENTAP_TEST_PRELOAD_FIRST", "")
SAN_LOG = ""
if SAN:
    SAN_LOG = os.environ.get("TOKENTAP_TEST_LOG_DIR") or tempfile.mkdtemp(prefix="tt-san-")
    os.makedirs(SAN_LOG, exist_ok=True)
    # run as a script, this file is imported again by the tests: one dir.
    os.environ["TOKENTAP_TEST_LOG_DIR"] = SAN_LOG
SUPP = os.path.join(ROOT, "tests", "sanitizers")
# Programs run under valgrind in the valgrind run (python3 would take too
# long); the daemon is, by the wrapper make installs as <bin>/tokentapd.
VG_PROGS = ("curl_easy", "curl_multi")     # and curl: curl_wrapper()
VALGRIND = ["valgrind", "-q", "--error-exitcode=99", "--leak-check=full",
            "--errors-for-leak-kinds=definite", "--show-leak-kinds=definite",
            "--child-silent-after-fork=yes", "--num-callers=30",
            "--suppressions=" + os.path.join(SUPP, "valgrind.supp"),
            "--log-file=" + os.path.join(SAN_LOG, "vg.%p")]
# Our programs: leaks in them are reported (LeakSanitizer); in python3,
# curl or bash they are not ours.
OURS = ("tokentap", "tokentapd", "tokentap-mock", "curl_easy", "curl_multi")


def san_env():
    """The variables a checked run adds to every process's environment."""
    if not SAN:
        return {}
    e = {"TOKENTAP_TEST_SAN": SAN, "TOKENTAP_TEST_LOG_DIR": SAN_LOG}
    if SAN_FIRST:
        e["LD_PRELOAD"] = SAN_FIRST
    if SAN == "asan":
        # %b is the program's name: opts.<ours> turns leak detection on.
        for name in OURS:
            with open(os.path.join(SAN_LOG, "opts." + name), "w") as fh:
                fh.write("detect_leaks=1\n")
        e["ASAN_OPTIONS"] = ":".join([
            "detect_leaks=0", "verify_asan_link_order=0", "halt_on_error=1",
            "log_path=" + os.path.join(SAN_LOG, "asan"),
            "include_if_exists=" + os.path.join(SAN_LOG, "opts.%b")])
        e["LSAN_OPTIONS"] = "suppressions=" + os.path.join(SUPP, "lsan.supp")
        e["UBSAN_OPTIONS"] = ("print_stacktrace=1:halt_on_error=1:log_path="
                              + os.path.join(SAN_LOG, "ubsan"))
    elif SAN == "tsan":
        e["TSAN_OPTIONS"] = ":".join([
            "halt_on_error=0", "second_deadlock_stack=1",
            "log_path=" + os.path.join(SAN_LOG, "tsan"),
            "suppressions=" + os.path.join(SUPP, "tsan.supp")])
    elif SAN == "valgrind":
        # read by tests/sanitizers/valgrind-tokentapd.sh (not TOKENTAP_*:
        # tests that start from a clean TOKENTAP_ environment keep it)
        e["TT_VALGRIND_CMD"] = " ".join(VALGRIND)
    return e


def curl_wrapper():
    """A directory put first on PATH in checked runs, whose `curl` runs the
    real one without the sanitizer runtime in LD_PRELOAD (curl 7.88 hangs
    in its first setlocale() with libasan/libtsan preloaded, tokentap or
    not; the runtime still comes in as the preload's DT_NEEDED, after libc)
    and, in the valgrind run, under valgrind."""
    d = os.path.join(SAN_LOG, "path")
    real = shutil.which("curl", path=os.pathsep.join(
        p for p in os.environ.get("PATH", "").split(os.pathsep) if p != d))
    if not SAN or not real:
        return None
    os.makedirs(d, exist_ok=True)
    vg = " ".join(VALGRIND) + " " if SAN == "valgrind" else ""
    strip = ""
    if SAN_FIRST:
        strip = ('LD_PRELOAD=$(printf %%s "$LD_PRELOAD" | tr : "\\n" | grep -vxF "%s" '
                 '| paste -sd:)\nexport LD_PRELOAD\n' % SAN_FIRST)
    with open(os.path.join(d, "curl"), "w") as fh:
        fh.write("#!/bin/sh\n%sexec %s%s \"$@\"\n" % (strip, vg, real))
    os.chmod(os.path.join(d, "curl"), 0o755)
    return d


# Every process the tests start inherits the run's settings, also those
# started with an environment built from os.environ by hand; but not the
# runtime in LD_PRELOAD (env() adds it for the programs under test): tools
# the tests run themselves (pgrep) hang in setlocale() with it, like curl.
os.environ.update({k: v for k, v in san_env().items() if k != "LD_PRELOAD"})
_WRAPPED = curl_wrapper()
if _WRAPPED and not os.environ["PATH"].startswith(_WRAPPED + os.pathsep):
    os.environ["PATH"] = _WRAPPED + os.pathsep + os.environ["PATH"]


SEEN = set()


def san_reports():
    """Reports written to the log dir since the last call: (path, text)."""
    if not SAN_LOG:
        return []
    found = []
    for f in sorted(os.listdir(SAN_LOG)):
        path = os.path.join(SAN_LOG, f)
        if f.startswith("opts.") or path in SEEN or not os.path.isfile(path):
            continue
        with open(path, errors="replace") as fh:
            text = fh.read()
        if f.startswith("vg."):
            # valgrind writes a log per process; only errors count, and a
            # log without its summary belongs to a process still running.
            sums = re.findall(r"ERROR SUMMARY: (\d+) errors", text)
            if not sums:
                continue
            SEEN.add(path)
            if not any(int(n) for n in sums):
                continue
        SEEN.add(path)
        found.append((path, text))
    return found


def san_wrap(argv):
    """argv, under valgrind if this is the valgrind run and a program we
    run there."""
    argv = list(argv)
    if SAN == "valgrind" and os.path.basename(argv[0]) in VG_PROGS:
        return VALGRIND + argv
    return argv


def preload_env(env):
    """env with the preload in LD_PRELOAD (after the sanitizer runtime), for
    the tests that preload it by hand instead of `tokentap run`."""
    env = dict(env)
    env["LD_PRELOAD"] = ":".join(p for p in (SAN_FIRST, LIB) if p)
    return env


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
        env = dict(os.environ)
        env.update(san_env())
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, env=env)
        deadline = time.time() + 10 * SLOW
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
            self.proc.wait(5 * SLOW)
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
        reports = san_reports()
        if reports:
            self.fail("%s reports (kept in %s):\n%s" % (
                SAN, SAN_LOG, "\n".join("== %s\n%s" % (p, t[:20000])
                                         for p, t in reports)))

    def env(self, **extra):
        e = dict(os.environ)
        for k in list(e):
            if k.startswith("TOKENTAP_") or k == "TRACEPARENT":
                del e[k]
        for k in list(e):
            if k.startswith("OTEL_"):
                del e[k]
        e.update(
            # a config file of the machine's must not steer the tests
            TOKENTAP_CONFIG=os.devnull,
            # nor a price file `tokentap pricing --import` installed there
            XDG_CONFIG_HOME=os.path.join(self.home, "config"),
            TOKENTAP_HOME=self.home,
            TOKENTAP_DB=self.db,
            TOKENTAP_HOSTS="127.0.0.1:%d=auto,localhost:%d=auto"
            % (self.m.port, self.m.port),
            MOCK_BASE=self.m.base,
            MOCK_CA=self.m.cert,
            SSL_CERT_FILE=self.m.cert,
            REQUESTS_CA_BUNDLE=self.m.cert,
        )
        e.update(san_env())
        e.update(extra)
        return e

    def tokentap(self, *args, env=None, check=True, timeout=60):
        p = subprocess.run([TOKENTAP] + list(args), env=env or self.env(),
                           capture_output=True, text=True, timeout=timeout * SLOW,
                           stdin=subprocess.DEVNULL)
        if check and p.returncode != 0:
            self.fail("tokentap %s failed (%d):\n%s%s" % (
                " ".join(args), p.returncode, p.stdout, p.stderr))
        return p

    def spans(self, env=None, kinds=("llm",)):
        """The exported spans of the given kinds (LLM calls by default; the
        process and tool spans of issue #7 with kinds=None)."""
        p = self.tokentap("export", "--format", "jsonl", env=env)
        out = [json.loads(line) for line in p.stdout.splitlines() if line.strip()]
        return [s for s in out if kinds is None or s.get("kind") in kinds]

    def run_traced(self, argv, env=None, timeout=120, **extra):
        env = env or self.env(**extra)
        p = subprocess.run([TOKENTAP, "run", "--"] + san_wrap(argv), env=env,
                           capture_output=True, text=True, timeout=timeout * SLOW,
                           stdin=subprocess.DEVNULL)
        return Run(p, self.spans(env), env)

    def strace_calls(self, n, trace, **extra):
        """n back-to-back chat calls on one requests.Session, one Python
        process under `tokentap run` and `strace -f -yy -e trace=TRACE`:
        the Run and the lines strace wrote."""
        out = os.path.join(self.home, "strace.txt")
        body = json.dumps({"model": "gpt-4o-mini",
                           "messages": [{"role": "user", "content": "hi"}]})
        code = ("import requests, sys\n"
                "s = requests.Session()\n"
                "for i in range(%d):\n"
                "    s.post(sys.argv[1], data=sys.argv[2], verify=sys.argv[3],\n"
                "           headers={'content-type': 'application/json',\n"
                "                    'authorization': 'Bearer sk-t'}).raise_for_status()\n" % n)
        r = self.run_traced(["strace", "-f", "-yy", "-e", "trace=" + trace, "-o", out,
                             PY, "-c", code, self.m.base + "/v1/chat/completions", body,
                             self.m.cert], **extra)
        with open(out) as f:
            return r, f.read().splitlines()

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
    late = harness.san_reports()   # the mock's, written when it stopped
    for path, text in late:
        print("== %s report after the tests: %s\n%s" % (SAN, path, text[:20000]))
    failed += len(late)
    if SAN:
        print("%s run: reports in %s" % (SAN, SAN_LOG))
    passed = result.testsRun - failed - len(result.skipped)
    print("integration: %d passed, %d failed, %d skipped"
          % (passed, failed, len(result.skipped)))
    sys.exit(1 if failed or result.testsRun == 0 else 0)


if __name__ == "__main__":
    main()
