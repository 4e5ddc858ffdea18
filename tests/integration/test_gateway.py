"""Issue #11: programs no hook can reach are traced through tokentap's
gateway (`tokentap run --gateway auto|on`): a static C binary, a Go
program, a Bun executable, and, with --gateway on, curl, Python, Node's
fetch and the official OpenAI/Anthropic SDKs pointed at the gateway by
their base-URL variables. The gateway's upstream is the mock over TLS
(its CA via SSL_CERT_FILE); the user's OPENAI_BASE_URL/ANTHROPIC_BASE_URL
(the mock) become the gateway's upstreams. Faults: upstream down, reset
mid-stream, client gone mid-stream, a 10 MB body, 200 concurrent streams."""
import json
import os
import re
import shutil
import subprocess
import tempfile
import unittest

from harness import PY, SLOW, TOKENTAP, TapTest

HERE = os.path.dirname(os.path.abspath(__file__))
GW = os.path.normpath(os.path.join(HERE, "..", "gateway"))
BUN = os.path.join(GW, "node_modules", "@oven", "bun-linux-x64", "bin", "bun")
BUILD = None        # temp dir with static_client and go_client, built once


def setUpModule():
    global BUILD
    BUILD = tempfile.mkdtemp(prefix="tt-gw-build-")
    subprocess.run(["cc", "-static", "-O1", "-o", os.path.join(BUILD, "static_client"),
                    os.path.join(GW, "static_client.c")], check=True)
    subprocess.run(["cc", "-O1", "-o", os.path.join(BUILD, "exec_variants"),
                    os.path.join(GW, "exec_variants.c")], check=True)
    if shutil.which("go"):
        # Debian's golang-go; the build cache (~/.cache/go-build) keeps
        # the second run at about a second.
        subprocess.run(["go", "build", "-o", os.path.join(BUILD, "go_client"),
                        os.path.join(GW, "go_client.go")], check=True,
                       env=dict(os.environ, GOFLAGS="-mod=mod", GO111MODULE="off"))


def tearDownModule():
    shutil.rmtree(BUILD, ignore_errors=True)


def need(path, what):
    """A missing tool fails in CI (install-deps provides it), else skips."""
    if os.path.exists(path):
        return
    if os.environ.get("CI"):
        raise AssertionError("%s missing: %s (tools/install-deps.sh)" % (what, path))
    raise unittest.SkipTest("%s missing: %s" % (what, path))


MASK = re.compile(r'mock[0-9a-f]{10,}|"created":\s*\d+')


class Gateway(TapTest):
    def env(self, **extra):
        e = super().env(**extra)
        # The user's own base URLs: the mock. The gateway forwards there.
        e.setdefault("OPENAI_BASE_URL", self.m.base + "/v1")
        e.setdefault("ANTHROPIC_BASE_URL", self.m.base)
        e.update(extra)
        return e

    def run_gw(self, mode, argv, env=None, timeout=120, **extra):
        env = env or self.env(**extra)
        p = subprocess.run([os.path.join(os.path.dirname(self.tokentap_path()), "tokentap"),
                            "run", "--gateway", mode, "--"] + list(argv), env=env,
                           capture_output=True, text=True, timeout=timeout * SLOW,
                           stdin=subprocess.DEVNULL)
        return p, self.spans(env)

    def tokentap_path(self):
        from harness import TOKENTAP
        return TOKENTAP

    def assertGatewaySpan(self, s, model="gpt-4o-mini", inp=100, out=20, exe=None):
        self.assertContract(s)
        self.assertEqual(s["status"], "ok", s.get("error"))
        self.assertEqual(s["capture"], "gateway")
        self.assertEqual(s["request_model"], model)
        self.assertEqual((s["input_tokens"], s["output_tokens"]), (inp, out))
        self.assertCost(s, model, inp, out)
        self.assertEqual(s["host"], "127.0.0.1:%d" % self.m.port)
        if exe:
            self.assertEqual(os.path.basename(s["exe"]), exe, s)
        # Under the calling process's span, in the run's tree.
        procs = {p["span_id"]: p for p in self.spans(kinds=("process",))}
        self.assertIn(s["parent_id"], procs)
        self.assertEqual(procs[s["parent_id"]]["pid"], s["pid"])

    # --- programs the hooks cannot reach (auto) ---------------------------
    def test_static_binary_auto(self):
        """The command itself is static: run judges it and sets the base URL."""
        p, spans = self.run_gw("auto", [os.path.join(BUILD, "static_client")])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("Hello from the mock provider.", p.stdout)
        self.assertEqual(len(spans), 1, p.stderr)
        self.assertGatewaySpan(spans[0], exe="static_client")
        # HTTP/1.1 to the provider by default (the cheaper path, fig 10).
        self.assertEqual(spans[0]["http_version"], "1.1")

    def test_static_binary_auto_http2(self):
        """TOKENTAP_GATEWAY_HTTP2 (tokentap gateway --http2): HTTP/2 upstream."""
        p, spans = self.run_gw("auto", [os.path.join(BUILD, "static_client")],
                               TOKENTAP_GATEWAY_HTTP2="1")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("Hello from the mock provider.", p.stdout)
        self.assertEqual(len(spans), 1, p.stderr)
        self.assertGatewaySpan(spans[0], exe="static_client")
        self.assertEqual(spans[0]["http_version"], "2")

    def test_static_binary_started_by_a_shell(self):
        """A static binary started by a traced shell: the preload's exec hook
        judges it and points it at the gateway; the shell is left alone."""
        p, spans = self.run_gw("auto", ["sh", "-c", 'echo "$OPENAI_BASE_URL"; %s'
                                        % os.path.join(BUILD, "static_client")])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout.splitlines()[0], self.m.base + "/v1")
        self.assertEqual(len(spans), 1, p.stderr)
        self.assertGatewaySpan(spans[0], exe="static_client")

    # --- auto: started on first need ---------------------------------------
    NO_GATEWAY = r"""
import json, os, socket, sys, urllib.request as u
port = int(os.environ["TOKENTAP_GATEWAY"].rsplit(":", 1)[1])
s = socket.socket()
try:
    s.connect(("127.0.0.1", port))
    print("listening")
except ConnectionRefusedError:
    print("refused")
# the run's own children (tokentap run is our parent): no gateway among them
run = os.getppid()
kids = []
for t in os.listdir("/proc/%d/task" % run):
    kids += open("/proc/%d/task/%s/children" % (run, t)).read().split()
cmds = [open("/proc/%s/cmdline" % k, "rb").read().split(b"\0") for k in kids]
print(sum(1 for c in cmds if b"gateway" in c))  # argv[1] of `tokentap gateway`
r = u.Request(os.environ["OPENAI_BASE_URL"] + "/chat/completions", data=json.dumps(
    {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}).encode(),
    headers={"content-type": "application/json"})
print(json.load(u.urlopen(r))["usage"]["prompt_tokens"])
"""

    def test_auto_hookable_program_starts_no_gateway(self):
        """A run of a traced program: the gateway's port is reserved (it
        refuses connections), no gateway process exists, the call is the
        hooks' span, and the control socket's directory is gone after."""
        tmp = tempfile.mkdtemp(prefix="tt-gw-tmp-")
        try:
            p, spans = self.run_gw("auto", [PY, "-c", self.NO_GATEWAY], TMPDIR=tmp)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertEqual(p.stdout.split(), ["refused", "0", "100"], p.stderr)
            self.assertEqual(len(spans), 1, p.stderr)
            self.assertNotEqual(spans[0]["capture"], "gateway")
            self.assertEqual(spans[0]["input_tokens"], 100)
            self.assertEqual(os.listdir(tmp), [])
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def test_auto_wrapper_starts_it_once(self):
        """A wrapper script that starts six static binaries at once: the
        first exec that needs the gateway starts it, all six reach it (one
        port, reserved before the run: one gateway), each call a span."""
        d = tempfile.mkdtemp(prefix="tt-gw-wrap-")
        try:
            w = os.path.join(d, "agent")
            with open(w, "w") as f:
                f.write("#!/bin/sh\nfor i in 1 2 3 4 5 6; do %s $((1000 + i)) >/dev/null & done\n"
                        "wait\necho done\n" % os.path.join(BUILD, "static_client"))
            os.chmod(w, 0o755)
            p, spans = self.run_gw("auto", [w], TMPDIR=d)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertEqual(p.stdout, "done\n")
            self.assertEqual(sorted(s["input_tokens"] for s in spans),
                             list(range(1001, 1007)), p.stderr)
            for s in spans:
                self.assertGatewaySpan(s, inp=s["input_tokens"], exe="static_client")
            self.assertEqual(os.listdir(d), ["agent"])
        finally:
            shutil.rmtree(d, ignore_errors=True)

    def test_auto_wrapper_execs_bun(self):
        """A shell script that execs a Bun executable (as agent CLIs ship)."""
        need(BUN, "bun (npm @oven/bun-linux-x64, tests/gateway)")
        d = tempfile.mkdtemp(prefix="tt-gw-wrap-")
        try:
            w = os.path.join(d, "agent")
            with open(w, "w") as f:
                f.write('#!/bin/sh\nexec "%s" "%s"\n' % (BUN, os.path.join(GW, "bun_fetch.js")))
            os.chmod(w, 0o755)
            p, spans = self.run_gw("auto", ["sh", "-c", w])
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertEqual(p.stdout.strip(), "200 100 20")
            self.assertEqual(len(spans), 1, p.stderr)
            self.assertGatewaySpan(spans[0], exe="bun")
        finally:
            shutil.rmtree(d, ignore_errors=True)

    KILL_GATEWAY = r"""
import os, signal, subprocess, sys, time
static, tokentap = sys.argv[1], sys.argv[2]
subprocess.run([static, "1701"], check=True, stdout=subprocess.DEVNULL)
# The call's span is stored before the kill: a SIGKILLed gateway loses
# what it has not delivered yet, and this test is about the restart.
for _ in range(400):
    out = subprocess.run([tokentap, "export", "--format", "jsonl"],
                         capture_output=True, text=True).stdout
    if '"input_tokens":1701' in out.replace(" ", ""):
        break
    time.sleep(0.05)
run = os.getppid()
kids = []
for t in os.listdir("/proc/%d/task" % run):
    kids += open("/proc/%d/task/%s/children" % (run, t)).read().split()
gw = [int(k) for k in kids
      if b"--listen-fd" in open("/proc/%s/cmdline" % k, "rb").read().split(b"\0")]
assert len(gw) == 1, gw
os.kill(gw[0], signal.SIGKILL)
time.sleep(0.5)
subprocess.run([static, "1702"], check=True, stdout=subprocess.DEVNULL)
print("ok")
"""

    def test_gateway_that_dies_is_started_again(self):
        p, spans = self.run_gw("auto", [PY, "-c", self.KILL_GATEWAY,
                                        os.path.join(BUILD, "static_client"),
                                        self.tokentap_path()])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout, "ok\n")
        self.assertIn("the gateway was killed (signal 9); started again", p.stderr)
        self.assertEqual(sorted(s["input_tokens"] for s in spans), [1701, 1702], p.stderr)

    def test_exec_variants(self):
        """Every way a traced program can start a static binary is seen by
        the exec hooks (execl* and fexecve/execveat have their own: glibc's
        call its internal execve), except a raw execve system call."""
        prog = os.path.join(BUILD, "exec_variants")
        names = subprocess.run([prog, "--list"], capture_output=True, text=True,
                               check=True).stdout.split()
        p, spans = self.run_gw("auto", [prog, os.path.join(BUILD, "static_client")])
        self.assertEqual(p.returncode, 0, p.stderr)
        got = dict(line.split() for line in p.stdout.splitlines())
        self.assertEqual(sorted(got), sorted(names))
        for n in names:
            # a raw syscall: the user's https URL, which it cannot speak
            self.assertEqual(got[n], "2" if n == "raw_syscall" else "0", (n, p.stderr))
        by = {s["input_tokens"]: s for s in spans}
        self.assertEqual(len(spans), len(names) - 1, p.stderr)
        for i, n in enumerate(names):
            if n == "raw_syscall":
                self.assertNotIn(1001 + i, by)
                continue
            self.assertIn(1001 + i, by, n)
            self.assertGatewaySpan(by[1001 + i], inp=1001 + i, exe="static_client")

    def test_node_and_python_start_a_static_binary(self):
        """The wrappers agent CLIs are: Node's child_process (libuv: fork +
        execve) and Python's subprocess (vfork + execve) starting a static
        binary; the shell above them, Node and Python are left alone."""
        static = os.path.join(BUILD, "static_client")
        node = "require('child_process').spawnSync(process.argv[1], ['1501'])"
        py = "import subprocess,sys; subprocess.run([sys.argv[1], '1502'], check=True)"
        p, spans = self.run_gw("auto", ["sh", "-c", 'node -e "$0" "$2" && %s -c "$1" "$2"'
                                        % PY, node, py, static])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(sorted(s["input_tokens"] for s in spans), [1501, 1502], p.stderr)
        for s in spans:
            self.assertGatewaySpan(s, inp=s["input_tokens"], exe="static_client")

    def test_gateway_off(self):
        """--gateway off: the static binary talks to the user's base URL
        (https, which it cannot speak) and nothing is captured."""
        p, spans = self.run_gw("off", [os.path.join(BUILD, "static_client")])
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertEqual(spans, [])
        # The run says why it saw nothing and what to do.
        self.assertIn("static_client cannot be traced by the hooks (static", p.stderr)
        self.assertIn("--gateway auto", p.stderr)

    def test_go_program_auto(self):
        go = os.path.join(BUILD, "go_client")
        need(go, "go (golang-go)")
        p, spans = self.run_gw("auto", ["sh", "-c", go])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(len(spans), 2, p.stderr)
        by = {s["request_model"]: s for s in spans}
        self.assertGatewaySpan(by["gpt-4o-mini"], exe="go_client")
        ant = by["claude-sonnet-4-5"]
        self.assertGatewaySpan(ant, "claude-sonnet-4-5", exe="go_client")
        self.assertTrue(ant["stream"])
        self.assertIsNotNone(ant["ttft_ms"])

    def test_bun_auto(self):
        need(BUN, "bun (npm @oven/bun-linux-x64, tests/gateway)")
        p, spans = self.run_gw("auto", [BUN, os.path.join(GW, "bun_fetch.js")])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout.strip(), "200 100 20")
        self.assertEqual(len(spans), 1, p.stderr)
        self.assertGatewaySpan(spans[0], exe="bun")

    # --- hookable programs with --gateway on: counted once ----------------
    def curl(self, base):
        return ["curl", "-sS", base + "/chat/completions",
                "-H", "content-type: application/json",
                "-H", "authorization: Bearer sk-none",
                "-d", json.dumps({"model": "gpt-4o-mini",
                                  "messages": [{"role": "user", "content": "hi"}]})]

    def test_curl_on_byte_identical(self):
        p, spans = self.run_gw("on", ["sh", "-c", " ".join(
            "'%s'" % a if " " in a or "{" in a else a
            for a in self.curl("$OPENAI_BASE_URL"))])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(len(spans), 1, p.stderr)       # gateway only, not the hooks too
        self.assertGatewaySpan(spans[0], exe="curl")
        direct = subprocess.run(self.curl(self.m.base + "/v1") + ["--cacert", self.m.cert],
                                env=self.env(),
                                capture_output=True, text=True, check=True)
        self.assertEqual(MASK.sub("X", p.stdout), MASK.sub("X", direct.stdout))

    def test_python_and_node_on(self):
        script = ("import json,os,urllib.request as u\n"
                  "r=u.Request(os.environ['OPENAI_BASE_URL']+'/chat/completions',"
                  "data=json.dumps({'model':'gpt-4o-mini','messages':[{'role':'user',"
                  "'content':'hi'}]}).encode(),headers={'content-type':'application/json'})\n"
                  "print(json.load(u.urlopen(r))['usage']['prompt_tokens'])\n")
        node = ("const r=await fetch(process.env.ANTHROPIC_BASE_URL+'/v1/messages',"
                "{method:'POST',headers:{'content-type':'application/json'},body:JSON.stringify("
                "{model:'claude-sonnet-4-5',max_tokens:10,messages:[{role:'user',content:'hi'}]})});"
                "console.log((await r.json()).usage.input_tokens)")
        p, spans = self.run_gw("on", ["sh", "-c", '%s -c "$0" && node --input-type=module -e "$1"'
                                      % PY, script, node])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout.split(), ["100", "100"])
        self.assertEqual(len(spans), 2, p.stderr)
        by = {s["request_model"]: s for s in spans}
        self.assertGatewaySpan(by["gpt-4o-mini"], exe=os.path.basename(os.path.realpath(PY)))
        self.assertGatewaySpan(by["claude-sonnet-4-5"], "claude-sonnet-4-5")

    def test_official_sdks_on(self):
        need(os.path.join(GW, "node_modules", "openai"), "npm openai (tests/gateway)")
        p, spans = self.run_gw("on", ["node", os.path.join(GW, "sdk_client.mjs")])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout.splitlines(), [
            "openai 100 20 Hello from the mock provider.",
            "openai-stream Hello from the mock provider.",
            "anthropic-stream 100 20 Hello from the mock provider."])
        self.assertEqual(len(spans), 3, p.stderr)
        for s in spans:
            self.assertGatewaySpan(s, s["request_model"], exe="node")
        self.assertEqual(sorted(s["stream"] for s in spans), [False, True, True])

    def test_stream_unbuffered(self):
        p, spans = self.run_gw("on", ["sh", "-c", '%s %s "$OPENAI_BASE_URL"'
                                      % (PY, os.path.join(GW, "stream_lag.py"))])
        self.assertEqual(p.returncode, 0, p.stderr)
        times = json.loads(p.stdout)
        # 5 deltas 100 ms apart (+ role, finish, usage, [DONE]): delivered as
        # they came, they spread over >= 0.4 s; buffered, they would not.
        self.assertGreaterEqual(len(times), 7, times)
        self.assertGreaterEqual(times[-1] - times[0], 400, times)
        gaps = [b - a for a, b in zip(times, times[1:])]
        self.assertGreaterEqual(sum(1 for g in gaps if g >= 50), 4, times)
        self.assertEqual(len(spans), 1)
        self.assertTrue(spans[0]["stream"])
        self.assertEqual(spans[0]["capture"], "gateway")

    # --- record, replay, --mock: the gateway's upstream is the run's server --
    def test_record_then_replay_static_binary(self):
        """A static binary recorded through the gateway is replayed through
        it: the gateway's upstream connections go to the replay server (the
        recorded answer, byte for byte), none to the stopped provider."""
        from harness import Mock
        from test_replay import Sentinel
        rm = Mock()
        ca = os.path.join(self.home, "rec-ca.pem")
        shutil.copy(rm.cert, ca)
        har = os.path.join(self.home, "gw.har")
        env = self.env(OPENAI_BASE_URL=rm.base + "/v1", SSL_CERT_FILE=ca,
                       TOKENTAP_HOSTS="127.0.0.1:%d=auto" % rm.port)
        client = [os.path.join(BUILD, "static_client"), "321"]
        try:
            rec = subprocess.run([TOKENTAP, "record", "-o", har, "--"] + client, env=env,
                                 capture_output=True, text=True, timeout=120 * SLOW)
        finally:
            port = rm.port
            rm.stop()
        self.assertEqual(rec.returncode, 0, rec.stderr)
        self.assertIn("1 LLM exchange recorded in", rec.stderr)
        spans = self.spans(env)
        self.assertEqual(len(spans), 1, rec.stderr)
        self.assertEqual((spans[0]["capture"], spans[0]["input_tokens"]), ("gateway", 321))
        sentinel = Sentinel(port)
        try:
            env["TOKENTAP_DB"] = os.path.join(self.home, "replay.db")
            rep = subprocess.run([TOKENTAP, "replay", har, "--"] + client, env=env,
                                 capture_output=True, text=True, timeout=120 * SLOW)
        finally:
            sentinel.close()
        self.assertEqual(rep.returncode, 0, rep.stderr)
        self.assertIn("1 replayed, 0 missed", rep.stderr)
        self.assertEqual(rep.stdout, rec.stdout)
        self.assertEqual(sentinel.hits, 0)
        spans = self.spans(env)
        self.assertEqual(len(spans), 1, rep.stderr)
        s = spans[0]
        self.assertEqual((s["capture"], s["replay"], s["input_tokens"], s["output_tokens"]),
                         ("gateway", "hit", 321, 20))
        self.assertEqual(os.path.basename(s["exe"]), "static_client")

    def test_run_mock_static_binary(self):
        """run --mock: a static binary with no base URL of its own goes
        through the gateway to the mock, not to api.openai.com."""
        env = self.env()
        env.pop("OPENAI_BASE_URL")
        p = subprocess.run([TOKENTAP, "run", "--mock", "--",
                            os.path.join(BUILD, "static_client"), "77"], env=env,
                           capture_output=True, text=True, timeout=120 * SLOW)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("Hello from the mock provider.", p.stdout)
        self.assertIn("answered by the mock", p.stderr)
        spans = self.spans(env)
        self.assertEqual(len(spans), 1, p.stderr)
        s = spans[0]
        self.assertEqual((s["capture"], s["replay"], s["host"], s["input_tokens"]),
                         ("gateway", "mock", "api.openai.com", 77))

    # --- the fleet case: tokentapd runs the gateway --------------------------
    def tokentapd_with_gateway(self):
        """A standalone tokentapd running the gateway on a free port, the mock
        as its OpenAI upstream: (env, port, daemon, base URL)."""
        import socket
        from harness import TOKENTAPD
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        env = self.env(TOKENTAP_GATEWAY_LISTEN="127.0.0.1:%d" % port,
                       TOKENTAP_GATEWAY_UPSTREAM="openai=%s/v1" % self.m.base)
        d = subprocess.Popen([TOKENTAPD, "--foreground"], env=env, stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        return env, port, d, "http://127.0.0.1:%d/openai" % port

    def test_tokentapd_runs_the_gateway(self):
        import time
        env, port, d, base = self.tokentapd_with_gateway()
        try:
            for _ in range(200):
                p = subprocess.run(self.curl(base), capture_output=True, text=True)
                if p.returncode == 0:
                    break
                time.sleep(0.05)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertIn("Hello from the mock provider.", p.stdout)
            # the gateway dies: the daemon starts another
            gw = subprocess.run(["pgrep", "-f", "gateway --listen 127.0.0.1:%d" % port],
                                capture_output=True, text=True).stdout.split()
            self.assertEqual(len(gw), 1, gw)
            os.kill(int(gw[0]), 9)
            for _ in range(100):
                time.sleep(0.1)
                p = subprocess.run(self.curl(base), capture_output=True, text=True)
                if p.returncode == 0:
                    break
            self.assertEqual(p.returncode, 0, p.stderr)
        finally:
            d.terminate()
            d.wait(15)
        spans = self.spans(env)
        self.assertEqual(len(spans), 2, d.stderr.read() if d.stderr else "")
        for sp in spans:
            self.assertGatewaySpan(sp, exe="curl")

    def test_tokentapd_gateway_and_a_traced_caller_count_once(self):
        # A program traced by the preload calls tokentapd's gateway by hand:
        # the preload captures the call (in the run's trace), the gateway
        # relays it without a span of its own. An untraced caller still
        # gets the gateway's span.
        import time
        env, port, d, base = self.tokentapd_with_gateway()
        try:
            for _ in range(200):
                p = subprocess.run(self.curl(base), capture_output=True, text=True, env=env)
                if p.returncode == 0:
                    break
                time.sleep(0.05)
            self.assertEqual(p.returncode, 0, p.stderr)      # untraced: the gateway's span
            p, _ = self.run_gw("off", self.curl(base), env=env)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertIn("Hello from the mock provider.", p.stdout)
            self.assertNotIn("no LLM calls", p.stderr)
        finally:
            d.terminate()
            d.wait(15)
        spans = self.spans(env)
        self.assertEqual(len(spans), 2, [(x["capture"], x.get("exe")) for x in spans])
        by = sorted(spans, key=lambda x: x["capture"])
        self.assertEqual([x["capture"] for x in by], ["gateway", "preload"], by)
        self.assertGatewaySpan(by[0], exe="curl")
        hooked = by[1]
        self.assertEqual(hooked["status"], "ok", hooked.get("error"))
        self.assertEqual((hooked["input_tokens"], hooked["output_tokens"]), (100, 20))
        self.assertEqual(hooked["host"], "127.0.0.1:%d" % port)

    def test_doctor_follows_a_wrapper(self):
        d = tempfile.mkdtemp(prefix="tt-gw-pkg-")
        try:
            os.makedirs(os.path.join(d, "bin"))
            os.makedirs(os.path.join(d, "vendor", "x86_64"))
            shutil.copy(os.path.join(BUILD, "static_client"),
                        os.path.join(d, "vendor", "x86_64", "agent"))
            with open(os.path.join(d, "package.json"), "w") as f:
                f.write('{"name": "agent"}\n')
            w = os.path.join(d, "bin", "agent.js")
            with open(w, "w") as f:
                f.write("#!/usr/bin/env node\nrequire('child_process').spawnSync("
                        "__dirname + '/../vendor/x86_64/agent', {stdio: 'inherit'})\n")
            os.chmod(w, 0o755)
            p = self.tokentap("doctor", w, check=False)
            self.assertIn("the package ships %s" % os.path.join(
                os.path.realpath(d), "vendor", "x86_64", "agent"), p.stdout)
            self.assertIn("static", p.stdout)
            self.assertIn("--gateway auto", p.stdout)
        finally:
            shutil.rmtree(d, ignore_errors=True)

    # --- faults -----------------------------------------------------------
    def test_faults(self):
        """Each fault through the gateway against the same fault direct: the
        client sees the same outcome (a refused connect has no equivalent
        once the gateway accepted: both are connection errors), the gateway
        stays up ("after"), and each failed call's span says what happened."""
        rst = ResettingUpstream()
        mute = ResettingUpstream(answer=False)
        try:
            extra = dict(ANTHROPIC_BASE_URL="https://127.0.0.1:1",
                         OLLAMA_HOST="http://127.0.0.1:%d" % rst.port,
                         GOOGLE_GEMINI_BASE_URL="http://127.0.0.1:%d" % mute.port)
            direct = subprocess.run([PY, os.path.join(GW, "faults.py"), "200"],
                                    env=self.env(**extra), capture_output=True, text=True,
                                    timeout=240 * SLOW)
            p, spans = self.run_gw("on", [PY, os.path.join(GW, "faults.py"), "200"],
                                   timeout=240, **extra)
        finally:
            rst.close()
            mute.close()
        self.assertEqual(direct.returncode, 0, direct.stderr)
        self.assertEqual(p.returncode, 0, p.stderr)
        want = dict(line.split(" ", 1) for line in direct.stdout.splitlines())
        out = dict(line.split(" ", 1) for line in p.stdout.splitlines())
        self.assertEqual(sorted(out), sorted(want))
        self.assertEqual(want["upstream_down"], "ConnectionError:ConnectionRefusedError")
        self.assertTrue(out["upstream_down"].startswith("ConnectionError:"), out)
        for k in want:
            if k != "upstream_down":
                self.assertEqual(out[k], want[k], (k, p.stdout, direct.stdout, p.stderr))
        self.assertEqual(want["reset_mid_stream"], "IncompleteRead")
        self.assertEqual(want["upstream_reset"], "ConnectionError:ConnectionResetError")
        self.assertEqual(want["upstream_no_answer"], "ConnectionError:RemoteDisconnected")
        for k in ("client_disconnect", "big_body", "concurrent", "after"):
            self.assertEqual(out[k], "ok", (k, p.stdout, p.stderr))
        by_path = {s["path"]: s for s in spans if s["status"] == "error"}
        self.assertTrue(by_path["/v1beta/models/gemini-2.0-flash:generateContent"]["error"]
                        .startswith("upstream closed the connection without an answer"),
                        by_path)
        errors = sorted(s["error"] for s in spans if s["status"] == "error"
                        and s["provider"] != "gcp.gemini")
        self.assertEqual(len(errors), 4, errors)
        self.assertTrue(errors[0].startswith("the client closed the connection"), errors)
        # the mock's cut (an HTTP/2 stream reset) and the resetting upstream
        self.assertTrue(errors[1].startswith("upstream answer cut short") and
                        errors[1].endswith("(connection reset)"), errors)
        self.assertTrue(errors[2].startswith("upstream answer cut short") and
                        not errors[2].endswith("(connection reset)"), errors)
        self.assertTrue(errors[3].startswith("upstream unreachable"), errors)
        self.assertIn("(connection reset)", by_path["/api/chat"]["error"])
        ok = [s for s in spans if s["status"] == "ok"]
        self.assertEqual(len(ok), 202)      # big body, 200 streams, after
        big = [s for s in ok if s["input_tokens"] == 2500000]
        self.assertEqual(len(big), 1)
        self.assertEqual(big[0]["output_tokens"], 7)
        conc = sorted(s["input_tokens"] for s in ok if s["stream"])
        self.assertEqual(conc, list(range(1000, 1200)))
        for s in spans:
            self.assertEqual(s["capture"], "gateway")


class ResettingUpstream:
    """A plain-HTTP Ollama-like upstream that answers a streamed chat with
    its head and one NDJSON line, then resets the connection (RST); with
    answer=False it reads the request and closes without a byte."""

    def __init__(self, answer=True):
        self.answer = answer
        import socket
        import threading
        self.s = socket.socket()
        self.s.bind(("127.0.0.1", 0))
        self.s.listen(8)
        self.s.settimeout(0.2)
        self.port = self.s.getsockname()[1]
        self.stop = False
        self.t = threading.Thread(target=self.loop, daemon=True)
        self.t.start()

    def loop(self):
        import socket
        import struct
        import time
        while not self.stop:
            try:
                c, _ = self.s.accept()
            except OSError:
                continue
            c.settimeout(10)
            data = b""
            while b"\r\n\r\n" not in data:
                got = c.recv(65536)
                if not got:
                    break
                data += got
            head, _, body = data.partition(b"\r\n\r\n")
            m = re.search(rb"(?i)content-length:\s*(\d+)", head)
            while m and len(body) < int(m.group(1)):
                body += c.recv(65536)
            if not self.answer:
                c.close()
                continue
            line = (b'{"model":"llama3.2","created_at":"2025-01-01T00:00:00Z",'
                    b'"message":{"role":"assistant","content":"Hel"},"done":false}\n')
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\n"
                      b"Transfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n" % (len(line), line))
            time.sleep(0.2)
            c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            c.close()

    def close(self):
        self.stop = True
        self.t.join(2)
        self.s.close()

if __name__ == "__main__":
    unittest.main()
