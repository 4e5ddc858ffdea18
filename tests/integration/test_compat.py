"""Issue #4: Azure OpenAI, the OpenAI-compatible hosted APIs' quirks and
Cohere v2 chat, through the mock (tools/mock_compat.c) with real clients:
curl, Python requests, httpx. Costs are recomputed by hand from
data/catalogue.tsv."""
import json
import textwrap

from harness import PY, TapTest

KEY = "azk-SECRETSECRET0123456789"


def script(body):
    return [PY, "-c", textwrap.dedent(body)]


# requests: one chat call (stream or not) to MOCK_BASE + PATH, printing the
# content it read so the test knows the client really consumed the answer.
REQUESTS_CHAT = """
    import json, os, sys, requests
    path, body, hdrs = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
    hdrs["authorization"] = "Bearer sk-SECRET"
    r = requests.post(os.environ["MOCK_BASE"] + path, json=body, headers=hdrs,
                      stream=bool(body.get("stream")), timeout=30)
    r.raise_for_status()
    if body.get("stream"):
        text = ""
        for line in r.iter_lines():
            if line.startswith(b"data: ") and line != b"data: [DONE]":
                for c in json.loads(line[6:]).get("choices", []):
                    text += c["delta"].get("content") or ""
    else:
        text = r.json()["choices"][0]["message"]["content"]
    print(text)
"""


class Compat(TapTest):
    def chat(self, provider, path, body, usage, **extra):
        env = self.env(TOKENTAP_HOSTS="127.0.0.1:%d=%s" % (self.m.port, provider))
        r = self.run_traced(script(REQUESTS_CHAT) + [
            path, json.dumps(body), json.dumps({"x-mock-usage": usage})],
            env=env, **extra)
        self.assertEqual(r.rc, 0, r.stderr)
        self.assertTrue(r.stdout.strip(), r.stderr)
        self.assertEqual(len(r.spans), 1, r.stderr)
        s = r.spans[0]
        self.assertContract(s)
        self.assertEqual(s["status"], "ok", s.get("error"))
        self.assertEqual(s["provider"], provider)
        return s

    def test_azure_curl_stream_deployment_priced_by_response_model(self):
        # The host is unnamed (the harness maps the mock to "auto"): the
        # provider comes from Azure's apim-request-id response header.
        r = self.run_traced([
            "curl", "--http1.1", "-sS", "-N", "--cacert", self.m.cert,
            self.m.base + "/openai/deployments/prod-chat/chat/completions"
            "?api-version=2024-10-21",
            "-H", "content-type: application/json", "-H", "api-key: " + KEY,
            "-H", "x-mock-usage: in=1200,out=80,cached=200",
            "-H", "x-mock-response-model: gpt-4o-mini-2024-07-18",
            "-d", json.dumps({"messages": [{"role": "user", "content": "hi"}],
                              "stream": True,
                              "stream_options": {"include_usage": True}})])
        self.assertEqual(r.rc, 0, r.stderr)
        self.assertIn('"prompt_filter_results"', r.stdout)
        self.assertEqual(len(r.spans), 1, r.stderr)
        s = r.spans[0]
        self.assertContract(s)
        self.assertEqual(s["status"], "ok", s.get("error"))
        self.assertEqual(s["provider"], "azure.ai.openai")
        self.assertIsNone(s["request_model"])
        self.assertEqual(s["response_model"], "gpt-4o-mini-2024-07-18")
        self.assertEqual(s["path"], "/openai/deployments/prod-chat/chat/completions"
                                    "?api-version=2024-10-21")
        self.assertTrue(s["stream"])
        self.assertEqual((s["input_tokens"], s["output_tokens"],
                          s["cache_read_tokens"]), (1200, 80, 200))
        self.assertEqual(s["finish_reasons"], ["stop"])
        self.assertTrue(s["output"])
        # The filter chunk is not the first token.
        self.assertIsNotNone(s["ttft_ms"])
        # the catalogue's Azure row azure/gpt-4o-mini-2024-07-18 (before
        # OpenAI's list): 0.165 in, 0.66 out, 0.075 cached.
        self.assertAlmostEqual(s["cost_usd"],
                               (1000 * 0.165 + 200 * 0.075 + 80 * 0.66) / 1e6,
                               places=12)
        self.assertNotIn(KEY, json.dumps(s))

    def test_azure_curl_non_stream_named_host(self):
        env = self.env(TOKENTAP_HOSTS="127.0.0.1:%d=azure.ai.openai" % self.m.port)
        r = self.run_traced([
            "curl", "--http1.1", "-sS", "--cacert", self.m.cert,
            self.m.base + "/openai/deployments/my-4o/chat/completions?api-version=2024-10-21",
            "-H", "content-type: application/json", "-H", "api-key: " + KEY,
            "-H", "x-mock-usage: in=500,out=100",
            "-H", "x-mock-response-model: gpt-4o-2024-11-20",
            "-d", json.dumps({"messages": [{"role": "user", "content": "hi"}]})],
            env=env)
        self.assertEqual(len(r.spans), 1, r.stderr)
        s = r.spans[0]
        self.assertEqual(s["status"], "ok", s.get("error"))
        self.assertEqual(s["provider"], "azure.ai.openai")
        self.assertEqual(s["response_model"], "gpt-4o-2024-11-20")
        # the catalogue's Azure row azure/gpt-4o-2024-11-20: 2.75 in, 11 out.
        self.assertAlmostEqual(s["cost_usd"], (500 * 2.75 + 100 * 11) / 1e6, places=12)

    def test_groq_requests_stream_x_groq_usage(self):
        s = self.chat("groq", "/groq/openai/v1/chat/completions",
                      {"model": "llama-3.3-70b-versatile", "stream": True,
                       "messages": [{"role": "user", "content": "hi"}]},
                      "in=300,out=120")
        self.assertTrue(s["stream"])
        self.assertEqual((s["input_tokens"], s["output_tokens"]), (300, 120))
        # llama-3.3-70b-versatile: 0.59 in, 0.79 out.
        self.assertAlmostEqual(s["cost_usd"], (300 * 0.59 + 120 * 0.79) / 1e6, places=12)

    def test_deepseek_requests_cache_hit_miss(self):
        s = self.chat("deepseek", "/deepseek/chat/completions",
                      {"model": "deepseek-chat",
                       "messages": [{"role": "user", "content": "hi"}]},
                      "in=1000,out=50,cached=300")
        self.assertEqual((s["input_tokens"], s["output_tokens"],
                          s["cache_read_tokens"]), (1000, 50, 300))
        # deepseek-chat: 0.28 miss, 0.028 hit, 0.42 out.
        self.assertAlmostEqual(s["cost_usd"],
                               (700 * 0.28 + 300 * 0.028 + 50 * 0.42) / 1e6, places=12)

    def test_deepseek_requests_stream(self):
        s = self.chat("deepseek", "/deepseek/chat/completions",
                      {"model": "deepseek-chat", "stream": True,
                       "stream_options": {"include_usage": True},
                       "messages": [{"role": "user", "content": "hi"}]},
                      "in=400,out=40,cached=100")
        self.assertEqual(s["cache_read_tokens"], 100)
        self.assertAlmostEqual(s["cost_usd"],
                               (300 * 0.28 + 100 * 0.028 + 40 * 0.42) / 1e6, places=12)

    def test_openrouter_requests_stream_stated_cost(self):
        # The mock states usage.cost = (0.5 in + 1.5 out) / 1e6: no table
        # price gives that number, so it proves the stated cost is used.
        s = self.chat("openrouter", "/openrouter/api/v1/chat/completions",
                      {"model": "openai/gpt-4o-mini", "stream": True,
                       "messages": [{"role": "user", "content": "hi"}]},
                      "in=2000,out=300")
        self.assertEqual((s["input_tokens"], s["output_tokens"]), (2000, 300))
        self.assertTrue(s["cost_known"])
        self.assertAlmostEqual(s["cost_usd"], (0.5 * 2000 + 1.5 * 300) / 1e6, places=12)

    def test_openrouter_requests_non_stream(self):
        s = self.chat("openrouter", "/openrouter/api/v1/chat/completions",
                      {"model": "acme/new-model",
                       "messages": [{"role": "user", "content": "hi"}]},
                      "in=100,out=10")
        self.assertAlmostEqual(s["cost_usd"], (0.5 * 100 + 1.5 * 10) / 1e6, places=12)

    def test_cohere_httpx_stream_billed_units(self):
        prog = script("""
            import json, os, httpx
            body = {"model": "command-r-08-2024", "stream": True,
                    "messages": [{"role": "user", "content": "hi"}]}
            text = ""
            with httpx.Client(verify=os.environ["MOCK_CA"], timeout=30) as c:
                with c.stream("POST", os.environ["MOCK_BASE"] + "/v2/chat", json=body,
                              headers={"authorization": "Bearer co-SECRET",
                                       "x-mock-usage": "in=120,out=30"}) as r:
                    r.raise_for_status()
                    for line in r.iter_lines():
                        if line.startswith("data: "):
                            ev = json.loads(line[6:])
                            if ev["type"] == "content-delta":
                                text += ev["delta"]["message"]["content"]["text"]
            print(text)
        """)
        r = self.run_traced(prog)
        self.assertEqual(r.rc, 0, r.stderr)
        self.assertTrue(r.stdout.strip(), r.stderr)
        self.assertEqual(len(r.spans), 1, r.stderr)
        s = r.spans[0]
        self.assertContract(s)
        self.assertEqual(s["status"], "ok", s.get("error"))
        self.assertEqual(s["provider"], "cohere")
        self.assertEqual(s["operation"], "chat")
        self.assertEqual(s["request_model"], "command-r-08-2024")
        self.assertTrue(s["stream"])
        # billed_units (120/30), not tokens (the mock adds 64 template tokens).
        self.assertEqual((s["input_tokens"], s["output_tokens"]), (120, 30))
        self.assertEqual(s["finish_reasons"], ["COMPLETE"])
        self.assertEqual(s["output"], r.stdout.strip())
        self.assertIsNotNone(s["ttft_ms"])
        # command-r-08-2024: 0.15 in, 0.60 out per 1M (data/catalogue.tsv).
        self.assertTrue(s["cost_known"], s)
        self.assertAlmostEqual(s["cost_usd"], (120 * 0.15 + 30 * 0.60) / 1e6, places=12)

    def test_cohere_httpx_error(self):
        prog = script("""
            import os, httpx
            r = httpx.post(os.environ["MOCK_BASE"] + "/v2/chat", verify=os.environ["MOCK_CA"],
                           json={"model": "command-r", "messages": []},
                           headers={"x-mock-status": "429"})
            print(r.status_code)
        """)
        r = self.run_traced(prog)
        self.assertEqual(len(r.spans), 1, r.stderr)
        s = r.spans[0]
        self.assertEqual(s["status"], "error")
        self.assertEqual(s["http_status"], 429)
        self.assertTrue(s["error"].startswith("HTTP 429"), s["error"])
        self.assertFalse(s["usage_known"])
