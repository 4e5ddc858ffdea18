"""Issue #4 pricing: `tokentap pricing` shows the built-in price and where
it came from; TOKENTAP_PRICING overrides what a traced call is charged; a
malformed price file is reported with its line and ignored. Issue #12: a
LiteLLM-format catalogue imported with `tokentap pricing --import` prices
the next traced call; `tokentap reprice` rewrites stored spans' cost;
`tokentap cost --as MODEL` matches a hand computation."""
import json
import os
import tempfile

from harness import ROOT, TapTest

SECRET = "sk-proj-SECRETSECRET0123456789"


class PricingBase(TapTest):
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



class Pricing(PricingBase):
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

    def test_pricing_says_which_profile_price_fees_and_azure(self):
        # a Bedrock profile with its own row, and one priced as its base
        p = self.tokentap("pricing", "eu.anthropic.claude-sonnet-4-5-20250929-v1:0",
                          "--provider", "aws.bedrock")
        self.assertIn("Bedrock inference profile: the catalogue's own price", p.stdout)
        r = json.loads(self.tokentap("pricing", "apac.anthropic.claude-3-7-sonnet-20250219-v1:0",
                                     "--provider", "aws.bedrock", "--json").stdout)
        self.assertEqual(r["profile"], "base")
        self.assertEqual(r["price"]["model"], "anthropic.claude-3-7-sonnet-20250219-v1:0")
        p = self.tokentap("pricing", "apac.anthropic.claude-3-7-sonnet-20250219-v1:0",
                          "--provider", "aws.bedrock")
        self.assertIn("the base model's price (AWS bills cross-region inference at the "
                      "on-demand price)", p.stdout)
        # per-request tool fees are named, never priced
        p = self.tokentap("pricing", "claude-haiku-4-5")
        self.assertIn("not included: per-request fees", p.stdout)
        self.assertIn("web search", p.stdout)
        r = json.loads(self.tokentap("pricing", "gpt-4o", "--json").stdout)
        self.assertIn("web search", r["price"]["fees_not_included"])
        r = json.loads(self.tokentap("pricing", "text-embedding-3-small", "--json").stdout)
        self.assertIsNone(r["price"]["fees_not_included"])
        # an Azure row above OpenAI's list price says so
        p = self.tokentap("pricing", "gpt-4o-2024-11-20", "--provider", "azure.ai.openai")
        self.assertIn("azure.ai.openai/gpt-4o-2024-11-20", p.stdout)
        self.assertIn("OpenAI's list price for gpt-4o-2024-11-20 is 2.5/10", p.stdout)
        p = self.tokentap("pricing", "gpt-4o", "--provider", "azure.ai.openai")
        self.assertNotIn("OpenAI's list price", p.stdout)

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


def litellm_file(test, entries):
    """A LiteLLM-format catalogue (model_prices_and_context_window.json)."""
    doc = {"sample_spec": {"litellm_provider": "one of", "mode": "chat"}}
    doc.update(entries)
    return test.price_file(json.dumps(doc, indent=2))


# gpt-4o-mini at 1 / 2 per 1M, cache reads 0.5, as LiteLLM writes it
CHEAP = {"gpt-4o-mini": {"litellm_provider": "openai", "mode": "chat",
                         "input_cost_per_token": 1e-06,
                         "output_cost_per_token": 2e-06,
                         "cache_read_input_token_cost": 5e-07}}


class Catalogue(PricingBase):
    def test_import_litellm_file_prices_the_next_call(self):
        path = litellm_file(self, CHEAP)
        env = self.env()
        d = json.loads(self.tokentap("pricing", "--diff", path, "--json", env=env).stdout)
        self.assertEqual((d["rows"], d["changed"], d["new"]), (1, 1, 0))
        self.assertEqual(d["changes"][0]["old"]["input"], 0.15)
        self.assertEqual(d["changes"][0]["new"]["input"], 1)
        p = self.tokentap("pricing", "--import", path, env=env)
        self.assertIn("1 changed", p.stdout)
        dst = os.path.join(env["XDG_CONFIG_HOME"], "tokentap", "prices.json")
        self.assertEqual(os.stat(dst).st_mode & 0o777, 0o600)
        r = json.loads(self.tokentap("pricing", "gpt-4o-mini", "--json", env=env).stdout)
        self.assertEqual(r["price"]["origin"], "override")
        run = self.run_traced(self.curl("gpt-4o-mini"), env=env)
        self.assertEqual(run.rc, 0, run.stderr)
        self.assertEqual(len(run.spans), 1, run.stderr)
        # 600*1 + 400*0.5 + 200*2 = 1200 per 1M (built-in: 600*0.15 +
        # 400*0.075 + 200*0.6 = 240)
        self.assertAlmostEqual(run.spans[0]["cost_usd"], 0.0012, places=12)
        # a bad file is refused whole and nothing is installed over the good one
        bad = litellm_file(self, {"gpt-4o": {"litellm_provider": "openai", "mode": "chat",
                                             "input_cost_per_token": "cheap",
                                             "output_cost_per_token": 1e-06}})
        p = self.tokentap("pricing", "--import", bad, env=env, check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("input_cost_per_token", p.stderr)
        with open(dst) as f:
            self.assertIn("5e-07", f.read())

    def test_reprice_rewrites_stored_spans(self):
        env = self.env()
        for model in ("gpt-4o-mini", "gpt-4o-mini", "claude-haiku-4-5"):
            run = self.run_traced(self.curl(model), env=env)
            self.assertEqual(run.rc, 0, run.stderr)
        before = {s["span_id"]: s for s in self.spans(env)}
        self.assertEqual(len(before), 3)
        for s in before.values():
            if s["response_model"].startswith("gpt-4o-mini"):
                self.assertCost(s, "gpt-4o-mini", 1000, 200, cr=400)
        self.tokentap("pricing", "--import", litellm_file(self, CHEAP), env=env)
        dry = json.loads(self.tokentap("reprice", "--dry-run", "--json", env=env).stdout)
        self.assertEqual((dry["spans"], dry["changed"]), (3, 2))
        self.assertEqual({s["span_id"]: s["cost_usd"] for s in self.spans(env)},
                         {k: v["cost_usd"] for k, v in before.items()})
        out = json.loads(self.tokentap("reprice", "--json", env=env).stdout)
        self.assertEqual((out["spans"], out["changed"]), (3, 2))
        self.assertAlmostEqual(out["before_usd"], 2 * 0.00024, places=12)
        self.assertAlmostEqual(out["after_usd"], 2 * 0.0012, places=12)
        after = {s["span_id"]: s for s in self.spans(env)}
        for sid, s in after.items():
            if s["response_model"].startswith("gpt-4o-mini"):
                self.assertAlmostEqual(s["cost_usd"], 0.0012, places=12)
            else:   # not in the imported file: its built-in price, unchanged
                self.assertEqual(s["cost_usd"], before[sid]["cost_usd"])
        # a second run changes nothing
        again = json.loads(self.tokentap("reprice", "--json", env=env).stdout)
        self.assertEqual(again["changed"], 0)

    def test_cost_as_model_matches_hand_computation(self):
        env = self.env()
        for model in ("gpt-4o-mini", "gpt-4o"):
            run = self.run_traced(self.curl(model), env=env)
            self.assertEqual(run.rc, 0, run.stderr)
        r = json.loads(self.tokentap("cost", "--as", "claude-haiku-4-5", "--json",
                                     env=env).stdout)
        self.assertEqual(r["as"], "anthropic/claude-haiku-4-5")
        # each call: in 1000 (400 cached), out 200. claude-haiku-4-5 1/5,
        # cache read 0.10: 600*1 + 400*0.10 + 200*5 = 1640 per 1M
        self.assertAlmostEqual(r["total"]["as_cost_usd"], 2 * 0.00164, places=12)
        # real: gpt-4o-mini 600*0.15 + 400*0.075 + 200*0.6 = 240;
        # gpt-4o 600*2.5 + 400*1.25 + 200*10 = 4000
        self.assertAlmostEqual(r["total"]["cost_usd"], 0.00024 + 0.004, places=12)
        self.assertEqual(r["total"]["calls"], 2)
        text = self.tokentap("cost", "--as", "claude-haiku-4-5", env=env).stdout
        self.assertIn("as anthropic/claude-haiku-4-5", text)
        # --as-file: every call under the file's prices, built-in for the rest
        f = json.loads(self.tokentap("cost", "--as-file", litellm_file(self, CHEAP),
                                     "--json", env=env).stdout)
        self.assertAlmostEqual(f["total"]["as_cost_usd"], 0.0012 + 0.004, places=12)
        p = self.tokentap("cost", "--as", "no-such-model", env=env, check=False)
        self.assertEqual(p.returncode, 1)


TSV_HEAD = "provider\tmodel\tinput\toutput\tcache_read\tsource\n"


class TsvPrices(PricingBase):
    """Issue #12: tokentap's own TSV (data/catalogue.tsv's columns) as a
    price file, told from JSON by content: --import, --diff,
    TOKENTAP_PRICING, cost --as-file, reprice; --export writes it and a
    round trip changes nothing."""

    def tsv(self, text, suffix=".txt"):
        fd, path = tempfile.mkstemp(prefix="tt-prices-", suffix=suffix, dir=self.home)
        with os.fdopen(fd, "w") as f:
            f.write(text)
        return path

    def test_import_tsv_prices_the_next_call(self):
        # named .json: the content decides the format
        path = self.tsv("# negotiated\n" + TSV_HEAD +
                        "openai\tgpt-4o-mini\t1\t2\t0.5\tcontract 42\n", suffix=".json")
        env = self.env()
        d = json.loads(self.tokentap("pricing", "--diff", path, "--json", env=env).stdout)
        self.assertEqual((d["rows"], d["changed"], d["new"]), (1, 1, 0))
        self.assertEqual(d["changes"][0]["old"]["input"], 0.15)
        self.assertEqual(d["changes"][0]["new"]["input"], 1)
        p = self.tokentap("pricing", "--import", path, env=env)
        self.assertIn("read as tokentap's TSV, 1 price(s)", p.stdout)
        dst = os.path.join(env["XDG_CONFIG_HOME"], "tokentap", "prices.tsv")
        self.assertEqual(os.stat(dst).st_mode & 0o777, 0o600)
        r = json.loads(self.tokentap("pricing", "gpt-4o-mini", "--json", env=env).stdout)
        self.assertEqual((r["price"]["origin"], r["price"]["file"], r["price"]["source"]),
                         ("override", dst, "contract 42"))
        run = self.run_traced(self.curl("gpt-4o-mini"), env=env)
        self.assertEqual(run.rc, 0, run.stderr)
        self.assertEqual(len(run.spans), 1, run.stderr)
        # 600*1 + 400*0.5 + 200*2 = 1200 per 1M (built-in: 240)
        self.assertAlmostEqual(run.spans[0]["cost_usd"], 0.0012, places=12)
        # a bad TSV is refused whole, with its line; the import stays
        bad = self.tsv(TSV_HEAD + "openai\tgpt-4o\t2.5\t10\t-\t-\n"
                       "openai\tgpt-4o-mini\t1\tcheap\t-\t-\n")
        p = self.tokentap("pricing", "--import", bad, env=env, check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn(bad + ": line 3 (model \"gpt-4o-mini\"): output: \"cheap\" is not a "
                      "price", p.stderr)
        with open(dst) as f:
            self.assertIn("contract 42", f.read())
        # importing a JSON replaces the TSV import (one imported file)
        self.tokentap("pricing", "--import", litellm_file(self, CHEAP), env=env)
        self.assertFalse(os.path.exists(dst))
        self.assertTrue(os.path.exists(os.path.join(env["XDG_CONFIG_HOME"], "tokentap",
                                                    "prices.json")))

    def test_tokentap_pricing_env_and_bad_tsv_in_a_traced_process(self):
        path = self.tsv(TSV_HEAD + "openai\tgpt-4o-mini\t1\t2\t0.5\t-\n")
        run = self.run_traced(self.curl("gpt-4o-mini"), TOKENTAP_PRICING=path)
        self.assertEqual(run.rc, 0, run.stderr)
        self.assertAlmostEqual(run.spans[0]["cost_usd"], 0.0012, places=12)
        first = run.spans[0]["span_id"]
        bad = self.tsv(TSV_HEAD + "openai\tgpt-4o-mini\t1\t2\t0.5\n")
        run = self.run_traced(self.curl("gpt-4o-mini"), TOKENTAP_PRICING=bad)
        self.assertEqual(run.rc, 0, run.stderr)
        new = [s for s in run.spans if s["span_id"] != first]
        self.assertEqual(len(new), 1, run.spans)
        self.assertCost(new[0], "gpt-4o-mini", 1000, 200, cr=400)   # built-in
        self.assertIn(bad + ": line 2: 5 columns, want 6", run.stderr)
        self.assertIn("ignored", run.stderr)

    def test_export_then_import_changes_nothing(self):
        env = self.env()
        for model in ("gpt-4o-mini", "claude-haiku-4-5"):
            run = self.run_traced(self.curl(model), env=env)
            self.assertEqual(run.rc, 0, run.stderr)
        before = {s["span_id"]: s["cost_usd"] for s in self.spans(env)}
        self.assertEqual(len(before), 2)
        out = os.path.join(self.home, "exported.tsv")
        self.tokentap("pricing", "--export", out, env=env)
        self.assertEqual(os.stat(out).st_mode & 0o777, 0o600)
        # the format of data/catalogue.tsv: the same header and rows
        with open(out) as f:
            exported = [l for l in f.read().splitlines() if not l.startswith("#")]
        with open(os.path.join(ROOT, "data", "catalogue.tsv")) as f:
            catalogue = [l for l in f.read().splitlines() if not l.startswith("#")]
        self.assertEqual(exported[0], catalogue[0])
        self.assertEqual(sorted(exported[1:]), sorted(catalogue[1:]))
        stdout = self.tokentap("pricing", "--export", "-", env=env).stdout
        self.assertEqual([l for l in stdout.splitlines() if not l.startswith("#")], exported)
        d = json.loads(self.tokentap("pricing", "--diff", out, "--json", env=env).stdout)
        self.assertEqual((d["changed"], d["new"], d["same"]), (0, 0, len(catalogue) - 1))
        self.tokentap("pricing", "--import", out, env=env)
        r = json.loads(self.tokentap("pricing", "gpt-4o-mini", "--json", env=env).stdout)
        self.assertEqual(r["price"]["origin"], "override")
        self.assertEqual((r["price"]["input"], r["price"]["output"],
                          r["price"]["cache_read"]), (0.15, 0.6, 0.075))
        # stored spans: nothing to reprice; a new traced call: the same cost
        rp = json.loads(self.tokentap("reprice", "--json", env=env).stdout)
        self.assertEqual((rp["spans"], rp["changed"]), (2, 0))
        run = self.run_traced(self.curl("gpt-4o-mini"), env=env)
        self.assertEqual(run.rc, 0, run.stderr)
        new = [s for s in run.spans if s["span_id"] not in before]
        self.assertEqual(len(new), 1, run.spans)
        self.assertCost(new[0], "gpt-4o-mini", 1000, 200, cr=400)
        self.assertEqual({k: v for k, v in
                          ((s["span_id"], s["cost_usd"]) for s in self.spans(env))
                          if k in before}, before)

    def test_cost_as_file_and_reprice_with_tsv(self):
        env = self.env()
        for model in ("gpt-4o-mini", "gpt-4o"):
            run = self.run_traced(self.curl(model), env=env)
            self.assertEqual(run.rc, 0, run.stderr)
        path = self.tsv(TSV_HEAD + "openai\tgpt-4o-mini\t1\t2\t0.5\t-\n")
        f = json.loads(self.tokentap("cost", "--as-file", path, "--json", env=env).stdout)
        # gpt-4o-mini under the file: 1200 per 1M; gpt-4o built-in: 4000
        self.assertAlmostEqual(f["total"]["as_cost_usd"], 0.0012 + 0.004, places=12)
        self.assertAlmostEqual(f["total"]["cost_usd"], 0.00024 + 0.004, places=12)
        out = json.loads(self.tokentap("reprice", "--json", env=self.env(
            TOKENTAP_PRICING=path)).stdout)
        self.assertEqual((out["spans"], out["changed"]), (2, 1))
        self.assertAlmostEqual(out["after_usd"] - out["before_usd"], 0.0012 - 0.00024,
                               places=12)
