"""Issue #2: unmodified programs traced over OpenSSL/HTTP/1.1, spans stored
and exported with the right model, tokens, cost, stream flag and status."""
import json
import os
import subprocess
import time

from harness import PY, TapTest

SECRET_OAI = "sk-proj-SECRETSECRET0123456789"
SECRET_ANT = "sk-ant-api03-SECRETSECRET987654"


class CurlCLI(TapTest):
    def curl(self, path, body, *extra):
        return ["curl", "--http1.1", "-sS", "--cacert", self.m.cert,
                self.m.base + path, "-H", "content-type: application/json",
                "-H", "authorization: Bearer " + SECRET_OAI,
                "-d", json.dumps(body)] + list(extra)

    def test_openai_non_streaming(self):
        r = self.run_traced(self.curl("/v1/chat/completions", {
            "model": "gpt-4o-mini", "temperature": 0.5, "max_tokens": 50,
            "messages": [{"role": "user", "content": "hi"}]},
            "-H", "x-mock-usage: in=1000,out=200,cached=400"))
        self.assertEqual(r.rc, 0, r.stderr)
        self.assertEqual(len(r.spans), 1, r.stderr)
        s = r.spans[0]
        self.assertContract(s)
        self.assertEqual(s["status"], "ok", s.get("error"))
        self.assertEqual(s["provider"], "openai")
        self.assertEqual(s["operation"], "chat")
        self.assertEqual(s["name"], "chat gpt-4o-mini")
        self.assertEqual(s["request_model"], "gpt-4o-mini")
        self.assertEqual(s["http_status"], 200)
        self.assertEqual(s["path"], "/v1/chat/completions")
        self.assertFalse(s["stream"])
        self.assertEqual((s["input_tokens"], s["output_tokens"],
                          s["cache_read_tokens"]), (1000, 200, 400))
        self.assertTrue(s["usage_known"])
        self.assertEqual(s["temperature"], 0.5)
        self.assertEqual(s["max_tokens"], 50)
        self.assertEqual(s["finish_reasons"], ["stop"])
        self.assertCost(s, "gpt-4o-mini", 1000, 200, cr=400)
        self.assertIn("hi", json.dumps(s["input"]))
        self.assertIn("tokentap:", r.stderr)       # the summary
        self.assertIn("gpt-4o-mini", r.stderr)

    def test_anthropic_streaming(self):
        r = self.run_traced(["curl", "--http1.1", "-sS", "-N", "--cacert",
                             self.m.cert, self.m.base + "/v1/messages",
                             "-H", "content-type: application/json",
                             "-H", "x-api-key: " + SECRET_ANT,
                             "-H", "anthropic-version: 2023-06-01",
                             "-H", "x-mock-usage: in=2000,out=100,cached=500,cache_write=300",
                             "-d", json.dumps({
                                 "model": "claude-sonnet-4-5", "max_tokens": 100,
                                 "stream": True,
                                 "messages": [{"role": "user", "content": "hi"}]})])
        self.assertEqual(r.rc, 0, r.stderr)
        self.assertEqual(len(r.spans), 1, r.stderr)
        s = r.spans[0]
        self.assertContract(s)
        self.assertEqual(s["status"], "ok", s.get("error"))
        self.assertEqual(s["provider"], "anthropic")
        self.assertTrue(s["stream"])
        self.assertEqual((s["input_tokens"], s["output_tokens"],
                          s["cache_read_tokens"], s["cache_write_tokens"]),
                         (2000, 100, 500, 300))
        self.assertCost(s, "claude-sonnet-4-5", 2000, 100, cr=500, cw=300)
        self.assertIsNotNone(s["ttft_ms"])
        self.assertGreaterEqual(s["ttft_ms"], 0)
        self.assertLessEqual(s["ttft_ms"], (s["end_time"] - s["start_time"]) / 1e6)
        self.assertEqual(s["finish_reasons"], ["end_turn"])

    def test_secrets_never_stored(self):
        r = self.run_traced(self.curl("/v1/chat/completions?key=" + SECRET_ANT, {
            "model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}]}))
        self.assertEqual(len(r.spans), 1, r.stderr)
        self.assertNotIn("key=", r.spans[0]["path"])
        for root, _, files in os.walk(self.home):
            for f in files:
                data = open(os.path.join(root, f), "rb").read()
                for secret in (SECRET_OAI, SECRET_ANT):
                    self.assertFalse(secret.encode() in data,
                                     "%s found in %s" % (secret, f))

    def test_store_mode_0600(self):
        r = self.run_traced(self.curl("/v1/chat/completions", {
            "model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}]}))
        self.assertEqual(len(r.spans), 1)
        self.assertEqual(os.stat(self.db).st_mode & 0o777, 0o600)


class PythonClients(TapTest):
    def test_requests_gzip(self):
        r = self.run_traced(self.client("llm_call.py") + [
            "--lib", "requests", "--api", "openai", "--n", "3",
            "--header", "x-mock-usage: in=50,out=7"])
        self.assertEqual(r.rc, 0, r.stderr)
        self.assertEqual(r.stdout.count("content-encoding: gzip"), 3, r.stdout)
        self.assertEqual(len(r.spans), 3, r.stderr)
        for s in r.spans:
            self.assertContract(s)
            self.assertEqual(s["status"], "ok", s.get("error"))
            self.assertEqual((s["input_tokens"], s["output_tokens"]), (50, 7))
            self.assertCost(s, "gpt-4o-mini", 50, 7)
            self.assertIn("mock", json.dumps(s["output"]))   # decoded text
        # one keep-alive session: all three in one process, one trace
        self.assertEqual(len({s["trace_id"] for s in r.spans}), 1)

    def test_requests_anthropic_tool_call(self):
        r = self.run_traced(self.client("llm_call.py") + [
            "--lib", "requests", "--api", "anthropic", "--tools",
            "--header", "x-mock-usage: in=400,out=30"])
        self.assertEqual(len(r.spans), 1, r.stderr)
        s = r.spans[0]
        self.assertEqual(s["finish_reasons"], ["tool_use"])
        self.assertEqual(len(s["tool_calls"]), 1, s["tool_calls"])
        self.assertEqual(s["tool_calls"][0]["name"], "get_weather")
        self.assertCost(s, "claude-sonnet-4-5", 400, 30)

    def test_urllib(self):
        r = self.run_traced(self.client("llm_call.py") + [
            "--lib", "urllib", "--api", "anthropic",
            "--header", "x-mock-usage: in=120,out=9,cached=20"])
        self.assertEqual(r.rc, 0, r.stderr)
        self.assertEqual(len(r.spans), 1, r.stderr)
        s = r.spans[0]
        self.assertEqual(s["provider"], "anthropic")
        self.assertEqual((s["input_tokens"], s["output_tokens"],
                          s["cache_read_tokens"]), (120, 9, 20))
        self.assertCost(s, "claude-sonnet-4-5", 120, 9, cr=20)

    def test_httpx_streaming_openai_tools(self):
        r = self.run_traced(self.client("llm_call.py") + [
            "--lib", "httpx", "--api", "openai", "--stream", "--tools",
            "--header", "x-mock-usage: in=77,out=21"])
        self.assertEqual(r.rc, 0, r.stderr)
        self.assertEqual(len(r.spans), 1, r.stderr)
        s = r.spans[0]
        self.assertEqual(s["status"], "ok", s.get("error"))
        self.assertTrue(s["stream"])
        self.assertEqual((s["input_tokens"], s["output_tokens"]), (77, 21))
        self.assertEqual(s["finish_reasons"], ["tool_calls"])
        self.assertEqual(s["tool_calls"][0]["name"], "get_weather")
        json.loads(s["tool_calls"][0]["arguments"])   # reassembled, valid JSON
        self.assertIsNotNone(s["ttft_ms"])

    def test_stream_without_usage_is_unknown_not_zero(self):
        r = self.run_traced(self.client("llm_call.py") + [
            "--lib", "httpx", "--api", "openai", "--stream",
            "--no-include-usage"])
        self.assertEqual(len(r.spans), 1, r.stderr)
        s = r.spans[0]
        self.assertFalse(s["usage_known"])
        self.assertFalse(s["cost_known"])

    def test_error_status(self):
        r = self.run_traced(self.client("llm_call.py") + [
            "--lib", "requests", "--api", "anthropic",
            "--header", "x-mock-status: 429"])
        self.assertEqual(len(r.spans), 1, r.stderr)
        s = r.spans[0]
        self.assertEqual(s["status"], "error")
        self.assertEqual(s["http_status"], 429)
        self.assertIn("429", s["error"])

    def test_stream_cut_short(self):
        r = self.run_traced(self.client("llm_call.py") + [
            "--lib", "httpx", "--api", "anthropic", "--stream",
            "--header", "x-mock-cut: 3"])
        self.assertEqual(len(r.spans), 1, r.stderr)
        s = r.spans[0]
        self.assertEqual(s["status"], "error")
        self.assertTrue(s["stream"])
        self.assertRegex(s["error"], "(?i)(cut|closed|ended|incomplete)")

    def test_unknown_model_cost_unknown(self):
        r = self.run_traced(self.client("llm_call.py") + [
            "--lib", "requests", "--api", "openai", "--model", "my-private-llm-7b",
            "--header", "x-mock-usage: in=10,out=5"])
        self.assertEqual(len(r.spans), 1, r.stderr)
        s = r.spans[0]
        self.assertEqual((s["input_tokens"], s["output_tokens"]), (10, 5))
        self.assertTrue(s["usage_known"])
        self.assertFalse(s["cost_known"])
        self.assertEqual(s["cost_usd"], 0)

    def test_threads_keepalive_exactly_80(self):
        r = self.run_traced(self.client("agent_threads.py"))
        self.assertEqual(r.rc, 0, r.stderr)
        self.assertIn("calls 80", r.stdout)
        self.assertEqual(len(r.spans), 80, r.stderr)
        self.assertEqual(len({s["span_id"] for s in r.spans}), 80)
        by = {}
        for s in r.spans:
            self.assertEqual(s["status"], "ok", s.get("error"))
            by[s["provider"]] = by.get(s["provider"], 0) + 1
        self.assertEqual(by, {"openai": 40, "anthropic": 40})

    def test_multiprocessing_child(self):
        r = self.run_traced(self.client("mp_child.py"))
        self.assertEqual(r.rc, 0, r.stderr)
        self.assertIn("child status 200", r.stdout)
        self.assertEqual(len(r.spans), 1, r.stderr)
        s = r.spans[0]
        self.assertEqual(s["input_tokens"], 321)
        self.assertNotEqual(s["pid"], None)

    def test_exit_status_passed_through(self):
        r = self.run_traced(self.client("llm_call.py") + [
            "--lib", "requests", "--exit", "7"])
        self.assertEqual(r.rc, 7)
        self.assertEqual(len(r.spans), 1, r.stderr)


class NoLLM(TapTest):
    def test_no_llm_no_span_no_daemon(self):
        r = self.run_traced(["sh", "-c", "echo hello; ls / >/dev/null; "
                             "%s -c 'print(2+2)'" % PY])
        self.assertEqual(r.rc, 0, r.stderr)
        self.assertEqual(r.stdout, "hello\n4\n")
        self.assertEqual(r.spans, [])
        time.sleep(0.2)
        ps = subprocess.run(["pgrep", "-f", "tokentapd.*" + self.db],
                            capture_output=True, text=True)
        self.assertEqual(ps.stdout.strip(), "", "daemon left behind")

    def test_command_not_found(self):
        r = self.run_traced(["/nonexistent/prog"])
        self.assertEqual(r.rc, 127)
