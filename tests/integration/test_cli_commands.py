"""Issue #7: the commands a user runs after (and around) a traced run: run
--session/--tag/--budget, ls, show (tree), cost (--by session/tag/day,
csv/json), tail, doctor, assert."""
import csv
import io
import json
import os
import shutil
import signal
import stat
import subprocess
import tempfile
import time

from harness import PY, SLOW, TOKENTAP, TapTest, san_wrap


class CliCommands(TapTest):
    def run_cmd(self, argv, *opts, env=None, timeout=120):
        env = env or self.env()
        return subprocess.run([TOKENTAP, "run"] + list(opts) + ["--"] + san_wrap(argv),
                              env=env, capture_output=True, text=True,
                              timeout=timeout * SLOW, stdin=subprocess.DEVNULL)

    def llm(self, *extra):
        return self.client("llm_call.py") + list(extra)

    def shell_script(self):
        """A script that spawns python (2 calls) and curl (1 call)."""
        path = os.path.join(self.home, "agent.sh")
        with open(path, "w") as f:
            f.write("#!/bin/sh\n"
                    "%s %s --lib urllib --api openai --n 2\n"
                    "curl -s --cacert \"$MOCK_CA\" -H 'content-type: application/json' "
                    "-d '{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\","
                    "\"content\":\"hi\"}]}' \"$MOCK_BASE/v1/chat/completions\" >/dev/null\n"
                    % (PY, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                        "clients", "llm_call.py")))
        os.chmod(path, 0o755)
        return path

    def setup_runs(self):
        a = self.run_cmd(self.llm("--api", "openai", "--n", "2", "--header",
                                  "x-mock-usage: in=1000,out=100"),
                         "--session", "s-alpha", "--tag", "team=infra",
                         "--tag", "env=ci", "--metadata", '{"ticket":"T-1"}')
        self.assertEqual(a.returncode, 0, a.stderr)
        b = self.run_cmd(self.llm("--api", "anthropic", "--header",
                                  "x-mock-usage: in=500,out=50"),
                         "--session", "s-beta", "--tag", "team=web")
        self.assertEqual(b.returncode, 0, b.stderr)
        return self.spans()

    # --- run options, ls, cost --------------------------------------------
    def test_session_tags_ls_cost(self):
        spans = [s for s in self.setup_runs() if s["kind"] == "llm"]
        self.assertEqual(len(spans), 3)
        by_sess = {}
        for s in spans:
            by_sess.setdefault(s["session_id"], []).append(s)
        self.assertEqual(sorted(by_sess), ["s-alpha", "s-beta"])
        self.assertEqual(by_sess["s-alpha"][0]["tags"], {"team": "infra", "env": "ci"})

        ls = json.loads(self.tokentap("ls", "--json").stdout)
        self.assertEqual(len(ls), 2)
        self.assertEqual(sum(r["calls"] for r in ls), 3)
        self.assertAlmostEqual(sum(r["cost_usd"] for r in ls),
                               sum(s["cost_usd"] for s in spans), places=9)
        self.assertEqual(ls[0]["session_id"], "s-beta")     # newest first
        self.assertEqual(len(json.loads(self.tokentap("ls", "--json", "--limit", "1").stdout)), 1)
        self.assertEqual(len(json.loads(self.tokentap("ls", "--json", "--since", "1h").stdout)), 2)
        text = self.tokentap("ls").stdout
        self.assertIn("s-alpha", text)
        p = self.tokentap("ls", "--since", "yesterday", check=False)
        self.assertEqual(p.returncode, 2)
        self.assertIn("--since", p.stderr)

        c = json.loads(self.tokentap("cost", "--by", "session", "--json").stdout)
        g = {x["session"]: x for x in c["groups"]}
        self.assertEqual(g["s-alpha"]["calls"], 2)
        self.assertEqual(g["s-beta"]["calls"], 1)
        self.assertEqual(c["total"]["calls"], 3)
        c = json.loads(self.tokentap("cost", "--by", "tag:team", "--format", "json").stdout)
        g = {x["tag:team"]: x for x in c["groups"]}
        self.assertEqual((g["infra"]["calls"], g["web"]["calls"]), (2, 1))
        self.assertEqual(g["infra"]["input_tokens"], 2000)
        rows = list(csv.DictReader(io.StringIO(
            self.tokentap("cost", "--by", "tag:env", "--format", "csv").stdout)))
        self.assertEqual({r["tag:env"]: int(r["calls"]) for r in rows},
                         {"ci": 2, "(no env)": 1, "total": 3})
        day = json.loads(self.tokentap("cost", "--by", "day", "--since", "7d", "--json").stdout)
        self.assertEqual(len(day["groups"]), 1)
        self.assertRegex(day["groups"][0]["day"], r"^\d{4}-\d\d-\d\d$")
        table = self.tokentap("cost", "--by", "model").stdout
        self.assertIn("total", table)
        p = self.tokentap("cost", "--by", "tag:bad'key", check=False)
        self.assertEqual(p.returncode, 2)

    def test_cost_lists_unknown_prices(self):
        r = self.run_cmd(self.llm("--api", "openai", "--model", "mystery-model-9"))
        self.assertEqual(r.returncode, 0, r.stderr)
        c = json.loads(self.tokentap("cost", "--json").stdout)
        self.assertEqual([u["model"] for u in c["unknown_cost"]], ["mystery-model-9"])
        self.assertIn("mystery-model-9", self.tokentap("cost").stdout)

    # --- show ---------------------------------------------------------------
    def test_show_tree(self):
        r = self.run_cmd([self.shell_script()])
        self.assertEqual(r.returncode, 0, r.stderr)
        r2 = self.run_cmd(self.llm("--api", "openai", "--tools"))
        self.assertEqual(r2.returncode, 0, r2.stderr)
        spans = self.spans()
        llm = [s for s in spans if s["kind"] == "llm"]
        self.assertEqual(len(llm), 3 + 1, [s["name"] for s in spans])
        trace1 = llm[0]["trace_id"]
        out = self.tokentap("show", trace1[:10]).stdout
        self.assertIn("run ", out)
        self.assertEqual(out.count("gpt-4o-mini"), 3, out)
        self.assertIn("3 LLM calls", out)
        j = json.loads(self.tokentap("show", trace1, "--json").stdout)
        self.assertEqual(j["total"]["calls"], 3)

        def walk(n, depth=0):
            yield n, depth
            for c in n.get("children", []):
                yield from walk(c, depth + 1)
        nodes = list(walk(j["tree"]))
        self.assertEqual(sum(1 for n, _ in nodes if n.get("kind") == "llm"), 3)
        self.assertIn(j["tree"]["kind"], ("run", "process"))
        if any(s["kind"] == "process" for s in spans if s["trace_id"] == trace1):
            # python and curl: each under its own process span, below the run.
            procs = [n for n, d in nodes if n.get("kind") == "process" and d > 0]
            self.assertGreaterEqual(len(procs), 2, out)
            self.assertIn("process", out)

        trace2 = [s for s in llm if s["trace_id"] != trace1][0]["trace_id"]
        full = self.tokentap("show", trace2, "--full").stdout
        self.assertIn("input:", full)
        self.assertIn("tool_calls:", full)

    # --- tail ----------------------------------------------------------------
    def test_tail_follows_new_spans(self):
        self.setup_runs()
        p = subprocess.Popen([TOKENTAP, "tail", "--json"], env=self.env(),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            time.sleep(1.0 * SLOW)
            r = self.run_cmd(self.llm("--api", "openai", "--model", "gpt-4o"))
            self.assertEqual(r.returncode, 0, r.stderr)
            time.sleep(1.0 * SLOW)
        finally:
            p.send_signal(signal.SIGINT)
            out, err = p.communicate(timeout=10 * SLOW)
        self.assertEqual(p.returncode, 0, err)
        lines = [json.loads(x) for x in out.splitlines() if x.strip()]
        llm = [x for x in lines if x["kind"] == "llm"]
        # Only the new call: the spans stored before tail started are not replayed.
        self.assertEqual([x["request_model"] for x in llm], ["gpt-4o"], out)
        text = self.tokentap("tail", "--since", "1h", "--help").stdout
        self.assertIn("Usage: tokentap tail", text)

    # --- doctor --------------------------------------------------------------
    def test_doctor(self):
        curl = shutil.which("curl")
        p = self.tokentap("doctor", curl, check=False)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("libcurl", p.stdout)
        self.assertIn("can be traced", p.stdout)

        d = tempfile.mkdtemp(prefix="tt-doc-")
        try:
            suid = os.path.join(d, "curl-suid")
            shutil.copy(curl, suid)
            os.chmod(suid, 0o755 | stat.S_ISUID)
            p = self.tokentap("doctor", suid, check=False)
            self.assertEqual(p.returncode, 1, p.stdout)
            self.assertIn("setuid", p.stdout)

            src = os.path.join(d, "s.c")
            with open(src, "w") as f:
                f.write("int main(void){return 0;}\n")
            static = os.path.join(d, "static")
            cc = subprocess.run(["cc", "-static", "-o", static, src], capture_output=True)
            if cc.returncode != 0:
                static = "/bin/busybox" if os.path.exists("/bin/busybox") else None
            if static:
                p = self.tokentap("doctor", static, check=False)
                self.assertEqual(p.returncode, 1, p.stdout)
                self.assertIn("statically linked", p.stdout)

            # A 32-bit program (gcc-multilib, installed by install-deps):
            # the 64-bit preload is skipped by its loader (issue #9).
            b32 = os.path.join(d, "prog32")
            cc = subprocess.run(["cc", "-m32", "-o", b32, src], capture_output=True,
                                text=True)
            self.assertEqual(cc.returncode, 0, "cc -m32: " + cc.stderr)
            p = self.tokentap("doctor", b32, check=False)
            self.assertEqual(p.returncode, 1, p.stdout)
            self.assertIn("32-bit program (i386)", p.stdout)
            self.assertIn("nothing is traced", p.stdout)

            script = os.path.join(d, "tool.sh")
            with open(script, "w") as f:
                f.write("#!/usr/bin/env curl\n")
            os.chmod(script, 0o755)
            p = self.tokentap("doctor", script, check=False)
            self.assertEqual(p.returncode, 0, p.stdout)
            self.assertIn("script", p.stdout)
        finally:
            shutil.rmtree(d, ignore_errors=True)
        p = self.tokentap("doctor", "no-such-program-xyz", check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("not found", p.stdout)

    # --- assert --------------------------------------------------------------
    def test_assert(self):
        self.setup_runs()   # the last run: anthropic, 1 call, 550 tokens
        ok = self.tokentap("assert", "--max-cost", "1", "--llm-calls", "1",
                           "--no-errors", "--max-tokens", "1000",
                           "--model-allow", "claude-*")
        self.assertIn("OK", ok.stdout)
        p = self.tokentap("assert", "--max-tokens", "500", "--llm-calls", "2..3",
                          "--model-allow", "gpt-*", check=False)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn("max-tokens: used 550 tokens, 50 over the limit 500", p.stderr)
        self.assertIn("llm-calls: 1 LLM calls, 1 fewer than the minimum 2", p.stderr)
        self.assertIn("model-allow", p.stderr)
        self.assertIn("3 rules violated", p.stderr)
        p = self.tokentap("assert", "--max-cost", "0", check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("max-cost: spent $", p.stderr)
        first = json.loads(self.tokentap("ls", "--json").stdout)[-1]["trace_id"]
        j = json.loads(self.tokentap("assert", "--trace", first, "--llm-calls", "2",
                                     "--json").stdout)
        self.assertTrue(j["ok"])
        self.assertEqual(self.tokentap("assert", check=False).returncode, 2)

    # --- budget ----------------------------------------------------------------
    def test_budget_warn_and_kill(self):
        # 12 streamed calls of 1M input tokens each on gpt-4o-mini: $0.15
        # per call, slowed down so that the run outlives a few polls.
        many = self.llm("--api", "openai", "--n", "12", "--stream", "--header",
                        "x-mock-usage: in=1000000,out=10", "--header",
                        "x-mock-delay-ms: 80")
        r = self.run_cmd(many, "--budget", "0.40")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stderr.count("budget $0.400000 exceeded"), 1, r.stderr)
        self.assertIn("gpt-4o-mini", r.stderr)
        t0 = time.time()
        r = self.run_cmd(many, "--budget", "0.40", "--budget-action", "kill")
        self.assertEqual(r.returncode, 124, r.stderr)
        self.assertIn("stopping the command", r.stderr)
        calls = [s for s in self.spans() if s["kind"] == "llm"]
        self.assertLess(len(calls), 24, "the killed run went on")
        self.assertLess(time.time() - t0, 60 * SLOW)
        p = self.run_cmd(["true"], "--budget", "abc")
        self.assertEqual(p.returncode, 2)
