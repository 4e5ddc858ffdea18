"""Issue #14: the capture worker (preload/defer.c). A span's work runs on
one thread of tokentap's per traced process, off the program's thread;
these tests look at that thread from the program's side (/proc/self) and
check that moving the work changed no outcome: every call stored, with
the same fields, however the program leaves."""
import json
import os
import subprocess
import time

from harness import SLOW, TOKENTAP, TapTest, san_wrap

# Signals a program may expect to receive on its own threads.
PROGRAM_SIGNALS = {"SIGINT": 2, "SIGUSR1": 10, "SIGPIPE": 13, "SIGALRM": 14,
                   "SIGTERM": 15, "SIGCHLD": 17, "SIGWINCH": 28}


class Worker(TapTest):
    def probe(self, mode, **env):
        r = self.run_traced(self.client("worker_probe.py") + [mode], **env)
        self.assertEqual(r.rc, 0, r.stderr)
        return r

    def test_worker_blocks_every_signal_the_program_could_get(self):
        r = self.probe("sigblk")
        res = json.loads(r.stdout)
        ours = [blk for name, blk in res["after"] if name == "tokentap"]
        self.assertEqual(len(ours), 1, res)
        mask = int(ours[0], 16)
        for name, num in PROGRAM_SIGNALS.items():
            self.assertTrue(mask & (1 << (num - 1)), "%s not blocked: %s" % (name, ours[0]))
        self.assertFalse([n for n, _ in res["before"] if n == "tokentap"],
                         "a worker before the first LLM call")
        self.assertEqual(len(r.spans), 1, r.stderr)
        self.assertEqual(r.spans[0]["input_tokens"], 123)

    def test_worker_leaves_when_idle(self):
        r = self.probe("threads")
        res = json.loads(r.stdout)
        names = lambda ts: sorted(n for n, _ in ts)   # noqa: E731
        self.assertIn("tokentap", names(res["after"]))
        self.assertNotIn("tokentap", names(res["later"]),
                         "the worker stayed after 2.6 s without work")
        self.assertLessEqual(len(res["later"]), len(res["after"]) - 1)
        self.assertEqual(len(r.spans), 1, r.stderr)

    def test_no_llm_call_no_worker(self):
        r = self.probe("none")
        self.assertNotIn("tokentap", [n for n, _ in json.loads(r.stdout)["threads"]])
        self.assertEqual(r.spans, [])

    def test_exec_right_after_a_call_keeps_its_span(self):
        r = self.probe("exec")
        self.assertEqual(len(r.spans), 1, r.stderr)
        self.assertEqual(r.spans[0]["status"], "ok")
        self.assertEqual(r.spans[0]["output_tokens"], 7)

    def test_a_quiet_program_s_span_is_stored_while_it_runs(self):
        """The end of a span waits a moment (TT_DEFER_END_MS, defer.h),
        then runs on the worker by itself: a program that neither writes,
        nor exits, nor execs after its call has the span stored while it
        still runs."""
        env = self.env()
        marker = os.path.join(env["TOKENTAP_HOME"], "seen")
        p = subprocess.Popen([TOKENTAP, "run", "--"] +
                             san_wrap(self.client("worker_probe.py") + ["quiet", marker]),
                             env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        try:
            seen, running = [], None
            deadline = time.monotonic() + 15 * SLOW
            while not seen and time.monotonic() < deadline:
                time.sleep(0.05)
                if os.path.exists(env.get("TOKENTAP_DB", "")):
                    seen = self.spans(env)
                running = p.poll() is None
            self.assertTrue(seen, "no span stored within 15 s of the call")
            self.assertTrue(running, "the program had left before its span was stored")
        finally:
            open(marker, "w").close()
            out, err = p.communicate(timeout=60 * SLOW)
        self.assertEqual(p.returncode, 0, err)
        self.assertEqual(out, "")
        self.assertEqual(len(seen), 1, seen)
        self.assertEqual(seen[0]["input_tokens"], 123)
        self.assertEqual(seen[0]["output_tokens"], 7)

    def test_exit_by_os_exit_right_after_a_call_keeps_its_span(self):
        r = self.probe("_exit")
        self.assertEqual(len(r.spans), 1, r.stderr)
        self.assertEqual(r.spans[0]["input_tokens"], 123)

    def test_only_output_waits_for_the_span(self):
        """A write to a pipe right after a call sends the call's span first
        (the program is SIGKILLed right after it: the span is stored); a
        write to an eventfd, what event loops (libuv, tokio, ...) write to
        wake a thread, is not output and does not wait for the span's work
        (killed as fast, the span had not left yet: it was due 10 ms after
        the answer, on the worker)."""
        seen = set()
        for kind, want in (("pipe", 1), ("eventfd", 0), ("pipe", 1)):
            for _ in range(3):
                r = self.run_traced(self.client("worker_probe.py") + ["wake", kind])
                new = [s for s in r.spans if s["span_id"] not in seen]
                seen.update(s["span_id"] for s in r.spans)
                if "exit 4" not in r.stderr and r.rc != 4:
                    break
            self.assertNotEqual(r.rc, 4, "three runs too slow to tell: " + r.stderr)
            self.assertNotEqual(r.rc, 0, r.stderr)      # killed
            self.assertEqual(len(new), want, "%s: %s" % (kind, r.stderr))
            for s in new:
                self.assertEqual(s["input_tokens"], 123)

    def test_tls_records_are_not_checked_as_output(self):
        """While a finished call's span is owed (the next 10 ms), every
        write(2) to a file, pipe or terminal waits for it, and an fstat
        tells which writes those are. The TLS records OpenSSL writes inside
        SSL_write are never output: back-to-back calls from Python (whose
        ssl module writes each record with write(2)) make no fstat of
        their socket (two per call before)."""
        n = 30
        r, lines = self.strace_calls(n, "fstat,newfstatat,write")
        self.assertEqual(r.rc, 0, r.stderr)
        self.assertEqual(len(r.spans), n, r.stderr)
        tls_writes = [ln for ln in lines if "write(" in ln and "TCP:" in ln]
        self.assertGreaterEqual(len(tls_writes), 2 * n, "no TLS writes seen: %s" % lines[-20:])
        checked = [ln for ln in lines if "stat(" in ln and "TCP:" in ln]
        self.assertEqual(checked, [])

    def test_worker_off_gives_the_same_spans(self):
        keys = ("status", "provider", "operation", "request_model", "response_model",
                "input_tokens", "output_tokens", "cache_read_tokens", "cost_usd",
                "stream", "finish_reasons", "http_status", "input", "output")
        got = {}
        seen = set()
        for worker in ("on", "off"):
            for stream in (False, True):
                argv = self.client("llm_call.py") + ["--lib", "requests", "--api", "openai",
                                                     "--n", "3"]
                if stream:
                    argv.append("--stream")
                r = self.run_traced(argv, TOKENTAP_WORKER=worker)
                self.assertEqual(r.rc, 0, r.stderr)
                new = [s for s in r.spans if s["span_id"] not in seen]
                seen.update(s["span_id"] for s in r.spans)
                self.assertEqual(len(new), 3, r.stderr)
                got[(worker, stream)] = sorted(
                    [{k: s.get(k) for k in keys} for s in new], key=json.dumps)
        for stream in (False, True):
            self.assertEqual(got[("on", stream)], got[("off", stream)])

    def test_daemon_runs_idle_when_asked(self):
        r = self.probe("sched", TOKENTAP_DAEMON_SCHED="idle")
        res = json.loads(r.stdout)
        self.assertTrue(res["daemons"], "no tokentapd for this store: %s" % r.stderr)
        for pid, policy in res["daemons"].items():
            # SCHED_IDLE, with SCHED_RESET_ON_FORK (its gateway child starts
            # with the normal policy).
            self.assertEqual(policy & ~os.SCHED_RESET_ON_FORK, res["idle"],
                             "tokentapd %s: policy %#x" % (pid, policy))
            self.assertTrue(policy & os.SCHED_RESET_ON_FORK, "%#x" % policy)
        self.assertEqual(len(r.spans), 1, r.stderr)
