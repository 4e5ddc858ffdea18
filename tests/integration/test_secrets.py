"""Issue #6: secrets, privacy, permissions.

- API keys sent in any header, in the URL query or in the URL's userinfo,
  by real clients (curl CLI over HTTP/1.1 and HTTP/2, Python requests,
  a libcurl C program) to the mock's OpenAI, Anthropic and Gemini routes,
  never reach any byte tokentap writes: the socket, the spool, the store
  (with its -wal/-shm), the daemon's log, the programs' stderr, the
  export -- raw, base64-, URL- or hex-encoded. A marker that is stored
  legitimately is found by the same search (the search can fail).
- Every file and directory tokentap creates is private (0600 / 0700),
  whatever the umask (000 and 022).
- The daemon refuses clients of another uid (SO_PEERCRED).
- Malformed, oversized, truncated frames and 1000 idle connections neither
  crash nor stall the daemon; they are counted.
- The dynamic loader ignores LD_PRELOAD for setuid programs: never traced.
"""
import base64
import binascii
import json
import os
import secrets
import shutil
import socket
import stat
import struct
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.parse

import harness
from harness import BIN, PY, ROOT, TOKENTAP, TapTest

TOKENTAPD = os.path.join(BIN, "tokentapd")
PRELOAD = harness.LIB
CURL_EASY = os.path.join(harness.CLIENTS_BIN, "curl_easy")
NOBODY = 65534


# --- a minimal msgpack (the frames are crafted by hand, garbage included) --
def mp(o):
    if o is None:
        return b"\xc0"
    if o is True:
        return b"\xc3"
    if o is False:
        return b"\xc2"
    if isinstance(o, int):
        if 0 <= o < 128:
            return bytes([o])
        if o >= 0:
            return b"\xcf" + struct.pack(">Q", o)
        return b"\xd3" + struct.pack(">q", o)
    if isinstance(o, float):
        return b"\xcb" + struct.pack(">d", o)
    if isinstance(o, str):
        o = o.encode()
        return b"\xdb" + struct.pack(">I", len(o)) + o
    if isinstance(o, bytes):
        return b"\xc6" + struct.pack(">I", len(o)) + o
    if isinstance(o, (list, tuple)):
        return b"\xdd" + struct.pack(">I", len(o)) + b"".join(mp(x) for x in o)
    if isinstance(o, dict):
        return b"\xdf" + struct.pack(">I", len(o)) + b"".join(
            mp(k) + mp(v) for k, v in o.items())
    raise TypeError(type(o))


def unmp(b, i=0):
    """Decode one msgpack object at b[i:]: (object, next index)."""
    t = b[i]
    i += 1
    if t < 0x80:
        return t, i
    if t >= 0xe0:
        return t - 0x100, i
    if 0x80 <= t <= 0x8f or t in (0xde, 0xdf):
        n = t & 0x0f if t <= 0x8f else struct.unpack(
            ">H" if t == 0xde else ">I", b[i:i + (2 if t == 0xde else 4)])[0]
        i += 0 if t <= 0x8f else (2 if t == 0xde else 4)
        d = {}
        for _ in range(n):
            k, i = unmp(b, i)
            v, i = unmp(b, i)
            d[k] = v
        return d, i
    if 0x90 <= t <= 0x9f or t in (0xdc, 0xdd):
        n = t & 0x0f if t <= 0x9f else struct.unpack(
            ">H" if t == 0xdc else ">I", b[i:i + (2 if t == 0xdc else 4)])[0]
        i += 0 if t <= 0x9f else (2 if t == 0xdc else 4)
        a = []
        for _ in range(n):
            v, i = unmp(b, i)
            a.append(v)
        return a, i
    if 0xa0 <= t <= 0xbf or t in (0xd9, 0xda, 0xdb, 0xc4, 0xc5, 0xc6):
        if t <= 0xbf:
            n = t & 0x1f
        else:
            w = {0xd9: 1, 0xc4: 1, 0xda: 2, 0xc5: 2, 0xdb: 4, 0xc6: 4}[t]
            n = int.from_bytes(b[i:i + w], "big")
            i += w
        s = b[i:i + n]
        return (s if t in (0xc4, 0xc5, 0xc6) else s.decode()), i + n
    fixed = {0xc0: None, 0xc2: False, 0xc3: True}
    if t in fixed:
        return fixed[t], i
    fmt = {0xca: ">f", 0xcb: ">d", 0xcc: ">B", 0xcd: ">H", 0xce: ">I",
           0xcf: ">Q", 0xd0: ">b", 0xd1: ">h", 0xd2: ">i", 0xd3: ">q"}[t]
    w = struct.calcsize(fmt)
    return struct.unpack(fmt, b[i:i + w])[0], i + w


def frame(obj):
    p = mp(obj) if not isinstance(obj, bytes) else obj
    return struct.pack(">I", len(p)) + p


def span(**over):
    now = time.time_ns()
    s = {"span_id": secrets.token_hex(8), "trace_id": secrets.token_hex(16),
         "parent_id": None, "kind": "llm", "name": "chat gpt-4o-mini",
         "start_time": now, "end_time": now + 1000, "status": "ok",
         "provider": "openai", "operation": "chat", "request_model": "gpt-4o-mini",
         "input_tokens": 1, "output_tokens": 1, "pid": os.getpid(),
         "exe": "/raw/client"}
    s.update(over)
    return s


def spans_frame(spans, chunk=None):
    return frame({"t": "spans", "v": 1,
                  "chunk": chunk if chunk is not None else secrets.randbits(62),
                  "spans": spans})


def read_reply(sock, timeout=5.0):
    """One reply frame (dict), None on EOF, 'timeout' when none came."""
    sock.settimeout(timeout)
    buf = b""
    try:
        while len(buf) < 4 or len(buf) < 4 + struct.unpack(">I", buf[:4])[0]:
            d = sock.recv(65536)
            if not d:
                return None
            buf += d
    except socket.timeout:
        return "timeout"
    except ConnectionResetError:
        return None
    return unmp(buf, 4)[0]


def request(path, payload, timeout=5.0):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    try:
        s.sendall(payload)
        return read_reply(s, timeout)
    finally:
        s.close()


class Recorder:
    """A Unix socket that accepts connections and keeps every byte it
    receives, never answering: the preload's frames are never acked."""

    def __init__(self, path):
        self.path = path
        self.data = bytearray()
        self.lock = threading.Lock()
        self.srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.srv.bind(path)
        self.srv.listen(64)
        self.stopped = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.stopped:
            try:
                c, _ = self.srv.accept()
            except OSError:
                return
            threading.Thread(target=self._read, args=(c,), daemon=True).start()

    def _read(self, c):
        while True:
            try:
                d = c.recv(65536)
            except OSError:
                d = b""
            if not d:
                c.close()
                return
            with self.lock:
                self.data += d

    def stop(self):
        self.stopped = True
        self.srv.close()


class Daemon:
    """tokentapd --foreground with its stderr in a log file."""

    def __init__(self, sock, db, spool, log, env=None, preexec=None):
        self.sock, self.log = sock, log
        self.logf = open(log, "ab")
        self.proc = subprocess.Popen(
            [TOKENTAPD, "--foreground", "--socket", sock, "--db", db,
             "--spool", spool], stdin=subprocess.DEVNULL, stdout=self.logf,
            stderr=self.logf, env=env, preexec_fn=preexec)
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                if isinstance(self.hello(), dict):
                    return
            except OSError:
                pass
            if self.proc.poll() is not None:
                raise RuntimeError("tokentapd exited: " + open(log).read())
            time.sleep(0.02)
        raise RuntimeError("tokentapd did not answer")

    def hello(self):
        return request(self.sock, frame({"t": "hello"}), 2)

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        if self.proc.poll() is None:
            try:
                request(self.sock, frame({"t": "stop"}), 5)
            except OSError:
                pass
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.logf.close()

    def text(self):
        with open(self.log, errors="replace") as f:
            return f.read()


def walk_bytes(top):
    """{relative path: bytes} of every regular file under top."""
    out = {}
    for root, _, files in os.walk(top):
        for f in files:
            p = os.path.join(root, f)
            st = os.lstat(p)
            if stat.S_ISREG(st.st_mode):
                with open(p, "rb") as fh:
                    out[os.path.relpath(p, top)] = fh.read()
    return out


def encodings(secret):
    """Byte strings that give the secret away: itself, its random tail, and
    URL-, hex- and base64-encoded forms (base64 at each of the three byte
    alignments, edge characters that mix with neighbours cut off)."""
    raw = secret.encode()
    tail = secret.split("-")[-1].encode()
    out = {"raw": raw, "tail": tail,
           "url": urllib.parse.quote(secret, safe="").encode(),
           "url+": urllib.parse.quote_plus(secret).encode(),
           "hex": binascii.hexlify(raw), "HEX": binascii.hexlify(raw).upper()}
    for pad in range(3):
        e = base64.b64encode(b"\0" * pad + raw)
        core = e[4 if pad else 0:-4]
        out["b64@%d" % pad] = core
        out["b64url@%d" % pad] = core.replace(b"+", b"-").replace(b"/", b"_")
    return out


def modes(top):
    """{path: (kind, mode)} of top and everything under it (no symlinks
    followed)."""
    out = {}
    for root, dirs, files in os.walk(top):
        for n in [root] + [os.path.join(root, x) for x in dirs + files]:
            st = os.lstat(n)
            kind = ("dir" if stat.S_ISDIR(st.st_mode) else
                    "sock" if stat.S_ISSOCK(st.st_mode) else
                    "file" if stat.S_ISREG(st.st_mode) else "other")
            out[n] = (kind, stat.S_IMODE(st.st_mode))
    return out


# --- 1. secrets ------------------------------------------------------------
class Secrets(TapTest):
    def setUp(self):
        super().setUp()
        r = secrets.token_hex(6)
        self.rnd = r
        # One distinctive key per place a key can travel. Some do not look
        # like API keys, so the name-based rules are what must catch them.
        self.keys = {
            "authorization": "sk-TESTKEY-bearer" + r,
            "x-api-key": "sk-ant-TESTKEY-xapikey" + r,
            "api-key": "TESTKEY-azure" + r,
            "x-goog-api-key": "AIzaTESTKEY-goog" + r,
            "cookie": "TESTKEY-cookie" + r,
            "proxy-authorization": "TESTKEY-proxy" + r,
            "x-my-secret": "TESTKEY-mysecret" + r,
            "x-api-token": "TESTKEY-apitoken" + r,
            "q:key": "TESTKEY-qkey" + r,
            "q:api_key": "TESTKEY-qapikey" + r,
            "q:access_token": "TESTKEY-qaccess" + r,
            "q:token": "TESTKEY-qtoken" + r,
            "q:sig": "TESTKEY-qsig" + r,
            "q:X-Goog-Signature": "TESTKEY-qgoogsig" + r,
            "q:subscription-key": "TESTKEY-qsubkey" + r,
            "q:api%5Fkey": "TESTKEY-qencoded" + r,
            "userinfo": "TESTKEY-userinfo" + r,
        }
        self.marker = "MARKERPROMPT" + r        # the prompt: stored
        self.keep = "KEEPQUERY" + r             # a harmless query value: kept
        self.tmp = tempfile.mkdtemp(prefix="tt-sec-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)
        super().tearDown()

    def headers(self, skip=()):
        k = self.keys
        h = {
            "Authorization": "Bearer " + k["authorization"],
            "x-api-key": k["x-api-key"],
            "api-key": k["api-key"],
            "x-goog-api-key": k["x-goog-api-key"],
            "Cookie": "session=" + k["cookie"] + "; theme=dark",
            "Proxy-Authorization": "Basic " + base64.b64encode(
                ("user:" + k["proxy-authorization"]).encode()).decode(),
            "X-My-Secret": k["x-my-secret"],
            "X-Api-Token": k["x-api-token"],
        }
        return {n: v for n, v in h.items() if n not in skip}

    def query(self):
        q = "keep=" + self.keep
        for name, v in self.keys.items():
            if name.startswith("q:"):
                q += "&%s=%s" % (name[2:], v)
        return q

    def url(self, path, userinfo=False):
        base = self.m.base
        if userinfo:
            base = base.replace("://", "://user:%s@" % self.keys["userinfo"])
        return "%s%s?%s" % (base, path, self.query())

    def openai_body(self):
        return json.dumps({"model": "gpt-4o-mini", "messages": [
            {"role": "user", "content": "say hi " + self.marker}]})

    def clients(self):
        """(name, argv) of every client: each sends every key."""
        hargs = []
        for n, v in self.headers().items():
            hargs += ["-H", "%s: %s" % (n, v)]
        curl = ["curl", "-sS", "--cacert", self.m.cert,
                "-H", "content-type: application/json"] + hargs
        anthropic = json.dumps({
            "model": "claude-sonnet-4-5", "max_tokens": 50, "stream": True,
            "messages": [{"role": "user", "content": "hi " + self.marker}]})
        gemini = json.dumps({"contents": [
            {"role": "user", "parts": [{"text": "hi " + self.marker}]}]})
        req_py = (
            "import json, os, requests, sys\n"
            "r = requests.post(sys.argv[1], data=sys.argv[2],\n"
            "                  headers=json.loads(sys.argv[3]),\n"
            "                  verify=os.environ['MOCK_CA'], timeout=30)\n"
            "print(r.status_code, r.text[:200])\n"
            "sys.exit(r.status_code != 200)\n")
        gh = self.headers()
        gh["content-type"] = "application/json"
        easy_headers = ["%s: %s" % kv for kv in
                        self.headers(skip=("Authorization",)).items()]
        out = [
            ("curl-h1-openai", curl + ["--http1.1", "-d", self.openai_body(),
                                       self.url("/v1/chat/completions")]),
            ("curl-h2-anthropic", curl + [
                "--http2", "-N", "-H", "anthropic-version: 2023-06-01",
                "-d", anthropic, self.url("/v1/messages")]),
            ("requests-gemini", [PY, "-c", req_py, self.url(
                "/v1beta/models/gemini-2.5-flash:generateContent"),
                gemini, json.dumps(gh)]),
        ]
        if os.path.exists(CURL_EASY):
            # libcurl, HTTP/2 by ALPN; the URL's userinfo becomes
            # "Authorization: Basic ...".
            out.append(("libcurl-openai", [
                CURL_EASY, self.url("/v1/chat/completions", userinfo=True),
                self.openai_body(), self.m.cert] + easy_headers))
        return out

    def test_keys_never_leave_the_process(self):
        blobs = {}          # where -> bytes tokentap wrote
        must_hold_marker = []
        spool = os.path.join(self.home, "spool")
        clients = self.clients()
        self.assertGreaterEqual(len(clients), 3)

        # (a) The socket: a recorder that never acks. At exit the preload
        # spools what was not acknowledged.
        rec = Recorder(os.path.join(self.tmp, "rec.sock"))
        try:
            for name, argv in clients:
                p = subprocess.run(argv, env=self.env(
                    TOKENTAP_SOCKET=rec.path, TOKENTAP_LOG="1",
                    LD_PRELOAD=PRELOAD), capture_output=True, timeout=60,
                    stdin=subprocess.DEVNULL)
                self.assertEqual(p.returncode, 0, (name, p.stdout, p.stderr))
                blobs["stderr (preload, socket not acking) of " + name] = p.stderr
        finally:
            rec.stop()
        with rec.lock:
            blobs["socket bytes"] = bytes(rec.data)
        must_hold_marker.append("socket bytes")
        # (b) The spool, before any daemon ingests it.
        spooled = walk_bytes(spool)
        self.assertEqual(len(spooled), len(clients), sorted(spooled))
        blobs["spool files"] = b"".join(spooled.values())
        must_hold_marker.append("spool files")
        self.assertEqual(stat.S_IMODE(os.stat(spool).st_mode), 0o700)
        for f in spooled:
            self.assertEqual(stat.S_IMODE(os.stat(os.path.join(spool, f)).st_mode),
                             0o600, f)

        # The same clients through `tokentap run` and a real daemon (which
        # also ingests the spool above at start).
        log = os.path.join(self.tmp, "tokentapd.log")
        jsonl = os.path.join(self.tmp, "sink.jsonl")      # the JSONL sink too
        d = Daemon(os.path.join(self.home, "tokentapd.sock"), self.db, spool,
                   log, env=self.env(TOKENTAP_JSONL=jsonl))
        try:
            for name, argv in clients:
                p = subprocess.run([TOKENTAP, "run", "--"] + argv,
                                   env=self.env(TOKENTAP_LOG="1"),
                                   capture_output=True, timeout=60,
                                   stdin=subprocess.DEVNULL)
                self.assertEqual(p.returncode, 0, (name, p.stdout, p.stderr))
                blobs["stderr (tokentap run) of " + name] = p.stderr
            sync = request(d.sock, frame({"t": "sync"}), 10)
            self.assertEqual(sync["t"], "synced", sync)
            # (c) The store while the daemon holds it: -wal and -shm too.
            live = walk_bytes(self.home)
            self.assertTrue(any(f.endswith("-wal") for f in live), sorted(live))
            blobs["home, daemon running: " + " ".join(sorted(live))] = \
                b"".join(live.values())
            must_hold_marker.append(
                "home, daemon running: " + " ".join(sorted(live)))
        finally:
            d.stop()
        # (d) The logs and every read command's output.
        blobs["daemon log"] = open(log, "rb").read()
        blobs["JSONL sink"] = open(jsonl, "rb").read()
        must_hold_marker.append("JSONL sink")
        self.assertEqual(stat.S_IMODE(os.stat(jsonl).st_mode), 0o600)
        self.assertIn(b"listening on", blobs["daemon log"])
        spans = self.spans()
        export = self.tokentap("export", "--format", "jsonl").stdout.encode()
        blobs["export jsonl"] = export
        must_hold_marker.append("export jsonl")
        for cmd in (["ls", "--json"], ["cost", "--json"], ["ls"],
                    ["show", spans[0]["trace_id"]]):
            blobs["tokentap " + " ".join(cmd)] = self.tokentap(*cmd).stdout.encode()
        rest = walk_bytes(self.home)
        blobs["home, daemon stopped: " + " ".join(sorted(rest))] = \
            b"".join(rest.values())
        must_hold_marker.append("home, daemon stopped: " + " ".join(sorted(rest)))

        # Each client produced its span, twice (socket run, daemon run).
        self.assertEqual(len(spans), 2 * len(clients), export)
        for s in spans:
            self.assertEqual(s["status"], "ok", s)
            # The harmless parameter stayed, every secret one went.
            self.assertTrue(s["path"].endswith("?keep=" + self.keep), s["path"])
        self.assertEqual({s["provider"] for s in spans},
                         {"openai", "anthropic", "gcp.gemini"})
        self.assertTrue({s["http_version"] for s in spans} >= {"1.1", "2"},
                        [s["http_version"] for s in spans])

        # The search works: the marker is found where it is stored...
        for where in must_hold_marker:
            self.assertIn(self.marker.encode(), blobs[where], where)
            self.assertIn(self.keep.encode(), blobs[where], where)
        # ...and no key, in any encoding, is found anywhere.
        leaks = []
        for kname, key in self.keys.items():
            for ename, needle in encodings(key).items():
                for where, data in blobs.items():
                    i = data.find(needle)
                    if i >= 0:
                        leaks.append("%s (%s) in %s: ...%r..." % (
                            kname, ename, where, data[max(0, i - 60):i + 60]))
        self.assertEqual(leaks, [], "\n".join(leaks))


# --- 2. permissions --------------------------------------------------------
PROBE = r"""
import json, os, sys, time, requests
r = requests.post(os.environ["MOCK_BASE"] + "/v1/chat/completions",
                  json={"model": "gpt-4o-mini",
                        "messages": [{"role": "user", "content": "hi"}]},
                  headers={"authorization": "Bearer sk-none"},
                  verify=os.environ["MOCK_CA"], timeout=30)
assert r.status_code == 200, r.text
# Wait for the store's commit (-wal), then list what exists while the
# private daemon runs: its socket, lock and log live in $TMPDIR.
home = sys.argv[1]
deadline = time.time() + 5
while time.time() < deadline and not os.path.exists(os.path.join(home, "traces.db-wal")):
    time.sleep(0.02)
out = {}
for top in (os.environ["TMPDIR"], home):
    for root, dirs, files in os.walk(top):
        for n in [root] + [os.path.join(root, x) for x in dirs + files]:
            st = os.lstat(n)
            out[n] = [st.st_mode & 0o170000, st.st_mode & 0o7777]
json.dump(out, open(sys.argv[2], "w"))
"""


class Permissions(TapTest):
    def check_private(self, found, created_under):
        """Every dir tokentap created is 0700, every file/socket 0600."""
        bad = []
        for path, (kind, mode) in sorted(found.items()):
            if not any(path == c or path.startswith(c + "/") for c in created_under):
                continue
            want = 0o700 if kind == "dir" else 0o600
            if mode != want:
                bad.append("%s %s %o (want %o)" % (kind, path, mode, want))
        self.assertEqual(bad, [], "\n".join(bad))

    def private_tree(self, mask):
        root = tempfile.mkdtemp(prefix="tt-perm-")
        self.addCleanup(shutil.rmtree, root, True)
        userhome = os.path.join(root, "user")     # $HOME: the user's, not ours
        tmpdir = os.path.join(root, "tmp")
        os.mkdir(userhome, 0o755)
        os.mkdir(tmpdir, 0o755)
        env = self.env(HOME=userhome, TMPDIR=tmpdir)
        for k in ("TOKENTAP_HOME", "TOKENTAP_DB", "XDG_DATA_HOME"):
            env.pop(k, None)
        home = os.path.join(userhome, ".local", "share", "tokentap")
        created = [os.path.join(userhome, ".local")]

        def um():
            os.umask(mask)

        curl = ["curl", "-sS", "--cacert", self.m.cert,
                self.m.base + "/v1/chat/completions",
                "-H", "content-type: application/json",
                "-d", '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"x"}]}']
        # The preload alone (no daemon): it creates the home and spools.
        p = subprocess.run(curl, env=dict(env, LD_PRELOAD=PRELOAD),
                           preexec_fn=um, capture_output=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        found = modes(userhome)
        self.assertTrue(any(k.endswith(".spool") for k in found), found)
        self.check_private(found, created)

        # `tokentap run`: a private daemon (socket, lock, log in $TMPDIR)
        # ingests the spool and stores the probe's span.
        out = os.path.join(root, "modes.json")
        p = subprocess.run([TOKENTAP, "run", "--", PY, "-c", PROBE, home, out],
                           env=env, preexec_fn=um, capture_output=True,
                           timeout=60, stdin=subprocess.DEVNULL)
        self.assertEqual(p.returncode, 0, p.stderr)
        during = {k: ("dir" if v[0] == stat.S_IFDIR else
                      "sock" if v[0] == stat.S_IFSOCK else "file", v[1])
                  for k, v in json.load(open(out)).items()}
        # (valgrind's own vgdb-pipe-* files land there in make test-valgrind)
        priv = [k for k in during if os.path.dirname(k) == tmpdir
                and not os.path.basename(k).startswith("vgdb-pipe")]
        self.assertEqual(len(priv), 1, during)       # tokentap-XXXXXX
        names = {os.path.basename(k) for k in during
                 if k.startswith(priv[0] + "/")}
        self.assertTrue({"d.sock", "d.sock.lock", "tokentapd.log"} <= names, names)
        self.assertTrue(any(k.endswith("traces.db-wal") for k in during), during)
        self.check_private(during, created + priv)
        self.check_private(modes(userhome), created)

        # A shared daemon, daemonized, with its default paths and a pidfile.
        pidfile = os.path.join(home, "tokentapd.pid")
        dlog = os.path.join(root, "shared.log")     # the caller's file
        with open(dlog, "wb") as f:
            p = subprocess.run([TOKENTAPD, "--pidfile", pidfile], env=env,
                               preexec_fn=um, stdout=f, stderr=f,
                               stdin=subprocess.DEVNULL, timeout=30)
        self.assertEqual(p.returncode, 0, open(dlog).read())
        sock = os.path.join(home, "tokentapd.sock")
        try:
            deadline = time.time() + 10
            while not os.path.exists(pidfile) and time.time() < deadline:
                time.sleep(0.02)
            r = request(sock, spans_frame([span()]), 10)
            self.assertEqual(r["t"], "ack", r)
            found = modes(userhome)
            for n in ("tokentapd.sock", "tokentapd.sock.lock", "tokentapd.pid",
                      "traces.db", "traces.db-wal", "traces.db-shm"):
                self.assertIn(os.path.join(home, n), found)
            self.check_private(found, created)
        finally:
            try:
                request(sock, frame({"t": "stop"}), 5)
            except OSError:
                pass
            # never leave it behind
            try:
                pid = int(open(pidfile).read())
                for _ in range(100):
                    os.kill(pid, 0)
                    time.sleep(0.05)
                os.kill(pid, 9)
            except (OSError, ValueError):
                pass
        # `tokentap run` with no daemon to share, on a fresh store in a
        # directory that does not exist yet: the CLI creates both.
        env2 = dict(env, TOKENTAP_DB=os.path.join(home, "new", "x.db"))
        p = subprocess.run([TOKENTAP, "run", "--", "true"], env=env2,
                           preexec_fn=um, capture_output=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        found = modes(userhome)
        self.assertIn(os.path.join(home, "new", "x.db"), found)
        self.check_private(found, created)

    def test_umask_000(self):
        self.private_tree(0o000)

    def test_umask_022(self):
        self.private_tree(0o022)


# --- 3, 4. the daemon as a server of untrusted input -----------------------
class DaemonInput(TapTest):
    def setUp(self):
        super().setUp()
        self.sock = os.path.join(self.home, "d.sock")
        self.log = os.path.join(self.home, "tokentapd.log")
        self.d = Daemon(self.sock, self.db, os.path.join(self.home, "spool"),
                        self.log, env=self.env())
        self.addCleanup(self.d.stop)

    def store_ids(self):
        return {s["span_id"] for s in self.spans()}

    def send_valid(self):
        s = span()
        r = request(self.sock, spans_frame([s]), 10)
        self.assertIsInstance(r, dict, r)
        self.assertEqual((r["t"], r["stored"]), ("ack", 1), r)
        return s["span_id"]

    def counters(self):
        """The daemon's counters: its hello reply, plus `tokentap stats
        --json` (persisted counters) when that command exists."""
        c = dict(self.d.hello())
        p = self.tokentap("stats", "--json", check=False)
        if p.returncode == 0:
            try:
                c.update(json.loads(p.stdout).get("counters", {}))
            except ValueError:
                pass
        return c

    @unittest.skipUnless(os.geteuid() == 0, "needs root to become another uid")
    def test_peercred_refuses_other_uid(self):
        # Loosen what protects the socket (test only): the daemon's own
        # check is what is left.
        os.chmod(self.home, 0o711)
        os.chmod(self.sock, 0o666)
        s = span()
        child = (
            "import socket, sys\n"
            "s = socket.socket(socket.AF_UNIX)\n"
            "s.connect(sys.argv[1])\n"
            "s.settimeout(2)\n"
            "try:\n"
            "    s.sendall(bytes.fromhex(sys.argv[2]))\n"
            "    d = s.recv(65536)\n"
            "    print('EOF' if not d else 'DATA ' + d.hex())\n"
            "except socket.timeout:\n"
            "    print('TIMEOUT')\n"
            "except OSError as e:\n"
            "    print('CLOSED', e)\n")

        def nobody():
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)

        p = subprocess.run([PY, "-c", child, self.sock, spans_frame([s]).hex()],
                           preexec_fn=nobody, capture_output=True, text=True,
                           timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertRegex(p.stdout.strip(), r"^(EOF|CLOSED)", p.stdout)
        self.assertIn("refusing client", self.d.text())
        self.assertIn("uid %d" % NOBODY, self.d.text())
        self.assertTrue(self.d.alive())
        # The real user is still served; nobody's span never got in.
        mine = self.send_valid()
        ids = self.store_ids()
        self.assertIn(mine, ids)
        self.assertNotIn(s["span_id"], ids)
        c = self.counters()
        if "clients_refused" in c:
            self.assertGreaterEqual(c["clients_refused"], 1, c)

    def test_malformed_frames(self):
        before = self.d.hello()
        results = {}

        def raw(name, payload, close_early=False, timeout=3):
            c = socket.socket(socket.AF_UNIX)
            c.connect(self.sock)
            try:
                c.sendall(payload)
            except (BrokenPipeError, ConnectionResetError):
                results[name] = None
                c.close()
                return
            if close_early:
                c.close()
                results[name] = "closed"
                return
            results[name] = read_reply(c, timeout)
            c.close()

        # (a) length 0 and (b) > 16 MiB: the stream cannot be trusted, the
        # client is dropped.
        raw("len0", struct.pack(">I", 0) + b"\x80")
        raw("len>16M", struct.pack(">I", (16 << 20) + 1) + b"\x80" * 1024)
        self.assertIsNone(results["len0"], results)
        self.assertIsNone(results["len>16M"], results)
        # (c) a valid length holding garbage: refused with a nack.
        for i, g in enumerate((b"\xc1\xc1\xc1", b"\xff" * 100, b"\x81\xa1t",
                               mp([1, 2, 3]), mp({"t": 7}), mp({"t": "spans"}),
                               mp({"t": "nope"}), mp({"t": "spans", "v": 99,
                                                      "spans": []}))):
            raw("garbage%d" % i, frame(g))
            self.assertIsInstance(results["garbage%d" % i], dict, results)
            self.assertEqual(results["garbage%d" % i]["t"], "nack", results)
        # (d) a valid frame with bad spans next to a good one: the bad ones
        # are rejected and counted, the good one stored.
        good = span()
        bad = [
            span(span_id=12345),                      # wrong types
            span(start_time="yesterday"),
            span(input_tokens=-5),
            span(status="maybe"),
            span(trace_id="zz" * 16),
            {"kind": "llm"},                          # required fields missing
            span(tags="{not json"),
            "not a span",
        ]
        raw("badspans", spans_frame([good] + bad), timeout=20)
        r = results["badspans"]
        self.assertIsInstance(r, dict, r)
        self.assertEqual(r["t"], "ack", r)
        self.assertEqual((r["stored"], r["rejected"]), (1, len(bad)), r)
        self.assertIn(good["span_id"], self.store_ids())
        # Huge strings (a 15 MiB model name, a frame just under 16 MiB):
        # stored or refused, but answered, and the daemon stays up.
        raw("huge", spans_frame([span(request_model="m" * (15 << 20))]),
            timeout=30)
        self.assertIsInstance(results["huge"], dict, results["huge"])
        self.assertIn(results["huge"]["t"], ("ack", "nack"))
        # deep nesting inside a span and as the frame itself
        placeholder = mp("DEEPHERE")
        deep_frame = mp({"t": "spans", "v": 1, "chunk": 1,
                         "spans": [span(input="DEEPHERE")]}).replace(
            placeholder, b"\x91" * 100000 + b"\xc0")
        raw("deep-span", frame(deep_frame))
        r = results["deep-span"]
        self.assertTrue(r is None or r["t"] in ("nack", "ack"), results)
        raw("deep-frame", frame(b"\x91" * 200000 + b"\xc0"))
        self.assertTrue(results["deep-frame"] is None or
                        results["deep-frame"]["t"] == "nack", results)
        raw("deep-json", spans_frame([span(input="[" * 100000 + "]" * 100000)]), timeout=10)
        self.assertIsInstance(results["deep-json"], dict, results)
        # (e) a truncated frame, then close.
        raw("truncated", struct.pack(">I", 1000) + mp({"t": "spans"}),
            close_early=True)
        raw("truncated-len", b"\x00\x00", close_early=True)
        self.assertTrue(self.d.alive(), self.d.text())
        # Other clients are served throughout.
        self.assertIn(self.send_valid(), self.store_ids())

        # (f) 1000 connections opened and held (some half-way through a
        # frame): a normal client still gets its ack, promptly.
        held = []
        try:
            for i in range(1000):
                c = socket.socket(socket.AF_UNIX)
                c.connect(self.sock)
                if i % 3 == 0:
                    c.sendall(struct.pack(">I", 500) + b"\x85")
                held.append(c)
            t0 = time.time()
            mine = self.send_valid()
            self.assertLess(time.time() - t0, 5)
            h = self.d.hello()
            self.assertEqual(h["t"], "hello")
        finally:
            for c in held:
                c.close()
        self.assertIn(mine, self.store_ids())
        self.assertTrue(self.d.alive(), self.d.text())

        after = self.counters()
        self.assertGreaterEqual(after["bad_frames"] - before["bad_frames"], 8, after)
        self.assertGreaterEqual(after["rejected"] - before["rejected"], len(bad), after)
        if "spans_rejected" in after:
            self.assertGreaterEqual(after["spans_rejected"], len(bad), after)
        log = self.d.text()
        self.assertIn("bad frame length", log)
        self.assertIn("frame refused", log)
        self.assertLess(len(log.splitlines()), 200, "log flood")

    def test_descriptor_exhaustion_does_not_spin(self):
        """More clients than the daemon has descriptors for: it neither
        spins on the listener nor floods its log, and serves again as soon
        as descriptors free up."""
        self.d.stop()
        import resource

        def low():
            resource.setrlimit(resource.RLIMIT_NOFILE, (48, 48))

        os.unlink(self.log)
        self.d = Daemon(self.sock, self.db, os.path.join(self.home, "spool"),
                        self.log, env=self.env(), preexec=low)
        self.addCleanup(self.d.stop)
        held = []
        try:
            for _ in range(80):
                c = socket.socket(socket.AF_UNIX)
                c.connect(self.sock)
                held.append(c)
            time.sleep(0.3)
            with open("/proc/%d/stat" % self.d.proc.pid) as f:
                t0 = sum(int(x) for x in f.read().rsplit(")", 1)[1].split()[11:13])
            time.sleep(1.0)
            with open("/proc/%d/stat" % self.d.proc.pid) as f:
                t1 = sum(int(x) for x in f.read().rsplit(")", 1)[1].split()[11:13])
            ticks = os.sysconf("SC_CLK_TCK")
            self.assertLess((t1 - t0) / ticks, 0.3, "daemon spins")
        finally:
            for c in held:
                c.close()
        time.sleep(0.3)
        self.assertIn(self.send_valid(), self.store_ids())
        self.assertLess(len(self.d.text().splitlines()), 20, self.d.text()[:2000])


# --- 5. setuid programs are never traced -----------------------------------
@unittest.skipUnless(os.geteuid() == 0, "needs root to make a setuid binary")
class Setuid(TapTest):
    def test_setuid_program_not_traced(self):
        d = tempfile.mkdtemp(prefix="tt-suid-")
        self.addCleanup(shutil.rmtree, d, True)
        os.chmod(d, 0o755)
        # What the run as nobody needs, readable by nobody.
        lib = os.path.join(d, "libtokentap.so")
        shutil.copy(PRELOAD, lib)
        # The capture core is loaded from beside the preload.
        core = os.path.join(d, "libtokentap-core.so")
        shutil.copy(os.path.join(os.path.dirname(PRELOAD), "libtokentap-core.so"), core)
        os.chmod(core, 0o755)
        cert = os.path.join(d, "cert.pem")
        shutil.copy(self.m.cert, cert)
        os.chmod(lib, 0o755)
        os.chmod(cert, 0o644)
        plain = os.path.join(d, "curl")
        suid = os.path.join(d, "curl-suid")
        shutil.copy("/usr/bin/curl", plain)
        shutil.copy("/usr/bin/curl", suid)
        os.chmod(plain, 0o755)
        os.chown(suid, 0, 0)
        os.chmod(suid, 0o4755)
        # Does this filesystem honour setuid (not mounted nosuid)?
        probe = os.path.join(d, "id-suid")
        shutil.copy("/usr/bin/id", probe)
        os.chmod(probe, 0o4755)

        def nobody():
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)

        p = subprocess.run([probe, "-u"], preexec_fn=nobody, capture_output=True,
                           text=True, timeout=10)
        if p.stdout.strip() != "0":
            self.skipTest("setuid is not honoured here (nosuid mount?)")

        def run(prog, tag):
            home = os.path.join(d, "home-" + tag)
            os.mkdir(home, 0o777)
            os.chmod(home, 0o777)
            env = self.env(TOKENTAP_HOME=home, TOKENTAP_DB=os.path.join(home, "t.db"),
                           LD_PRELOAD=lib, HOME=home)
            p = subprocess.run([prog, "-sS", "--cacert", cert,
                                self.m.base + "/v1/chat/completions",
                                "-H", "content-type: application/json",
                                "-d", '{"model":"gpt-4o-mini","messages":'
                                      '[{"role":"user","content":"x"}]}'],
                               env=env, preexec_fn=nobody, capture_output=True,
                               text=True, timeout=60)
            spool = os.path.join(home, "spool")
            files = os.listdir(spool) if os.path.isdir(spool) else []
            return p, files

        # The control: the same program without the setuid bit is traced
        # (no daemon: its span is spooled).
        p, files = run(plain, "plain")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("Hello from the mock", p.stdout)
        self.assertEqual(len(files), 1, files)
        # setuid: the loader runs it in secure-execution mode and ignores
        # LD_PRELOAD; the program works, nothing is traced.
        p, files = run(suid, "suid")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("Hello from the mock", p.stdout)
        self.assertEqual(files, [])


if __name__ == "__main__":
    unittest.main()
