"""Issue #3 part 3: plain HTTP (local and self-hosted model servers) through
the libc hooks. Heavy non-LLM I/O must come out byte-identical and leave no
span; calls to an http:// model server are captured by their path alone."""
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import urllib.error
import urllib.request

from harness import PY, Mock, TapTest

PLAIN = None


def plain_mock():
    global PLAIN
    if PLAIN is None:
        PLAIN = Mock(plain=True)
    return PLAIN


def tearDownModule():
    global PLAIN
    if PLAIN:
        PLAIN.stop()
        PLAIN = None


# Non-LLM work under the preload: tar of a few hundred files through gzip
# and back, and a local http.server serving 20 MB to urllib in the same
# process (connect()ed socket: a candidate until its first request head).
HEAVY = r"""
set -e
src="$1"; out="$2"
tar -C "$src" --sort=name --mtime=@0 --owner=0 --group=0 -cf - . | gzip -1 |
    gzip -dc | sha256sum > "$out/stream.sum"
mkdir "$out/x"
tar -C "$src" -cf - . | gzip -1 | gzip -dc | tar -C "$out/x" -xf -
(cd "$out/x" && find . -type f | sort | xargs sha256sum) > "$out/tree.sum"
%(py)s - "$src/big.bin" > "$out/http.sum" <<'EOF'
import hashlib, http.server, os, sys, threading, urllib.request
big = sys.argv[1]
class H(http.server.SimpleHTTPRequestHandler):
    def __init__(self, *a, **k):
        super().__init__(*a, directory=os.path.dirname(big), **k)
    def log_message(self, *a):
        pass
srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
threading.Thread(target=srv.serve_forever, daemon=True).start()
url = "http://127.0.0.1:%%d/big.bin" %% srv.server_address[1]
for _ in range(3):
    with urllib.request.urlopen(url) as r:
        print(hashlib.sha256(r.read()).hexdigest())
srv.shutdown()
EOF
""" % {"py": PY}


class HeavyNonLLM(TapTest):
    @classmethod
    def setUpClass(cls):
        cls.src = tempfile.mkdtemp(prefix="tt-heavy-")
        for d in range(10):
            os.mkdir(os.path.join(cls.src, "d%d" % d))
            for f in range(40):
                with open(os.path.join(cls.src, "d%d" % d, "f%d.txt" % f), "wb") as fh:
                    fh.write(os.urandom(64 + 97 * f) + b"line\n" * f)
        with open(os.path.join(cls.src, "big.bin"), "wb") as fh:
            fh.write(os.urandom(20 << 20))

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.src, ignore_errors=True)

    def heavy(self, traced):
        out = tempfile.mkdtemp(prefix="tt-heavy-out-", dir=self.home)
        argv = ["bash", "-c", HEAVY, "heavy", self.src, out]
        if traced:
            r = self.run_traced(argv, timeout=300)
            rc, err, spans = r.rc, r.stderr, r.spans
        else:
            p = subprocess.run(argv, capture_output=True, text=True,
                               env=self.env(), timeout=300,
                               stdin=subprocess.DEVNULL)
            rc, err, spans = p.returncode, p.stderr, []
        self.assertEqual(rc, 0, err)
        sums = {}
        for name in ("stream.sum", "tree.sum", "http.sum"):
            with open(os.path.join(out, name)) as fh:
                sums[name] = fh.read()
        return sums, spans, err

    def test_output_identical_and_no_span(self):
        want, _, _ = self.heavy(traced=False)
        got, spans, err = self.heavy(traced=True)
        self.assertEqual(got, want)
        self.assertEqual(len(want["tree.sum"].splitlines()), 401)
        big = hashlib.sha256(open(os.path.join(self.src, "big.bin"), "rb").read())
        self.assertEqual(want["http.sum"], (big.hexdigest() + "\n") * 3)
        self.assertEqual(spans, [], err)
        self.assertNotIn("tokentap[", err)      # no log line: nothing went wrong


class PlainHTTP(TapTest):
    """A model server on http://127.0.0.1:<ephemeral>, not in TOKENTAP_HOSTS
    and on no known port: the request path alone makes it LLM traffic."""

    MODEL = "llama3.2:3b"   # unpriced local model: free, cost known

    def setUp(self):
        super().setUp()
        self.p = plain_mock()

    def call(self, *calls):
        """Run urllib POSTs [(path, body, headers)] in one traced process."""
        script = r"""
import json, sys, urllib.request
for path, body, hdr in json.loads(sys.argv[2]):
    req = urllib.request.Request(sys.argv[1] + path, data=json.dumps(body).encode(),
                                 headers=dict(hdr, **{"content-type": "application/json"}))
    with urllib.request.urlopen(req) as r:
        data = r.read()
        print(r.status, len(data))
"""
        r = self.run_traced([PY, "-c", script, self.p.base, json.dumps(calls)],
                            TOKENTAP_HOSTS="")
        self.assertEqual(r.rc, 0, r.stderr)
        self.assertEqual(len(r.spans), len(calls), r.stderr)
        for s in r.spans:
            self.assertContract(s)
            self.assertEqual(s["status"], "ok", s.get("error"))
            self.assertEqual(s["http_version"], "1.1")
            self.assertEqual(s["host"], "127.0.0.1:%d" % self.p.port)
            self.assertEqual(s["request_model"], self.MODEL)
        return sorted(r.spans, key=lambda s: s["start_time"])

    def assertFree(self, s):
        # A local model no price table lists runs on the user's machine:
        # known to cost nothing.
        self.assertTrue(s["cost_known"], s)
        self.assertEqual(s["cost_usd"], 0)

    def test_openai_compatible(self):
        msgs = [{"role": "user", "content": "hi"}]
        spans = self.call(
            ["/v1/chat/completions", {"model": self.MODEL, "messages": msgs},
             {"x-mock-usage": "in=31,out=7"}],
            ["/v1/chat/completions", {"model": self.MODEL, "messages": msgs,
                                      "stream": True,
                                      "stream_options": {"include_usage": True}},
             {"x-mock-usage": "in=45,out=12"}])
        a, b = spans
        for s in spans:
            self.assertEqual(s["operation"], "chat")
            self.assertEqual(s["path"], "/v1/chat/completions")
            self.assertTrue(s["usage_known"])
        self.assertFalse(a["stream"])
        self.assertEqual((a["input_tokens"], a["output_tokens"]), (31, 7))
        self.assertTrue(b["stream"])
        self.assertEqual((b["input_tokens"], b["output_tokens"]), (45, 12))
        self.assertIsNotNone(b["ttft_ms"])
        self.assertIn("mock", json.dumps(a["output"]))
        for s in spans:
            self.assertFree(s)

    def ollama_or_skip(self):
        req = urllib.request.Request(
            self.p.base + "/api/chat", data=json.dumps({
                "model": self.MODEL, "stream": False,
                "messages": [{"role": "user", "content": "x"}]}).encode(),
            headers={"content-type": "application/json"})
        try:
            urllib.request.urlopen(req, timeout=10).read()
        except urllib.error.HTTPError as e:
            if e.code == 404:
                self.skipTest("tokentap mock answers 404 for /api/chat: "
                              "its Ollama routes are not there yet")
            raise

    def test_ollama(self):
        self.ollama_or_skip()
        msgs = [{"role": "user", "content": "hi"}]
        spans = self.call(
            ["/api/chat", {"model": self.MODEL, "messages": msgs, "stream": False},
             {"x-mock-usage": "in=21,out=4"}],
            ["/api/chat", {"model": self.MODEL, "messages": msgs},  # streams by default
             {"x-mock-usage": "in=22,out=5"}],
            ["/api/generate", {"model": self.MODEL, "prompt": "hi", "stream": False},
             {"x-mock-usage": "in=23,out=6"}])
        chat, stream, gen = spans
        for s in spans:
            self.assertEqual(s["provider"], "ollama")
            self.assertTrue(s["usage_known"])
            self.assertFree(s)
        self.assertEqual(chat["operation"], "chat")
        self.assertFalse(chat["stream"])
        self.assertEqual((chat["input_tokens"], chat["output_tokens"]), (21, 4))
        self.assertTrue(stream["stream"])                 # NDJSON
        self.assertEqual((stream["input_tokens"], stream["output_tokens"]), (22, 5))
        self.assertIsNotNone(stream["ttft_ms"])
        self.assertEqual(gen["path"], "/api/generate")
        self.assertEqual(gen["operation"], "text_completion")
        self.assertEqual((gen["input_tokens"], gen["output_tokens"]), (23, 6))

    def test_other_requests_on_the_server_no_span(self):
        # GET / on the same server: not an API path, not a known host.
        r = self.run_traced([PY, "-c", "import urllib.request,sys\n"
                             "try: urllib.request.urlopen(sys.argv[1] + '/')\n"
                             "except Exception as e: print(e)", self.p.base],
                            TOKENTAP_HOSTS="")
        self.assertEqual(r.rc, 0, r.stderr)
        self.assertEqual(r.spans, [], r.stderr)
