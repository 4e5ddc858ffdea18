"""Issue #2: what a user does after a run (ls, show, cost, export), the
spool when no daemon listens, and an installed tree."""
import json
import os
import pwd
import shlex
import shutil
import subprocess
import tempfile

from harness import BIN, DEFAULT_BIN, PY, ROOT, SLOW, TOKENTAPD, TapTest, preload_env


class ReadCommands(TapTest):
    def two_runs(self):
        a = self.run_traced(self.client("llm_call.py") + [
            "--lib", "requests", "--api", "openai", "--n", "2",
            "--header", "x-mock-usage: in=1000,out=100,cached=200"])
        b = self.run_traced(self.client("llm_call.py") + [
            "--lib", "urllib", "--api", "anthropic",
            "--header", "x-mock-usage: in=500,out=50"])
        self.assertEqual(len(b.spans), 3, a.stderr + b.stderr)
        return a, b

    def test_ls_show_cost(self):
        self.two_runs()
        spans = self.spans()
        traces = sorted({s["trace_id"] for s in spans})
        self.assertEqual(len(traces), 2)

        ls = json.loads(self.tokentap("ls", "--json").stdout)
        rows = ls if isinstance(ls, list) else ls.get("traces", ls)
        self.assertEqual(sorted(r["trace_id"] for r in rows), traces)
        text = self.tokentap("ls").stdout
        self.assertIn("llm_call.py", text)       # the command that ran

        oai = [s for s in spans if s["provider"] == "openai"]
        tr = oai[0]["trace_id"]
        show = self.tokentap("show", tr[:8]).stdout
        self.assertIn("gpt-4o-mini", show)
        self.assertEqual(show.count("gpt-4o-mini") >= 2, True, show)
        shown = json.loads(self.tokentap("show", tr, "--json").stdout)
        self.assertEqual(len([s for s in shown["spans"] if s["kind"] == "llm"]), 2)

        for by in ("model", "provider", "process"):
            c = json.loads(self.tokentap("cost", "--by", by, "--json").stdout)
            total = c["total"]
            self.assertEqual(total["calls"], 3, by)
            self.assertAlmostEqual(total["cost_usd"], sum(s["cost_usd"] for s in spans),
                                   places=12)
            self.assertEqual(total["input_tokens"], 2500)
        by_provider = json.loads(self.tokentap("cost", "--by", "provider", "--json").stdout)
        groups = {g["key"] if "key" in g else g["provider"]: g for g in by_provider["groups"]}
        self.assertEqual(groups["openai"]["calls"], 2)
        self.assertEqual(groups["anthropic"]["calls"], 1)

    def test_show_unknown_id_fails_clearly(self):
        self.two_runs()
        p = self.tokentap("show", "ffffffffffff", check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertTrue(p.stderr.strip())

    def test_empty_store(self):
        p = self.tokentap("cost", "--by", "model")
        self.assertIn("no traces yet", p.stderr)


class Spool(TapTest):
    def test_no_daemon_then_spool_ingested(self):
        """A process traced by LD_PRELOAD alone, with no daemon listening:
        its spans wait in the spool and the next tokentap command stores
        them."""
        env = preload_env(self.env())
        p = subprocess.run(self.client("llm_call.py") + [
            "--lib", "requests", "--n", "2", "--header", "x-mock-usage: in=11,out=3"],
            env=env, capture_output=True, text=True, timeout=60 * SLOW)
        self.assertEqual(p.returncode, 0, p.stderr)
        spool = os.path.join(self.home, "spool")
        files = [f for f in os.listdir(spool) if f.endswith(".spool")]
        self.assertTrue(files, os.listdir(spool))
        for f in files:
            self.assertEqual(os.stat(os.path.join(spool, f)).st_mode & 0o777, 0o600)
        self.assertEqual(os.stat(spool).st_mode & 0o777, 0o700)
        spans = self.spans()          # export ingests the spool first
        self.assertEqual(len(spans), 2)
        self.assertEqual({s["input_tokens"] for s in spans}, {11})
        self.assertEqual([f for f in os.listdir(spool) if f.endswith(".spool")], [])
        self.assertEqual(len(self.spans()), 2)    # idempotent, not doubled


class Install(TapTest):
    def test_install_layout_and_run(self):
        dest = tempfile.mkdtemp(prefix="tt-dest-")
        # the tree under test: make's B is the parent of the bin dir
        build = [] if BIN == DEFAULT_BIN else ["B=" + os.path.dirname(BIN)]
        build += shlex.split(os.environ.get("TOKENTAP_TEST_MAKE_ARGS", ""))
        subprocess.run(["make", "-s", "-C", ROOT, "install", "PREFIX=/opt/tokentap",
                        "DESTDIR=" + dest] + build, check=True, capture_output=True)
        root = os.path.join(dest, "opt", "tokentap")
        found = sorted(os.path.relpath(os.path.join(d, f), root)
                       for d, _, fs in os.walk(root) for f in fs)
        self.assertEqual(found, [
            "bin/tokentap", "bin/tokentapd", "lib/libtokentap-core.so", "lib/libtokentap.so",
            "lib/systemd/system/tokentapd@.service", "lib/systemd/user/tokentapd.service",
            "libexec/tokentap/tokentap-mock",
            "share/doc/tokentap/FLEET.md", "share/doc/tokentap/OTLP.md",
            "share/doc/tokentap/tokentap.conf.example"])
        # `tokentap mock` finds the mock program in libexec: its own usage
        # error (2), not "missing" (1).
        p = subprocess.run([os.path.join(root, "bin", "tokentap"), "mock", "--no-such-option"],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("usage: tokentap mock", p.stderr)
        # the units name the installed daemon, not a placeholder
        for u in ("lib/systemd/system/tokentapd@.service", "lib/systemd/user/tokentapd.service"):
            text = open(os.path.join(root, u)).read()
            self.assertNotIn("@BINDIR@", text)
            self.assertIn("ExecStart=/opt/tokentap/bin/tokentapd --foreground", text)
        tokentap = os.path.join(root, "bin", "tokentap")
        p = subprocess.run([tokentap, "run", "--", "curl", "--http1.1", "-s",
                            "--cacert", self.m.cert, self.m.base + "/v1/chat/completions",
                            "-d", '{"model":"gpt-4o-mini","messages":[]}'],
                           env=self.env(), capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        out = subprocess.run([tokentap, "export", "--format", "jsonl"], env=self.env(),
                             capture_output=True, text=True, check=True).stdout
        self.assertEqual([json.loads(l)["kind"] for l in out.splitlines()].count("llm"), 1)
        subprocess.run(["rm", "-rf", dest])


    def test_systemd_units_verify(self):
        """The units of dist/, with their paths filled in as make install
        does, pass systemd's own checker."""
        tool = shutil.which("systemd-analyze")
        if not tool:
            self.skipTest("systemd-analyze not installed")
        d = tempfile.mkdtemp(prefix="tt-units-")
        try:
            units = []
            for name, inst in (("tokentapd.service", "tokentapd.service"),
                               ("tokentapd@.service", "tokentapd@%s.service"
                                % pwd.getpwuid(os.getuid()).pw_name)):
                text = open(os.path.join(ROOT, "dist", name)).read()
                text = text.replace("@BINDIR@", BIN).replace("@DOCDIR@", os.path.join(ROOT, "docs"))
                path = os.path.join(d, inst)
                with open(path, "w") as f:
                    f.write(text)
                units.append(path)
            p = subprocess.run([tool, "verify"] + units, capture_output=True, text=True)
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
            self.assertNotIn("tokentapd", p.stderr)
        finally:
            shutil.rmtree(d, ignore_errors=True)


class StalledDaemon(TapTest):
    def test_stalled_daemon_loses_nothing(self):
        """A daemon that is alive but not reading (SIGSTOP): the traced
        program's frames fill the socket, then go to the spool at once; after
        the daemon resumes, every call is stored exactly once."""
        import signal
        import time
        sock = os.path.join(self.home, "d.sock")
        daemon = subprocess.Popen([TOKENTAPD,
                                   "--foreground", "--socket", sock, "--db", self.db,
                                   "--spool", os.path.join(self.home, "spool")],
                                  stderr=subprocess.DEVNULL, env=self.env())
        try:
            for _ in range(int(100 * SLOW)):
                if os.path.exists(sock):
                    break
                time.sleep(0.02)
            daemon.send_signal(signal.SIGSTOP)
            env = preload_env(self.env(TOKENTAP_SOCKET=sock))
            # 10 KB requests: the socket buffer fills after a few dozen frames.
            p = subprocess.run([PY, os.path.join(ROOT, "bench", "client_calls.py"), "150"],
                               env=env, capture_output=True, text=True, timeout=120 * SLOW)
            self.assertEqual(p.returncode, 0, p.stderr)
            daemon.send_signal(signal.SIGCONT)
            spans = []
            for _ in range(int(50 * SLOW)):  # the daemon ingests its spool every 2 s
                spans = self.spans(env=self.env(TOKENTAP_SOCKET=sock))
                if len(spans) >= 151:
                    break
                time.sleep(0.2)
            self.assertEqual(len(spans), 151)            # 150 + the warm-up call
            self.assertEqual(len({s["span_id"] for s in spans}), 151)
        finally:
            daemon.send_signal(signal.SIGCONT)
            daemon.terminate()
            daemon.wait(10 * SLOW)
