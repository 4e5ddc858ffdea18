"""Issue #10: the inline hooks on a program that carries its own OpenSSL,
without Node: tests/integration/inline/fake_openssl.c exports SSL_write,
SSL_read, SSL_free, SSL_get_servername and SSL_get_error and calls them
directly; its "TLS" is memory (a request to api.openai.com, a canned
answer). Built with endbr64 prologues (-fcf-protection, -O0) and with plain
optimised ones (-O2): the call must be seen through the patched functions
with its exact tokens and cost. Built with a 3-byte SSL_write (-DSHORT):
the hooks are refused, all of them, with one line on stderr saying why,
and the program runs exactly as it would without tokentap."""
import os
import subprocess
import shutil
import tempfile

from harness import TapTest

SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "inline", "fake_openssl.c")


class InlineHooks(TapTest):

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="tt-inline-")
        cls.bins = {}
        for name, flags in (("endbr", ["-O0", "-fcf-protection=full"]),
                            ("o2", ["-O2", "-fcf-protection=none"]),
                            ("short", ["-O0", "-DSHORT"])):
            out = os.path.join(cls.dir, "fake-" + name)
            subprocess.run(["cc"] + flags + ["-rdynamic", "-o", out, SRC], check=True)
            cls.bins[name] = out

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def plain(self, path):
        return subprocess.run([path], capture_output=True, text=True, timeout=30)

    def test_hooked_call_is_traced_endbr64_prologue(self):
        self.check_traced("endbr")

    def test_hooked_call_is_traced_optimised_prologue(self):
        self.check_traced("o2")

    def test_hooked_call_is_traced_under_eager_binding(self):
        # The start-up check finds the main program through the loader's
        # lazy-binding slot (GOT[1]); LD_BIND_NOW leaves it empty, and the
        # check walks with dl_iterate_phdr instead: the same result.
        self.check_traced("endbr", LD_BIND_NOW="1")

    def check_traced(self, name, **env):
        prog = self.bins[name]
        r = self.run_traced([prog], **env)
        self.assertEqual(r.rc, 0, r.stderr)
        self.assertEqual(r.stdout, self.plain(prog).stdout)
        self.assertEqual(r.stdout, "wrote 182, read 308, error 6\n")
        self.assertNotIn("inline hooks", r.stderr)
        self.assertEqual(len(r.spans), 1, "%s: %s" % (name, r.stderr))
        s = r.spans[0]
        self.assertContract(s)
        self.assertEqual(s["provider"], "openai", name)
        self.assertEqual(s["host"], "api.openai.com", name)
        self.assertEqual(s["request_model"], "gpt-4o-mini", name)
        self.assertEqual((s["input_tokens"], s["output_tokens"]), (321, 45), name)
        self.assertEqual(s["http_status"], 200, name)
        self.assertCost(s, "gpt-4o-mini", 321, 45)
        self.assertEqual(s["exe"], os.path.realpath(prog))

    def test_inline_off(self):
        r = self.run_traced([self.bins["endbr"]], TOKENTAP_INLINE="off")
        self.assertEqual(r.rc, 0, r.stderr)
        self.assertEqual(r.stdout, "wrote 182, read 308, error 6\n")
        self.assertEqual(r.spans, [])

    def test_refused_leaves_program_alone(self):
        prog = self.bins["short"]
        plain = self.plain(prog)
        self.assertEqual(plain.stdout, "wrote 0, read 308, error 6\n")
        r = self.run_traced([prog])
        self.assertEqual(r.rc, 0, r.stderr)
        self.assertEqual(r.stdout, plain.stdout)
        lines = [l for l in r.stderr.splitlines() if "inline hooks" in l]
        self.assertEqual(len(lines), 1, r.stderr)
        self.assertIn("SSL_write: the function is 3 bytes long, shorter than the 5-byte jump",
                      lines[0])
        self.assertIn("not traced", lines[0])
        self.assertEqual(r.spans, [])
        quiet = self.run_traced([prog], TOKENTAP_LOG="off")
        self.assertEqual(quiet.rc, 0)
        self.assertNotIn("inline hooks", quiet.stderr)
        self.assertEqual(quiet.stdout, plain.stdout)
