"""Issue #4, Google Gemini: generateContent and streamGenerateContent?alt=sse
from real clients (curl, requests, httpx) through the mock, unmodified,
under `tokentap run`. Model from the URL path, usage from the last chunk,
thoughts billed as output, cached content a subset of the prompt, the
API key (?key= or x-goog-api-key) never stored."""
import json
import os
import textwrap

from harness import PY, TapTest

SECRET = "AIzaSyGEMINISECRET0123456789abcdefghij"
SECRET_HDR = "AIzaSyHEADERSECRET9876543210zyxwvutsrq"

# USD per 1M tokens, read from data/catalogue.tsv (rows gcp.gemini, source
# litellm model_prices_and_context_window.json@00035b69, 2026-11-21). The
# expected costs below are recomputed by hand from these: uncached input at
# the input price, cached at cache_read, output (thoughts included) at the
# output price; above 200k prompt tokens gemini-2.5-pro's tier prices.
PRICE = {
    "gemini-2.5-flash": dict(inp=0.30, out=2.50, cr=0.03),
    "gemini-2.5-pro": dict(inp=1.25, out=10.0, cr=0.125),
    "gemini-2.5-pro>200k": dict(inp=2.50, out=15.0, cr=0.25),
}

GEN = "/v1beta/models/%s:generateContent"
STREAM = "/v1beta/models/%s:streamGenerateContent"
VERTEX = ("/v1/projects/my-proj/locations/us-central1/publishers/google/"
          "models/%s:generateContent")

TOOLS = [{"functionDeclarations": [{
    "name": "get_weather", "description": "weather in a city",
    "parameters": {"type": "OBJECT", "properties": {
        "city": {"type": "STRING"}}, "required": ["city"]}}]}]


def body(text="Say hello to the test suite.", **extra):
    b = {"contents": [{"role": "user", "parts": [{"text": text}]}],
         "systemInstruction": {"parts": [{"text": "You are terse."}]},
         "generationConfig": {"temperature": 0.3, "topP": 0.9,
                              "maxOutputTokens": 512}}
    b.update(extra)
    return b


class GeminiTest(TapTest):
    def assertGeminiCost(self, s, model, inp, out, cr=0):
        p = PRICE[model]
        want = ((inp - cr) * p["inp"] + cr * p["cr"] + out * p["out"]) / 1e6
        self.assertTrue(s["cost_known"], s)
        self.assertAlmostEqual(s["cost_usd"], want, places=12)

    def assertNoSecret(self, *secrets):
        for root, _, files in os.walk(self.home):
            for f in files:
                data = open(os.path.join(root, f), "rb").read()
                for secret in secrets:
                    self.assertFalse(secret.encode() in data,
                                     "%s found in %s" % (secret, f))

    def one_span(self, r):
        self.assertEqual(len(r.spans), 1, r.stderr)
        s = r.spans[0]
        self.assertContract(s)
        return s

    def curl(self, path, b, *extra):
        return ["curl", "--http1.1", "-sS", "--cacert", self.m.cert,
                self.m.base + path, "-H", "content-type: application/json",
                "-d", json.dumps(b)] + list(extra)


class CurlCLI(GeminiTest):
    def test_non_streaming_key_in_query(self):
        b = body()
        b["generationConfig"]["thinkingConfig"] = {"includeThoughts": True}
        r = self.run_traced(self.curl(
            GEN % "gemini-2.5-flash" + "?key=" + SECRET, b,
            "-H", "x-mock-usage: in=1000,out=300,cached=400,reasoning=100"))
        self.assertEqual(r.rc, 0, r.stderr)
        self.assertIn('"thought":true', r.stdout)    # the client got thoughts
        s = self.one_span(r)
        self.assertEqual(s["status"], "ok", s.get("error"))
        self.assertEqual(s["provider"], "gcp.gemini")
        self.assertEqual(s["operation"], "generate_content")
        self.assertEqual(s["name"], "generate_content gemini-2.5-flash")
        self.assertEqual(s["request_model"], "gemini-2.5-flash")
        self.assertEqual(s["response_model"], "gemini-2.5-flash")
        self.assertTrue(s["response_id"].startswith("mockGemini"))
        self.assertEqual(s["path"], GEN % "gemini-2.5-flash")
        self.assertFalse(s["stream"])
        self.assertEqual(s["http_status"], 200)
        self.assertEqual(s["temperature"], 0.3)
        self.assertEqual(s["top_p"], 0.9)
        self.assertEqual(s["max_tokens"], 512)
        self.assertEqual(s["finish_reasons"], ["STOP"])
        # promptTokenCount 1000 includes the 400 cached; output is
        # candidates 200 + thoughts 100.
        self.assertTrue(s["usage_known"])
        self.assertEqual((s["input_tokens"], s["output_tokens"],
                          s["cache_read_tokens"], s["reasoning_tokens"]),
                         (1000, 300, 400, 100))
        self.assertGeminiCost(s, "gemini-2.5-flash", 1000, 300, cr=400)
        self.assertAlmostEqual(s["cost_usd"], 0.000942, places=12)
        # Thought summaries are not the answer.
        self.assertEqual(s["output"], "Hello from the mock provider.")
        self.assertEqual(s["input"][0]["role"], "system")
        self.assertEqual(s["input"][1]["parts"][0]["text"],
                         "Say hello to the test suite.")
        self.assertNoSecret(SECRET)

    def test_streaming_alt_sse_key_in_query(self):
        r = self.run_traced(self.curl(
            STREAM % "gemini-2.5-flash" + "?alt=sse&key=" + SECRET, body(),
            "-N", "-H", "x-mock-usage: in=2000,out=150,cached=1200,reasoning=50",
            "-H", "x-mock-chunks: 4", "-H", "x-mock-delay-ms: 20"))
        self.assertEqual(r.rc, 0, r.stderr)
        self.assertEqual(r.stdout.count("data: "), 4, r.stdout)
        s = self.one_span(r)
        self.assertEqual(s["status"], "ok", s.get("error"))
        self.assertTrue(s["stream"])
        self.assertEqual(s["path"], STREAM % "gemini-2.5-flash" + "?alt=sse")
        self.assertEqual(s["request_model"], "gemini-2.5-flash")
        # Early chunks lack candidatesTokenCount: the last chunk counts.
        self.assertEqual((s["input_tokens"], s["output_tokens"],
                          s["cache_read_tokens"], s["reasoning_tokens"]),
                         (2000, 150, 1200, 50))
        self.assertGeminiCost(s, "gemini-2.5-flash", 2000, 150, cr=1200)
        self.assertEqual(s["finish_reasons"], ["STOP"])
        self.assertEqual(s["output"], "Hello from the mock")
        self.assertIsNotNone(s["ttft_ms"])
        self.assertGreaterEqual(s["ttft_ms"], 0)
        # Four chunks 20 ms apart: the first token long before the end.
        self.assertLess(s["ttft_ms"], (s["end_time"] - s["start_time"]) / 1e6 - 30)
        self.assertNoSecret(SECRET)

    def test_http_error_status(self):
        r = self.run_traced(self.curl(GEN % "gemini-2.5-pro", body(),
                                      "-H", "x-mock-status: 429"))
        s = self.one_span(r)
        self.assertEqual(s["status"], "error")
        self.assertEqual(s["http_status"], 429)
        self.assertEqual(s["error"],
                         "HTTP 429: RESOURCE_EXHAUSTED: Rate limit reached (mock).")
        self.assertFalse(s["usage_known"])
        self.assertFalse(s["cost_known"])

    def test_error_inside_stream(self):
        # Gemini sends it as plain JSON lines, no "data:": the stream never
        # reaches its finishReason.
        r = self.run_traced(self.curl(
            STREAM % "gemini-2.5-flash" + "?alt=sse", body(), "-N",
            "-H", "x-mock-stream-error: 1", "-H", "x-mock-usage: in=80,out=9"))
        self.assertIn('"status": "INTERNAL"', r.stdout)
        s = self.one_span(r)
        self.assertEqual(s["status"], "error")
        self.assertEqual(s["http_status"], 200)
        self.assertIn("stream ended before completion", s["error"])
        self.assertIsNone(s["finish_reasons"])
        # What the chunks said is still recorded, and still priced.
        self.assertEqual(s["input_tokens"], 80)

    def test_stream_cut(self):
        r = self.run_traced(self.curl(
            STREAM % "gemini-2.5-flash" + "?alt=sse", body(), "-N",
            "-H", "x-mock-cut: 2"))
        s = self.one_span(r)
        self.assertEqual(s["status"], "error")
        self.assertRegex(s["error"], "(?i)(cut|closed|ended|incomplete|partial)")
        self.assertIsNone(s["finish_reasons"])


class PythonClients(GeminiTest):
    def py(self, code):
        return [PY, "-c", textwrap.dedent(code)]

    def test_requests_vertex_path_tool_call_header_key(self):
        code = """
            import json, os, requests
            r = requests.post(os.environ["MOCK_BASE"] + %r,
                              json=json.loads(%r),
                              headers={"x-goog-api-key": %r,
                                       "x-mock-usage": "in=640,out=25"},
                              verify=os.environ["MOCK_CA"], timeout=30)
            part = r.json()["candidates"][0]["content"]["parts"][0]
            print(r.status_code, json.dumps(part["functionCall"]))
        """ % (VERTEX % "gemini-2.5-pro",
               json.dumps(body("Weather in Paris?", tools=TOOLS)), SECRET_HDR)
        r = self.run_traced(self.py(code))
        self.assertEqual(r.rc, 0, r.stderr)
        self.assertIn('200 {"name": "get_weather"', r.stdout)
        s = self.one_span(r)
        self.assertEqual(s["status"], "ok", s.get("error"))
        self.assertEqual(s["request_model"], "gemini-2.5-pro")
        self.assertEqual(s["path"], VERTEX % "gemini-2.5-pro")
        self.assertFalse(s["stream"])
        self.assertEqual(s["finish_reasons"], ["STOP"])
        # Gemini sends no call id; none is made up. Arguments are JSON text.
        self.assertEqual(s["tool_calls"], [{"name": "get_weather",
                                            "arguments": '{"city":"mock"}'}])
        self.assertIsNone(s.get("output"))
        self.assertEqual((s["input_tokens"], s["output_tokens"]), (640, 25))
        self.assertGeminiCost(s, "gemini-2.5-pro", 640, 25)
        self.assertNoSecret(SECRET_HDR)

    def test_httpx_stream_long_context_tier(self):
        code = """
            import json, os, httpx
            with httpx.Client(verify=os.environ["MOCK_CA"], timeout=30) as c:
                with c.stream("POST", os.environ["MOCK_BASE"] + %r,
                              params={"alt": "sse"}, json=json.loads(%r),
                              headers={"x-goog-api-key": %r,
                                       "x-mock-usage": "in=250000,out=1000,cached=100000,reasoning=400"}) as r:
                    n = sum(1 for line in r.iter_lines() if line.startswith("data: "))
            print(r.status_code, n)
        """ % (STREAM % "gemini-2.5-pro", json.dumps(body()), SECRET_HDR)
        r = self.run_traced(self.py(code))
        self.assertEqual(r.rc, 0, r.stderr)
        self.assertEqual(r.stdout.strip(), "200 5")
        s = self.one_span(r)
        self.assertEqual(s["status"], "ok", s.get("error"))
        self.assertTrue(s["stream"])
        self.assertEqual(s["path"], STREAM % "gemini-2.5-pro" + "?alt=sse")
        self.assertEqual((s["input_tokens"], s["output_tokens"],
                          s["cache_read_tokens"], s["reasoning_tokens"]),
                         (250000, 1000, 100000, 400))
        # Above 200k prompt tokens every token is billed at the tier price.
        self.assertGeminiCost(s, "gemini-2.5-pro>200k", 250000, 1000,
                              cr=100000)
        self.assertEqual(s["output"], "Hello from the mock provider.")
        self.assertIsNotNone(s["ttft_ms"])
        self.assertNoSecret(SECRET_HDR)
