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
        """What every exec pays for the hook object (bench fig 4): no library
        to find and no symbol version to check (no libc on its link line,
        Makefile), no symbol to look up before the first call (lazy PLT
        only: no GLOB_DAT, no TLS relocation by name), a handful of
        relative relocations (tables of arrays)."""
        lib = harness.LIB
        dyn = subprocess.run(["readelf", "-d", "-W", lib], capture_output=True, text=True,
                             check=True).stdout
        if re.search(r"lib(asan|tsan|ubsan)", dyn):
            self.skipTest("a sanitizer build links its runtime")
        self.assertNotIn("(NEEDED)", dyn)
        self.assertNotIn("(VERNEED)", dyn)
        rel = subprocess.run(["readelf", "-r", "-W", lib], capture_output=True, text=True,
                             check=True).stdout
        relative = rel.count("R_X86_64_RELATIVE")
        self.assertLessEqual(relative, 32, "relative relocations: %d" % relative)
        by_name = [line for line in rel.splitlines()
                   if re.match(r"\s*[0-9a-f]+\s+[0-9a-f]+\s+R_X86_64_", line)
                   and "JUMP_SLOT" not in line and len(line.split()) > 4]
        self.assertEqual(by_name, [], "relocations the loader resolves by name at load")
        # What the constructors write or read lies in the page the loader
        # has already written (the end of .data: relocated GOT, zeroed rest
        # of the page), not in pages of its own (a page fault apiece, every
        # exec): the settings with the start of their arena, and the flags.
        secs = subprocess.run(["readelf", "-S", "-W", lib], capture_output=True, text=True,
                              check=True).stdout
        m = re.search(r"\.data\s+PROGBITS\s+([0-9a-f]+)\s+[0-9a-f]+\s+([0-9a-f]+)", secs)
        data, data_size = int(m.group(1), 16), int(m.group(2), 16)
        page = (data + data_size) >> 12
        syms = {}
        for line in subprocess.run(["nm", lib], capture_output=True, text=True,
                                   check=True).stdout.splitlines():
            f = line.split()
            if len(f) == 3:
                syms[f[2]] = int(f[0], 16)
        self.assertEqual(syms["store"] >> 12, page, "settings.c's store")
        for flag in ("tt_rt_off", "tt_rt_spans_owed", "tt_rt_fork_gen"):
            self.assertTrue(data <= syms[flag] < data + data_size, flag)

    def test_hook_object_binds_libc_at_its_base_version(self):
        """An unversioned reference binds to the symbol's base version
        (GLIBC_2.2.5 on x86-64), as the build with symbol versions did:
        each libc function the hook object calls must exist there (a
        function only a newer glibc has would bind to whatever version is
        left, or to nothing)."""
        import ctypes
        lib = harness.LIB
        dyn = subprocess.run(["readelf", "-d", "-W", lib], capture_output=True, text=True,
                             check=True).stdout
        if re.search(r"lib(asan|tsan|ubsan)", dyn):
            self.skipTest("a sanitizer build links its runtime")
        out = subprocess.run(["nm", "-D", "--undefined-only", lib], capture_output=True,
                             text=True, check=True).stdout
        names = [line.split()[-1] for line in out.splitlines() if line.strip()]
        self.assertIn("dlsym", names)
        libc = ctypes.CDLL(None)
        dlvsym = libc.dlvsym
        dlvsym.restype = ctypes.c_void_p
        dlvsym.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p]
        missing = [n for n in names if n not in ("__gmon_start__",)
                   and not dlvsym(None, n.encode(), b"GLIBC_2.2.5")]
        self.assertEqual(missing, [])

    def test_program_without_libc_runs_under_the_preload(self):
        """No DT_NEEDED: the hook object loads into a program that has no
        libc at all, and leaves it alone (its one line, exit 0)."""
        prog = os.path.join(harness.CLIENTS_BIN, "no_libc")
        phdr = subprocess.run(["readelf", "-l", "-d", "-W", prog], capture_output=True,
                              text=True, check=True).stdout
        self.assertIn("INTERP", phdr)          # dynamically linked
        self.assertNotIn("(NEEDED)", phdr)     # and nothing else
        env = dict(os.environ, LD_PRELOAD=harness.LIB, TOKENTAP_LOG="on")
        r = subprocess.run([prog], capture_output=True, text=True, env=env, timeout=30)
        self.assertEqual((r.returncode, r.stdout, r.stderr),
                         (0, "no libc here, libtokentap.so mapped\n", ""))
        env.pop("LD_PRELOAD")
        r = subprocess.run([prog], capture_output=True, text=True, env=env, timeout=30)
        self.assertEqual(r.stdout, "no libc here, libtokentap.so not mapped\n")

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
