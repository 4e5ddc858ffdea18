"""Issue #8: tokentapd exports every span over OTLP/HTTP JSON with the GenAI
semantic conventions. Real programs are traced; the spans arrive at the
Node receiver of tests/otlp, which decodes them with the OpenTelemetry
project's own protos; then delivery under failure: the endpoint down then
up, 429 with Retry-After, 400 (dropped and counted, never retried)."""
import json
import os
import signal
import subprocess
import time

from harness import TOKENTAPD, SLOW, TapTest
from otlprecv import Receiver, free_port, require_node


def attr(span, key):
    """The typed value of an attribute: ('int', 12), ('string', 'x')..."""
    v = span["attributes"].get(key)
    if v is None:
        return None
    (t, val), = v.items()
    return t, val


class Daemon:
    """tokentapd in the foreground, with the test's environment."""

    def __init__(self, test, env):
        self.log = os.path.join(test.home, "tokentapd.log")
        self.env = env
        self.proc = subprocess.Popen([TOKENTAPD, "--foreground"], env=env,
                                     stdin=subprocess.DEVNULL,
                                     stdout=open(self.log, "a"),
                                     stderr=subprocess.STDOUT)
        sock = os.path.join(env["TOKENTAP_HOME"], "tokentapd.sock")
        deadline = time.time() + 10 * SLOW
        while not os.path.exists(sock):
            if self.proc.poll() is not None or time.time() > deadline:
                raise RuntimeError("tokentapd did not start: " + self.logtext())
            time.sleep(0.02)

    def logtext(self):
        return open(self.log).read()

    def stop(self, timeout=30):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout * SLOW)
        return self.proc.returncode


class OTLPBase(TapTest):
    """Receivers and daemons that a test starts, stopped after it."""

    @classmethod
    def setUpClass(cls):
        require_node()

    def setUp(self):
        super().setUp()
        self.daemons = []
        self.receivers = []

    def tearDown(self):
        for d in self.daemons:
            if d.proc.poll() is None:
                d.proc.kill()
                d.proc.wait()
        for r in self.receivers:
            r.stop()
        super().tearDown()

    def receiver(self, port=0):
        r = Receiver(port)
        self.receivers.append(r)
        return r

    def otlp_env(self, endpoint, **extra):
        e = self.env(OTEL_EXPORTER_OTLP_ENDPOINT=endpoint,
                     OTEL_SERVICE_NAME="agents-test",
                     OTEL_RESOURCE_ATTRIBUTES="deployment.environment=ci,host.name=host-a",
                     OTEL_EXPORTER_OTLP_HEADERS="x-team=llm%20ops,authorization=Bearer t0k",
                     TOKENTAP_FORWARD_BACKOFF_MS="200",
                     TOKENTAP_FORWARD_BACKOFF_MAX_MS="1000",
                     TOKENTAP_CONFIG=os.devnull)
        e.update(extra)
        return e

    def daemon(self, env):
        d = Daemon(self, env)
        self.daemons.append(d)
        return d

    def counters(self, env):
        p = self.tokentap("stats", "--json", env=env)
        return json.loads(p.stdout)["counters"]

    def curl_openai(self, *extra):
        return ["curl", "--http1.1", "-sS", "--cacert", self.m.cert,
                self.m.base + "/v1/chat/completions",
                "-H", "content-type: application/json",
                "-H", "authorization: Bearer sk-proj-SECRETSECRET0123456789",
                "-d", json.dumps({"model": "gpt-4o-mini", "temperature": 0.5,
                                  "max_tokens": 50,
                                  "messages": [{"role": "user", "content": "hi otlp"}]})
                ] + list(extra)



class OTLPTest(OTLPBase):
    def test_genai_attributes_from_real_programs(self):
        rc = self.receiver()
        env = self.otlp_env(rc.base)
        d = self.daemon(env)
        r1 = self.run_traced(self.curl_openai(
            "-H", "x-mock-usage: in=1000,out=200,cached=400"), env=env)
        self.assertEqual(r1.rc, 0, r1.stderr)
        r2 = self.run_traced(self.client("llm_call.py") + [
            "--lib", "requests", "--api", "anthropic", "--stream",
            "--header", "x-mock-usage: in=2000,out=100,cached=500,cache_write=300"],
            env=env)
        self.assertEqual(r2.rc, 0, r2.stderr)
        r3 = self.run_traced(self.client("llm_call.py") + [
            "--lib", "httpx", "--api", "openai", "--header", "x-mock-status: 429"],
            env=env)
        local = self.spans(env, kinds=None)
        llm = [s for s in local if s["kind"] == "llm"]
        self.assertEqual(len(llm), 3, [s["name"] for s in local])
        ids = {s["span_id"] for s in local}
        got = rc.wait_spans(lambda ss: ids <= {s["spanId"] for s in ss})
        self.assertLessEqual(ids, {s["spanId"] for s in got},
                             "missing spans; receiver log:\n" + rc.logtext() +
                             "\ndaemon log:\n" + d.logtext())
        bad = [q for q in rc.requests() if q["status"] != 200]
        self.assertEqual(bad, [], "the receiver refused requests")
        by_id = {s["spanId"]: s for s in got}
        for s in llm:
            o = by_id[s["span_id"]]
            self.assertEqual(o["traceId"], s["trace_id"])
            self.assertEqual(o["parentSpanId"], s["parent_id"])
            self.assertEqual(o["kind"], 3, "SPAN_KIND_CLIENT")
            self.assertEqual(o["name"], "%s %s" % (s["operation"], s["request_model"]))
            self.assertEqual(int(o["startTimeUnixNano"]), s["start_time"])
            self.assertEqual(int(o["endTimeUnixNano"]), s["end_time"])
            self.assertEqual(attr(o, "gen_ai.operation.name"), ("string", "chat"))
            self.assertEqual(attr(o, "gen_ai.provider.name"), ("string", s["provider"]))
            self.assertEqual(attr(o, "gen_ai.request.model"), ("string", s["request_model"]))
            self.assertEqual(attr(o, "server.address"), ("string", "127.0.0.1"))
            self.assertEqual(attr(o, "server.port"), ("int", self.m.port))
            self.assertEqual(attr(o, "tokentap.kind"), ("string", "llm"))
            self.assertEqual(o["resource"]["service.name"], {"string": "agents-test"})
            self.assertEqual(o["resource"]["host.name"], {"string": "host-a"})
            self.assertEqual(o["resource"]["deployment.environment"], {"string": "ci"})
            self.assertEqual(o["scope"]["name"], "tokentap")
            # content is opt-in: not asked for here
            self.assertIsNone(attr(o, "gen_ai.input.messages"))
            self.assertIsNone(attr(o, "gen_ai.output.messages"))
            if s["status"] == "ok":
                self.assertEqual(attr(o, "gen_ai.response.model"),
                                 ("string", s["response_model"]))
                self.assertEqual(attr(o, "gen_ai.response.id"), ("string", s["response_id"]))
                self.assertEqual(attr(o, "gen_ai.usage.input_tokens"),
                                 ("int", s["input_tokens"]))
                self.assertEqual(attr(o, "gen_ai.usage.output_tokens"),
                                 ("int", s["output_tokens"]))
                self.assertEqual(attr(o, "gen_ai.usage.cache_read.input_tokens"),
                                 ("int", s["cache_read_tokens"]))
                self.assertEqual(attr(o, "gen_ai.usage.cache_write.input_tokens"),
                                 ("int", s["cache_write_tokens"]))
                self.assertEqual(attr(o, "gen_ai.usage.reasoning.output_tokens"),
                                 ("int", s["reasoning_tokens"]))
                t, cost = attr(o, "tokentap.cost_usd")
                self.assertEqual(t, "double")
                self.assertAlmostEqual(cost, s["cost_usd"], places=12)
                self.assertEqual(attr(o, "gen_ai.request.stream"), ("bool", s["stream"]))
                fr = attr(o, "gen_ai.response.finish_reasons")
                self.assertEqual(fr[0], "array")
                self.assertEqual([v["string"] for v in fr[1]], s["finish_reasons"])
                self.assertNotIn("status", o if o.get("status", {}).get("code") else {})
                self.assertIsNone(attr(o, "error.type"))
            else:
                self.assertEqual(attr(o, "error.type"), ("string", "429"))
                self.assertEqual(o["status"]["code"], 2)
                self.assertIn("429", o["status"]["message"])
                self.assertEqual(attr(o, "http.response.status_code"), ("int", 429))
        # the numbers the issue names, on the two successful calls
        oai = by_id[[s for s in llm if s["provider"] == "openai" and s["status"] == "ok"][0]["span_id"]]
        self.assertEqual(attr(oai, "gen_ai.usage.input_tokens"), ("int", 1000))
        self.assertEqual(attr(oai, "gen_ai.usage.cache_read.input_tokens"), ("int", 400))
        self.assertEqual(attr(oai, "gen_ai.request.temperature"), ("double", 0.5))
        self.assertEqual(attr(oai, "gen_ai.request.max_tokens"), ("int", 50))
        ant = by_id[[s for s in llm if s["provider"] == "anthropic"][0]["span_id"]]
        self.assertEqual(attr(ant, "gen_ai.usage.input_tokens"), ("int", 2000))
        self.assertEqual(attr(ant, "gen_ai.usage.cache_write.input_tokens"), ("int", 300))
        self.assertEqual(attr(ant, "gen_ai.request.stream"), ("bool", True))
        self.assertEqual(attr(ant, "gen_ai.response.time_to_first_chunk")[0], "double")
        # process spans are INTERNAL children in the same trace
        procs = [by_id[s["span_id"]] for s in local if s["kind"] == "process"]
        self.assertTrue(procs)
        for p in procs:
            self.assertEqual(p["kind"], 1)
        # headers from OTEL_EXPORTER_OTLP_HEADERS, percent-decoded
        q = rc.requests()[0]
        self.assertEqual(q["headers"].get("x-team"), "llm ops")
        self.assertEqual(q["headers"].get("authorization"), "Bearer t0k")
        self.assertTrue(all(q["nspans"] <= 512 for q in rc.requests()))
        # each LLM call arrived exactly once
        for s in llm:
            self.assertEqual(sum(o["spanId"] == s["span_id"] for o in got), 1)
        self.assertEqual(d.stop(), 0)
        c = self.counters(env)
        # what tokentapd counts as sent is what arrived (process spans may
        # come twice: provisional at the first call, final at exit)
        self.assertEqual(c["otlp_sent"], len(rc.spans()))
        self.assertEqual((c["otlp_dropped"], c["otlp_queue_dropped"]), (0, 0))

    def test_content_only_when_asked(self):
        rc = self.receiver()
        env = self.otlp_env(rc.base, OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT="true",
                            OTEL_EXPORTER_OTLP_COMPRESSION="gzip")
        self.daemon(env)
        r = self.run_traced(self.curl_openai(), env=env)
        self.assertEqual(r.rc, 0, r.stderr)
        sid = r.spans[0]["span_id"]
        got = rc.wait_spans(lambda ss: sid in {s["spanId"] for s in ss})
        o = {s["spanId"]: s for s in got}[sid]
        t, im = attr(o, "gen_ai.input.messages")
        self.assertEqual(json.loads(im), [{"role": "user", "parts": [
            {"type": "text", "content": "hi otlp"}]}])
        t, om = attr(o, "gen_ai.output.messages")
        om = json.loads(om)
        self.assertEqual(om[0]["role"], "assistant")
        self.assertEqual(om[0]["finish_reason"], "stop")
        self.assertEqual(om[0]["parts"][0]["type"], "text")
        self.assertTrue(om[0]["parts"][0]["content"])
        self.assertTrue(all(q["contentEncoding"] == "gzip" for q in rc.requests()))

    def test_endpoint_down_then_up_nothing_lost(self):
        port = free_port()
        env = self.otlp_env("http://127.0.0.1:%d" % port)
        d = self.daemon(env)
        r = self.run_traced(self.client("llm_call.py") + [
            "--lib", "requests", "--api", "openai", "--n", "20"], env=env)
        self.assertEqual(r.rc, 0, r.stderr)
        ids = {s["span_id"] for s in self.spans(env, kinds=None)}
        self.assertGreaterEqual(len(ids), 21)
        qdir = os.path.join(self.home, "forward", "otlp")
        deadline = time.time() + 10 * SLOW
        while time.time() < deadline and not any(
                f.endswith(".q") for f in os.listdir(qdir)):
            time.sleep(0.1)
        queued = [f for f in os.listdir(qdir) if f.endswith(".q")]
        self.assertTrue(queued, "nothing waits on disk while the endpoint is down")
        for f in queued:
            self.assertEqual(os.stat(os.path.join(qdir, f)).st_mode & 0o777, 0o600)
        time.sleep(1.5 * SLOW)       # a few refused attempts
        self.assertIn("retrying", d.logtext())
        rc = self.receiver(port)     # the endpoint comes up
        got = rc.wait_spans(lambda ss: ids <= {s["spanId"] for s in ss}, timeout=30)
        self.assertLessEqual(ids, {s["spanId"] for s in got}, d.logtext())
        deadline = time.time() + 5 * SLOW
        while time.time() < deadline and any(f.endswith(".q") for f in os.listdir(qdir)):
            time.sleep(0.1)
        self.assertEqual([f for f in os.listdir(qdir) if f.endswith(".q")], [])
        self.assertEqual(d.stop(), 0)
        c = self.counters(env)
        self.assertGreater(c["otlp_retries"], 0)
        self.assertEqual(c["otlp_sent"], len(rc.spans()))
        self.assertEqual((c["otlp_dropped"], c["otlp_queue_dropped"]), (0, 0))

    def test_429_retry_after_is_honoured(self):
        rc = self.receiver()
        rc.control(status=429, retry_after="2", count=1)
        env = self.otlp_env(rc.base)
        d = self.daemon(env)
        r = self.run_traced(self.curl_openai(), env=env)
        self.assertEqual(r.rc, 0, r.stderr)
        ids = {s["span_id"] for s in self.spans(env, kinds=None)}
        got = rc.wait_spans(lambda ss: ids <= {s["spanId"] for s in ss})
        self.assertLessEqual(ids, {s["spanId"] for s in got}, d.logtext())
        reqs = rc.requests()
        self.assertEqual(reqs[0]["status"], 429)
        ok = [q for q in reqs if q["status"] == 200]
        self.assertTrue(ok)
        # the retry waited for Retry-After (2 s), not the 200 ms backoff
        self.assertGreaterEqual(ok[0]["at"] - reqs[0]["at"], 1900, reqs)
        # the LLM call arrived once: the refused batch was not recorded
        sid = r.spans[0]["span_id"]
        self.assertEqual(sum(s["spanId"] == sid for s in got), 1)
        self.assertEqual(d.stop(), 0)
        c = self.counters(env)
        self.assertGreaterEqual(c["otlp_retries"], 1)
        self.assertEqual(c["otlp_sent"], len(rc.spans()))

    def test_400_dropped_counted_not_retried(self):
        rc = self.receiver()
        rc.control(status=400, count=1)
        env = self.otlp_env(rc.base)
        d = self.daemon(env)
        r = self.run_traced(self.curl_openai(), env=env)
        self.assertEqual(r.rc, 0, r.stderr)
        ids = {s["span_id"] for s in self.spans(env, kinds=None)}
        deadline = time.time() + 10 * SLOW
        while time.time() < deadline and not rc.requests():
            time.sleep(0.1)
        time.sleep(2 * SLOW)        # time enough for retries, were there any
        reqs = rc.requests()
        refused = [q for q in reqs if q["status"] == 400]
        self.assertEqual(len(refused), 1, reqs)
        dropped_n = refused[0]["nspans"]
        # later spans still go through
        r2 = self.run_traced(self.curl_openai(), env=env)
        new = {s["span_id"] for s in r2.spans} - {s["span_id"] for s in r.spans}
        self.assertEqual(len(new), 1)
        got = rc.wait_spans(lambda ss: new <= {s["spanId"] for s in ss})
        self.assertLessEqual(new, {s["spanId"] for s in got})
        self.assertIn("dropped", d.logtext())
        self.assertEqual(d.stop(), 0)
        reqs = rc.requests()
        # one refusal, never sent again: every later request was accepted
        self.assertEqual([q["status"] for q in reqs].count(400), 1, reqs)
        self.assertTrue(all(q["status"] == 200 for q in reqs[reqs.index(refused[0]) + 1:]))
        c = self.counters(env)
        self.assertEqual(c["otlp_dropped"], dropped_n)
        self.assertEqual(c["otlp_retries"], 0)
        self.assertEqual(c["otlp_sent"], len(rc.spans()))
        self.assertGreaterEqual(dropped_n, 1)

    def test_shutdown_flushes_the_queue(self):
        rc = self.receiver()
        env = self.otlp_env(rc.base, TOKENTAP_FORWARD_SHUTDOWN_MS="10000")
        rc.control(status=503, count=2)     # queue builds up meanwhile
        d = self.daemon(env)
        r = self.run_traced(self.curl_openai(), env=env)
        self.assertEqual(r.rc, 0, r.stderr)
        ids = {s["span_id"] for s in self.spans(env, kinds=None)}
        self.assertEqual(d.stop(), 0)       # SIGTERM: sends before exiting
        self.assertLessEqual(ids, {s["spanId"] for s in rc.spans()}, d.logtext())

    def test_grpc_protocol_refused_clearly(self):
        rc = self.receiver()
        env = self.otlp_env(rc.base, OTEL_EXPORTER_OTLP_PROTOCOL="grpc")
        d = self.daemon(env)
        r = self.run_traced(self.curl_openai(), env=env)
        self.assertEqual(r.rc, 0, r.stderr)
        self.assertEqual(len(r.spans), 1)           # stored locally all the same
        self.assertIn("http/json", d.logtext())
        self.assertIn("NOT forwarded", d.logtext())


class ConfigFile(OTLPBase):
    def test_config_file_configures_daemon_not_programs(self):
        rc = self.receiver()
        conf = os.path.join(self.home, "tokentap.conf")
        with open(conf, "w") as f:
            f.write("# fleet settings\n"
                    "OTEL_EXPORTER_OTLP_ENDPOINT=%s\n"
                    "OTEL_SERVICE_NAME=from-file\n"
                    "OTEL_EXPORTER_OTLP_HEADERS=x-token=abc\n"
                    "TOKENTAP_CLICKHOUSE_PASSWORD=s3cret-from-file\n"
                    "TOKENTAP_TAGS=team=from-file\n" % rc.base)
        os.chmod(conf, 0o600)
        env = self.env(TOKENTAP_CONFIG=conf, TOKENTAP_FORWARD_BACKOFF_MS="200")
        d = self.daemon(env)
        argv = self.curl_openai()
        r = self.run_traced(["sh", "-c", '"$@" >/dev/null && env', "sh"] + argv, env=env)
        self.assertEqual(r.rc, 0, r.stderr)
        self.assertEqual(len(r.spans), 1)
        # TOKENTAP_* settings from the file reach the preload...
        self.assertEqual(r.spans[0]["tags"], {"team": "from-file"})
        # ...but not the daemon's OTEL_* settings nor the file's secrets
        self.assertNotIn("OTEL_EXPORTER_OTLP_ENDPOINT", r.stdout)
        self.assertNotIn("s3cret-from-file", r.stdout)
        self.assertNotIn("x-token", r.stdout)
        sid = r.spans[0]["span_id"]
        got = rc.wait_spans(lambda ss: sid in {s["spanId"] for s in ss})
        o = {s["spanId"]: s for s in got}[sid]
        self.assertEqual(o["resource"]["service.name"], {"string": "from-file"})
        self.assertEqual(rc.requests()[0]["headers"].get("x-token"), "abc")
        self.assertEqual(d.stop(), 0)
        # the environment wins over the file
        env2 = dict(env, OTEL_SERVICE_NAME="from-env")
        rc.reset()
        d2 = self.daemon(env2)
        r2 = self.run_traced(self.curl_openai(), env=env2)
        new = {s["span_id"] for s in r2.spans} - {sid}
        got = rc.wait_spans(lambda ss: new <= {s["spanId"] for s in ss})
        o = [s for s in got if s["spanId"] in new][0]
        self.assertEqual(o["resource"]["service.name"], {"string": "from-env"})
        self.assertEqual(d2.stop(), 0)

    def test_world_writable_config_refused(self):
        conf = os.path.join(self.home, "tokentap.conf")
        with open(conf, "w") as f:
            f.write("TOKENTAP_TAGS=team=planted\n")
        os.chmod(conf, 0o666)
        r = self.run_traced(self.curl_openai(), env=self.env(TOKENTAP_CONFIG=conf))
        self.assertEqual(r.rc, 0, r.stderr)
        self.assertIn("writable by anyone", r.stderr)
        self.assertNotEqual(r.spans[0].get("tags"), {"team": "planted"})


class QueueBound(OTLPBase):
    def test_bounded_queue_drops_oldest_and_counts(self):
        port = free_port()
        # a few spans' worth of disk: the endpoint is down, the queue overflows
        env = self.otlp_env("http://127.0.0.1:%d" % port, TOKENTAP_FORWARD_QUEUE_KB="6")
        d = self.daemon(env)
        for n in range(4):
            r = self.run_traced(self.client("llm_call.py") + [
                "--lib", "requests", "--api", "openai", "--n", "3"], env=env)
            self.assertEqual(r.rc, 0, r.stderr)
        local = self.spans(env, kinds=None)
        llm = sorted((s for s in local if s["kind"] == "llm"), key=lambda s: s["start_time"])
        self.assertEqual(len(llm), 12)
        qdir = os.path.join(self.home, "forward", "otlp")
        deadline = time.time() + 10 * SLOW
        while time.time() < deadline and "queue over" not in d.logtext():
            time.sleep(0.1)
        self.assertIn("dropped the oldest", d.logtext())
        size = sum(os.path.getsize(os.path.join(qdir, f)) for f in os.listdir(qdir)
                   if f.endswith(".q"))
        self.assertLessEqual(size, 6 * 1024)
        rc = self.receiver(port)
        # the newest call is kept and delivered; the oldest was dropped
        newest, oldest = llm[-1]["span_id"], llm[0]["span_id"]
        got = rc.wait_spans(lambda ss: newest in {s["spanId"] for s in ss})
        ids = {s["spanId"] for s in got}
        self.assertIn(newest, ids, d.logtext())
        self.assertNotIn(oldest, ids)
        self.assertEqual(d.stop(), 0)
        c = self.counters(env)
        self.assertGreater(c["otlp_queue_dropped"], 0)
        # what did not arrive was counted: every span stored is either
        # delivered or among the dropped ones
        missing = {s["span_id"] for s in local} - ids
        self.assertTrue(missing)
        self.assertGreaterEqual(c["otlp_queue_dropped"], len(missing))
        self.assertEqual(c["otlp_sent"], len(rc.spans()))
