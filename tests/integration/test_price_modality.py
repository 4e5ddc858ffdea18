"""Issue #12 item 4: audio and image tokens the usage reports apart, and the
service tier the response names, priced as billed. Real clients (Python
requests, curl) under the preload against the mock; the mock's
x-mock-usage audio_in/audio_out/image_in and x-mock-service-tier put them
on the wire in the providers' own shapes. Expected costs are computed by
hand from the catalogue rows (data/catalogue.tsv)."""
import json
import sys

from harness import TapTest

REQUESTS_CLIENT = r"""
import json, os, sys, requests
url, model, usage, tier, stream = sys.argv[1:6]
h = {"authorization": "Bearer sk-test", "x-mock-usage": usage}
if tier:
    h["x-mock-service-tier"] = tier
body = {"model": model, "messages": [{"role": "user", "content": "hi"}]}
if stream == "1":
    body["stream"] = True
    body["stream_options"] = {"include_usage": True}
r = requests.post(url, json=body, headers=h, stream=stream == "1")
r.raise_for_status()
n = sum(1 for _ in r.iter_lines()) if stream == "1" else len(r.json()["choices"])
print("ok", n)
"""


class PriceModality(TapTest):
    def newest(self, run):
        # each test's calls share one store: the run's own span is the newest
        self.assertEqual(run.rc, 0, run.stderr)
        self.assertTrue(run.spans, run.stderr)
        return max(run.spans, key=lambda s: s["start_time"])

    def py_chat(self, model, usage, tier="", stream=False):
        run = self.run_traced([sys.executable, "-c", REQUESTS_CLIENT,
                               self.m.base + "/v1/chat/completions", model, usage, tier,
                               "1" if stream else "0"])
        self.assertIn("ok", run.stdout)
        return self.newest(run)

    def test_openai_audio_tokens_at_audio_rates(self):
        # gpt-4o-audio-preview: text 2.5/10, audio 40/80 per 1M.
        # 400*2.5 + 600*40 + 100*10 + 400*80 = 58000 per 1M
        s = self.py_chat("gpt-4o-audio-preview",
                         "in=1000,out=500,audio_in=600,audio_out=400")
        self.assertEqual((s["input_tokens"], s["output_tokens"]), (1000, 500))
        self.assertEqual((s["audio_input_tokens"], s["audio_output_tokens"]), (600, 400))
        self.assertEqual((s["image_input_tokens"], s["image_output_tokens"]), (0, 0))
        self.assertEqual(s["service_tier"], "default")
        self.assertTrue(s["cost_known"], s)
        self.assertAlmostEqual(s["cost_usd"], 0.058, places=12)

    def test_openai_flex_and_priority_tiers(self):
        usage = "in=10000,out=2000,cached=4000,reasoning=1500"
        # gpt-5 flex 0.625/5, cached 0.0625: 6000*0.625 + 4000*0.0625 + 2000*5
        s = self.py_chat("gpt-5", usage, tier="flex")
        self.assertEqual(s["service_tier"], "flex")
        self.assertTrue(s["cost_known"], s)
        self.assertAlmostEqual(s["cost_usd"], 0.014, places=12)
        # streamed, priority 2.5/20, cached 0.25: 15000 + 1000 + 40000
        s = self.py_chat("gpt-5", usage, tier="priority", stream=True)
        self.assertTrue(s["stream"])
        self.assertEqual(s["service_tier"], "priority")
        self.assertAlmostEqual(s["cost_usd"], 0.056, places=12)
        # the list price for "default": 7500 + 500 + 20000
        s = self.py_chat("gpt-5", usage)
        self.assertAlmostEqual(s["cost_usd"], 0.028, places=12)
        # the store keeps the tier and the audio counts: recomputing every
        # stored span from them changes nothing
        self.py_chat("gpt-4o-audio-preview", "in=1000,out=500,audio_in=600,audio_out=400")
        r = json.loads(self.tokentap("reprice", "--json").stdout)
        self.assertEqual((r["spans"], r["changed"]), (4, 0), r)
        self.assertAlmostEqual(r["before_usd"], r["after_usd"], places=12)

    def test_unpriceable_parts_make_the_cost_unknown(self):
        # gpt-5 lists no audio rate: audio is not priced as text
        s = self.py_chat("gpt-5", "in=1000,out=100,audio_in=10")
        self.assertEqual(s["audio_input_tokens"], 10)
        self.assertFalse(s["cost_known"], s)
        self.assertEqual(s["cost_usd"], 0)
        # gpt-4o-mini has no flex prices; "scale" has no per-token price
        for model, tier in (("gpt-4o-mini", "flex"), ("gpt-5", "scale")):
            s = self.py_chat(model, "in=1000,out=100", tier=tier)
            self.assertEqual(s["service_tier"], tier)
            self.assertFalse(s["cost_known"], (model, tier, s))

    def test_anthropic_service_tier_with_curl(self):
        def call(tier):
            argv = ["curl", "--http1.1", "-sS", "--cacert", self.m.cert,
                    self.m.base + "/v1/messages",
                    "-H", "content-type: application/json", "-H", "x-api-key: sk-ant-test",
                    "-H", "anthropic-version: 2023-06-01",
                    "-H", "x-mock-usage: in=150,out=20,cached=50",
                    "-H", "x-mock-service-tier: " + tier,
                    "-d", json.dumps({"model": "claude-sonnet-4-5", "max_tokens": 10,
                                      "messages": [{"role": "user", "content": "hi"}]})]
            return self.newest(self.run_traced(argv))
        # 3/15, cache read 0.3: 100*3 + 50*0.3 + 20*15 = 615 per 1M
        s = call("standard")
        self.assertEqual(s["service_tier"], "standard")
        self.assertAlmostEqual(s["cost_usd"], 0.000615, places=12)
        # Priority Tier has no per-token list price in the catalogue
        s = call("priority")
        self.assertEqual(s["service_tier"], "priority")
        self.assertTrue(s["usage_known"])
        self.assertFalse(s["cost_known"], s)


if __name__ == "__main__":
    from harness import main
    main()
