"""Issue #4 (OpenAI part): the Responses API, embeddings and legacy
completions, called by real clients (curl CLI, Python requests, urllib)
through the mock, with tokens, cost and content asserted on the exported
spans. Costs are recomputed by hand from data/catalogue.tsv rows."""
import json

from harness import PY, TapTest

SECRET = "sk-proj-SECRETSECRET0123456789"

# USD per 1M tokens, from data/catalogue.tsv (openai rows).
PRICES = {
    "gpt-5.4-mini": dict(inp=0.75, out=4.50, cr=0.075),
    "text-embedding-3-small": dict(inp=0.02, out=0.0),
    "gpt-3.5-turbo-instruct": dict(inp=1.50, out=2.0),
}

WEATHER_TOOL = {"type": "function", "name": "get_weather",
                "description": "weather",
                "parameters": {"type": "object", "properties": {
                    "city": {"type": "string"}}}}

# Embeddings with requests: the vectors are decoded to prove the client got
# them whole (base64 float32, openai-python's default, or floats).
EMBED_REQUESTS = r"""
import base64, json, os, struct, sys
import requests
fmt = sys.argv[1]
body = {"model": "text-embedding-3-small", "input": ["alpha", "beta", "gamma"],
        "dimensions": 16}
if fmt != "float":
    body["encoding_format"] = fmt
r = requests.post(os.environ["MOCK_BASE"] + "/v1/embeddings", json=body,
                  headers={"authorization": "Bearer " + os.environ["KEY"],
                           "x-mock-usage": "in=37"},
                  verify=os.environ["MOCK_CA"], timeout=30)
r.raise_for_status()
for d in r.json()["data"]:
    e = d["embedding"]
    v = struct.unpack("<16f", base64.b64decode(e)) if fmt == "base64" else e
    assert len(v) == 16, len(v)
print("vectors", len(r.json()["data"]))
"""

# Legacy completions with urllib, whole or streamed (reads SSE by hand).
COMPLETIONS_URLLIB = r"""
import json, os, ssl, sys, urllib.request
stream = sys.argv[1] == "stream"
body = {"model": "gpt-3.5-turbo-instruct", "prompt": "Say this is a test",
        "max_tokens": int(sys.argv[2]), "temperature": 0}
if stream:
    body.update(stream=True, stream_options={"include_usage": True})
req = urllib.request.Request(
    os.environ["MOCK_BASE"] + "/v1/completions", data=json.dumps(body).encode(),
    headers={"content-type": "application/json",
             "authorization": "Bearer " + os.environ["KEY"],
             "x-mock-usage": "in=12,out=5"})
ctx = ssl.create_default_context(cafile=os.environ["MOCK_CA"])
with urllib.request.urlopen(req, context=ctx, timeout=30) as r:
    if not stream:
        print("text", json.loads(r.read())["choices"][0]["text"])
    else:
        text = ""
        for line in r:
            line = line.decode().strip()
            if line.startswith("data: ") and line != "data: [DONE]":
                for c in json.loads(line[6:])["choices"]:
                    text += c["text"]
        print("text", text)
"""


class OpenAIMore(TapTest):
    def cost(self, model, inp, out, cr=0):
        p = PRICES[model]
        return ((inp - cr) * p["inp"] + cr * p.get("cr", p["inp"]) +
                out * p["out"]) / 1e6

    def assertOk(self, r, n=1):
        self.assertEqual(r.rc, 0, r.stderr)
        self.assertEqual(len(r.spans), n, r.stderr)
        for s in r.spans:
            self.assertContract(s)
            self.assertEqual(s["provider"], "openai")
        return r.spans[0]

    def curl(self, path, body, *extra, http11=False):
        return (["curl", "-sS", "--cacert", self.m.cert] +
                (["--http1.1"] if http11 else []) +
                [self.m.base + path, "-H", "content-type: application/json",
                 "-H", "authorization: Bearer " + SECRET,
                 "-d", json.dumps(body)] + list(extra))

    # --- Responses API, curl CLI ---------------------------------------
    def test_responses_curl_non_streaming(self):
        r = self.run_traced(self.curl("/v1/responses", {
            "model": "gpt-5.4-mini", "instructions": "Be terse.",
            "input": "Say hello.", "temperature": 0.3,
            "max_output_tokens": 64},
            "-H", "x-mock-usage: in=1000,out=200,cached=400,reasoning=50"))
        s = self.assertOk(r)
        self.assertIn('"object":"response"', r.stdout)
        self.assertEqual(s["status"], "ok", s.get("error"))
        self.assertEqual(s["operation"], "chat")
        self.assertEqual(s["name"], "chat gpt-5.4-mini")
        self.assertEqual(s["path"], "/v1/responses")
        self.assertFalse(s["stream"])
        self.assertEqual(s["temperature"], 0.3)
        self.assertEqual(s["max_tokens"], 64)
        self.assertTrue(s["response_id"].startswith("resp_mock"))
        self.assertEqual(s["response_model"], "gpt-5.4-mini")
        self.assertTrue(s["usage_known"])
        self.assertEqual((s["input_tokens"], s["output_tokens"],
                          s["cache_read_tokens"], s["reasoning_tokens"]),
                         (1000, 200, 400, 50))
        self.assertEqual(s["finish_reasons"], ["stop"])
        self.assertEqual(s["output"], "Hello from the mock provider.")
        self.assertEqual(s["input"], [
            {"role": "system", "content": "Be terse."},
            {"role": "user", "content": "Say hello."}])
        self.assertTrue(s["cost_known"])
        self.assertAlmostEqual(s["cost_usd"],
                               self.cost("gpt-5.4-mini", 1000, 200, cr=400),
                               places=12)

    def test_responses_curl_stream_tool_call(self):
        r = self.run_traced(self.curl("/v1/responses", {
            "model": "gpt-5.4-mini", "stream": True, "tools": [WEATHER_TOOL],
            "input": [{"role": "user", "content": "Weather in Paris?"}]},
            "-N", "-H", "x-mock-usage: in=300,out=25", "-H", "x-mock-chunks: 4",
            http11=True))
        s = self.assertOk(r)
        self.assertIn("event: response.function_call_arguments.delta", r.stdout)
        self.assertEqual(s["status"], "ok", s.get("error"))
        self.assertTrue(s["stream"])
        self.assertEqual(s["http_version"], "1.1")
        self.assertEqual((s["input_tokens"], s["output_tokens"]), (300, 25))
        self.assertEqual(s["finish_reasons"], ["tool_calls"])
        self.assertEqual(len(s["tool_calls"]), 1, s["tool_calls"])
        tc = s["tool_calls"][0]
        self.assertEqual(tc["name"], "get_weather")
        self.assertTrue(tc["id"].startswith("call_mock"), tc)
        self.assertEqual(json.loads(tc["arguments"]), {"city": "mock"})
        self.assertIsNone(s.get("output"))
        self.assertIsNotNone(s["ttft_ms"])
        self.assertGreaterEqual(s["ttft_ms"], 0)
        self.assertLessEqual(s["ttft_ms"],
                             (s["end_time"] - s["start_time"]) / 1e6)
        self.assertAlmostEqual(s["cost_usd"],
                               self.cost("gpt-5.4-mini", 300, 25), places=12)

    def test_responses_curl_stream_text_over_h2(self):
        r = self.run_traced(self.curl("/v1/responses", {
            "model": "gpt-5.4-mini", "stream": True, "input": "hi"},
            "-N", "-H", "x-mock-usage: in=40,out=5"))
        s = self.assertOk(r)
        self.assertEqual(s["status"], "ok", s.get("error"))
        self.assertEqual(s["http_version"], "2")
        self.assertEqual(s["output"], "Hello from the mock provider.")
        self.assertEqual(s["finish_reasons"], ["stop"])
        self.assertEqual((s["input_tokens"], s["output_tokens"]), (40, 5))
        self.assertIsNotNone(s["ttft_ms"])

    def test_responses_stream_incomplete_at_max_output_tokens(self):
        r = self.run_traced(self.curl("/v1/responses", {
            "model": "gpt-5.4-mini", "stream": True, "input": "hi",
            "max_output_tokens": 2},
            "-N", "-H", "x-mock-usage: in=40,out=2", http11=True))
        s = self.assertOk(r)
        self.assertIn("event: response.incomplete", r.stdout)
        self.assertEqual(s["status"], "ok", s.get("error"))
        self.assertEqual(s["finish_reasons"], ["max_output_tokens"])
        self.assertEqual(s["output"], "Hello from")
        self.assertTrue(s["usage_known"])
        self.assertAlmostEqual(s["cost_usd"],
                               self.cost("gpt-5.4-mini", 40, 2), places=12)

    def test_responses_error_event_in_200_stream(self):
        r = self.run_traced(self.curl("/v1/responses", {
            "model": "gpt-5.4-mini", "stream": True, "input": "hi"},
            "-N", "-H", "x-mock-stream-error: 1", http11=True))
        s = self.assertOk(r)
        self.assertIn("event: error", r.stdout)
        self.assertEqual(s["http_status"], 200)
        self.assertEqual(s["status"], "error")
        self.assertEqual(
            s["error"],
            "server_error: The server had an error while processing your "
            "request (mock).")
        self.assertFalse(s["usage_known"])
        self.assertFalse(s["cost_known"])

    def test_responses_stream_cut_short(self):
        r = self.run_traced(self.curl("/v1/responses", {
            "model": "gpt-5.4-mini", "stream": True, "input": "hi"},
            "-N", "-H", "x-mock-cut: 5", http11=True))
        self.assertEqual(len(r.spans), 1, r.stderr)
        s = r.spans[0]
        self.assertEqual(s["status"], "error")
        # libcurl reports the cut first ("Transferred a partial file"); the
        # first error wins over the parser's "stream ended before completion".
        self.assertRegex(s["error"], "(?i)(partial|cut|closed|ended)")
        self.assertFalse(s["usage_known"])
        self.assertFalse(s["cost_known"])
        self.assertEqual(s["output"], "Hello")   # what arrived is kept

    def test_responses_error_status(self):
        r = self.run_traced(self.curl("/v1/responses", {
            "model": "gpt-5.4-mini", "input": "hi"},
            "-H", "x-mock-status: 429"))
        self.assertEqual(len(r.spans), 1, r.stderr)
        s = r.spans[0]
        self.assertEqual(s["status"], "error")
        self.assertEqual(s["http_status"], 429)
        self.assertIn("429", s["error"])
        self.assertIn("Rate limit", s["error"])

    # --- embeddings, Python requests -------------------------------------
    def embed(self, fmt):
        r = self.run_traced([PY, "-c", EMBED_REQUESTS, fmt], KEY=SECRET)
        s = self.assertOk(r)
        self.assertIn("vectors 3", r.stdout)
        self.assertEqual(s["status"], "ok", s.get("error"))
        self.assertEqual(s["operation"], "embeddings")
        self.assertEqual(s["name"], "embeddings text-embedding-3-small")
        self.assertEqual(s["path"], "/v1/embeddings")
        self.assertFalse(s["stream"])
        self.assertTrue(s["usage_known"])
        self.assertEqual((s["input_tokens"], s["output_tokens"]), (37, 0))
        self.assertEqual(s["input"], ["alpha", "beta", "gamma"])
        self.assertIsNone(s.get("output"))      # vectors are never captured
        self.assertTrue(s["cost_known"])
        self.assertAlmostEqual(s["cost_usd"], 37 * 0.02 / 1e6, places=15)

    def test_embeddings_requests_base64(self):
        self.embed("base64")

    def test_embeddings_requests_float(self):
        self.embed("float")

    # --- legacy completions, urllib --------------------------------------
    def test_completions_urllib_non_streaming(self):
        r = self.run_traced([PY, "-c", COMPLETIONS_URLLIB, "whole", "64"],
                            KEY=SECRET)
        s = self.assertOk(r)
        self.assertIn("text Hello from the mock provider.", r.stdout)
        self.assertEqual(s["status"], "ok", s.get("error"))
        self.assertEqual(s["operation"], "text_completion")
        self.assertEqual(s["name"], "text_completion gpt-3.5-turbo-instruct")
        self.assertFalse(s["stream"])
        self.assertEqual(s["max_tokens"], 64)
        self.assertEqual((s["input_tokens"], s["output_tokens"]), (12, 5))
        self.assertEqual(s["finish_reasons"], ["stop"])
        self.assertEqual(s["input"], "Say this is a test")
        self.assertEqual(s["output"], "Hello from the mock provider.")
        self.assertAlmostEqual(
            s["cost_usd"], self.cost("gpt-3.5-turbo-instruct", 12, 5),
            places=12)

    def test_completions_urllib_streaming_length(self):
        r = self.run_traced([PY, "-c", COMPLETIONS_URLLIB, "stream", "3"],
                            KEY=SECRET)
        s = self.assertOk(r)
        self.assertIn("text Hello from the", r.stdout)
        self.assertEqual(s["status"], "ok", s.get("error"))
        self.assertTrue(s["stream"])
        self.assertEqual((s["input_tokens"], s["output_tokens"]), (12, 5))
        self.assertEqual(s["finish_reasons"], ["length"])
        self.assertEqual(s["output"], "Hello from the")
        self.assertIsNotNone(s["ttft_ms"])
        self.assertTrue(s["response_id"].startswith("cmpl-mock"))
        self.assertAlmostEqual(
            s["cost_usd"], self.cost("gpt-3.5-turbo-instruct", 12, 5),
            places=12)
