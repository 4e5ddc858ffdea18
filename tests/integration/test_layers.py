"""Issue 18 (layers): each program links only what it uses. tokentapd
carries neither the mock nor any subcommand; the CLI embeds the mock's
server and provider routes (replay, run --mock) but not its broken-protocol
routes, which only the mock program tokentap-mock has; `tokentap mock`
runs that program in its own place (exec: same process)."""
import os
import re
import shutil
import subprocess
import tempfile
import time
import unittest

import harness
from harness import BIN, TOKENTAP

# The real executables (under make test-valgrind, BIN holds a wrapper
# script for tokentapd; the binaries stay in <build>/bin).
REAL_BIN = os.path.normpath(os.path.join(BIN, "..", "bin"))


def defined(name):
    out = subprocess.run(["nm", "--defined-only", os.path.join(REAL_BIN, name)],
                         capture_output=True, text=True, check=True).stdout
    return [line.split()[-1] for line in out.splitlines() if line.strip()]


class Layers(unittest.TestCase):

    def test_hook_object_costs_the_loader_little(self):
        """What every exec pays for the hook object (bench fig 4): one glibc
        symbol version to check (preload/symver.h binds all at GLIBC_2.2.5)
        and a handful of relative relocations (tables of arrays)."""
        lib = harness.LIB
        dyn = subprocess.run(["readelf", "-d", "-W", lib], capture_output=True, text=True,
                             check=True).stdout
        if re.search(r"lib(asan|tsan|ubsan)", dyn):
            self.skipTest("a sanitizer build links its runtime")
        ver = subprocess.run(["readelf", "-V", "-W", lib], capture_output=True, text=True,
                             check=True).stdout
        needs = ver[ver.index(".gnu.version_r"):] if ".gnu.version_r" in ver else ""
        self.assertEqual(sorted(set(re.findall(r"Name: (\S+)", needs))), ["GLIBC_2.2.5"], needs)
        rel = subprocess.run(["readelf", "-r", "-W", lib], capture_output=True, text=True,
                             check=True).stdout
        relative = rel.count("R_X86_64_RELATIVE")
        self.assertLessEqual(relative, 32, "relative relocations: %d" % relative)
        self.assertIn("libc.so.6", dyn)      # its one dependency stays named

    def test_daemon_links_no_mock_and_no_subcommand(self):
        syms = defined("tokentapd")
        self.assertIn("main", syms)
        self.assertIn("tt_ui_start", syms)          # TOKENTAP_UI: the ui is its own
        self.assertEqual([s for s in syms if re.search("mock", s, re.I)], [])
        mains = [s for s in syms if re.fullmatch(r"tt_(cli|gw)_\w+_main|tt_gw_main|tt_cli_help", s)]
        self.assertEqual(mains, [])

    def test_cli_embeds_the_mock_server_but_not_its_broken_routes(self):
        syms = set(defined("tokentap"))
        self.assertIn("tt_mock_embed_start", syms)  # replay, run --mock
        self.assertIn("tt_mock_gemini_routes", syms)
        self.assertNotIn("tt_mock_bad_routes", syms)
        mock = set(defined("tokentap-mock"))
        self.assertIn("tt_mock_bad_routes", mock)
        self.assertNotIn("tt_cli_run_main", mock)

    def test_tokentap_mock_execs_the_mock_program(self):
        m = harness.Mock(plain=True)
        try:
            exe = os.readlink("/proc/%d/exe" % m.proc.pid)
            self.assertEqual(os.path.basename(exe), "tokentap-mock")
            import urllib.request
            with urllib.request.urlopen(m.base + "/health", timeout=10) as r:
                self.assertEqual(r.status, 200)
        finally:
            m.stop()
        self.assertEqual(m.proc.returncode, 0)

    def test_missing_mock_program_is_explained(self):
        d = tempfile.mkdtemp(prefix="tt-layers-")
        try:
            shutil.copy(TOKENTAP, os.path.join(d, "tokentap"))
            p = subprocess.run([os.path.join(d, "tokentap"), "mock", "--port", "0"],
                               capture_output=True, text=True, timeout=30,
                               env=dict(os.environ, **harness.san_env()))
            self.assertEqual(p.returncode, 1)
            self.assertIn("tokentap-mock is missing", p.stderr)
            # --help needs no program: the CLI answers it.
            p = subprocess.run([os.path.join(d, "tokentap"), "mock", "--help"],
                               capture_output=True, text=True, timeout=30,
                               env=dict(os.environ, **harness.san_env()))
            self.assertEqual(p.returncode, 0)
            self.assertIn("Usage: tokentap mock", p.stdout)
        finally:
            shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
