"""Issue #4 pricing: `tokentap pricing` shows the built-in price and where
it came from; TOKENTAP_PRICING overrides what a traced call is charged; a
malformed price file is reported with its line and ignored."""
import json
import os
import tempfile

from harness import TapTest

SECRET = "sk-proj-SECRETSECRET0123456789"


class Pricing(TapTest):
    def curl(self, model):
        return ["curl", "--http1.1", "-sS", "--cacert", self.m.cert,
                self.m.base + "/v1/chat/completions",
                "-H", "content-type: application/json",
                "-H", "authorization: Bearer " + SECRET,
                "-H", "x-mock-usage: in=1000,out=200,cached=400",
                "-d", json.dumps({"model": model,
                                  "messages": [{"role": "user", "content": "hi"}]})]

    def price_file(self, text):
        fd, path = tempfile.mkstemp(prefix="tt-prices-", suffix=".json", dir=self.home)
        with os.fdopen(fd, "w") as f:
            f.write(text)
        return path

    def test_builtin_price_as_json(self):
        p = self.tokentap("pricing", "gpt-4o-mini", "--json")
        r = json.loads(p.stdout)
        self.assertTrue(r["found"])
        self.assertEqual(r["price"]["origin"], "built-in")
        self.assertEqual((r["price"]["provider"], r["price"]["model"]), ("openai", "gpt-4o-mini"))
        self.assertEqual((r["price"]["input"], r["price"]["output"],
                          r["price"]["cache_read"]), (0.15, 0.6, 0.075))
        self.assertTrue(r["price"]["source"])
        # the date of the catalogue copy the price was read from, and the
        # copy itself (REPO@COMMIT)
        self.assertEqual(r["price"]["date"], "2026-08-01")
        self.assertIn("@", r["price"]["source"])
        self.assertEqual(r["price"]["catalogue_key"], "gpt-4o-mini")

    def test_unknown_and_usage_exit_codes(self):
        p = self.tokentap("pricing", "no-such-model", "--json", check=False)
        self.assertEqual(p.returncode, 1)
        self.assertEqual(json.loads(p.stdout)["reason"], "unknown")
        # a profile without its own row, of a model whose eu./us. profiles
        # the catalogue prices +10% (eu. has a row now)
        p = self.tokentap("pricing", "apac.anthropic.claude-sonnet-4-5-20250929-v1:0",
                          "--provider", "aws.bedrock", check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("regional", p.stdout)
        self.assertEqual(self.tokentap("pricing", "--bogus", check=False).returncode, 2)
        p = self.tokentap("pricing", "--json")
        self.assertGreaterEqual(len(json.loads(p.stdout)["prices"]), 2000)

    def test_override_file_prices_the_call(self):
        path = self.price_file(json.dumps({"models": [
            {"provider": "openai", "model": "gpt-4o-mini", "input": 1, "output": 2,
             "cache_read": 0.5, "source": "negotiated"}]}))
        env = self.env(TOKENTAP_PRICING=path)
        r = json.loads(self.tokentap("pricing", "gpt-4o-mini", "--json", env=env).stdout)
        self.assertEqual(r["price"]["origin"], "override")
        self.assertEqual(r["price"]["file"], path)
        run = self.run_traced(self.curl("gpt-4o-mini"), env=env)
        self.assertEqual(run.rc, 0, run.stderr)
        self.assertEqual(len(run.spans), 1, run.stderr)
        s = run.spans[0]
        # 600*1 + 400*0.5 + 200*2 = 1200 per 1M (built-in would be 240)
        self.assertTrue(s["cost_known"])
        self.assertAlmostEqual(s["cost_usd"], 0.0012, places=12)

    def test_malformed_file_keeps_builtin_price_and_names_the_line(self):
        path = self.price_file('{"models": [\n  {"model": "gpt-4o-mini",\n'
                               '   "input": 1 "output": 2}\n]}\n')
        run = self.run_traced(self.curl("gpt-4o-mini"), TOKENTAP_PRICING=path)
        self.assertEqual(run.rc, 0, run.stderr)
        self.assertEqual(len(run.spans), 1, run.stderr)
        self.assertCost(run.spans[0], "gpt-4o-mini", 1000, 200, cr=400)
        self.assertIn(path + ": line 3", run.stderr)
        self.assertIn("ignored", run.stderr)
        self.assertEqual(run.stderr.count(path + ": line 3"), 1, run.stderr)
