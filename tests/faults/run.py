#!/usr/bin/env python3
"""Issue #6: concurrency, processes and faults, each with calls made vs
spans stored.

    python3 tests/faults/run.py [--quick] [SCENARIO...]

runs every scenario once (or the ones named) against the mock provider and
prints a markdown table:

    scenario | calls made | spans stored | lost (counted) | notes

- calls made: counted by the client program itself (it prints how many of
  its calls completed successfully);
- spans stored: rows in the store (sqlite3, after the daemon confirmed it
  stored everything, or `tokentap export --format jsonl`);
- lost (counted): what tokentap's counters say it could not keep:
  `tokentap stats --json` "lost_total" plus the preload's own
  "tokentap: ... lost" lines on stderr (losses it could not report);
- notes: every check that failed (FAIL ...), and what the scenario did.

Every scenario also runs the client without tokentap and compares its
output and exit status. tests/integration/test_faults.py runs the same
scenario functions with fewer calls and asserts exact numbers.
Needs root for the tmpfs / chattr scenarios (skipped with a reason
otherwise)."""
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import struct
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import harness  # noqa: E402
from harness import BIN, CLIENTS, PY, ROOT, TOKENTAP  # noqa: E402

TOKENTAPD = os.path.join(BIN, "tokentapd")
PRELOAD = harness.LIB
CBIN = harness.CLIENTS_BIN
CLIENT = [PY, os.path.join(CLIENTS, "faults_client.py")]
CURL = shutil.which("curl") or "/usr/bin/curl"


class Skip(Exception):
    """The scenario cannot run here (reason in the message)."""


# --------------------------------------------------------------- results
class Result:
    def __init__(self, name):
        self.name = name
        self.calls = None       # counted by the client
        self.expected = None    # calls the client attempted
        self.spans = None       # stored
        self.lost = None        # counted by tokentap
        self.notes = []
        self.failed = []        # failed checks
        self.skipped = None

    def check(self, what, ok, detail=""):
        if not ok:
            self.failed.append("%s%s" % (what, (": " + detail) if detail else ""))
        return ok

    def note(self, text):
        self.notes.append(text)

    @property
    def ok(self):
        return not self.failed and self.skipped is None

    def row(self):
        def cell(v):
            return "-" if v is None else str(v)
        notes = ["FAIL " + f for f in self.failed] + self.notes
        if self.skipped:
            notes = ["SKIPPED: " + self.skipped]
        text = "; ".join(notes).replace("|", "/").replace("\n", " ")
        return "| %s | %s | %s | %s | %s |" % (
            self.name, cell(self.calls), cell(self.spans), cell(self.lost), text)


# ------------------------------------------------------------- processes
def rc_of(code):
    """Popen's -N (killed by N) as a shell / `tokentap run` reports it."""
    return 128 - code if code is not None and code < 0 else code


class Proc:
    """A process whose stdout lines are collected as they come."""

    def __init__(self, argv, env, stderr_path):
        self.err = open(stderr_path, "w+")
        self.p = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL,
                                  stdout=subprocess.PIPE, stderr=self.err,
                                  text=True, start_new_session=True)
        self.lines = []
        self.cv = threading.Condition()
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()

    def _read(self):
        for line in self.p.stdout:
            with self.cv:
                self.lines.append(line.rstrip("\n"))
                self.cv.notify_all()
        with self.cv:
            self.cv.notify_all()

    def wait_line(self, pred, timeout=60):
        deadline = time.time() + timeout
        with self.cv:
            while True:
                for line in self.lines:
                    if pred(line):
                        return line
                left = deadline - time.time()
                if left <= 0 or (self.p.poll() is not None and not self.t.is_alive()):
                    raise RuntimeError("line not seen; output so far: %r%s" % (
                        self.lines[-5:], self.stderr()[-2000:]))
                self.cv.wait(min(left, 0.2))

    def progress(self):
        with self.cv:
            ns = [int(l.split()[1]) for l in self.lines if l.startswith("progress ")]
        return ns[-1] if ns else 0

    def wait(self, timeout=120):
        try:
            self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.p.pid, signal.SIGKILL)
            self.p.wait()
            raise RuntimeError("timed out after %d s (killed)" % timeout)
        self.t.join(5)
        return rc_of(self.p.returncode)

    def stdout(self):
        with self.cv:
            return "".join(l + "\n" for l in self.lines)

    def stderr(self):
        self.err.flush()
        self.err.seek(0)
        return self.err.read()


def parse_calls(out):
    m = re.search(r"^calls (\d+) failed (\d+)$", out, re.M)
    return (int(m.group(1)), int(m.group(2))) if m else (None, None)


# the preload's exit line for spans it could neither send nor spool:
# "tokentap[PID]: N span(s) lost and not recorded (why)"
LOST_LINE = re.compile(r"^tokentap(?:\[\d+\])?: .*\blost\b.*$", re.M)


def stderr_lost(text):
    total = 0
    for line in LOST_LINE.findall(text):
        m = (re.search(r"(\d+)\s+(?:[a-z()]+\s+){0,3}lost", line) or
             re.search(r"lost\D{0,24}(\d+)", line))
        if m:
            total += int(m.group(1))
    return total


# ------------------------------------------------------------------ context
class Ctx:
    """One scenario's world: its own TOKENTAP_HOME (store, spool, socket),
    the shared mock, and the daemon when the scenario runs one itself."""

    def __init__(self, mock, name="x"):
        self.m = mock
        self.home = tempfile.mkdtemp(prefix="tt-faults-%s-" % name)
        self.store_dir = os.path.join(self.home, "store")
        os.makedirs(self.store_dir, 0o700)
        self.db = os.path.join(self.store_dir, "traces.db")
        self.spool = os.path.join(self.home, "spool")
        self.sock = os.path.join(self.home, "tokentapd.sock")
        self.daemon = None
        self.daemon_logs = []
        self.mounts = []
        self.immutable = []
        self.stderrs = []

    def close(self):
        self.stop_daemon()
        for p in reversed(self.immutable):
            subprocess.run(["chattr", "-i", p], capture_output=True)
        for mnt in reversed(self.mounts):
            subprocess.run(["umount", "-l", mnt], capture_output=True)
        shutil.rmtree(self.home, ignore_errors=True)

    # --- environments
    def base_env(self):
        e = dict(os.environ)
        for k in list(e):
            if k.startswith("TOKENTAP_") or k in ("TRACEPARENT", "LD_PRELOAD"):
                del e[k]
        e.update(MOCK_BASE=self.m.base, MOCK_CA=self.m.cert,
                 SSL_CERT_FILE=self.m.cert, REQUESTS_CA_BUNDLE=self.m.cert,
                 PYTHONUNBUFFERED="1")
        return e

    def env(self, preload=False, **extra):
        e = self.base_env()
        e.update(
            TOKENTAP_HOME=self.home, TOKENTAP_DB=self.db,
            TOKENTAP_HOSTS="127.0.0.1:%d=auto,localhost:%d=auto"
            % (self.m.port, self.m.port))
        if preload:                 # traced without `tokentap run`
            e["LD_PRELOAD"] = PRELOAD
        e.update(extra)
        return e

    # --- running the client
    def run(self, argv, traced, timeout=180, env=None):
        """(rc, stdout, stderr) of argv, under `tokentap run` or not."""
        if traced:
            argv = [TOKENTAP, "run", "--"] + list(argv)
            env = env or self.env()
        else:
            env = env or self.base_env()
        p = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=timeout)
        if traced:
            self.stderrs.append(p.stderr)
        return rc_of(p.returncode), p.stdout, p.stderr

    def popen(self, argv, traced, env=None):
        if traced:
            argv = [TOKENTAP, "run", "--"] + list(argv)
            env = env or self.env()
        else:
            env = env or self.base_env()
        n = len(self.daemon_logs) + len(self.stderrs)
        return Proc(argv, env, os.path.join(self.home, "stderr-%d-%d" % (
            n, time.monotonic_ns())))

    # --- the daemon
    def start_daemon(self, timeout=10):
        log = os.path.join(self.home, "tokentapd-%d.log" % len(self.daemon_logs))
        self.daemon_logs.append(log)
        f = open(log, "w")
        self.daemon = subprocess.Popen(
            [TOKENTAPD, "--foreground", "--socket", self.sock, "--db", self.db,
             "--spool", self.spool], stdin=subprocess.DEVNULL, stdout=f,
            stderr=f, env=self.env(), start_new_session=True)
        f.close()
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                if request(self.sock, "hello", 1).get("t") == "hello":
                    return self.daemon.pid
            except OSError:
                pass
            if self.daemon.poll() is not None:
                raise RuntimeError("tokentapd exited (%s): %s" % (
                    self.daemon.returncode, self.daemon_log()))
            time.sleep(0.02)
        raise RuntimeError("tokentapd did not answer: " + self.daemon_log())

    def kill_daemon(self):
        if self.daemon and self.daemon.poll() is None:
            self.daemon.send_signal(signal.SIGKILL)
            self.daemon.wait()

    def stop_daemon(self):
        if self.daemon and self.daemon.poll() is None:
            try:
                request(self.sock, "stop", 5)
                self.daemon.wait(5)
            except (OSError, subprocess.TimeoutExpired, ValueError):
                self.daemon.kill()
                self.daemon.wait()
        self.daemon = None

    def daemon_log(self):
        return "".join(open(l).read() for l in self.daemon_logs if os.path.exists(l))

    def sync(self, timeout=20):
        """Everything sent to the daemon, and the spool, is committed."""
        r = request(self.sock, "sync", timeout)
        if r.get("t") != "synced":
            raise RuntimeError("sync answered %r" % r)
        return r

    # --- counting
    def stored(self):
        """(rows, distinct span ids) in the store, read directly (no spool
        ingestion on the way, unlike the CLI)."""
        if not os.path.exists(self.db):
            return 0, 0
        c = sqlite3.connect("file:%s?mode=ro" % self.db, uri=True, timeout=10)
        try:
            # LLM calls only: process spans (issue #7) are not calls.
            return c.execute("select count(*), count(distinct span_id) from spans"
                             " where kind = 'llm'").fetchone()
        except sqlite3.OperationalError:
            return 0, 0
        finally:
            c.close()

    def export(self):
        p = subprocess.run([TOKENTAP, "export", "--format", "jsonl"],
                           env=self.env(), capture_output=True, text=True,
                           timeout=60, stdin=subprocess.DEVNULL)
        if p.returncode != 0:
            raise RuntimeError("tokentap export failed: " + p.stderr)
        out = [json.loads(l) for l in p.stdout.splitlines() if l.strip()]
        return [s for s in out if s.get("kind") == "llm"]

    def stats(self):
        p = subprocess.run([TOKENTAP, "stats", "--json"], env=self.env(),
                           capture_output=True, text=True, timeout=60,
                           stdin=subprocess.DEVNULL)
        if p.returncode != 0:
            return None
        try:
            return json.loads(p.stdout)
        except ValueError:
            return None

    def lost(self, stderr_texts=()):
        """Lost as counted by tokentap: the store's lost_total (None when
        `tokentap stats` does not exist) + the preload's stderr lines."""
        st = self.stats()
        err = sum(stderr_lost(t) for t in list(stderr_texts) + self.stderrs)
        if st is None:
            return None, err, None
        return int(st.get("lost_total", 0)) + err, err, st

    def spool_files(self):
        if not os.path.isdir(self.spool):
            return []
        return [f for f in os.listdir(self.spool) if f.endswith(".spool")]

    def spool_bytes(self):
        return sum(os.path.getsize(os.path.join(self.spool, f))
                   for f in self.spool_files())


def request(sock, t, timeout):
    """One request/reply with tokentapd (docs/PROTOCOL.md framing)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(sock)
        tb = t.encode()
        payload = b"\x81\xa1t" + bytes([0xa0 | len(tb)]) + tb   # {"t": t}
        s.sendall(struct.pack(">I", len(payload)) + payload)
        hdr = recvn(s, 4)
        v, _ = unpack(recvn(s, struct.unpack(">I", hdr)[0]), 0)
        return v
    finally:
        s.close()


def unpack(b, i):
    """A minimal msgpack decoder (the daemon's replies): no dependency."""
    c = b[i]
    i += 1
    if c <= 0x7f:
        return c, i
    if c >= 0xe0:
        return c - 0x100, i
    if 0x80 <= c <= 0x8f or c in (0xde, 0xdf):
        n, i = (c & 0x0f, i) if c <= 0x8f else (
            (struct.unpack(">H", b[i:i + 2])[0], i + 2) if c == 0xde else
            (struct.unpack(">I", b[i:i + 4])[0], i + 4))
        out = {}
        for _ in range(n):
            k, i = unpack(b, i)
            out[k], i = unpack(b, i)
        return out, i
    if 0x90 <= c <= 0x9f or c in (0xdc, 0xdd):
        n, i = (c & 0x0f, i) if c <= 0x9f else (
            (struct.unpack(">H", b[i:i + 2])[0], i + 2) if c == 0xdc else
            (struct.unpack(">I", b[i:i + 4])[0], i + 4))
        out = []
        for _ in range(n):
            v, i = unpack(b, i)
            out.append(v)
        return out, i
    if 0xa0 <= c <= 0xbf or c in (0xd9, 0xda, 0xdb, 0xc4, 0xc5, 0xc6):
        if c <= 0xbf:
            n = c & 0x1f
        else:
            w = {0xd9: 1, 0xc4: 1, 0xda: 2, 0xc5: 2, 0xdb: 4, 0xc6: 4}[c]
            n = int.from_bytes(b[i:i + w], "big")
            i += w
        raw = b[i:i + n]
        return (raw.decode("utf-8", "replace") if c not in (0xc4, 0xc5, 0xc6)
                else raw), i + n
    fixed = {0xc0: (0, None), 0xc2: (0, False), 0xc3: (0, True)}
    if c in fixed:
        return fixed[c][1], i
    fmt = {0xcc: ">B", 0xcd: ">H", 0xce: ">I", 0xcf: ">Q", 0xd0: ">b",
           0xd1: ">h", 0xd2: ">i", 0xd3: ">q", 0xca: ">f", 0xcb: ">d"}[c]
    n = struct.calcsize(fmt)
    return struct.unpack(fmt, b[i:i + n])[0], i + n


def recvn(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise OSError("connection closed")
        buf += chunk
    return buf


# ------------------------------------------------------- common checking
def finish(r, ctx, calls, expected, spans=None, extra_stderr=(),
           want_lost=0):
    """Fill calls / spans / lost and the checks every scenario shares:
    all calls succeeded, stored == made, no duplicate, lost as wanted."""
    r.calls, r.expected = calls, expected
    r.check("client completed all its calls", calls == expected,
            "%s of %s" % (calls, expected))
    if spans is None:
        rows, distinct = ctx.stored()
        r.check("no duplicate span ids", rows == distinct, "%d/%d" % (rows, distinct))
        spans = rows
    r.spans = spans
    lost, err_lost, st = ctx.lost(extra_stderr)
    r.lost = lost if lost is not None else (
        "%d (stderr; no stats)" % err_lost if err_lost else None)
    if st is None:
        r.note("`tokentap stats` unavailable: lost counted from stderr only")
    if want_lost is not None:
        counted = lost if lost is not None else err_lost
        r.check("spans stored == calls made", spans == calls,
                "%s != %s" % (spans, calls))
        r.check("lost == %d" % want_lost, counted == want_lost, str(counted))
    return r


def compare(r, plain, traced, ignore=()):
    """The client's exit status and stdout are the same with and without
    tokentap (lines starting with an ignored prefix are timing-dependent)."""
    def norm(out):
        return [l for l in out.splitlines()
                if not any(l.startswith(p) for p in ignore)]
    r.check("exit status same with/without tokentap", plain[0] == traced[0],
            "%s vs %s" % (plain[0], traced[0]))
    r.check("stdout same with/without tokentap", norm(plain[1]) == norm(traced[1]),
            "%r vs %r" % (norm(plain[1])[-3:], norm(traced[1])[-3:]))


def err_tail(text, n=300):
    """stderr without `tokentap run`'s summary table."""
    lines = [l for l in text.splitlines() if not l.startswith("  ") and
             not re.match(r"tokentap: \d+ LLM calls?,", l)]
    return " / ".join(lines)[-n:]


def simple(ctx, name, argv, expected, ignore=(), timeout=180, check_spans=None):
    """Run argv without and with tokentap; the common checks."""
    r = Result(name)
    plain = ctx.run(argv, traced=False, timeout=timeout)
    traced = ctx.run(argv, traced=True, timeout=timeout)
    compare(r, plain, traced, ignore)
    calls, _ = parse_calls(traced[1])
    finish(r, ctx, calls, expected)
    if check_spans:
        check_spans(r, ctx.export())
    if not r.ok and err_tail(traced[2]):
        r.note("stderr: " + err_tail(traced[2]))
    return r


# =============================================================== scenarios
# 1. threads
def sc_threads(ctx, lib="requests", shared=True, threads=32, calls=50):
    name = "threads %dx%d %s %s" % (threads, calls, lib,
                                    "shared connections" if shared else
                                    "connection per thread")
    argv = CLIENT + ["threads", "--threads", str(threads), "--calls", str(calls),
                     "--lib", lib] + (["--shared"] if shared else [])

    def spans_check(r, spans):
        streamed = sum(1 for s in spans if s["stream"])
        r.check("half streamed", streamed == len(spans) // 2,
                "%d of %d" % (streamed, len(spans)))
        bad = [s for s in spans if s["status"] != "ok" or not s["usage_known"]]
        r.check("all spans ok with usage", not bad, str(bad[:1]))
        # each call asked for a distinct input token count: no two spans
        # were merged or swapped across threads' connections
        want = sorted(100 + i % 1000 for i in range(threads * calls))
        got = sorted(s["input_tokens"] for s in spans)
        r.check("every call's own usage", got == want)
    r = simple(ctx, name, argv, threads * calls, check_spans=spans_check)
    r.note("half streamed, OpenAI/Anthropic alternating")
    return r


# 2. processes
def sc_fork_storm(ctx, normal=50, exit_=50, nocall=10, busy=0, child_timeout=5):
    """busy: parent threads keep calling while the children are forked; a
    child stuck for child_timeout s is ended by its alarm (and counted as a
    failed call)."""
    name = "fork storm: %d exit normally, %d _exit, %d no call%s" % (
        normal, exit_, nocall,
        ", %d parent threads calling meanwhile" % busy if busy else "")
    argv = CLIENT + ["fork", "--normal", str(normal), "--exit", str(exit_),
                     "--nocall", str(nocall), "--busy-threads", str(busy),
                     "--child-timeout", str(child_timeout)]
    r = Result(name)
    plain = ctx.run(argv, traced=False)
    traced = ctx.run(argv, traced=True)
    compare(r, plain, traced, ignore=("calls ",) if busy else ())
    if busy:
        r.note("stdout compared without the calls line (timing-dependent)")
    calls, failed = parse_calls(traced[1])
    expected = None if calls is None else calls + failed
    finish(r, ctx, calls, expected if busy else normal + exit_ + 2)
    for l in traced[1].splitlines():
        if l.startswith("children") and "failed 0" not in l:
            r.note(l)
    if not r.ok and err_tail(traced[2]):
        r.note("stderr: " + err_tail(traced[2]))
    return r


def sc_exec_chain(ctx):
    """sh -> curl; sh execs python (2 calls), python execs sh -> curl, and
    sh execs curl: five calls across four executables and three execs."""
    curl = ("curl -sS --cacert %s -o /dev/null -w 'curl %%{http_code}\\n' "
            "-H 'content-type: application/json' -H 'authorization: Bearer sk-x' "
            "-d '{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\","
            "\"content\":\"exec\"}]}' %s/v1/chat/completions" % (
                ctx.m.cert, ctx.m.base))
    step2 = os.path.join(ctx.home, "step2.sh")
    with open(step2, "w") as f:
        f.write("%s\nexec %s\n" % (curl, curl))
    step1 = os.path.join(ctx.home, "step1.sh")
    with open(step1, "w") as f:
        f.write("%s\nexec %s call --n 2 /bin/sh %s\n" % (
            curl, " ".join(CLIENT), step2))
    argv = ["/bin/sh", step1]
    r = Result("exec chain sh -> python -> sh -> curl")
    plain = ctx.run(argv, traced=False)
    traced = ctx.run(argv, traced=True)
    compare(r, plain, traced)
    out = traced[1]
    m = re.search(r"python calls (\d+)", out)
    calls = out.count("curl 200") + (int(m.group(1)) if m else 0)
    finish(r, ctx, calls, 5)
    spans = ctx.export()
    exes = sorted(os.path.basename(s["exe"] or "?") for s in spans)
    r.note("spans by exe: " + ",".join(exes))
    return r


def sc_multiprocessing(ctx, method="fork", workers=4, tasks=40):
    argv = CLIENT + ["mp", "--method", method, "--workers", str(workers),
                     "--tasks", str(tasks)]
    r = simple(ctx, "multiprocessing %s: Pool(%d) x %d tasks + Process" % (
        method, workers, tasks), argv, tasks + 2)
    r.note("workers terminated by Pool.__exit__ (SIGTERM)")
    return r


def sc_spawn(ctx, n=20):
    prog = os.path.join(CBIN, "spawn_calls")
    if not os.access(prog, os.X_OK):
        raise Skip("build/clients/spawn_calls missing (make clients)")
    argv = [prog, ctx.m.base, ctx.m.cert, os.path.join(CBIN, "curl_easy"), str(n)]
    r = simple(ctx, "C: posix_spawn %d + vfork %d + fork %d children (libcurl)"
               % (n, n, n), argv, 3 * n + 2)
    return r


# 3. faults
def sc_sigkill_after_calls(ctx, n=20):
    """The client prints "done N" and sleeps; it is killed -9 there."""
    r = Result("traced process SIGKILLed right after %d calls" % n)
    argv = CLIENT + ["loop", "--n", str(n), "--hold"]
    outs = []
    for traced in (False, True):
        p = ctx.popen(argv, traced)
        pid = int(p.wait_line(lambda l: l.startswith("pid ")).split()[1])
        p.wait_line(lambda l: l.startswith("done "))
        os.kill(pid, signal.SIGKILL)
        rc = p.wait()
        if traced:
            ctx.stderrs.append(p.stderr())
        outs.append((rc, "\n".join(l for l in p.stdout().splitlines()
                                   if not l.startswith("pid ")), ""))
    compare(r, outs[0], outs[1])
    r.check("killed by SIGKILL", outs[1][0] == 128 + 9, str(outs[1][0]))
    m = re.search(r"done (\d+)", outs[1][1])
    finish(r, ctx, int(m.group(1)) if m else None, n)
    return r


def sc_daemon_restart(ctx, before=60, during=60, kills=1):
    """A shared daemon killed -9 (and restarted) while the client calls."""
    r = Result("tokentapd killed -9 and restarted mid-run (x%d)" % kills)
    ctx.start_daemon()
    stop = os.path.join(ctx.home, "stop")
    argv = CLIENT + ["loop", "--until", stop, "--progress", "1"]
    p = ctx.popen(argv, traced=True)
    at = before
    for k in range(kills):
        p.wait_line(lambda l, at=at: l == "progress %d" % at)
        ctx.kill_daemon()
        gone = p.progress()
        time.sleep(0.3)                       # calls while no daemon
        ctx.start_daemon()
        at = p.progress() + during
        r.note("kill %d at call %d, restart at %d" % (k + 1, gone, p.progress()))
    p.wait_line(lambda l: l == "progress %d" % at)
    open(stop, "w").close()
    rc = p.wait()
    ctx.stderrs.append(p.stderr())
    r.check("client exit 0", rc == 0, "%s %s" % (rc, p.stderr()[-300:]))
    ctx.sync()
    m = re.search(r"done (\d+) failed (\d+)", p.stdout())
    calls, failed = (int(m.group(1)), int(m.group(2))) if m else (None, None)
    finish(r, ctx, calls, None if calls is None else calls + failed)
    r.check("no failed call", failed == 0, str(failed))
    return r


def sc_locked_store_daemon_killed(ctx, locked_s=3.0):
    """Another process holds the store's write lock (BEGIN EXCLUSIVE): the
    daemon's commit waits (busy timeout), it keeps reading and the client's
    frames pile up unacknowledged; then the daemon is killed -9 and
    restarted after the lock is gone. Every span must be stored or
    counted."""
    r = Result("store locked %.0f s by another process, then tokentapd killed -9"
               % locked_s)
    ctx.start_daemon()
    warm = ctx.run(CLIENT + ["loop", "--n", "1"], traced=True)
    ctx.sync()
    base_rows = ctx.stored()[0]
    stop = os.path.join(ctx.home, "stop")
    p = ctx.popen(CLIENT + ["loop", "--until", stop, "--progress", "1"], traced=True)
    p.wait_line(lambda l: l == "progress 50")
    db = sqlite3.connect(ctx.db, timeout=5, isolation_level=None)
    db.execute("BEGIN EXCLUSIVE")
    at = p.progress()
    time.sleep(locked_s)
    ctx.kill_daemon()
    r.note("%d calls while the store was locked" % (p.progress() - at))
    db.execute("ROLLBACK")
    db.close()
    ctx.start_daemon()
    at = p.progress()
    p.wait_line(lambda l: l == "progress %d" % (at + 50))
    open(stop, "w").close()
    rc = p.wait()
    ctx.stderrs.append(p.stderr())
    r.check("client exit 0", rc == 0, str(rc))
    ctx.sync()
    time.sleep(2.5)                 # one spool period of the daemon
    ctx.sync()
    m = re.search(r"done (\d+) failed (\d+)", p.stdout())
    calls, failed = (int(m.group(1)), int(m.group(2))) if m else (None, None)
    finish(r, ctx, calls, None if calls is None else calls + failed,
           spans=ctx.stored()[0] - base_rows)
    counted = r.lost if isinstance(r.lost, int) else 0
    r.check("stored + lost == calls (nothing lost silently)",
            r.spans + counted == calls, "%d + %d != %s" % (r.spans, counted, calls))
    r.check("warm-up stored", warm[0] == 0 and base_rows == 1, str(base_rows))
    return r


def sc_no_daemon_then_later(ctx, n=40):
    """No daemon anywhere during the run: every span goes to the spool; a
    daemon started later ingests it (counted without the CLI, which would
    ingest the spool itself)."""
    r = Result("no daemon during the run, daemon started later")
    argv = CLIENT + ["loop", "--n", str(n)]
    plain = ctx.run(argv, traced=False)
    p = subprocess.run(argv, env=ctx.env(preload=True), capture_output=True,
                       text=True, timeout=120, stdin=subprocess.DEVNULL)
    ctx.stderrs.append(p.stderr)
    traced = (rc_of(p.returncode), p.stdout, p.stderr)
    compare(r, (plain[0], re.sub(r"pid \d+\n", "", plain[1]), ""),
            (traced[0], re.sub(r"pid \d+\n", "", traced[1]), ""))
    files = ctx.spool_files()
    before = ctx.stored()[0]
    r.check("nothing stored before the daemon", before == 0, str(before))
    r.check("spool written", len(files) >= 1, str(files))
    r.note("%d spool file(s), %d bytes" % (len(files), ctx.spool_bytes()))
    ctx.start_daemon()
    ctx.sync()
    rows = ctx.stored()[0]
    r.check("daemon ingested the spool by itself", rows == n, "%d" % rows)
    left = ctx.spool_files()
    r.check("spool emptied", not left, str(left))
    m = re.search(r"done (\d+)", traced[1])
    finish(r, ctx, int(m.group(1)) if m else None, n)
    return r


def have_root_mounts():
    d = tempfile.mkdtemp(prefix="tt-mnt-")
    try:
        p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", d],
                           capture_output=True, text=True)
        if p.returncode != 0:
            return "mount -t tmpfs not permitted: " + p.stderr.strip()
        subprocess.run(["umount", d])
        return None
    finally:
        os.rmdir(d)


def sc_spool_disk_full(ctx, n=200, size="64k"):
    """No daemon, and the spool on a tmpfs of 64 KiB: what does not fit is
    counted as lost; the program is unaffected."""
    r = Result("spool on a full %s tmpfs, no daemon" % size)
    why = have_root_mounts()
    if why:
        raise Skip(why)
    os.makedirs(ctx.spool, 0o700)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%s,mode=0700" % size,
                    "tmpfs", ctx.spool], check=True)
    ctx.mounts.append(ctx.spool)
    argv = CLIENT + ["loop", "--n", str(n)]
    plain = ctx.run(argv, traced=False)
    t0 = time.monotonic()
    p = subprocess.run(argv, env=ctx.env(preload=True), capture_output=True,
                       text=True, timeout=120, stdin=subprocess.DEVNULL)
    took = time.monotonic() - t0
    traced = (rc_of(p.returncode), p.stdout, p.stderr)
    compare(r, (plain[0], re.sub(r"pid \d+\n", "", plain[1]), ""),
            (traced[0], re.sub(r"pid \d+\n", "", traced[1]), ""))
    files = ctx.spool_files()
    r.note("%d spool file(s) (%d empty), %d bytes; traced run %.1f s" % (
        len(files), sum(1 for f in files if os.path.getsize(
            os.path.join(ctx.spool, f)) == 0), ctx.spool_bytes(), took))
    err_lost = stderr_lost(p.stderr)
    r.check("preload printed its lost count at exit", err_lost > 0,
            repr(p.stderr[-300:]))
    ctx.start_daemon()
    ctx.sync()
    m = re.search(r"done (\d+)", traced[1])
    finish(r, ctx, int(m.group(1)) if m else None, n, extra_stderr=[p.stderr],
           want_lost=None)
    counted = r.lost if isinstance(r.lost, int) else err_lost
    # The lost count also counts the process's own span (issue #7), sent on
    # its first call and again at exit: up to 2 more than the calls.
    r.check("stored + lost == calls", r.calls is not None and
            r.calls <= r.spans + counted <= r.calls + 2,
            "%d + %d != %s" % (r.spans, counted, r.calls))
    r.check("some spans did not fit", counted > 0, str(counted))
    return r


def sc_readonly_store(ctx, n=40):
    """The store becomes read-only under a running daemon (chattr +i on
    the database files and their directory: chmod does not stop root).
    Nothing may be lost silently: the spans stay in the spool (nack/retry)
    and are stored once the store is writable again."""
    r = Result("read-only store under a running daemon")
    ctx.start_daemon()
    # create the store's files (db, -wal, -shm) with one warm-up call
    warm = ctx.run(CLIENT + ["loop", "--n", "1"], traced=True)
    ctx.sync()
    base_rows = ctx.stored()[0]
    paths = [ctx.db + s for s in ("", "-wal", "-shm") if os.path.exists(ctx.db + s)]
    paths.append(ctx.store_dir)
    for path in paths:
        c = subprocess.run(["chattr", "+i", path], capture_output=True, text=True)
        if c.returncode != 0:
            raise Skip("chattr +i %s: %s" % (path, c.stderr.strip()))
        ctx.immutable.append(path)
    try:
        with open(ctx.db, "ab"):
            pass
        raise Skip("chattr +i does not stop writes here")
    except PermissionError:
        pass
    argv = CLIENT + ["loop", "--n", str(n)]
    plain = ctx.run(argv, traced=False)
    traced = ctx.run(argv, traced=True)
    compare(r, (plain[0], re.sub(r"pid \d+\n", "", plain[1]), ""),
            (traced[0], re.sub(r"pid \d+\n", "", traced[1]), ""))
    alive = ctx.daemon.poll() is None
    r.check("daemon still running", alive, ctx.daemon_log()[-500:])
    during = ctx.stored()[0] - base_rows
    files = ctx.spool_files()
    r.note("while read-only: %d stored, %d spool file(s) %d bytes" % (
        during, len(files), ctx.spool_bytes()))
    for path in reversed(ctx.immutable):
        subprocess.run(["chattr", "-i", path], check=True)
    ctx.immutable = []
    if not alive:
        ctx.start_daemon()
    ctx.sync()
    time.sleep(2.5)                 # one spool period of the daemon
    ctx.sync()
    m = re.search(r"done (\d+)", traced[1])
    rows = ctx.stored()[0] - base_rows
    finish(r, ctx, int(m.group(1)) if m else None, n, spans=rows)
    r.check("warm-up stored", warm[0] == 0 and base_rows == 1, str(base_rows))
    return r


def sc_readonly_store_at_start(ctx, n=20):
    """The store is read-only before anything starts (a read-only bind
    mount of its directory): `tokentap run` cannot start a daemon that
    writes it. The command must still run as without tokentap, and its
    spans stay in the spool until the store is writable again; the same
    with the preload alone (LD_PRELOAD, no daemon)."""
    r = Result("store read-only before the run (ro bind mount)")
    warm = ctx.run(CLIENT + ["loop", "--n", "1"], traced=True)
    base_rows = ctx.stored()[0]
    for cmd in (["mount", "--bind", ctx.store_dir, ctx.store_dir],
                ["mount", "-o", "remount,bind,ro", ctx.store_dir]):
        p = subprocess.run(cmd, capture_output=True, text=True)
        if p.returncode != 0:
            if cmd[1] == "-o":
                subprocess.run(["umount", ctx.store_dir])
            raise Skip("%s: %s" % (" ".join(cmd[:3]), p.stderr.strip()))
        if cmd[1] == "--bind":
            ctx.mounts.append(ctx.store_dir)
    argv = CLIENT + ["loop", "--n", str(n)]
    plain = ctx.run(argv, traced=False)
    traced = ctx.run(argv, traced=True)
    pre = ctx.run(argv, traced=False, env=ctx.env(preload=True))
    ctx.stderrs.append(pre[2])
    strip = lambda x: (x[0], re.sub(r"pid \d+\n", "", x[1]), "")  # noqa: E731
    compare(r, strip(plain), strip(traced))
    if traced[0] != 0:
        r.note("tokentap run: " + traced[2].strip().replace("\n", " / ")[-300:])
    r.check("LD_PRELOAD alone: exit status same", plain[0] == pre[0])
    r.check("LD_PRELOAD alone: stdout same", strip(plain)[1] == strip(pre)[1])
    files = ctx.spool_files()
    r.note("while read-only: %d spool file(s) %d bytes" % (len(files), ctx.spool_bytes()))
    subprocess.run(["umount", ctx.store_dir], check=True)
    ctx.mounts.remove(ctx.store_dir)
    ctx.start_daemon()
    ctx.sync()
    done = sum(int(m) for m in re.findall(r"^done (\d+)", traced[1] + pre[1], re.M))
    finish(r, ctx, done, 2 * n, spans=ctx.stored()[0] - base_rows)
    r.check("warm-up stored", warm[0] == 0 and base_rows == 1, str(base_rows))
    return r


# 4. signals
def sc_signals(ctx, calls=30, children=5):
    argv = CLIENT + ["signals", "--calls", str(calls), "--children", str(children)]
    r = simple(ctx, "own SIGALRM (2 ms timer) / SIGCHLD / SIGPIPE=default handlers",
               argv, calls + children)
    return r


def sc_sigpipe_daemon_death(ctx, before=30, after=30):
    """SIGPIPE at its default action (death) and the daemon killed -9 while
    the client calls: tokentap must not raise SIGPIPE in the client."""
    r = Result("SIGPIPE=default client, daemon killed -9 mid-run (no restart)")
    ctx.start_daemon()
    stop = os.path.join(ctx.home, "stop")
    argv = CLIENT + ["loop", "--until", stop, "--progress", "1",
                     "--sigpipe-default"]
    p = ctx.popen(argv, traced=True)
    p.wait_line(lambda l: l == "progress %d" % before)
    ctx.kill_daemon()
    at = p.progress()
    p.wait_line(lambda l: l == "progress %d" % (at + after))
    open(stop, "w").close()
    rc = p.wait()
    ctx.stderrs.append(p.stderr())
    r.check("client not killed by SIGPIPE", rc != 128 + signal.SIGPIPE, str(rc))
    r.check("client exit 0", rc == 0, str(rc))
    r.note("daemon killed at call %d" % at)
    ctx.start_daemon()              # ingests what the client spooled
    ctx.sync()
    m = re.search(r"done (\d+) failed (\d+)", p.stdout())
    calls, failed = (int(m.group(1)), int(m.group(2))) if m else (None, None)
    finish(r, ctx, calls, None if calls is None else calls + failed)
    return r


# 5. issue #9: a daemon that is busy while _exit children leave, a stalled
# daemon at exit, descriptors the program takes back
def sc_fork_load(ctx, children=200, busy=4, rounds=3):
    """Parent threads calling plus `children` forked children that each
    make one call and leave by _exit, over plain HTTP, with a standalone
    tokentapd (no `tokentap run`), `rounds` times: every call is stored.
    The daemon used to drop a client's unread frames when its ack to that
    client failed with EPIPE (the child had gone)."""
    r = Result("fork load: %d _exit children + %d calling threads, plain HTTP, "
               "standalone daemon, x%d" % (children, busy, rounds))
    pm = harness.Mock(plain=True)
    saved, ctx.m = ctx.m, pm
    try:
        ctx.start_daemon()
        env = ctx.env(preload=True, TOKENTAP_SOCKET=ctx.sock,
                      TOKENTAP_SPOOL=ctx.spool)
        argv = CLIENT + ["fork", "--normal", "0", "--exit", str(children),
                         "--nocall", "0", "--busy-threads", str(busy),
                         "--child-timeout", "20"]
        total = 0
        per_round = []
        for _ in range(rounds):
            p = subprocess.run(argv, env=env, capture_output=True, text=True,
                               timeout=300, stdin=subprocess.DEVNULL)
            ctx.stderrs.append(p.stderr)
            calls, failed = parse_calls(p.stdout)
            r.check("client exit 0", p.returncode == 0,
                    "%s: %s" % (p.returncode, err_tail(p.stderr)))
            r.check("no failed call", failed == 0, str(failed))
            total += calls or 0
            ctx.sync()
            per_round.append("%s/%s" % (ctx.stored()[0], total))
        r.note("stored/made after each round: " + ", ".join(per_round))
        finish(r, ctx, total, total)
    finally:
        ctx.m = saved
        pm.stop()
    return r


def sc_stalled_daemon_exit(ctx, n=10, rounds=3):
    """n curl processes, one call each, with the daemon stopped (SIGSTOP):
    each used to wait 1 s for acks at exit. Now what is unconfirmed goes to
    the spool at once; the run takes about as long as with a healthy
    daemon, and every call is stored once the daemon continues."""
    r = Result("%d curl processes with the daemon SIGSTOPped" % n)
    script = os.path.join(ctx.home, "calls.sh")
    with open(script, "w") as f:
        f.write("for i in $(seq 1 %d); do curl -sS --cacert \"$MOCK_CA\" "
                "\"$MOCK_BASE/v1/chat/completions\" -H 'x-mock-usage: in=10,out=2' "
                "-d '{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":"
                "\"user\",\"content\":\"hi\"}]}' >/dev/null || exit 1; "
                "done\n" % n)
    ctx.start_daemon()
    env = ctx.env(preload=True, TOKENTAP_SOCKET=ctx.sock, TOKENTAP_SPOOL=ctx.spool)

    def timed():
        t0 = time.monotonic()
        p = subprocess.run(["sh", script], env=env, capture_output=True,
                           text=True, timeout=120, stdin=subprocess.DEVNULL)
        ctx.stderrs.append(p.stderr)
        r.check("script exit 0", p.returncode == 0, err_tail(p.stderr))
        return time.monotonic() - t0

    healthy, stalled = [], []
    for _ in range(rounds):
        healthy.append(timed())
    os.kill(ctx.daemon.pid, signal.SIGSTOP)
    try:
        for _ in range(rounds):
            stalled.append(timed())
    finally:
        os.kill(ctx.daemon.pid, signal.SIGCONT)
    h, st = sorted(healthy)[rounds // 2], sorted(stalled)[rounds // 2]
    r.stalled_ratio = st / h
    r.note("median %.0f ms healthy, %.0f ms stalled (x%.2f)" % (
        h * 1000, st * 1000, st / h))
    ctx.sync()
    finish(r, ctx, 2 * rounds * n, 2 * rounds * n)
    return r


def sc_fd_reuse(ctx, mode="reuse", close="loop", fill=16, daemon=True):
    """The program closes every descriptor tokentap held and opens its own
    on the same numbers (fd_hostile.py): its files and connections hold
    only its own bytes, with and without tokentap, and every call is
    stored. daemon=False: no daemon during the run (the spool's number is
    the one taken), ingested afterwards."""
    name = "descriptors taken back: %s%s%s" % (
        mode, " (%s, fill %d)" % (close, fill) if mode == "reuse" else "",
        "" if daemon else ", no daemon")
    r = Result(name)
    argv = [PY, os.path.join(CLIENTS, "fd_hostile.py"), mode, "--close", close,
            "--fill", str(fill), "--dir"]
    outs = []
    for traced in (False, True):
        d = tempfile.mkdtemp(prefix="fd-", dir=ctx.home)
        if traced and not daemon:
            p = subprocess.run(argv + [d], env=ctx.env(preload=True),
                               capture_output=True, text=True, timeout=120,
                               stdin=subprocess.DEVNULL)
            ctx.stderrs.append(p.stderr)
            outs.append((rc_of(p.returncode), p.stdout, p.stderr))
        else:
            outs.append(ctx.run(argv + [d], traced=traced))
    plain, traced = outs
    r.check("untraced run holds its own bytes", plain[0] == 0, plain[1][-300:])
    compare(r, plain, traced)
    calls = {"reuse": 6, "backend": 6, "fork": 3}[mode]
    if not daemon:
        ctx.start_daemon()          # ingests the spool
        ctx.sync()
    finish(r, ctx, calls if traced[0] == 0 else None, calls)
    if not r.ok and err_tail(traced[2]):
        r.note("stderr: " + err_tail(traced[2]))
    return r


def sc_store_disk_full_midrun(ctx, n=20, size="2m"):
    """The store exists; its disk fills up during a run of n curl calls
    (store and spool on one tmpfs). tokentap run says the store is full
    (not "daemon unreachable", not just "no LLM calls"), and once there is
    room again `tokentap stats` counts every span that was lost."""
    r = Result("store's disk fills up mid-run (%d calls, %s tmpfs)" % (n, size))
    why = have_root_mounts()
    if why:
        raise Skip(why)
    mnt = os.path.join(ctx.home, "full")
    os.makedirs(mnt, 0o700)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%s,mode=0700" % size,
                    "tmpfs", mnt], check=True)
    ctx.mounts.append(mnt)
    home = os.path.join(mnt, "home")
    env = ctx.env(TOKENTAP_HOME=home, TOKENTAP_DB=os.path.join(home, "traces.db"))
    curl = ("curl -sS --cacert \"$MOCK_CA\" \"$MOCK_BASE/v1/chat/completions\" "
            "-H 'x-mock-usage: in=10,out=2' -d '{\"model\":\"gpt-4o-mini\","
            "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}' >/dev/null")
    script = os.path.join(ctx.home, "fill.sh")
    with open(script, "w") as f:
        f.write("%s\nsleep 0.3\ndd if=/dev/zero of=%s/filler bs=1k count=8192 "
                "2>/dev/null\nfor i in $(seq 1 %d); do %s || exit 1; done\n"
                % (curl, mnt, n, curl))
    p = subprocess.run([TOKENTAP, "run", "--", "sh", script], env=env,
                       capture_output=True, text=True, timeout=180,
                       stdin=subprocess.DEVNULL)
    r.check("the program ran normally", p.returncode == 0, err_tail(p.stderr))
    r.check("run says the store is full", "database or disk is full" in p.stderr
            and "could not be stored" in p.stderr, err_tail(p.stderr, 600))
    r.check("no 'daemon unreachable' while it was reachable",
            "could not store it" in p.stderr, err_tail(p.stderr, 600))
    os.unlink(os.path.join(mnt, "filler"))
    st = subprocess.run([TOKENTAP, "stats", "--json"], env=env, capture_output=True,
                        text=True, timeout=60, stdin=subprocess.DEVNULL)
    r.check("stats exit 0 once there is room", st.returncode == 0, st.stderr[-300:])
    stats = json.loads(st.stdout) if st.returncode == 0 else {}
    lost = int(stats.get("lost_total", 0))
    stored = subprocess.run([TOKENTAP, "export", "--format", "jsonl"], env=env,
                            capture_output=True, text=True, timeout=60,
                            stdin=subprocess.DEVNULL).stdout.count('"kind":"llm"')
    # every LLM call is stored or counted as lost (with process spans too,
    # which are lost alongside: so lost >= calls not stored)
    r.calls, r.spans, r.lost = n + 1, stored, lost
    r.check("every call stored or counted lost", stored + lost >= n + 1,
            "stored %d + lost %d < %d" % (stored, lost, n + 1))
    r.check("the loss is counted", lost > 0, str(stats)[:300])
    r.note("stored %d, lost %d (process spans included)" % (stored, lost))
    return r


def sc_corrupt_store(ctx):
    """A store with a damaged page: stats fails and names the file and what
    to do; the daemon refuses to write into it, the program still runs and
    its spans wait in the spool; moved aside, a new store takes them."""
    r = Result("corrupt store")
    env = ctx.env()
    curl = [CURL, "-sS", "--cacert", ctx.m.cert, ctx.m.base + "/v1/chat/completions",
            "-d", '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"x"}]}']
    p = subprocess.run([TOKENTAP, "run", "--"] + curl, env=env, capture_output=True,
                       text=True, timeout=60, stdin=subprocess.DEVNULL)
    r.check("first run ok", p.returncode == 0, err_tail(p.stderr))
    with open(ctx.db, "r+b") as f:      # damage a b-tree page, keep the header
        f.seek(16)                      # the page size, big-endian (1: 65536)
        ps = int.from_bytes(f.read(2), "big")
        ps = 65536 if ps == 1 else ps
        f.seek(ps * 2)                  # page 3
        f.write(b"\xde\xad" * (ps // 2))
    st = subprocess.run([TOKENTAP, "stats"], env=env, capture_output=True, text=True,
                        timeout=60, stdin=subprocess.DEVNULL)
    r.check("stats fails on a corrupt store", st.returncode != 0, st.stdout[-200:])
    r.check("stats names the file and what to do",
            ctx.db in st.stderr and "corrupt" in st.stderr and "mv " in st.stderr,
            st.stderr[-400:])
    p = subprocess.run([TOKENTAP, "run", "--"] + curl, env=env, capture_output=True,
                       text=True, timeout=60, stdin=subprocess.DEVNULL)
    r.check("the program still runs", p.returncode == 0 and '"usage"' in p.stdout,
            err_tail(p.stderr))
    r.check("run says the store is corrupt", "corrupt" in p.stderr and ctx.db in p.stderr,
            err_tail(p.stderr, 600))
    r.check("its span waits in the spool", len(ctx.spool_files()) >= 1,
            str(ctx.spool_files()))
    os.rename(ctx.db, ctx.db + ".corrupt")
    for side in ("-wal", "-shm"):
        if os.path.exists(ctx.db + side):
            os.rename(ctx.db + side, ctx.db + ".corrupt" + side)
    rows = ctx.export()
    r.check("moved aside, the new store takes the spooled call", len(rows) == 1,
            str(len(rows)))
    r.calls, r.spans, r.lost = 2, len(rows) + 1, 0
    return r


def sc_fd_random(ctx, seeds=range(1, 9), steps=60, daemon=True):
    """Random close / dup2 / close_range (hooked and raw) / open sequences
    between calls (fd_hostile.py random), one run per seed: the program's
    file holds exactly its own lines, every call is stored, nothing lost."""
    seeds = list(seeds)
    r = Result("random descriptor operations between calls, %d seeds x %d "
               "steps%s" % (len(seeds), steps, "" if daemon else ", no daemon"))
    total = 0
    for seed in seeds:
        d = tempfile.mkdtemp(prefix="fdr-", dir=ctx.home)
        argv = [PY, os.path.join(CLIENTS, "fd_hostile.py"), "random", "--seed",
                str(seed), "--steps", str(steps), "--dir", d]
        if daemon:
            rc, out, err = ctx.run(argv, traced=True)
        else:
            p = subprocess.run(argv, env=ctx.env(preload=True), capture_output=True,
                               text=True, timeout=120, stdin=subprocess.DEVNULL)
            ctx.stderrs.append(p.stderr)
            rc, out, err = rc_of(p.returncode), p.stdout, p.stderr
        m = re.search(r"^calls (\d+) of (\d+)$", out, re.M)
        r.check("seed %d: own.log holds only the program's bytes" % seed, rc == 0,
                "%s %s" % (out.replace("\n", " "), err_tail(err)))
        total += int(m.group(2)) if m else 0
    if not daemon:
        ctx.start_daemon()
        ctx.sync()
    finish(r, ctx, total, total)
    return r


# ------------------------------------------------------------------- main
FULL = [
    ("threads-shared-requests", sc_threads, dict(lib="requests", shared=True)),
    ("threads-shared-httpx", sc_threads, dict(lib="httpx", shared=True)),
    ("threads-separate-requests", sc_threads, dict(lib="requests", shared=False)),
    ("threads-separate-httpx", sc_threads, dict(lib="httpx", shared=False)),
    ("fork-storm", sc_fork_storm, dict()),
    ("fork-storm-busy", sc_fork_storm, dict(busy=2)),
    ("exec-chain", sc_exec_chain, dict()),
    ("mp-fork", sc_multiprocessing, dict(method="fork")),
    ("mp-spawn", sc_multiprocessing, dict(method="spawn")),
    ("mp-forkserver", sc_multiprocessing, dict(method="forkserver")),
    ("spawn-vfork-c", sc_spawn, dict()),
    ("sigkill-after-calls", sc_sigkill_after_calls, dict()),
    ("daemon-restart", sc_daemon_restart, dict(kills=3)),
    ("locked-store-daemon-killed", sc_locked_store_daemon_killed, dict()),
    ("no-daemon", sc_no_daemon_then_later, dict()),
    ("spool-disk-full", sc_spool_disk_full, dict()),
    ("readonly-store", sc_readonly_store, dict()),
    ("readonly-store-at-start", sc_readonly_store_at_start, dict()),
    ("signals", sc_signals, dict()),
    ("sigpipe-daemon-death", sc_sigpipe_daemon_death, dict()),
    ("fork-load", sc_fork_load, dict(rounds=10)),
    ("stalled-daemon-exit", sc_stalled_daemon_exit, dict()),
    ("fd-reuse-loop", sc_fd_reuse, dict(close="loop")),
    ("fd-reuse-range", sc_fd_reuse, dict(close="range")),
    ("fd-reuse-raw-fill", sc_fd_reuse, dict(close="raw", fill=1100)),
    ("fd-reuse-dup2", sc_fd_reuse, dict(close="dup2")),
    ("fd-reuse-backend", sc_fd_reuse, dict(mode="backend")),
    ("fd-reuse-fork", sc_fd_reuse, dict(mode="fork")),
    ("fd-reuse-loop-nodaemon", sc_fd_reuse, dict(close="loop", daemon=False)),
    ("fd-reuse-raw-fill-nodaemon", sc_fd_reuse, dict(close="raw", fill=1100,
                                                     daemon=False)),
    ("fd-reuse-fork-nodaemon", sc_fd_reuse, dict(mode="fork", daemon=False)),
    ("store-disk-full-midrun", sc_store_disk_full_midrun, dict()),
    ("corrupt-store", sc_corrupt_store, dict()),
    ("fd-random", sc_fd_random, dict(seeds=range(1, 41))),
    ("fd-random-nodaemon", sc_fd_random, dict(seeds=range(41, 81), daemon=False)),
]


def run_one(mock, key, fn, kw):
    ctx = Ctx(mock, key)
    try:
        return fn(ctx, **kw)
    except Skip as e:
        r = Result(key)
        r.skipped = str(e)
        return r
    except Exception as e:  # a scenario that breaks is a row, not a crash
        r = Result(key)
        r.failed.append("%s: %s" % (type(e).__name__, str(e)[-800:]))
        if ctx.daemon_logs:
            r.note("daemon log: " + ctx.daemon_log()[-400:])
        return r
    finally:
        ctx.close()


def main(argv):
    want = [a for a in argv if not a.startswith("-")]
    mock = harness.Mock()
    rows = []
    try:
        print("| scenario | calls made | spans stored | lost (counted) | notes |")
        print("|---|---|---|---|---|", flush=True)
        for key, fn, kw in FULL:
            if want and key not in want:
                continue
            t0 = time.monotonic()
            r = run_one(mock, key, fn, kw)
            r.note("%.1f s" % (time.monotonic() - t0))
            rows.append(r)
            print(r.row(), flush=True)
    finally:
        mock.stop()
    bad = [r for r in rows if r.failed]
    print("\n%d scenarios, %d with failed checks, %d skipped" % (
        len(rows), len(bad), sum(1 for r in rows if r.skipped)))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
