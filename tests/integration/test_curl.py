"""Issue #3 part 1: programs linked to libcurl (the curl CLI, C programs on
the easy and multi interfaces) give exactly one correct span per transfer,
whatever HTTP version libcurl negotiated: the curl layer reports the
transfer and the SSL hooks stand down inside libcurl."""
import json
import os

from harness import CLIENTS_BIN, TapTest
OAI = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
ANT_STREAM = {"model": "claude-sonnet-4-5", "max_tokens": 100, "stream": True,
              "messages": [{"role": "user", "content": "hi"}]}


class CurlCLI(TapTest):
    def curl(self, path, body, *extra):
        # -w prints the HTTP version libcurl negotiated, to compare with
        # the span's.
        return ["curl", "-sS", "--cacert", self.m.cert, self.m.base + path,
                "-H", "content-type: application/json",
                "-H", "authorization: Bearer sk-none",
                "-w", "\nhttp_version=%{http_version}\n",
                "-d", json.dumps(body)] + list(extra)

    def negotiated(self, r):
        line = [l for l in r.stdout.splitlines() if l.startswith("http_version=")]
        self.assertEqual(len(line), 1, r.stdout)
        return line[0].split("=", 1)[1]

    def test_default_version_one_span(self):
        r = self.run_traced(self.curl("/v1/chat/completions", OAI))
        self.assertEqual(r.rc, 0, r.stderr)
        self.assertEqual(len(r.spans), 1, r.stderr)
        s = r.spans[0]
        self.assertContract(s)
        self.assertEqual(s["status"], "ok", s.get("error"))
        self.assertEqual(s["provider"], "openai")
        self.assertEqual(s["http_version"], self.negotiated(r))
        self.assertEqual((s["input_tokens"], s["output_tokens"]), (100, 20))
        self.assertCost(s, "gpt-4o-mini", 100, 20)
        self.assertFalse(s["stream"])
        self.assertEqual(s["output"], "Hello from the mock provider.")

    def test_http11_one_span_not_two(self):
        r = self.run_traced(self.curl("/v1/chat/completions", OAI, "--http1.1",
                                      "-H", "x-mock-usage: in=300,out=40"))
        self.assertEqual(r.rc, 0, r.stderr)
        self.assertEqual(self.negotiated(r), "1.1")
        self.assertEqual(len(r.spans), 1, r.stderr)
        s = r.spans[0]
        self.assertEqual(s["status"], "ok", s.get("error"))
        self.assertEqual(s["http_version"], "1.1")
        self.assertEqual((s["input_tokens"], s["output_tokens"]), (300, 40))

    def test_stream_no_buffer(self):
        for extra in ((), ("--http1.1",)):
            with self.subTest(extra=extra):
                self.tearDown()
                self.setUp()
                r = self.run_traced(self.curl(
                    "/v1/messages", ANT_STREAM, "-N",
                    "-H", "x-mock-usage: in=2000,out=100,cached=500,cache_write=300",
                    "-H", "x-mock-delay-ms: 20", *extra))
                self.assertEqual(r.rc, 0, r.stderr)
                self.assertEqual(len(r.spans), 1, r.stderr)
                s = r.spans[0]
                self.assertContract(s)
                self.assertEqual(s["status"], "ok", s.get("error"))
                self.assertEqual(s["provider"], "anthropic")
                self.assertEqual(s["http_version"], self.negotiated(r))
                self.assertTrue(s["stream"])
                self.assertEqual((s["input_tokens"], s["output_tokens"],
                                  s["cache_read_tokens"], s["cache_write_tokens"]),
                                 (2000, 100, 500, 300))
                self.assertCost(s, "claude-sonnet-4-5", 2000, 100, cr=500, cw=300)
                # the first delta came after at least one 20 ms delay
                self.assertIsNotNone(s["ttft_ms"])
                self.assertGreater(s["ttft_ms"], 10)
                self.assertLess(s["ttft_ms"], (s["end_time"] - s["start_time"]) / 1e6)
                self.assertEqual(s["finish_reasons"], ["end_turn"])

    def test_a_provider_s_think_time_is_in_the_span(self):
        # x-mock-think-ms: the mock answers 300 ms after the request, as a
        # provider does (bench fig 2's paced row); the span's latency
        # holds that wait, whatever HTTP version carried the call.
        for extra in ((), ("--http1.1",)):
            with self.subTest(extra=extra):
                self.tearDown()
                self.setUp()
                r = self.run_traced(self.curl("/v1/chat/completions", OAI,
                                              "-H", "x-mock-think-ms: 300", *extra))
                self.assertEqual(r.rc, 0, r.stderr)
                self.assertEqual(len(r.spans), 1, r.stderr)
                s = r.spans[0]
                self.assertEqual(s["status"], "ok", s.get("error"))
                self.assertEqual(s["output"], "Hello from the mock provider.")
                self.assertGreaterEqual((s["end_time"] - s["start_time"]) / 1e6, 300)

    def test_compressed_decoded_by_libcurl(self):
        r = self.run_traced(self.curl("/v1/chat/completions", OAI, "--compressed"))
        self.assertEqual(r.rc, 0, r.stderr)
        self.assertEqual(len(r.spans), 1, r.stderr)
        s = r.spans[0]
        self.assertEqual(s["status"], "ok", s.get("error"))
        self.assertEqual(s["output"], "Hello from the mock provider.")

    def test_http_error_and_refused(self):
        r = self.run_traced(self.curl("/v1/chat/completions", OAI,
                                      "-H", "x-mock-status: 429"))
        self.assertEqual(len(r.spans), 1, r.stderr)
        self.assertEqual(r.spans[0]["status"], "error")
        self.assertEqual(r.spans[0]["http_status"], 429)
        self.tearDown()
        self.setUp()
        # Nothing listens on port 1: the call still gets its (error) span.
        r = self.run_traced(["curl", "-sS", "https://127.0.0.1:1/v1/chat/completions",
                             "-d", json.dumps(OAI)])
        self.assertNotEqual(r.rc, 0)
        self.assertEqual(len(r.spans), 1, r.stderr)
        self.assertEqual(r.spans[0]["status"], "error")
        self.assertTrue(r.spans[0]["error"].startswith("curl: "), r.spans[0]["error"])

    def test_stream_cut_is_one_error_span(self):
        r = self.run_traced(self.curl("/v1/messages", ANT_STREAM, "-N",
                                      "-H", "x-mock-cut: 3"))
        self.assertEqual(len(r.spans), 1, r.stderr)
        self.assertEqual(r.spans[0]["status"], "error")

    def test_not_llm_no_span(self):
        r = self.run_traced(["curl", "-sS", "--cacert", self.m.cert,
                             self.m.base + "/v1/models", "-o", "/dev/null"])
        self.assertEqual(r.spans, [], r.stderr)


class CurlPrograms(TapTest):
    def prog(self, name):
        path = os.path.join(CLIENTS_BIN, name)
        if not os.path.exists(path):
            self.fail("%s not built (make clients)" % path)
        return path

    def test_easy_keepalive_own_write_callback(self):
        r = self.run_traced([self.prog("curl_easy"),
                             self.m.base + "/v1/chat/completions",
                             json.dumps(OAI), self.m.cert, "--n", "3",
                             "x-mock-usage: in=70,out=7"])
        self.assertEqual(r.rc, 0, r.stderr)
        calls = [l for l in r.stderr.splitlines() if l.startswith("call ")]
        self.assertEqual(len(calls), 3, r.stderr)
        # the app's callback saw every byte (the trampoline passed them on)
        self.assertEqual(r.stdout.count("Hello from the mock provider."), 3)
        for c in calls:
            self.assertIn("result 0 http 200", c)
            self.assertNotIn("bytes 0", c)
        self.assertEqual(len(r.spans), 3, r.stderr)
        for s in r.spans:
            self.assertContract(s)
            self.assertEqual(s["status"], "ok", s.get("error"))
            self.assertEqual((s["input_tokens"], s["output_tokens"]), (70, 7))
            self.assertCost(s, "gpt-4o-mini", 70, 7)

    def test_easy_duphandle(self):
        # The copies are made after a traced transfer: libcurl copies
        # tokentap's trampoline too, and each copy must still feed its own
        # app data (bytes counted per call) and give its own span. (Not with
        # --copy: libcurl 7.88's duphandle fails on COPYPOSTFIELDS without
        # POSTFIELDSIZE, tokentap or not.)
        r = self.run_traced([self.prog("curl_easy"),
                             self.m.base + "/v1/chat/completions",
                             json.dumps(OAI), self.m.cert, "--n", "3", "--dup",
                             "x-mock-usage: in=71,out=8"])
        self.assertEqual(r.rc, 0, r.stderr)
        calls = [l for l in r.stderr.splitlines() if l.startswith("call ")]
        self.assertEqual(len(calls), 3, r.stderr)
        for c in calls:
            self.assertIn("result 0 http 200", c)
            self.assertNotIn("bytes 0", c)
        self.assertEqual(len(r.spans), 3, r.stderr)
        for s in r.spans:
            self.assertEqual(s["status"], "ok", s.get("error"))
            self.assertEqual(s["request_model"], "gpt-4o-mini")
            self.assertEqual((s["input_tokens"], s["output_tokens"]), (71, 8))

    def test_body_set_last_the_core_loads_only_then(self):
        # Every API route is a POST: a handle's GET does not load the
        # capture core (hooks/core.c keeps the options the core records);
        # the body set afterwards, on the handle or on a copy made before
        # it, loads it and the kept URL and write callback must be used.
        for extra in ((), ("--dup",), ("--dup", "--copy")):
            with self.subTest(extra=extra):
                self.tearDown()
                self.setUp()
                r = self.run_traced([self.prog("curl_easy"),
                                     self.m.base + "/v1/chat/completions",
                                     json.dumps(OAI), self.m.cert, "--late-body",
                                     "--n", "2", "x-mock-usage: in=72,out=9", *extra])
                self.assertEqual(r.rc, 0, r.stderr)
                self.assertIn("core mapped after the GET: no", r.stderr)
                calls = [l for l in r.stderr.splitlines() if l.startswith("call ")]
                self.assertEqual(len(calls), 2, r.stderr)
                for c in calls:
                    self.assertIn("result 0 http 200", c)
                    self.assertNotIn("bytes 0", c)
                self.assertEqual(r.stdout.count("Hello from the mock provider."), 2)
                self.assertEqual(len(r.spans), 2, r.stderr)
                for s in r.spans:
                    self.assertEqual(s["status"], "ok", s.get("error"))
                    self.assertEqual(s["request_model"], "gpt-4o-mini")
                    self.assertEqual((s["input_tokens"], s["output_tokens"]), (72, 9))
                    self.assertEqual((s["method"], s["path"]), ("POST", "/v1/chat/completions"))

    def test_easy_stream_copypostfields(self):
        body = dict(OAI, stream=True, stream_options={"include_usage": True})
        for extra in ((), ("--http1.1",)):
            with self.subTest(extra=extra):
                self.tearDown()
                self.setUp()
                r = self.run_traced([self.prog("curl_easy"),
                                     self.m.base + "/v1/chat/completions",
                                     json.dumps(body), self.m.cert, "--stream",
                                     "--copy", "x-mock-usage: in=123,out=45",
                                     *extra])
                self.assertEqual(r.rc, 0, r.stderr)
                self.assertEqual(len(r.spans), 1, r.stderr)
                s = r.spans[0]
                self.assertEqual(s["status"], "ok", s.get("error"))
                self.assertTrue(s["stream"])
                self.assertEqual(s["request_model"], "gpt-4o-mini")
                self.assertEqual((s["input_tokens"], s["output_tokens"]), (123, 45))
                self.assertIsNotNone(s["ttft_ms"])

    def test_easy_gzip_decoded_by_tokentap(self):
        # Accept-Encoding as a plain header: libcurl hands the app gzip.
        r = self.run_traced([self.prog("curl_easy"),
                             self.m.base + "/v1/chat/completions",
                             json.dumps(OAI), self.m.cert, "--quiet",
                             "Accept-Encoding: gzip"])
        self.assertEqual(r.rc, 0, r.stderr)
        self.assertEqual(len(r.spans), 1, r.stderr)
        self.assertEqual(r.spans[0]["output"], "Hello from the mock provider.")

    def multi(self, *extra):
        n = 20
        r = self.run_traced([self.prog("curl_multi"), self.m.base, self.m.cert,
                             str(n)] + list(extra))
        self.assertEqual(r.rc, 0, r.stdout + r.stderr)
        lines = [l for l in r.stdout.splitlines() if l.startswith("transfer ")]
        self.assertEqual(len(lines), n)
        for l in lines:
            self.assertIn("result 0 http 200", l)
        self.assertEqual(len(r.spans), n, r.stderr)
        got = sorted((s["input_tokens"], s["output_tokens"], s["stream"],
                      s["provider"], s["status"]) for s in r.spans)
        want = sorted((1000 + i, 10 + i, i % 2 == 1,
                       "anthropic" if i % 4 >= 2 else "openai", "ok")
                      for i in range(n))
        self.assertEqual(got, want)
        for s in r.spans:
            self.assertContract(s)
            if s["stream"]:
                self.assertIsNotNone(s["ttft_ms"])
        return r

    def test_multi_20_concurrent_half_streamed(self):
        self.multi()

    def test_multi_20_http11(self):
        r = self.multi("--http1.1")
        self.assertEqual({s["http_version"] for s in r.spans}, {"1.1"})

    def test_multi_without_info_read(self):
        # Handles removed after running reached 0, no CURLMSG_DONE read.
        self.multi("--no-info")
