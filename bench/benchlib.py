"""Shared plumbing of the Python figures (bench/fig_02, fig_03, fig_07):
the mock provider on an ephemeral TLS port (as tests/integration/harness.py
starts it), a clean environment, one traced run with a fresh store, the span
count of that store (`tokentap export`), the libcurl bench client, and the
ROW line of bench/run.sh's contract. Not a figure itself (run.sh only runs
bench/fig_*)."""
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
TOKENTAP = os.path.join(ROOT, "build", "bin", "tokentap")
BENCH = os.path.join(ROOT, "bench")
PY = "/usr/bin/python3"  # Debian's, which has requests and httpx
QUICK = os.environ.get("QUICK", "") not in ("", "0")
CURL_CLIENT = os.path.join(ROOT, "build", "bench", "bench_curl_calls")


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def die(msg):
    log(msg)
    sys.exit(1)


def median(xs):
    return statistics.median(xs)


def paired(without, with_, n=2000):
    """The added cost of interleaved rounds, paired: the median of the
    per-round differences (with - without; a round's two runs share the
    machine's state of that moment, which moves untraced runs by ±100 µs
    from one round to the next), and the half-width of a bootstrap 90%
    interval of that median (rounds resampled)."""
    d = [w - a for a, w in zip(without, with_)]
    rnd = random.Random(5)
    bs = sorted(median(rnd.choices(d, k=len(d))) for _ in range(n))
    return median(d), (bs[int(n * 0.95)] - bs[int(n * 0.05)]) / 2


def verdict_at_most(added, nz, target):
    """ok when the whole interval is within the target, MISSED when all of
    it is past it, unclear when it holds the target (more rounds, or a
    quieter machine, would tell)."""
    if added + nz <= target:
        return "ok"
    if added - nz > target:
        return "MISSED"
    return "unclear"


def verdict_at_least(x, nz, target):
    """verdict_at_most's mirror, for a figure that must reach its target
    (a throughput or speed ratio)."""
    if x - nz >= target:
        return "ok"
    if x + nz < target:
        return "MISSED"
    return "unclear"


def paired_ratio(without, with_, n=2000):
    """The ratio of interleaved rounds, paired: the median of the per-round
    ratios (with / without, the two runs of a round sharing the machine's
    state of that moment) and the half-width of a bootstrap 90% interval
    of that median, as paired() does for differences."""
    q = [w / a for a, w in zip(without, with_)]
    rnd = random.Random(5)
    bs = sorted(median(rnd.choices(q, k=len(q))) for _ in range(n))
    return median(q), (bs[int(n * 0.95)] - bs[int(n * 0.05)]) / 2


def ratio_main(argv):
    """`python3 bench/benchlib.py ratio at_most|at_least TARGET "D1 D2 ..."
    "N1 N2 ..."`: the rounds' denominators and numerators, in round order
    (the shell figures: figs 1, 4, 5). Prints "ratio half-width verdict"."""
    if len(argv) != 5 or argv[0] != "ratio" or argv[1] not in ("at_most", "at_least"):
        die("usage: benchlib.py ratio at_most|at_least TARGET DENOMINATORS NUMERATORS")
    den, num = ([float(x) for x in a.split()] for a in argv[3:5])
    if not den or len(den) != len(num) or min(den) <= 0:
        die("benchlib.py ratio: want as many numerators as denominators (> 0)")
    r, nz = paired_ratio(den, num)
    target = float(argv[2])
    v = (verdict_at_most if argv[1] == "at_most" else verdict_at_least)(r, nz, target)
    print("%.4f %.4f %s" % (r, nz, v))


def build_curl_client():
    """cc -O2 bench/bench_curl_calls.c -lcurl into build/bench/ (if stale)."""
    src = os.path.join(BENCH, "bench_curl_calls.c")
    if (not os.path.exists(CURL_CLIENT)
            or os.path.getmtime(CURL_CLIENT) < os.path.getmtime(src)):
        os.makedirs(os.path.dirname(CURL_CLIENT), exist_ok=True)
        subprocess.run(["cc", "-O2", "-Wall", "-o", CURL_CLIENT, src, "-lcurl"],
                       check=True)
    return CURL_CLIENT


class Mock:
    """`tokentap mock` on 127.0.0.1, an ephemeral port, TLS."""

    def __init__(self, tmp, extra=()):
        self.cert = os.path.join(tmp, "mock-cert.pem")
        port_file = os.path.join(tmp, "mock-port")
        self.proc = subprocess.Popen(
            [TOKENTAP, "mock", "--port", "0", "--port-file", port_file,
             "--cert-out", self.cert, "--quiet"] + list(extra),
            stdin=subprocess.DEVNULL)
        deadline = time.time() + 10
        while not (os.path.exists(port_file) and open(port_file).read().strip()):
            if self.proc.poll() is not None or time.time() > deadline:
                self.stop()
                die("bench: the mock did not start")
            time.sleep(0.02)
        self.port = int(open(port_file).read().strip())
        self.base = "https://127.0.0.1:%d" % self.port

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class SSEServer:
    """bench/sse_server.py on 127.0.0.1, an ephemeral port, TLS with a
    throwaway self-signed certificate (openssl req)."""

    def __init__(self, tmp):
        self.cert = os.path.join(tmp, "sse-cert.pem")
        key = os.path.join(tmp, "sse-key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-subj",
                        "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
                        "-keyout", key, "-out", self.cert], check=True,
                       stdin=subprocess.DEVNULL, capture_output=True)
        port_file = os.path.join(tmp, "sse-port")
        self.proc = subprocess.Popen([PY, os.path.join(BENCH, "sse_server.py"), self.cert,
                                      key, port_file], stdin=subprocess.DEVNULL)
        deadline = time.time() + 10
        while not os.path.exists(port_file):
            if self.proc.poll() is not None or time.time() > deadline:
                self.stop()
                die("bench: bench/sse_server.py did not start")
            time.sleep(0.02)
        self.port = int(open(port_file).read())
        self.base = "https://127.0.0.1:%d" % self.port

    stop = Mock.stop


class PrivateDaemon:
    """A tokentapd of a figure's own, not under callgrind (`with
    PrivateDaemon(b, tag) as d:`): its socket, store and spool under
    b.tmp/tag; d.env is b.env pointed at it, for the traced clients."""

    def __init__(self, b, tag):
        home = os.path.join(b.tmp, tag)
        os.makedirs(home, exist_ok=True)
        self.env = dict(b.env, TOKENTAP_HOME=home, TOKENTAP_DB=os.path.join(home, "traces.db"),
                        TOKENTAP_SOCKET=os.path.join(home, "d.sock"),
                        TOKENTAP_SPOOL=os.path.join(home, "spool"))
        self.proc = None

    def __enter__(self):
        self.proc = subprocess.Popen([os.path.join(ROOT, "build", "bin", "tokentapd"),
                                      "--foreground"], env=self.env, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 10
        while not os.path.exists(self.env["TOKENTAP_SOCKET"]):
            if self.proc.poll() is not None or time.time() > deadline:
                self.__exit__()
                die("bench: tokentapd did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(30)


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("TOKENTAP_") and k not in ("TRACEPARENT", "LD_PRELOAD")}
    env.update(extra)
    return env


class Bench:
    """A temp dir and a mock for one figure; `with Bench() as b: ...`."""

    def __init__(self, name, mock_args=(), sse=False):
        self.name = name
        self.mock_args = mock_args
        self.want_sse = sse
        self.runs = 0

    def __enter__(self):
        self.tmp = tempfile.mkdtemp(prefix="tt-%s-" % self.name)
        self.mock = Mock(self.tmp, self.mock_args)
        self.env = clean_env(MOCK_BASE=self.mock.base, MOCK_CA=self.mock.cert)
        self.hosts = "127.0.0.1:%d=auto" % self.mock.port
        self.sse = None
        if self.want_sse:
            self.sse = SSEServer(self.tmp)
            self.env.update(SSE_BASE=self.sse.base, SSE_CA=self.sse.cert)
            self.hosts += ",127.0.0.1:%d=auto" % self.sse.port
        return self

    def __exit__(self, *exc):
        self.mock.stop()
        if self.sse:
            self.sse.stop()
        if os.environ.get("BENCH_KEEP"):     # the callgrind files, to read further
            log("bench: kept %s (BENCH_KEEP)" % self.tmp)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def file(self, name, data):
        """Write data (bytes or str) to name in this bench's tmp: its path."""
        path = os.path.join(self.tmp, name)
        with open(path, "wb" if isinstance(data, bytes) else "w") as f:
            f.write(data)
        return path

    def run(self, argv, traced, hosts=None, timeout=600, env=None):
        """Run argv plain or under `tokentap run --quiet --` with a fresh
        store; returns (stdout, traced_env or None)."""
        env = dict(env or self.env)
        if traced:
            self.runs += 1
            home = os.path.join(self.tmp, "home%d" % self.runs)
            env.update(TOKENTAP_HOME=home, TOKENTAP_DB=os.path.join(home, "traces.db"),
                       TOKENTAP_HOSTS=hosts or self.hosts)
            argv = [TOKENTAP, "run", "--quiet", "--"] + list(argv)
        p = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=timeout)
        if p.returncode != 0:
            die("%s: %s failed (%d):\n%s%s" % (self.name, " ".join(argv), p.returncode,
                                             p.stdout, p.stderr))
        return p.stdout, (env if traced else None)

    def spans(self, env, want, what, all_ok=True):
        """The traced run's store must hold exactly `want` LLM spans, all
        ok (unless all_ok is False); process and run spans are not calls."""
        p = subprocess.run([TOKENTAP, "export", "--format", "jsonl"], env=env,
                           stdin=subprocess.DEVNULL, capture_output=True, text=True,
                           timeout=60)
        lines = [l for l in p.stdout.splitlines()
                 if l.strip() and json.loads(l).get("kind") == "llm"]
        ok = sum('"status":"ok"' in l.replace(" ", "") for l in lines)
        if p.returncode != 0 or len(lines) != want or (all_ok and ok != want):
            die("%s: %s stored %d spans (%d ok), want %d\n%s"
                % (self.name, what, len(lines), ok, want, p.stderr))
        shutil.rmtree(env["TOKENTAP_HOME"], ignore_errors=True)
        return len(lines)


def row(figure, without, with_, ratio, target, verdict, command):
    for f in (figure, without, with_, ratio, target, verdict, command):
        assert "|" not in str(f), f
    print("ROW|%s|%s|%s|%s|%s|%s|%s" % (figure, without, with_, ratio, target, verdict,
                                       command), flush=True)


if __name__ == "__main__":
    ratio_main(sys.argv[1:])
