"""Issue #11 item 3: LLM calls over WebSocket, through the preload and
through the gateway. Real clients (Debian's python3-websockets, a C client
on OpenSSL that can write its frames a byte at a time, Node's `ws` from
npm) speak the OpenAI Responses-over-WebSocket flow (a generate:false
warm-up, then a call chained by previous_response_id) and the Realtime
flow (an audio response, then a text response with a tool call) to the
mock's WebSocket routes (tools/mock_ws.c), over TLS and plain, with and
without permessage-deflate, fragmented with pings in between, written in
tiny pieces. Asserted: one span per response, the warm-up is no span,
exact tokens (audio apart), cost computed here from the price table,
the client's output identical to an untraced run."""
import json
import os
import shutil
import subprocess
import unittest

from harness import CLIENTS_BIN, PY, SLOW, TOKENTAP, Mock, TapTest

HERE = os.path.dirname(os.path.abspath(__file__))
NODE_DIR = os.path.normpath(os.path.join(HERE, "..", "ws"))

# USD per 1M tokens, data/catalogue.tsv (openai rows).
GPT5_MINI = dict(inp=0.25, out=2.0, cr=0.025)
GPT_REALTIME = dict(inp=4.0, out=16.0, cr=0.4, ain=32.0, aout=64.0)

# What tools/mock_ws.c answers (its header comment).
RESP_USAGE = dict(inp=200, cached=120, out=30, reasoning=10)
RT_AUDIO = dict(inp=300, ain=200, out=150, aout=100, cached=0)
RT_TEXT = dict(inp=200, ain=0, out=20, aout=0, cached=64)

PLAIN = None


def setUpModule():
    global PLAIN
    PLAIN = Mock(plain=True)


def tearDownModule():
    PLAIN.stop()


def resp_cost(u):
    p = GPT5_MINI
    return ((u["inp"] - u["cached"]) * p["inp"] + u["cached"] * p["cr"] +
            u["out"] * p["out"]) / 1e6


def rt_cost(u):
    p = GPT_REALTIME
    text_in = u["inp"] - u["cached"] - u["ain"]
    text_out = u["out"] - u["aout"]
    return (text_in * p["inp"] + u["cached"] * p["cr"] + u["ain"] * p["ain"] +
            text_out * p["out"] + u["aout"] * p["aout"]) / 1e6


class WsBase(TapTest):
    plain = False

    def env(self, **extra):
        e = super().env(**extra)
        if self.plain:
            e["MOCK_BASE"] = PLAIN.base
            e["TOKENTAP_HOSTS"] = "127.0.0.1:%d=auto" % PLAIN.port
        e.update(extra)
        return e

    def direct(self, argv, env):
        """The same program, untraced: its output is the reference."""
        p = subprocess.run(argv, env=env, capture_output=True, text=True,
                           timeout=60 * SLOW, stdin=subprocess.DEVNULL)
        self.assertEqual(p.returncode, 0, p.stderr)
        return p.stdout

    def check_responses(self, spans, capture="preload"):
        self.assertEqual(len(spans), 1, [(s["response_id"], s["error"]) for s in spans])
        s = spans[0]
        self.assertContract(s)
        self.assertEqual(s["status"], "ok", s.get("error"))
        self.assertEqual(s["capture"], capture)
        self.assertEqual(s["http_version"], "websocket")
        self.assertEqual(s["method"], "GET")
        self.assertEqual(s["path"], "/v1/responses")
        self.assertEqual(s["provider"], "openai")
        self.assertEqual(s["request_model"], "gpt-5-mini")
        self.assertEqual(s["response_model"], "gpt-5-mini")
        self.assertEqual(s["response_id"], "resp_ws_2")
        # chained to the warm-up by previous_response_id: one conversation
        self.assertRegex(s["conversation_id"] or "", r"^[0-9a-f]{16}$")
        self.assertTrue(s["stream"])
        self.assertEqual((s["input_tokens"], s["cache_read_tokens"], s["output_tokens"],
                          s["reasoning_tokens"]),
                         (RESP_USAGE["inp"], RESP_USAGE["cached"], RESP_USAGE["out"],
                          RESP_USAGE["reasoning"]))
        self.assertTrue(s["cost_known"])
        self.assertAlmostEqual(s["cost_usd"], resp_cost(RESP_USAGE), places=12)
        self.assertEqual(s["output"], "Hello from the websocket mock.")
        self.assertIn("Say hello", json.dumps(s["input"]))
        self.assertGreaterEqual(s["ttft_ms"], 0)
        self.assertEqual(s["finish_reasons"], ["stop"])

    def check_realtime(self, spans, capture="preload"):
        self.assertEqual(len(spans), 2, [(s["response_id"], s["error"]) for s in spans])
        spans = sorted(spans, key=lambda s: s["start_time"])
        for s in spans:
            self.assertContract(s)
            self.assertEqual(s["status"], "ok", s.get("error"))
            self.assertEqual(s["capture"], capture)
            self.assertEqual(s["http_version"], "websocket")
            self.assertEqual(s["request_model"], "gpt-realtime")
            self.assertTrue(s["stream"])
            self.assertGreaterEqual(s["ttft_ms"], 0)
            self.assertEqual(s["output"], "Hello from the websocket mock.")
        a, t = spans
        self.assertEqual((a["input_tokens"], a["audio_input_tokens"], a["output_tokens"],
                          a["audio_output_tokens"], a["cache_read_tokens"]),
                         (RT_AUDIO["inp"], RT_AUDIO["ain"], RT_AUDIO["out"],
                          RT_AUDIO["aout"], 0))
        self.assertTrue(a["cost_known"])
        self.assertAlmostEqual(a["cost_usd"], rt_cost(RT_AUDIO), places=12)
        self.assertIn("Say hello", json.dumps(a["input"]))
        self.assertEqual(a["finish_reasons"], ["stop"])
        self.assertEqual((t["input_tokens"], t["audio_input_tokens"], t["output_tokens"],
                          t["audio_output_tokens"], t["cache_read_tokens"]),
                         (RT_TEXT["inp"], 0, RT_TEXT["out"], 0, RT_TEXT["cached"]))
        self.assertTrue(t["cost_known"])
        self.assertAlmostEqual(t["cost_usd"], rt_cost(RT_TEXT), places=12)
        self.assertEqual(t["finish_reasons"], ["tool_calls"])
        self.assertEqual(t["tool_calls"], [{"id": "call_rt_1", "name": "get_weather",
                                            "arguments": '{"city":"Paris"}'}])

    def flow(self, argv, kind, capture="preload", **extra):
        env = self.env(**extra)
        want = self.direct(argv, env)
        if capture == "gateway":
            p = subprocess.run([TOKENTAP, "run", "--gateway", "on", "--"] + argv,
                               env=env, capture_output=True, text=True,
                               timeout=120 * SLOW, stdin=subprocess.DEVNULL)
            rc, out, err = p.returncode, p.stdout, p.stderr
            spans = self.spans(env)
        else:
            r = self.run_traced(argv, env=env)
            rc, out, err, spans = r.rc, r.stdout, r.stderr, r.spans
        self.assertEqual(rc, 0, err)
        self.assertEqual(out, want)
        if kind == "responses":
            self.check_responses(spans, capture)
        else:
            self.check_realtime(spans, capture)
        return spans


class PythonWebsockets(WsBase):
    """Debian's python3-websockets through the preload (its ssl module on
    libssl: the SSL_* hooks; plain: the socket hooks)."""

    def py(self, *args):
        return [PY, os.path.join(HERE, "clients", "ws_py.py")] + list(args)

    def test_responses_deflate(self):
        self.flow(self.py("responses"), "responses")

    def test_responses_no_deflate(self):
        self.flow(self.py("responses", "--no-deflate"), "responses")

    def test_responses_fragmented_pings_tiny(self):
        self.flow(self.py("responses", "--header", "x-mock-ws-frag:5", "--header",
                          "x-mock-ws-ping:1", "--header", "x-mock-ws-tiny:1"), "responses")

    def test_realtime_deflate(self):
        self.flow(self.py("realtime"), "realtime")

    def test_realtime_no_context_takeover(self):
        self.flow(self.py("realtime", "--header", "x-mock-ws-deflate:nct"), "realtime")

    def test_realtime_no_deflate_fragmented(self):
        self.flow(self.py("realtime", "--no-deflate", "--header", "x-mock-ws-frag:3",
                          "--header", "x-mock-ws-ping:1"), "realtime")


    def test_malformed_frame_span_says_so(self):
        """A reserved opcode in the middle of an answer: the client fails
        the connection (as it does untraced), the call's span says tokentap
        lost the framing, and nothing else breaks."""
        argv = self.py("responses", "--no-deflate", "--header", "x-mock-ws-bad:1")
        env = self.env()
        d = subprocess.run(argv, env=env, capture_output=True, text=True,
                           timeout=60 * SLOW, stdin=subprocess.DEVNULL)
        self.assertNotEqual(d.returncode, 0)
        r = self.run_traced(argv, env=env)
        self.assertEqual(r.rc, d.returncode)
        self.assertEqual(r.stdout, d.stdout)
        self.assertEqual(len(r.spans), 1, r.spans)
        s = r.spans[0]
        self.assertContract(s)
        self.assertEqual(s["status"], "error")
        self.assertIn("lost the WebSocket framing", s["error"])
        self.assertIn("reserved opcode", s["error"])
        self.assertFalse(s["usage_known"])
        self.assertEqual(s["http_version"], "websocket")


    def test_client_closes_mid_response(self):
        """The client closes the socket after the first delta: the call's
        span says the WebSocket closed before the response was complete."""
        r = self.run_traced(self.py("abort"))
        self.assertEqual(r.rc, 0, r.stderr)
        self.assertEqual(len(r.spans), 1, r.spans)
        s = r.spans[0]
        self.assertContract(s)
        self.assertEqual(s["status"], "error")
        self.assertIn("WebSocket closed before the response was complete", s["error"])
        self.assertFalse(s["usage_known"])


    def test_killed_right_after_printing_keeps_its_span(self):
        """The session is read on tokentap's worker (ws_api.c), a server
        message's op counted as a span's end: the client's print of the
        answer runs it first, so a client SIGKILLed right after printing
        has its call stored (the worker would have read it 10 ms later)."""
        r = self.run_traced(self.py("killed"))
        self.assertIn(r.rc, (-9, 128 + 9), r.stderr)
        self.assertIn("text ", r.stdout)
        self.assertEqual(len(r.spans), 1, r.spans)
        s = r.spans[0]
        self.assertContract(s)
        self.assertEqual(s["status"], "ok", s.get("error"))
        self.assertEqual(s["http_version"], "websocket")
        self.assertTrue(s["usage_known"])


class PythonWebsocketsPlain(PythonWebsockets):
    plain = True


class CClient(WsBase):
    """The C client on OpenSSL (hooks/ssl.c; plain: hooks/libc.c), its
    handshake and frames written a byte at a time, its messages
    fragmented with pings in between; the mock's frames in 1-byte
    writes."""

    def c(self, *args):
        return [os.path.join(CLIENTS_BIN, "ws_client")] + list(args)

    def test_responses(self):
        self.flow(self.c("responses"), "responses")

    def test_responses_deflate_split_every_byte(self):
        self.flow(self.c("responses", "--deflate", "--split", "1", "--frag", "4"), "responses")

    def test_realtime_deflate(self):
        self.flow(self.c("realtime", "--deflate"), "realtime")

    def test_realtime_split_every_byte_tiny_server_writes(self):
        self.flow(self.c("realtime", "--deflate", "--split", "1", "--frag", "2",
                         "--header", "x-mock-ws-tiny: 1", "--header", "x-mock-ws-frag: 9",
                         "--header", "x-mock-ws-ping: 1"), "realtime")


class CClientPlain(CClient):
    plain = True


class Gateway(WsBase):
    """`tokentap run --gateway on`: OPENAI_BASE_URL (the mock over TLS, the
    user's own setting) becomes the gateway's upstream and the program is
    given the gateway's URL; the gateway relays the upgrade and the frames
    (tools/gateway_ws.c) and reads both directions: capture "gateway", one
    span per response, no span counted twice."""

    def env(self, **extra):
        e = super().env(**extra)
        e.setdefault("OPENAI_BASE_URL", self.m.base + "/v1")
        e.update(extra)
        return e

    def py(self, *args):
        return [PY, os.path.join(HERE, "clients", "ws_py.py")] + list(args)

    def c(self, *args):
        return [os.path.join(CLIENTS_BIN, "ws_client")] + list(args)

    def test_python_responses_deflate(self):
        self.flow(self.py("responses"), "responses", capture="gateway")

    def test_python_realtime_fragmented_tiny(self):
        self.flow(self.py("realtime", "--header", "x-mock-ws-frag:6", "--header",
                          "x-mock-ws-ping:1", "--header", "x-mock-ws-tiny:2"),
                  "realtime", capture="gateway")

    def test_c_responses_split_every_byte(self):
        self.flow(self.c("responses", "--deflate", "--split", "1", "--frag", "5"),
                  "responses", capture="gateway")

    def test_client_closes_mid_response(self):
        p = subprocess.run([TOKENTAP, "run", "--gateway", "on", "--"] + self.py("abort"),
                           env=self.env(), capture_output=True, text=True,
                           timeout=120 * SLOW, stdin=subprocess.DEVNULL)
        self.assertEqual(p.returncode, 0, p.stderr)
        spans = self.spans(self.env())
        self.assertEqual(len(spans), 1, spans)
        self.assertEqual(spans[0]["capture"], "gateway")
        self.assertEqual(spans[0]["status"], "error")
        self.assertIn("WebSocket closed before the response was complete", spans[0]["error"])

    def test_c_realtime_no_deflate(self):
        self.flow(self.c("realtime"), "realtime", capture="gateway")


class NodeWs(WsBase):
    """Node's `ws` package (tests/ws, npm ci) on the system's node (which
    links OpenSSL into the executable: the inline hooks), through the
    preload and through the gateway."""

    def node(self, *args):
        script = os.path.join(NODE_DIR, "ws_node.mjs")
        if not os.path.isdir(os.path.join(NODE_DIR, "node_modules", "ws")):
            msg = "tests/ws/node_modules missing: tools/install-deps.sh (npm ci)"
            if os.environ.get("CI"):
                self.fail(msg)
            self.skipTest(msg)
        node = shutil.which("node")
        if not node:
            self.skipTest("node not installed")
        return [node, script] + list(args)

    def test_responses_deflate(self):
        self.flow(self.node("responses"), "responses")

    def test_realtime_fragmented_pings(self):
        self.flow(self.node("realtime", "--header", "x-mock-ws-frag:4", "--header",
                            "x-mock-ws-ping:1"), "realtime")

    def test_responses_no_deflate_plain(self):
        self.plain = True
        self.flow(self.node("responses", "--no-deflate"), "responses")

    def test_gateway_responses(self):
        self.flow(self.node("responses"), "responses", capture="gateway",
                  OPENAI_BASE_URL=self.m.base + "/v1")

    def test_gateway_realtime_no_context_takeover(self):
        self.flow(self.node("realtime", "--header", "x-mock-ws-deflate:nct"), "realtime",
                  capture="gateway", OPENAI_BASE_URL=self.m.base + "/v1")


if __name__ == "__main__":
    unittest.main()
