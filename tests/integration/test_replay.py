"""Record once, replay forever (issue #13): `tokentap record`, `tokentap
replay`, `tokentap cassette` and `tokentap run --mock`, with real clients.

Each client records against a mock of its own, the mock is stopped, and
the replay runs with a listener on the mock's old port that counts every
connection (none may arrive); the program's output must be byte-identical
and its spans must carry the recording's tokens and replay "hit"."""
import base64
import json
import os
import shutil
import socket
import subprocess
import threading
import time
import unittest
import urllib.parse

from harness import (ROOT, CLIENTS, CLIENTS_BIN, PY, SLOW, TOKENTAP, Mock, TapTest,
                     san_wrap)

KEY = "sk-proj-REPLAYSECRET0123456789abcdef"


class Sentinel:
    """A listener on a stopped mock's port: counts connections (a replay
    must make none)."""

    def __init__(self, port):
        self.s = socket.socket()
        self.s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.s.bind(("127.0.0.1", port))
        self.s.listen(16)
        self.s.settimeout(0.2)
        self.hits = 0
        self.stop = False
        self.t = threading.Thread(target=self.loop, daemon=True)
        self.t.start()

    def loop(self):
        while not self.stop:
            try:
                c, _ = self.s.accept()
                self.hits += 1
                c.close()
            except OSError:
                pass

    def close(self):
        self.stop = True
        self.t.join(2)
        self.s.close()


class ReplayBase(TapTest):
    plain = False

    def setUp(self):
        super().setUp()
        self.rm = Mock(plain=self.plain)
        self.ca = os.path.join(self.home, "mock-ca.pem")
        if not self.plain:
            shutil.copy(self.rm.cert, self.ca)
        self.har = os.path.join(self.home, "run.har")
        self.sentinel = None

    def tearDown(self):
        if self.sentinel:
            self.sentinel.close()
        if self.rm:
            self.rm.stop()
        super().tearDown()

    def env(self, **extra):
        e = super().env(**extra)
        port = self.rm.port
        e.update(TOKENTAP_HOSTS="127.0.0.1:%d=auto" % port, MOCK_BASE=self.rm.base,
                 MOCK_CA=self.ca, SSL_CERT_FILE=self.ca, REQUESTS_CA_BUNDLE=self.ca,
                 OPENAI_API_KEY=KEY, ANTHROPIC_API_KEY=KEY)
        if self.plain:
            for k in ("MOCK_CA", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE"):
                e.pop(k, None)
        e.update(extra)
        return e

    def tt(self, args, env=None, timeout=120):
        return subprocess.run([TOKENTAP] + args, env=env or self.env(), capture_output=True,
                              text=True, timeout=timeout * SLOW, stdin=subprocess.DEVNULL)

    def record(self, argv, **extra):
        p = self.tt(["record", "-o", self.har, "--"] + san_wrap(argv), env=self.env(**extra))
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("recorded in", p.stderr)
        self.assertEqual(os.stat(self.har).st_mode & 0o777, 0o600)
        return p

    def stop_mock(self):
        port = self.rm.port
        self.rm.stop()
        self.rm = None
        self.sentinel = Sentinel(port)
        self._port = port

    def env_after_stop(self, **extra):
        """The environment of the recording run, the mock gone."""
        e = super().env(**extra)
        e["TOKENTAP_DB"] = os.path.join(self.home, "replay.db")
        base = "%s://127.0.0.1:%d" % ("http" if self.plain else "https", self._port)
        e.update(TOKENTAP_HOSTS="127.0.0.1:%d=auto" % self._port, MOCK_BASE=base,
                 MOCK_CA=self.ca, SSL_CERT_FILE=self.ca, REQUESTS_CA_BUNDLE=self.ca,
                 OPENAI_API_KEY=KEY, ANTHROPIC_API_KEY=KEY)
        if self.plain:
            for k in ("MOCK_CA", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE"):
                e.pop(k, None)
        e.update(extra)
        return e

    def replay(self, argv, opts=(), env=None):
        return self.tt(["replay", self.har] + list(opts) + ["--"] + san_wrap(argv),
                       env=env or self.env_after_stop())

    def llm_spans(self, env):
        return self.spans(env)

    def roundtrip(self, argv, expect_calls, argv_replay=None):
        """Record, stop the mock, replay: identical output, spans with the
        recording's tokens, no connection to the old port."""
        rec = self.record(argv)
        rec_spans = self.spans(self.env())
        self.assertEqual(len(rec_spans), expect_calls, rec_spans)
        self.assertTrue(all(s["replay"] is None for s in rec_spans))
        self.stop_mock()
        env = self.env_after_stop(TOKENTAP_DB=os.path.join(self.home, "replay.db"))
        rp = self.replay(argv_replay or argv, env=env)
        self.assertEqual(rp.returncode, 0, rp.stderr)
        self.assertEqual(rp.stdout, rec.stdout)
        self.assertEqual(self.sentinel.hits, 0, "a replayed call reached the mock's port")
        spans = self.spans(env)
        self.assertEqual(len(spans), expect_calls, rp.stderr)
        self.assertEqual([s["replay"] for s in spans], ["hit"] * expect_calls)
        key = lambda s: (s["start_time"])
        for a, b in zip(sorted(rec_spans, key=key), sorted(spans, key=key)):
            for k in ("input_tokens", "output_tokens", "cache_read_tokens", "request_model",
                      "response_model", "stream", "status", "usage_known", "cost_usd"):
                self.assertEqual(a[k], b[k], k)
        self.assertIn("%d replayed, 0 missed" % expect_calls, rp.stderr)
        # replayed cost is not billed: cost totals say $0
        cost = json.loads(self.tokentap("cost", "--format", "json", env=env).stdout)
        self.assertEqual(cost["total"]["cost_usd"], 0)
        self.assertTrue(all(g["cost_usd"] == 0 for g in cost["groups"]))
        return rec, rp, spans

    def agent(self, *args):
        return [PY, os.path.join(CLIENTS, "replay_agent.py")] + list(args)


class TestReplayClients(ReplayBase):
    def test_requests_openai_stream(self):
        self.roundtrip(self.agent("--lib", "requests", "--api", "openai", "--stream"), 3)

    def test_requests_openai(self):
        self.roundtrip(self.agent("--lib", "requests", "--api", "openai"), 3)

    def test_httpx_h1_anthropic_stream(self):
        self.roundtrip(self.agent("--lib", "httpx", "--api", "anthropic", "--stream"), 3)

    def test_httpx_h2(self):
        _, _, spans = self.roundtrip(self.agent("--lib", "httpx2", "--api", "openai", "--stream"), 3)
        self.assertEqual({s["http_version"] for s in spans}, {"2"})

    def test_urllib_anthropic(self):
        self.roundtrip(self.agent("--lib", "urllib", "--api", "anthropic"), 3)

    def curl(self, *extra, stream=True):
        b = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "curl"}]}
        if stream:
            b.update(stream=True, stream_options={"include_usage": True})
        return ["curl", "-s", "--cacert", self.ca] + list(extra) + [
            "-H", "authorization: Bearer " + KEY,
            "https://127.0.0.1:%d/v1/chat/completions" % self.rm.port, "-d", json.dumps(b)]

    def test_curl_cli_h2(self):
        _, _, spans = self.roundtrip(self.curl(), 1)
        self.assertEqual(spans[0]["http_version"], "2")

    def test_curl_cli_http11(self):
        _, _, spans = self.roundtrip(self.curl("--http1.1", stream=False), 1)
        self.assertEqual(spans[0]["http_version"], "1.1")

    def test_libcurl_easy(self):
        body = json.dumps({"model": "gpt-4o-mini", "stream": True,
                           "stream_options": {"include_usage": True},
                           "messages": [{"role": "user", "content": "easy"}]})
        argv = [os.path.join(CLIENTS_BIN, "curl_easy"),
                self.rm.base + "/v1/chat/completions", body, self.ca, "--stream", "--n", "2"]
        self.roundtrip(argv, 2)

    def test_libcurl_multi(self):
        argv = [os.path.join(CLIENTS_BIN, "curl_multi"), self.rm.base, self.ca, "8"]
        self.roundtrip(argv, 8)


    # An official Node build (OpenSSL linked in, inline hooks, issue #10):
    # its SSL_new is its own, so the run's certificate reaches it through
    # NODE_EXTRA_CA_CERTS, kept after the user's own file.
    NODE_SCRIPT = r"""
const base = process.env.MOCK_BASE, h = {"content-type": "application/json",
    authorization: "Bearer " + process.env.OPENAI_API_KEY};
let r = await fetch(base + "/v1/chat/completions", {method: "POST", headers: h,
    body: JSON.stringify({model: "gpt-4o-mini", messages: [{role: "user", content: "node one"}]})});
let j = await r.json();
console.log(r.status, j.choices[0].message.content, JSON.stringify(j.usage));
r = await fetch(base + "/v1/chat/completions", {method: "POST", headers: h,
    body: JSON.stringify({model: "gpt-4o-mini", stream: true, stream_options: {include_usage: true},
                          messages: [{role: "user", content: "node two"}]})});
const text = await r.text();
console.log(r.status, text.split("\n").filter(l => l.startsWith("data:")).length, "events");
"""

    def test_official_node_fetch(self):
        node = os.path.join(ROOT, "tests", "node", "node_modules", "node22", "bin", "node")
        self.assertTrue(os.access(node, os.X_OK), "npm ci in tests/node (install-deps)")
        script = os.path.join(self.home, "node_calls.mjs")
        with open(script, "w") as f:
            f.write(self.NODE_SCRIPT)
        orig_env, orig_after = self.env, self.env_after_stop
        self.env = lambda **x: orig_env(NODE_EXTRA_CA_CERTS=self.ca, **x)
        self.env_after_stop = lambda **x: orig_after(NODE_EXTRA_CA_CERTS=self.ca, **x)
        _, rp, spans = self.roundtrip([node, script], 2)
        self.assertEqual(sorted(s["stream"] for s in spans), [False, True])


class TestReplayOllama(ReplayBase):
    plain = True

    def test_ollama_plain_http(self):
        self.roundtrip(self.agent("--lib", "requests", "--api", "ollama", "--stream"), 3)

    def test_ollama_urllib_not_streamed(self):
        self.roundtrip(self.agent("--lib", "urllib", "--api", "ollama"), 3)


class TestReplayBehaviour(ReplayBase):
    def test_changed_prompt_misses_with_diff(self):
        self.record(self.agent("--api", "openai", "--n", "1"))
        self.stop_mock()
        rp = self.replay(self.agent("--api", "openai", "--n", "1", "--prompt", "Say goodbye"),
                         opts=["--json=" + os.path.join(self.home, "sum.json")])
        self.assertEqual(rp.returncode, 1)      # the client saw an error
        self.assertIn("call 0: 400", rp.stdout)
        err = json.loads(rp.stdout.splitlines()[1])["error"]
        self.assertEqual(err["type"], "invalid_request_error")
        self.assertIn("no recording in", err["message"])
        self.assertIn("Nearest: entry 1", err["message"])
        self.assertRegex(err["message"], r'\n- +"content": "Say hello #0"')
        self.assertRegex(err["message"], r'\n\+ +"content": "Say goodbye #0"')
        self.assertIn("0 replayed, 2 missed", rp.stderr)
        summary = json.load(open(os.path.join(self.home, "sum.json")))
        self.assertEqual((summary["hits"], summary["misses"]), (0, 2))
        self.assertEqual(summary["miss_details"][0]["nearest_entry"], 1)
        self.assertEqual(self.sentinel.hits, 0)
        spans = self.spans(self.env_after_stop())
        self.assertEqual([s["replay"] for s in spans], ["miss", "miss"])
        self.assertEqual({s["http_status"] for s in spans}, {400})

    def test_miss_live_reaches_the_mock(self):
        self.record(self.agent("--api", "openai", "--n", "1"))
        rp = self.tt(["replay", self.har, "--miss", "live", "--live-cacert", self.ca, "--"]
                     + self.agent("--api", "openai", "--n", "1", "--prompt", "Other"))
        self.assertEqual(rp.returncode, 0, rp.stderr)
        self.assertIn("Hello from the mock", rp.stdout)
        spans = self.spans(self.env())
        live = [s for s in spans if s["replay"] == "miss"]
        self.assertEqual(len(live), 2, spans)
        self.assertTrue(all(s["status"] == "ok" and s["input_tokens"] == 100 for s in live))
        self.assertIn("missed (answered: live)", rp.stderr)
        # a stream goes on piece by piece, as the provider sends it
        rp = self.tt(["replay", self.har, "--miss", "live", "--live-cacert", self.ca, "--"]
                     + self.agent("--api", "openai", "--n", "1", "--stream", "--prompt", "S"))
        self.assertEqual(rp.returncode, 0, rp.stderr)
        self.assertIn('"content":" mock"', rp.stdout)
        self.assertIn("data: [DONE]", rp.stdout)
        streamed = [s for s in self.spans(self.env()) if s["replay"] == "miss" and s["stream"]]
        self.assertEqual(len(streamed), 2)
        self.assertTrue(all(s["status"] == "ok" and s["output_tokens"] == 20 for s in streamed))

    def test_miss_mock(self):
        self.record(self.agent("--api", "anthropic", "--n", "1"))
        self.stop_mock()
        rp = self.replay(self.agent("--api", "anthropic", "--n", "1", "--prompt", "New"),
                         opts=["--miss", "mock"])
        self.assertEqual(rp.returncode, 0, rp.stderr)
        spans = self.spans(self.env_after_stop())
        self.assertEqual([s["replay"] for s in spans], ["mock", "mock"])
        self.assertEqual(self.sentinel.hits, 0)

    def test_only_replays_some_the_rest_live(self):
        # one run, two providers
        script = ("set -e; %s; %s" % (" ".join(self.agent("--api", "openai", "--n", "1")),
                                      " ".join(self.agent("--api", "anthropic", "--n", "1"))))
        self.record(["sh", "-c", script])
        rp = self.tt(["replay", self.har, "--only", "model=gpt-4o*", "--live-cacert", self.ca,
                      "--", "sh", "-c", script])
        self.assertEqual(rp.returncode, 0, rp.stderr)
        spans = self.spans(self.env())
        replayed = [s for s in spans if s["replay"] == "hit"]
        self.assertEqual({s["request_model"] for s in replayed}, {"gpt-4o-mini"})
        self.assertEqual(len(replayed), 2)
        live = [s for s in spans if s["request_model"] == "claude-sonnet-4-5" and not s["replay"]]
        self.assertEqual(len(live), 4)   # recorded 2 + replayed run 2 (live)
        self.assertIn("2 live", rp.stderr)

    def test_realtime_keeps_chunk_times(self):
        clock = os.path.join(self.home, "clock.py")
        with open(clock, "w") as fh:
            fh.write(
                "import json,os,time,requests\n"
                "b={'model':'gpt-4o-mini','stream':True,'messages':[{'role':'user','content':'t'}]}\n"
                "t0=time.monotonic()\n"
                "r=requests.post(os.environ['MOCK_BASE']+'/v1/chat/completions',json=b,"
                "verify=os.environ['MOCK_CA'],stream=True,headers={'x-mock-delay-ms':'250',"
                "'x-mock-chunks':'4'})\n"
                "for l in r.iter_lines():\n"
                "    if l: print(round((time.monotonic()-t0)*1000,1), flush=True)\n")
        rec = self.record([PY, clock])
        self.stop_mock()
        rp = self.replay([PY, clock], opts=["--speed", "realtime"])
        self.assertEqual(rp.returncode, 0, rp.stderr)
        # What the client saw, against the recorded chunk times (both from
        # the first chunk: process and TLS start-up are not part of it).
        chunks = json.load(open(self.har))["log"]["entries"][0]["response"]["_chunks"]
        want = [c["time"] - chunks[0]["time"] for c in chunks]
        seen = [float(x) for x in rp.stdout.split()]
        seen = [x - seen[0] for x in seen]
        self.assertEqual(len(seen), len(want), (seen, want))
        self.assertGreater(want[-1], 1000)
        for x, y in zip(want[1:], seen[1:]):
            self.assertLess(abs(x - y), 0.10 * x, (want, seen))
        a = [float(x) for x in rec.stdout.split()]
        fast = self.replay([PY, clock])
        self.assertLess(float(fast.stdout.split()[-1]), a[-1] / 2)

    def test_cut_stream_is_cut_again(self):
        """A stream the provider broke off is replayed broken off, after the
        same bytes (HTTP/2: the stream is reset, as the mock did)."""
        b = json.dumps({"model": "gpt-4o-mini", "stream": True,
                        "messages": [{"role": "user", "content": "cut"}]})
        argv = ["curl", "-s", "--cacert", self.ca, "-H", "x-mock-cut: 3",
                "https://127.0.0.1:%d/v1/chat/completions" % self.rm.port, "-d", b]
        rec = self.tt(["record", "-o", self.har, "--"] + argv)
        self.assertNotEqual(rec.returncode, 0, rec.stderr)     # curl saw the cut
        entry = json.load(open(self.har))["log"]["entries"][0]
        self.assertFalse(entry["_tokentap"]["complete"])
        self.stop_mock()
        rp = self.replay(argv)
        self.assertEqual(rp.returncode, rec.returncode, rp.stderr)
        self.assertEqual(rp.stdout, rec.stdout)
        self.assertEqual(rp.stdout.count("data: "), 3)
        spans = self.spans(self.env_after_stop())
        self.assertEqual(spans[0]["replay"], "hit")
        self.assertEqual(spans[0]["status"], "error")

    def test_no_key_in_cassette(self):
        argv = ["curl", "-s", "--cacert", self.ca, "-H", "authorization: Bearer " + KEY,
                "-H", "x-api-key: " + KEY,
                "https://127.0.0.1:%d/v1/chat/completions?key=%s&api-version=1" % (self.rm.port, KEY),
                "-d", json.dumps({"model": "gpt-4o-mini", "messages": [
                    {"role": "user", "content": "hi"}]})]
        self.record(argv)
        blobs = [open(self.har, "rb").read()]
        recdir = os.path.join(self.home, "recordings")
        for f in os.listdir(recdir):
            self.assertEqual(os.stat(os.path.join(recdir, f)).st_mode & 0o777, 0o600)
            blobs.append(open(os.path.join(recdir, f), "rb").read())
        for forms in (KEY, urllib.parse.quote(KEY), base64.b64encode(KEY.encode()).decode(),
                      KEY[8:30]):
            for blob in blobs:
                self.assertNotIn(forms.encode(), blob)
        har = json.load(open(self.har))
        self.assertEqual(har["log"]["version"], "1.2")
        e = har["log"]["entries"][0]
        self.assertIn("api-version=1", e["request"]["url"])
        self.assertEqual(e["request"]["headers"], [])

    def test_redact_applies_to_cassette(self):
        argv = self.agent("--api", "openai", "--n", "1", "--prompt", "my ssn 123-45-6789")
        self.record(argv, TOKENTAP_REDACT="[0-9]{3}-[0-9]{2}-[0-9]{4}")
        text = open(self.har).read()
        self.assertNotIn("123-45-6789", text)
        self.assertIn("[REDACTED]", text)

    def test_malformed_cassettes_named_and_not_run(self):
        self.record(self.agent("--api", "openai", "--n", "1"))
        good = json.load(open(self.har))
        marker = os.path.join(self.home, "started")
        cases = []
        raw = open(self.har).read()
        cases.append(("truncated", raw[: len(raw) // 2], "not valid JSON"))
        bad = json.loads(json.dumps(good))
        del bad["log"]["entries"][1]["response"]["status"]
        cases.append(("no status", json.dumps(bad), "entry 2 (POST https://127.0.0.1:"))
        bad = json.loads(json.dumps(good))
        bad["log"]["entries"][0]["response"]["_chunks"] = [{"time": 1, "size": 3}]
        cases.append(("chunks", json.dumps(bad), "entry 1 (POST"))
        bad = json.loads(json.dumps(good))
        bad["log"]["entries"][0]["response"]["content"]["encoding"] = "base64"
        bad["log"]["entries"][0]["response"]["content"]["text"] = "!!not base64!!"
        cases.append(("base64", json.dumps(bad), "base64"))
        cases.append(("not har", "[1,2]", "log.entries"))
        for name, text, want in cases:
            with open(self.har, "w") as fh:
                fh.write(text)
            p = self.tt(["replay", self.har, "--", "touch", marker])
            self.assertEqual(p.returncode, 1, name)
            self.assertIn(want, p.stderr, name)
            self.assertIn("the command was not started", p.stderr, name)
            self.assertFalse(os.path.exists(marker), name)

    def test_cassette_from_trace(self):
        rec = self.record(self.agent("--api", "openai", "--n", "1"))
        trace = [s for s in self.spans(self.env())][0]["trace_id"]
        out = os.path.join(self.home, "again.har")
        p = self.tt(["cassette", trace[:10], "-o", out], env=self.env())
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(len(json.load(open(out))["log"]["entries"]), 2)
        self.stop_mock()
        self.har = out
        rp = self.replay(self.agent("--api", "openai", "--n", "1"))
        self.assertEqual(rp.stdout, rec.stdout)
        self.assertEqual(self.tt(["cassette", "ffffffffff", "-o", out],
                                 env=self.env_after_stop()).returncode, 1)

    @unittest.skipUnless(os.geteuid() == 0 and shutil.which("unshare") and shutil.which("ip"),
                         "needs root, unshare and ip for a network namespace")
    def test_replay_in_network_namespace(self):
        argv = self.agent("--lib", "httpx2", "--api", "anthropic", "--stream", "--n", "1")
        rec = self.record(argv)
        self.stop_mock()
        env = self.env_after_stop()
        cmd = ("ip link set lo up && exec %s replay %s -- %s"
               % (TOKENTAP, self.har, " ".join(argv)))
        p = subprocess.run(["unshare", "-n", "sh", "-c", cmd], env=env, capture_output=True,
                           text=True, timeout=120 * SLOW)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout, rec.stdout)
        self.assertIn("2 replayed, 0 missed", p.stderr)


class TestDryRun(TapTest):
    def test_run_mock_real_hosts_no_network(self):
        env = self.env(TOKENTAP_HOSTS="")
        body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}],
                "tools": [{"type": "function", "function": {
                    "name": "get_weather", "parameters": {"type": "object", "properties": {
                        "city": {"type": "string"}}}}}]}
        script = (
            "curl -s https://api.openai.com/v1/chat/completions -H 'authorization: Bearer x' "
            "-d '%s' && echo && %s -c \"import requests; print(requests.post("
            "'https://api.anthropic.com/v1/messages', json={'model': 'claude-sonnet-4-5', "
            "'max_tokens': 10, 'messages': [{'role': 'user', 'content': 'hi'}]}, "
            "headers={'x-api-key': 'k', 'anthropic-version': '2023-06-01'}).json()['content'])\""
            % (json.dumps(body), PY))
        del env["SSL_CERT_FILE"], env["REQUESTS_CA_BUNDLE"]
        p = subprocess.run([TOKENTAP, "run", "--mock", "--", "sh", "-c", script], env=env,
                           capture_output=True, text=True, timeout=120 * SLOW)
        self.assertEqual(p.returncode, 0, p.stderr)
        out = json.loads(p.stdout.splitlines()[0])
        self.assertEqual(out["choices"][0]["message"]["tool_calls"][0]["function"]["name"],
                         "get_weather")
        self.assertIn("Hello from the mock", p.stdout.splitlines()[1])
        self.assertIn("2 LLM calls answered by the mock", p.stderr)
        spans = self.spans(env)
        self.assertEqual(sorted(s["host"] for s in spans), ["api.anthropic.com", "api.openai.com"])
        self.assertEqual({s["replay"] for s in spans}, {"mock"})
        cost = json.loads(self.tokentap("cost", "--format", "json", env=env).stdout)
        self.assertEqual(cost["total"]["cost_usd"], 0)
        self.assertTrue(all(g["cost_usd"] == 0 for g in cost["groups"]))
