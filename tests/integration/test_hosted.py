"""Issue #4: the hosted OpenAI-compatible APIs (Mistral, Groq, DeepSeek, xAI,
Together, Fireworks, Perplexity) through real clients: each provider named by
its host (here TOKENTAP_HOSTS maps the mock's address to the provider, as
api.mistral.ai etc. are in the built-in host table), non-streaming with a
tool call, streaming with the usage chunk, and an error status. Tokens and
cost are asserted against prices copied by hand from data/catalogue.tsv."""
import json

from harness import TapTest

# provider, model, USD per 1M (input, output, cache_read or None)
CASES = [
    ("mistral_ai", "mistral-large-latest", 0.5, 1.5, None),
    ("groq", "llama-3.3-70b-versatile", 0.59, 0.79, None),
    ("deepseek", "deepseek-chat", 0.28, 0.42, 0.028),
    ("x_ai", "grok-3-mini", 0.3, 0.5, 0.075),
    ("together_ai", "meta-llama/Llama-3.3-70B-Instruct-Turbo", 0.88, 0.88, None),
    ("fireworks_ai", "accounts/fireworks/models/llama-v3p1-70b-instruct", 0.9, 0.9, None),
    ("perplexity", "sonar-pro", 3.0, 15.0, None),
    # Azure prices by the OpenAI row of the response model.
    # the catalogue's Azure row (azure/gpt-4o-mini-2024-07-18), not OpenAI's
    ("azure.ai.openai", "gpt-4o-mini", 0.165, 0.66, 0.075),
]


class Hosted(TapTest):
    def env_for(self, provider):
        return self.env(TOKENTAP_HOSTS="127.0.0.1:%d=%s" % (self.m.port, provider))

    def cost(self, inp, out, cached, price):
        pin, pout, pcr = price
        return ((inp - cached) * pin + cached * (pcr if pcr is not None else pin)
                + out * pout) / 1e6

    def check(self, provider, model, pin, pout, pcr):
        env = self.env_for(provider)
        tools = [{"type": "function", "function": {
            "name": "lookup", "parameters": {"type": "object", "properties": {
                "q": {"type": "string"}}}}}]
        body = {"model": model, "messages": [{"role": "user", "content": "hi"}],
                "tools": tools}
        # 1. non-streaming, tool call, Python requests
        r1 = self.run_traced(self.client("post_json.py") + [
            self.m.base + "/v1/chat/completions", json.dumps(body),
            "x-mock-usage: in=1200,out=80,cached=200"], env=env)
        # 2. streaming with the usage chunk, curl -N
        sbody = {"model": model, "stream": True, "stream_options": {"include_usage": True},
                 "messages": [{"role": "user", "content": "hi"}]}
        r2 = self.run_traced(["curl", "-sS", "-N", "--cacert", self.m.cert,
                              self.m.base + "/v1/chat/completions",
                              "-H", "content-type: application/json",
                              "-H", "authorization: Bearer sk-hosted",
                              "-H", "x-mock-usage: in=300,out=40",
                              "-d", json.dumps(sbody)], env=env)
        # 3. an error status
        r3 = self.run_traced(self.client("post_json.py") + [
            self.m.base + "/v1/chat/completions",
            json.dumps({"model": model, "messages": []}), "x-mock-status: 429"], env=env)
        self.assertEqual(r1.rc, 0, r1.stderr)
        spans = r3.spans
        self.assertEqual(len(spans), 3, r3.stderr)
        by = {(s["stream"], s["status"]): s for s in spans}
        tool = by[(False, "ok")]
        self.assertEqual(tool["provider"], provider)
        self.assertEqual(tool["request_model"], model)
        self.assertEqual((tool["input_tokens"], tool["output_tokens"],
                          tool["cache_read_tokens"]), (1200, 80, 200))
        self.assertEqual(tool["finish_reasons"], ["tool_calls"])
        self.assertEqual(tool["tool_calls"][0]["name"], "lookup")
        self.assertTrue(tool["cost_known"], tool)
        self.assertAlmostEqual(tool["cost_usd"], self.cost(1200, 80, 200, (pin, pout, pcr)),
                               places=12)
        stream = by[(True, "ok")]
        self.assertEqual((stream["input_tokens"], stream["output_tokens"]), (300, 40))
        self.assertAlmostEqual(stream["cost_usd"], self.cost(300, 40, 0, (pin, pout, pcr)),
                               places=12)
        self.assertIsNotNone(stream["ttft_ms"])
        err = by[(False, "error")]
        self.assertEqual(err["http_status"], 429)
        self.assertEqual(err["provider"], provider)


def _make(case):
    def test(self):
        self.check(*case)
    return test


for _c in CASES:
    setattr(Hosted, "test_%s" % _c[0].replace(".", "_"), _make(_c))
