"""Issue #3: HTTP/2 seen at the OpenSSL layer (no libcurl): Python httpx with
http2=True, several concurrent streams on one connection, one span each."""
from harness import TapTest


class HttpxHTTP2(TapTest):
    def test_concurrent_streams_one_connection(self):
        r = self.run_traced(self.client("httpx_h2.py") + ["8"])
        self.assertEqual(r.rc, 0, r.stderr)
        lines = r.stdout.split("\n")
        self.assertEqual(lines.count("HTTP/2"), 8, r.stdout)
        self.assertIn("connections 1", r.stdout)
        self.assertEqual(len(r.spans), 8, r.stderr)
        got = sorted((s["input_tokens"], s["output_tokens"]) for s in r.spans)
        self.assertEqual(got, [(100 + i, 10 + i) for i in range(8)])
        for s in r.spans:
            self.assertContract(s)
            self.assertEqual(s["status"], "ok", s.get("error"))
            self.assertEqual(s["http_version"], "2")
            self.assertEqual(s["stream"], s["input_tokens"] % 2 == 1)
            want = "openai" if (s["input_tokens"] - 100) % 4 < 2 else "anthropic"
            self.assertEqual(s["provider"], want)
            model = "gpt-4o-mini" if want == "openai" else "claude-sonnet-4-5"
            inp = s["input_tokens"]
            self.assertCost(s, model, inp, s["output_tokens"])
            if s["stream"]:
                self.assertIsNotNone(s["ttft_ms"])

    def test_stream_reset_is_an_error_span(self):
        r = self.run_traced(self.client("httpx_h2.py") + ["2", "x-mock-cut:3"])
        self.assertEqual(len(r.spans), 2, r.stderr)
        by_stream = {s["stream"]: s for s in r.spans}
        cut = by_stream[True]
        self.assertEqual(cut["status"], "error")
        self.assertIn("reset", cut["error"])
        self.assertEqual(cut["http_version"], "2")
        # the other stream on the same connection is unaffected
        self.assertEqual(by_stream[False]["status"], "ok", by_stream[False].get("error"))
