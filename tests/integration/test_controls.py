"""The user's controls over what tokentap captures, on real programs:
TOKENTAP_CAPTURE_CONTENT, TOKENTAP_REDACT(_FILE), TOKENTAP_SAMPLE_RATE,
TOKENTAP_DISABLE, TOKENTAP_ONLY_CMDS / TOKENTAP_SKIP_CMDS, and the
accounting that says what was not kept (`tokentap stats`)."""
import json
import os
import re
import subprocess
import time

from harness import TapTest, preload_env


class Controls(TapTest):
    def curl_call(self, content="Say hello", n=1):
        """A shell loop of n curl calls (OpenAI chat, HTTP/1.1)."""
        body = json.dumps({"model": "gpt-4o-mini",
                           "messages": [{"role": "user", "content": content}]})
        one = ("curl --http1.1 -sS --cacert %s %s/v1/chat/completions "
               "-H 'content-type: application/json' -H 'authorization: Bearer sk-t' "
               "-d '%s'" % (self.m.cert, self.m.base, body))
        return ["sh", "-c", "for i in $(seq %d); do %s; echo; done" % (n, one)]

    def py_call(self, content):
        """One Python requests call (OpenAI chat) whose prompt is content."""
        body = json.dumps({"model": "gpt-4o-mini",
                           "messages": [{"role": "user", "content": content}]})
        return self.client("post_json.py") + [self.m.base + "/v1/chat/completions", body]

    def stats(self, env):
        return json.loads(self.tokentap("stats", "--json", env=env).stdout)

    def test_capture_content_off_keeps_tokens_and_cost_only(self):
        r = self.run_traced(self.client("llm_call.py") + [
            "--lib", "requests", "--api", "openai", "--tools"],
            TOKENTAP_CAPTURE_CONTENT="off")
        self.assertEqual(r.rc, 0, r.stderr)
        self.assertEqual(len(r.spans), 1)
        s = r.spans[0]
        self.assertIsNone(s["input"])
        self.assertIsNone(s["output"])
        self.assertGreater(s["input_tokens"], 0)
        self.assertGreater(s["output_tokens"], 0)
        self.assertTrue(s["cost_known"])
        self.assertGreater(s["cost_usd"], 0)
        # tool calls keep their names and ids, never their arguments
        for tc in s["tool_calls"] or []:
            self.assertNotIn("arguments", tc)
        raw = open(self.db, "rb").read()
        self.assertNotIn(b"Say hello to the test suite", raw)

    def test_redaction_applies_before_the_span_leaves(self):
        r = self.run_traced(
            self.py_call("card 4111-1111-1111-1111 and ssn 123-45-6789"),
            TOKENTAP_REDACT=r"[0-9]{3}-[0-9]{2}-[0-9]{4}|([0-9]{4}-){3}[0-9]{4}|mock provider")
        self.assertEqual(r.rc, 0, r.stderr)
        self.assertEqual(len(r.spans), 1, r.stderr)
        s = r.spans[0]
        self.assertEqual(s["input"], [{"role": "user",
                                       "content": "card [REDACTED] and ssn [REDACTED]"}])
        self.assertEqual(s["output"], "Hello from the [REDACTED].")
        self.assertGreater(s["input_tokens"], 0)
        self.assertEqual(r.stdout.strip(), "200")
        # Nowhere in what tokentap wrote (store, WAL, spool), the recorded
        # command line included; the search finds what is legitimately there.
        found = {k: [p for p in self.files_written() if k in open(p, "rb").read()]
                 for k in (b"123-45-6789", b"4111-1111", b"card [REDACTED]")}
        self.assertEqual(found[b"123-45-6789"], [])
        self.assertEqual(found[b"4111-1111"], [])
        self.assertNotEqual(found[b"card [REDACTED]"], [])
        runs = self.tokentap("ls", "--json", env=r.env).stdout
        self.assertIn("ssn [REDACTED]", runs)

    def test_redaction_file_and_a_bad_pattern_fails_closed(self):
        pats = os.path.join(self.home, "redact.txt")
        with open(pats, "w") as fh:
            fh.write("# secrets\nproject-[a-z]+\n")
        r = self.run_traced(self.py_call("about project-zebra"),
                            TOKENTAP_REDACT_FILE=pats)
        self.assertEqual(r.spans[0]["input"][0]["content"], "about [REDACTED]")
        # A pattern that does not compile: no content at all, tokens kept.
        r = self.run_traced(self.py_call("about project-zebra"),
                            TOKENTAP_REDACT="([unclosed")
        self.assertEqual(r.rc, 0)
        self.assertIn("redaction pattern", r.stderr)
        s = [x for x in r.spans if x["input"] is None]
        self.assertEqual(len(s), 1, r.spans)
        self.assertGreater(s[0]["input_tokens"], 0)

    def files_written(self):
        out = []
        for root, _, files in os.walk(self.home):
            out += [os.path.join(root, f) for f in files]
        self.assertTrue(any(f.endswith("traces.db") for f in out))
        return out

    def test_sample_rate_traces_a_share_and_counts_the_rest(self):
        n = 40
        r = self.run_traced(self.curl_call(n=n), TOKENTAP_SAMPLE_RATE="0.5")
        self.assertEqual(r.rc, 0, r.stderr)
        self.assertEqual(r.stdout.count("chatcmpl"), n)     # every call answered
        st = self.stats(r.env)
        traced, skipped = len(r.spans), st["counters"]["sampled_out"]
        self.assertEqual(traced + skipped, n, st)
        # Binomial(40, 0.5): P(0 or 40) ~ 2e-12
        self.assertGreater(traced, 0)
        self.assertGreater(skipped, 0)
        self.assertEqual(st["lost_total"], 0)
        r = self.run_traced(self.curl_call(n=3), TOKENTAP_SAMPLE_RATE="0")
        self.assertEqual(len(r.spans), traced)
        self.assertEqual(self.stats(r.env)["counters"]["sampled_out"], skipped + 3)

    def test_a_sampled_out_call_sends_nothing_of_its_own(self):
        # One process, 30 calls, all sampled out: the calls are counted, and
        # what goes to tokentapd is a count frame at the first and one at
        # exit (at most one more a second), not a frame packed and sent on
        # each request's way to the server (it was 31 here).
        n = 30
        t0 = time.monotonic()
        r, lines = self.strace_calls(n, "sendto,sendmsg,write,writev",
                                     TOKENTAP_SAMPLE_RATE="0")
        elapsed = time.monotonic() - t0
        self.assertEqual(r.rc, 0, r.stderr)
        self.assertEqual(len(r.spans), 0)
        self.assertEqual(self.stats(r.env)["counters"]["sampled_out"], n)
        to_daemon = [ln for ln in lines if "UNIX-STREAM" in ln]
        counts = [ln for ln in to_daemon if "\\245count" in ln]
        self.assertGreaterEqual(len(counts), 1, to_daemon)
        self.assertLessEqual(len(counts), 2 + int(elapsed), (elapsed, counts))
        self.assertEqual(len(to_daemon), len(counts), to_daemon)

    def test_bad_sample_rate_is_ignored_with_a_message(self):
        r = self.run_traced(self.curl_call(n=2), TOKENTAP_SAMPLE_RATE="half")
        self.assertEqual(len(r.spans), 2)
        self.assertIn("TOKENTAP_SAMPLE_RATE=half ignored", r.stderr)

    def test_disable(self):
        argv = self.curl_call(n=2)
        plain = subprocess.run(argv, env=self.env(), capture_output=True, text=True)
        r = self.run_traced(argv, TOKENTAP_DISABLE="1")
        self.assertEqual(r.rc, plain.returncode)
        self.assertEqual(r.stdout.count("chatcmpl"), 2)
        self.assertEqual(r.spans, [])

    def mixed(self):
        """sh -> python (requests) and curl: two programs, one call each."""
        py = " ".join(self.client("llm_call.py") + ["--lib", "requests", "--api", "anthropic"])
        return ["sh", "-c", "%s && %s" % (py, " ".join(self.curl_call()[2:]))]

    def programs(self, spans):
        return sorted(os.path.basename(s["exe"]).rstrip("0123456789.") for s in spans)

    def test_only_and_skip_cmds(self):
        r = self.run_traced(self.mixed())
        self.assertEqual(r.rc, 0, r.stderr)
        self.assertEqual(self.programs(r.spans), ["curl", "python"])
        cases = [
            (dict(TOKENTAP_ONLY_CMDS="curl"), ["curl"]),
            (dict(TOKENTAP_ONLY_CMDS="python*"), ["python"]),
            (dict(TOKENTAP_ONLY_CMDS="llm_call.py"), ["python"]),   # the script's name
            (dict(TOKENTAP_SKIP_CMDS="python*, sh"), ["curl"]),
            (dict(TOKENTAP_ONLY_CMDS="curl,python3", TOKENTAP_SKIP_CMDS="curl"), ["python"]),
            (dict(TOKENTAP_ONLY_CMDS="nothing-matches"), []),
        ]
        for i, (extra, want) in enumerate(cases):
            with self.subTest(**extra):
                env = self.env(TOKENTAP_DB=os.path.join(self.home, "%d.db" % i), **extra)
                r = self.run_traced(self.mixed(), env=env)
                self.assertEqual(r.rc, 0, r.stderr)
                # python printed one "STATUS LENGTH" line; curl printed JSON
                self.assertEqual(len(re.findall(r"(?m)^200 \d+$", r.stdout)), 1, r.stdout)
                self.assertEqual(self.programs(r.spans), want)

    def test_a_loss_is_never_silent(self):
        """No daemon and a spool that cannot be written: the program is
        unaffected and says, once, how many spans were lost and why."""
        env = preload_env(self.env(TOKENTAP_SOCKET=os.path.join(self.home, "none.sock"),
                                   TOKENTAP_SPOOL="/proc/tokentap-cannot-create"))
        argv = self.curl_call(n=3)
        plain = subprocess.run(argv, env=self.env(), capture_output=True, text=True)
        p = subprocess.run(argv, env=env, capture_output=True, text=True)
        self.assertEqual(p.returncode, plain.returncode)
        self.assertEqual(p.stdout.count("chatcmpl"), 3)
        lines = [l for l in p.stderr.splitlines() if "lost and not recorded" in l]
        self.assertEqual(len(lines), 3, p.stderr)       # one per curl process
        # The call, and the curl process's own span (sent on its first call
        # and again at exit, issue #7).
        # ... with the spool's own error (issue #9: say what happened).
        self.assertRegex(lines[0], r"3 span\(s\) lost and not recorded \(daemon "
                         r"unreachable and spool not writable \([A-Z][^)]+\)\)")

    def test_stats_counts_daemon_refusals_across_restarts(self):
        # A traced run, then a spool file with a cut frame and a bad frame.
        r = self.run_traced(self.curl_call(n=2))
        spool = os.path.join(self.home, "spool")
        os.makedirs(spool, exist_ok=True)
        with open(os.path.join(spool, "1-1.spool"), "wb") as fh:
            fh.write(b"\x00\x00\x00\x03\x81\xa1t" + b"\x00\x00\x00\x10abc")
        old = os.path.getmtime(os.path.join(spool, "1-1.spool")) - 3600
        os.utime(os.path.join(spool, "1-1.spool"), (old, old))     # not a live writer
        st = self.stats(r.env)
        # Every row: the 2 calls, their processes and the run (issue #7).
        self.assertEqual(len(self.spans(kinds=("llm",))), 2)
        self.assertEqual(st["spans_stored"], len(self.spans(kinds=None)))
        self.assertEqual(st["counters"]["bad_frames"], 1, st)
        self.assertEqual(st["counters"]["spool_frames_dropped"], 1, st)
        self.assertEqual(st["lost_total"], 1, st)
        self.assertEqual(st["spool"]["files"], 0)
        self.assertFalse(st["daemon"]["running"])
        # Counters survive: a later daemon lifetime adds to them.
        r = self.run_traced(self.curl_call(n=1))
        st2 = self.stats(r.env)
        self.assertEqual(len(self.spans(kinds=("llm",))), 3)
        self.assertEqual(st2["spans_stored"], len(self.spans(kinds=None)))
        self.assertEqual(st2["counters"]["bad_frames"], 1)
        self.assertGreater(st2["counters"]["frames"], st["counters"]["frames"])
        text = self.tokentap("stats", env=r.env).stdout
        self.assertIn("lost         1 span(s) captured but not stored", text)
