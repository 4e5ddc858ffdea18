"""Issue #7: what an agent did, rebuilt from the wire. A shell starts a
python agent over OpenAI chat, one over Anthropic messages (both using a
tool and asking a follow-up) and a curl call, under one `tokentap run`:
one trace, process spans for sh, python and curl linked up to the run span,
LLM spans under their process, one conversation per agent, and tool spans
for the tool calls the agents answered."""
import json
import os

from harness import CLIENTS, PY, TapTest


class Agent(TapTest):
    def test_agent_tree(self):
        r = self.run_traced(["sh", os.path.join(CLIENTS, "agent_tree.sh"), PY, CLIENTS],
                            TOKENTAP_METADATA='{"team":"weather","n":1}')
        self.assertEqual(r.rc, 0, r.stdout + r.stderr)
        spans = self.spans(env=r.env, kinds=None)
        by_id = {s["span_id"]: s for s in spans}
        self.assertEqual(len(by_id), len(spans), "span ids are unique")
        self.assertEqual(len({s["trace_id"] for s in spans}), 1, spans)

        run = [s for s in spans if s["kind"] == "process" and s["name"].startswith("run ")]
        self.assertEqual(len(run), 1, [s["name"] for s in spans])
        run = run[0]
        self.assertIsNone(run["parent_id"])
        self.assertIn("agent_tree.sh", run["name"])

        procs = {s["span_id"]: s for s in spans
                 if s["kind"] == "process" and s is not run}
        names = sorted(s["name"] for s in procs.values())
        # sh, two pythons (each with its script), curl: each once (the
        # shell is emitted by three descendants, deduplicated by span_id).
        self.assertEqual(len(procs), 4, names)
        sh = [s for s in procs.values() if "agent_tree.sh" in s["name"]]
        self.assertEqual(len(sh), 1, names)
        sh = sh[0]
        self.assertEqual(sh["parent_id"], run["span_id"])
        py = {s["name"].split()[-1]: s for s in procs.values()
              if s["name"].endswith(".py")}
        self.assertEqual(sorted(py), ["agent_anthropic.py", "agent_openai.py"], names)
        curl = [s for s in procs.values() if s["name"] == "process curl"]
        self.assertEqual(len(curl), 1, names)
        for p in list(py.values()) + curl:
            self.assertEqual(p["parent_id"], sh["span_id"], p)
            self.assertTrue(p["name"].startswith("process "), p)
        for p in procs.values():
            self.assertIsInstance(p["pid"], int)
            self.assertTrue(p["exe"].startswith("/"), p)
            self.assertLessEqual(p["start_time"], p["end_time"])
            self.assertLessEqual(run["start_time"] - 10**9, p["start_time"], p)
            self.assertEqual(p["metadata"], {"team": "weather", "n": 1})

        llm = [s for s in spans if s["kind"] == "llm"]
        oai = [s for s in llm if s["pid"] == py["agent_openai.py"]["pid"]]
        ant = [s for s in llm if s["pid"] == py["agent_anthropic.py"]["pid"]]
        cur = [s for s in llm if s["pid"] == curl[0]["pid"]]
        # OpenAI: ask -> tool call -> result -> answer; follow-up -> tool
        # call -> result -> answer. Same for Anthropic.
        self.assertEqual((len(oai), len(ant), len(cur)), (4, 4, 1),
                         [(s["pid"], s["name"]) for s in llm])
        for s, proc in ([(s, py["agent_openai.py"]) for s in oai] +
                        [(s, py["agent_anthropic.py"]) for s in ant] +
                        [(cur[0], curl[0])]):
            self.assertEqual(s["parent_id"], proc["span_id"], s["name"])
            self.assertRegex(s["conversation_id"], r"^[0-9a-f]{16}$")
            self.assertEqual(s["metadata"], {"team": "weather", "n": 1})
        self.assertEqual(len({s["conversation_id"] for s in oai}), 1, oai)
        self.assertEqual(len({s["conversation_id"] for s in ant}), 1, ant)
        self.assertNotEqual(oai[0]["conversation_id"], ant[0]["conversation_id"])
        self.assertNotIn(cur[0]["conversation_id"],
                         (oai[0]["conversation_id"], ant[0]["conversation_id"]))

        tools = [s for s in spans if s["kind"] == "tool"]
        self.assertEqual(len(tools), 4, tools)
        for calls, proc, city in ((oai, py["agent_openai.py"], "sunny"),
                                  (ant, py["agent_anthropic.py"], "rain")):
            mine = sorted((t for t in tools if t["parent_id"] == proc["span_id"]),
                          key=lambda t: t["start_time"])
            self.assertEqual(len(mine), 2, tools)
            calls = sorted(calls, key=lambda s: s["start_time"])
            for t, req, ans in ((mine[0], calls[0], calls[1]), (mine[1], calls[2], calls[3])):
                self.assertEqual(t["name"], "tool get_weather")
                self.assertEqual(t["operation"], "execute_tool")
                self.assertEqual(t["conversation_id"], calls[0]["conversation_id"])
                self.assertEqual(t["start_time"], req["end_time"])
                self.assertEqual(t["end_time"], ans["start_time"])
                # the tool sleeps 50 ms
                self.assertGreater(t["end_time"] - t["start_time"], 40 * 10**6)
                self.assertEqual(t["input"]["name"], "get_weather")
                self.assertEqual(json.loads(t["input"]["arguments"]), {"city": "mock"})
                self.assertIn(city, json.dumps(t["output"]))
                self.assertEqual(t["pid"], proc["pid"])

    def test_capture_off_and_bad_metadata(self):
        r = self.run_traced(self.client("agent_openai.py"),
                            TOKENTAP_CAPTURE_CONTENT="off", TOKENTAP_METADATA="{not json")
        self.assertEqual(r.rc, 0, r.stderr)
        self.assertEqual(r.stderr.count("TOKENTAP_METADATA ignored"), 1, r.stderr)
        spans = self.spans(env=r.env, kinds=None)
        llm = [s for s in spans if s["kind"] == "llm"]
        self.assertEqual(len(llm), 4)
        for s in llm:
            self.assertIsNone(s["metadata"])
            # Documented limitation: no captured messages, no conversation.
            self.assertIsNone(s["conversation_id"])
        self.assertEqual([s for s in spans if s["kind"] == "tool"], [])
        procs = [s for s in spans if s["kind"] == "process"]
        self.assertEqual(len(procs), 2, procs)      # run + python

    def test_no_call_no_process_span(self):
        r = self.run_traced(["sh", "-c", "true; ls / >/dev/null"])
        self.assertEqual(r.rc, 0, r.stderr)
        spans = self.spans(env=r.env, kinds=None)
        self.assertEqual([s["name"][:4] for s in spans], ["run "], spans)
