"""Issue #6: a bad-input corpus run end to end through the mock's /bad/
routes (tools/mock_bad.c) on an OpenAI-looking and an Anthropic-looking
route. For every case: the traced program sees exactly what it sees
without tokentap (exit code and stdout bytes), exactly the expected spans
come out, each saying what went wrong, with no made-up numbers (usage
unknown when no usage was seen), and memory stays within the caps.

The caps are made crisp with TOKENTAP_MAX_BODY = 1 MiB."""
import hashlib
import json
import os
import re
import subprocess
import tempfile

import harness
from harness import CLIENTS, PY, TOKENTAP, Mock, TapTest, san_wrap

MAX_BODY = 1 << 20
MODELS = {"openai": "gpt-4o-mini", "anthropic": "claude-sonnet-4-5"}
PATHS = {"openai": "/v1/chat/completions", "anthropic": "/v1/messages"}
# usage_known false must come with no numbers at all
UNKNOWN = dict(input_tokens=0, output_tokens=0, cache_read_tokens=0,
               cache_write_tokens=0, reasoning_tokens=0, usage_known=False,
               cost_known=False)

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


class BadInput(TapTest):
    def env(self, **extra):
        p = plain_mock()
        hosts = ",".join("127.0.0.1:%d=auto,localhost:%d=auto" % (port, port)
                         for port in (self.m.port, p.port))
        e = super().env(TOKENTAP_HOSTS=hosts, TOKENTAP_MAX_BODY=str(MAX_BODY))
        e.update(extra)
        return e

    # --- requests and clients ---------------------------------------------
    def body(self, api, stream=False, content="hi"):
        b = {"model": MODELS[api], "stream": stream,
             "messages": [{"role": "user", "content": content}]}
        if api == "anthropic":
            b["max_tokens"] = 64
        return json.dumps(b)

    def url(self, api, case, base=None):
        return (base or self.m.base) + "/bad/%s%s" % (case, PATHS[api])

    def auth(self, api):
        if api == "anthropic":
            return ["x-api-key: sk-ant-bad", "anthropic-version: 2023-06-01"]
        return ["authorization: Bearer sk-bad"]

    def curl(self, api, case, *extra, body=None, stream=False, usage="in=1000,out=20"):
        argv = ["curl", "--http1.1", "-sS", "--cacert", self.m.cert,
                self.url(api, case), "-H", "content-type: application/json",
                "-H", "x-mock-usage: " + usage]
        for h in self.auth(api):
            argv += ["-H", h]
        return argv + ["-d", body or self.body(api, stream)] + list(extra)

    def requests(self, api, case, *headers, stream=False, usage="in=1000,out=20"):
        return [PY, os.path.join(CLIENTS, "bad_client.py"), "requests",
                self.url(api, case), self.body(api, stream),
                "x-mock-usage: " + usage] + list(headers)

    def raw(self, api, case, *args, base=None, stream=False, usage="in=1000,out=20"):
        return [PY, os.path.join(CLIENTS, "bad_client.py"), "raw",
                self.url(api, case, base), self.body(api, stream),
                "x-mock-usage: " + usage] + list(args)

    # --- running with and without tokentap ----------------------------------
    def both(self, argv, nspans=1, timeout=60, peak=None):
        """Runs argv bare, then under `tokentap run`; asserts the program
        saw the same thing (exit code, stdout bytes) and that nspans spans
        came out. Returns (spans sorted by start, bare result). peak: a
        list that gets the program's peak RSS in KiB, bare then traced
        (argv runs under clients/peakmem.py, which prints a hash of its
        stdout instead of the bytes)."""
        home = tempfile.mkdtemp(dir=self.home)     # a fresh store per run
        env = self.env(TOKENTAP_HOME=home, TOKENTAP_DB=os.path.join(home, "traces.db"))

        def wrap(tag):
            if peak is None:
                return san_wrap(argv)
            return [PY, os.path.join(CLIENTS, "peakmem.py"),
                    os.path.join(home, "rss." + tag)] + san_wrap(argv)
        bare = subprocess.run(wrap("bare"), env=env, capture_output=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)
        tr = subprocess.run([TOKENTAP, "run", "--"] + wrap("traced"), env=env,
                            capture_output=True, timeout=timeout,
                            stdin=subprocess.DEVNULL)
        if peak is not None:
            for tag in ("bare", "traced"):
                with open(os.path.join(home, "rss." + tag)) as f:
                    peak.append(int(f.read()))
        what = "%s\n-- bare stderr:\n%s\n-- traced stderr:\n%s" % (
            " ".join(argv)[:300], bare.stderr.decode(errors="replace")[-1500:],
            tr.stderr.decode(errors="replace")[-1500:])
        self.assertEqual(bare.returncode, tr.returncode, what)
        self.assertEqual(hashlib.sha256(bare.stdout).hexdigest(),
                         hashlib.sha256(tr.stdout).hexdigest(),
                         "stdout differs under tokentap: " + what)
        spans = sorted(self.spans(env), key=lambda s: s["start_time"])
        self.assertEqual(len(spans), nspans, what + "\n" + json.dumps(spans)[:3000])
        for s in spans:
            self.assertContract(s)
        return spans, bare

    def assertNoNumbers(self, s):
        """No usage seen: none reported, nothing priced."""
        self.assertEqual({k: s[k] for k in UNKNOWN}, UNKNOWN, s)

    def assertTokens(self, s, inp, out):
        self.assertTrue(s["usage_known"], s)
        self.assertEqual((s["input_tokens"], s["output_tokens"]), (inp, out), s)
        self.assertTrue(s["cost_known"], s)

    def assertFailed(self, s, pattern):
        self.assertEqual(s["status"], "error", s)
        self.assertRegex(s["error"] or "", pattern, s)

    def check_error_case(self, case, pattern, clients=("curl", "requests", "raw-plain"),
                         stream=False, usage_seen=False):
        """One broken response, for both APIs and both clients: one error
        span saying `pattern`, no numbers (or the right ones if the usage
        did come whole)."""
        for api in MODELS:
            for client in clients:
                with self.subTest(api=api, client=client):
                    # libcurl (curl layer), OpenSSL (SSL hooks), plain
                    # sockets (libc hooks)
                    argv = (self.curl(api, case, stream=stream) if client == "curl"
                            else self.requests(api, case, stream=stream)
                            if client == "requests"
                            else self.raw(api, case, base=plain_mock().base, stream=stream))
                    spans, bare = self.both(argv)
                    s = spans[0]
                    self.assertEqual(s["provider"], api)
                    self.assertEqual(s["request_model"], MODELS[api])
                    self.assertFailed(s, pattern)
                    if usage_seen:
                        self.assertTokens(s, 1000, 20)
                    else:
                        self.assertNoNumbers(s)

    # --- the corpus ---------------------------------------------------------
    def test_control_ok(self):
        """The deterministic good answers: the baseline the cases break."""
        for api in MODELS:
            for case, stream in (("ok", False), ("ok-sse", True)):
                with self.subTest(api=api, case=case):
                    spans, _ = self.both(self.curl(api, case, stream=stream))
                    self.assertEqual(spans[0]["status"], "ok", spans[0])
                    self.assertEqual(spans[0]["stream"], stream)
                    self.assertTokens(spans[0], 1000, 20)

    def test_malformed_json(self):
        self.check_error_case("badjson", r"(?i)malformed|invalid|json")

    def test_truncated_json(self):
        self.check_error_case("truncjson", r"(?i)malformed|invalid|truncat|json")

    def test_garbage_json_content_type(self):
        self.check_error_case("garbage", r"(?i)malformed|invalid|json")

    def test_garbage_binary_content_type(self):
        self.check_error_case("garbage-bin", r"(?i)malformed|invalid|json")

    def test_garbage_gzip(self):
        self.check_error_case("garbage-gz", r"(?i)corrupt content-encoding|decod")

    def test_garbage_instead_of_http(self):
        self.check_error_case("garbage-raw", r"(?i)protocol|malformed|invalid|not http|garbage")

    def test_content_length_too_long(self):
        # the whole JSON came (usage included), then the connection closed
        # 1000 bytes short of the promised length: the numbers are real
        self.check_error_case("badlen", r"(?i)partial|closed|cut|short|ended|incomplete",
                              usage_seen=True)

    def test_content_length_negative(self):
        self.check_error_case("neglen", r"(?i)weird|invalid|malformed|content-length|framing")

    def test_bad_chunked_framing(self):
        self.check_error_case("badchunk", r"(?i)chunk|receiving|malformed|framing|invalid")

    def test_close_before_response(self):
        self.check_error_case("close", r"(?i)nothing|no response|closed|ended|empty")

    def test_sse_cut_between_events(self):
        self.check_error_case("cutsse", r"(?i)partial|cut|closed|ended|incomplete",
                              stream=True)

    def test_sse_cut_inside_event(self):
        self.check_error_case("truncsse", r"(?i)partial|cut|closed|ended|incomplete",
                              stream=True)

    # --- bodies far above the cap: truncated, memory bounded ----------------
    # With TOKENTAP_MAX_BODY = 1 MiB, what tokentap may hold for one call:
    # the request body copy (<= cap), libcurl's transfer copy (<= cap + 1),
    # the buffered response (<= cap), the decoder's output (<= cap), the
    # JSON tree and the content it captures (~2 x cap): 6 x cap. On top,
    # 16 MiB for what is loaded on the first LLM call (jansson, zlib,
    # brotli, zstd, nghttp2 mapped and touched, the delivery socket and
    # queue, malloc arenas of a new thread). A 40 MB body that was held
    # whole would blow this by far.
    MEM_BOUND_KIB = (6 * MAX_BODY + (16 << 20)) // 1024

    def assertMemory(self, peak, what):
        bare, traced = peak
        self.assertLess(traced - bare, self.MEM_BOUND_KIB,
                        "%s: peak RSS %d KiB bare, %d KiB traced" % (what, bare, traced))
        print("\n    %s: peak RSS %d KiB bare, %d KiB traced (+%d KiB, bound %d)"
              % (what, bare, traced, traced - bare, self.MEM_BOUND_KIB), end=" ")

    def test_big_response_40mb(self):
        for api in MODELS:
            for client in ("curl", "requests"):
                with self.subTest(api=api, client=client):
                    argv = (self.curl(api, "big") if client == "curl"
                            else self.requests(api, "big"))
                    peak = []
                    spans, bare = self.both(argv, peak=peak)
                    self.assertIn(b"bytes 419", bare.stdout)   # 40 MiB + head
                    s = spans[0]
                    self.assertTrue(s["truncated"], s)
                    self.assertFailed(s, r"capture cap.*TOKENTAP_MAX_BODY")
                    self.assertNoNumbers(s)
                    self.assertMemory(peak, "%s %s 40 MiB response" % (client, api))

    def test_big_request_40mb(self):
        big = os.path.join(self.home, "big.json")
        for api in MODELS:
            for client in ("curl", "requests"):
                with self.subTest(api=api, client=client):
                    body = self.body(api, content="x" * (40 << 20))
                    if client == "curl":
                        with open(big, "w") as f:
                            f.write(body)
                        # curl sends Expect: 100-continue for a body this big
                        argv = self.curl(api, "ok", body="@" + big)
                        argv[argv.index("-d")] = "--data-binary"
                    else:
                        argv = [PY, "-c", BIG_REQUEST, self.url(api, "ok"), api]
                    peak = []
                    spans, bare = self.both(argv, peak=peak)
                    s = spans[0]
                    self.assertEqual(s["status"], "ok", s)
                    self.assertTrue(s["truncated"], s)
                    self.assertEqual(s["request_model"], MODELS[api])
                    self.assertTokens(s, 1000, 20)
                    self.assertLess(len(json.dumps(s)), 3 * MAX_BODY)
                    self.assertMemory(peak, "%s %s 40 MiB request" % (client, api))

    def test_gzip_bomb(self):
        """1 GiB of JSON in ~1 MiB of gzip: the client does not decode it
        (curl without --compressed; requests reading raw), tokentap's
        decoder stops at the cap and says so."""
        for api in MODELS:
            for client in ("curl", "requests"):
                with self.subTest(api=api, client=client):
                    argv = (self.curl(api, "gzbomb") if client == "curl"
                            else self.requests(api, "gzbomb"))
                    peak = []
                    spans, bare = self.both(argv, peak=peak)
                    s = spans[0]
                    self.assertTrue(s["truncated"], s)
                    self.assertFailed(s, r"decompression cap")
                    self.assertNoNumbers(s)
                    self.assertMemory(peak, "%s %s gzip bomb" % (client, api))

    # --- delivery split at every byte ------------------------------------------
    def test_response_one_byte_per_write(self):
        # over TLS each 1-byte write is a TLS record: every read the client
        # makes returns one byte
        for api in MODELS:
            for case, stream in (("bytewise", False), ("bytewise-sse", True)):
                with self.subTest(api=api, case=case):
                    spans, _ = self.both(self.curl(api, case, stream=stream))
                    s = spans[0]
                    self.assertEqual(s["status"], "ok", s)
                    self.assertEqual(s["stream"], stream)
                    self.assertTokens(s, 1000, 20)
                    self.assertEqual(s["finish_reasons"],
                                     ["stop" if api == "openai" else "end_turn"])
        # plain HTTP (libc hooks): 1 ms between bytes so reads see them apart
        spans, _ = self.both(self.raw("openai", "bytewise", "x-mock-delay-ms: 1",
                                      base=plain_mock().base))
        self.assertEqual(spans[0]["status"], "ok", spans[0])
        self.assertTokens(spans[0], 1000, 20)

    def test_request_one_byte_per_write(self):
        for api in MODELS:
            for base in (None, plain_mock().base):
                with self.subTest(api=api, tls=base is None):
                    spans, bare = self.both(self.raw(api, "ok", "--bytewise", base=base))
                    self.assertTrue(bare.stdout.startswith(b"HTTP/1.1 200 OK"), bare.stdout)
                    s = spans[0]
                    self.assertEqual(s["status"], "ok", s)
                    self.assertEqual(s["request_model"], MODELS[api])
                    self.assertTokens(s, 1000, 20)

    # --- pipelining and 100-continue -------------------------------------------
    def test_pipelining(self):
        """Two requests written back to back before any response is read:
        two spans, each with its own tokens."""
        for api in MODELS:
            for base in (None, plain_mock().base):
                for case, stream in (("ok", False), ("ok-sse", True)):
                    with self.subTest(api=api, tls=base is None, case=case):
                        spans, bare = self.both(self.raw(api, case, "--pipeline", "2",
                                                         base=base, stream=stream), nspans=2)
                        self.assertEqual(bare.stdout.count(b"HTTP/1.1 200 OK"), 2)
                        # both requests left in one write and both answers
                        # came in one read: the spans share their times
                        spans.sort(key=lambda s: s["input_tokens"])
                        for i, s in enumerate(spans):
                            self.assertEqual(s["status"], "ok", s)
                            self.assertEqual(s["stream"], stream)
                            self.assertTokens(s, 100 * (i + 1), i + 1)

    def test_expect_100_continue(self):
        for api in MODELS:
            with self.subTest(api=api, client="curl"):
                spans, _ = self.both(self.curl(api, "ok", "-H", "Expect: 100-continue"))
                self.assertEqual(spans[0]["status"], "ok", spans[0])
                self.assertEqual(spans[0]["http_status"], 200)
                self.assertTokens(spans[0], 1000, 20)
            with self.subTest(api=api, client="raw"):
                # the interim response and the final one arrive in one read
                spans, bare = self.both(self.raw(api, "ok", "expect: 100-continue"))
                self.assertTrue(bare.stdout.startswith(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200"))
                self.assertEqual(spans[0]["status"], "ok", spans[0])
                self.assertEqual(spans[0]["http_status"], 200)
                self.assertTokens(spans[0], 1000, 20)


# A 40 MiB request with Python requests; prints the status and the answer.
BIG_REQUEST = r"""
import json, os, sys, requests
url, api = sys.argv[1], sys.argv[2]
model = {"openai": "gpt-4o-mini", "anthropic": "claude-sonnet-4-5"}[api]
body = json.dumps({"model": model, "stream": False, "max_tokens": 64,
                   "messages": [{"role": "user", "content": "x" * (40 << 20)}]})
h = {"content-type": "application/json", "x-mock-usage": "in=1000,out=20"}
h.update({"x-api-key": "sk-ant-bad", "anthropic-version": "2023-06-01"}
         if api == "anthropic" else {"authorization": "Bearer sk-bad"})
r = requests.post(url, data=body, headers=h, verify=os.environ["MOCK_CA"], timeout=60)
print(r.status_code, r.text)
"""
