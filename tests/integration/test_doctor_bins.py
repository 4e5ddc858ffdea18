"""Issue #10: `tokentap doctor CMD` tells the truth per kind of binary, on
real ones: the official Node build and NodeSource's node (their own
OpenSSL: traced by inline hooks), python3 and curl (shared libraries:
traced), a Go program, static musl and static glibc executables, and Bun
(BoringSSL): not traceable, and why. The Go and static programs are built
here (golang-go, musl-tools: tools/install-deps.sh)."""
import os
import shutil
import subprocess
import tempfile

from harness import ROOT, TapTest

NODE22 = os.path.join(ROOT, "tests", "node", "node_modules", "node22", "bin", "node")
BUN = os.path.join(ROOT, "tests", "node", "node_modules", "bun", "bin", "bun")

# What makes it Go is the runtime, not what it imports: a small program
# builds in seconds (the build cache stays in build/gocache).
GO_SRC = """package main

import "fmt"

func main() { fmt.Println("hi") }
"""


class DoctorBinaries(TapTest):

    def doctor(self, path, env=None):
        p = self.tokentap("doctor", path, check=False, env=env)
        tail = p.stdout.split("\n" + path + "\n", 1)[-1]
        return p.returncode, tail

    def assertVerdict(self, path, rc, tag, words, env=None):
        got_rc, out = self.doctor(path, env=env)
        self.assertEqual(got_rc, rc, out)
        self.assertIn("[%s]" % tag, out)
        for w in words:
            self.assertIn(w, out)
        self.assertIn("can be traced" if rc == 0 else "cannot be traced", out)

    def test_traced_kinds(self):
        self.assertTrue(os.path.exists(NODE22), "run tools/install-deps.sh")
        self.assertVerdict(NODE22, 0, "own-openssl", ["inline hooks"])
        self.assertVerdict(NODE22, 1, "own-openssl", ["TOKENTAP_INLINE=off is set"],
                           env=self.env(TOKENTAP_INLINE="off"))
        self.assertVerdict(shutil.which("curl"), 0, "libcurl", ["libcurl API"])
        rc, out = self.doctor("/usr/bin/python3")
        self.assertEqual(rc, 0, out)
        self.assertIn("[plain]", out)
        if os.path.exists("/usr/bin/node"):
            rc, out = self.doctor("/usr/bin/node")
            self.assertEqual(rc, 0, out)
            self.assertTrue("[own-openssl]" in out or "[libssl]" in out, out)

    def test_untraceable_kinds(self):
        self.assertTrue(os.path.exists(BUN), "run tools/install-deps.sh")
        self.assertVerdict(BUN, 1, "boringssl", ["BoringSSL", "Bun"])
        d = tempfile.mkdtemp(prefix="tt-bins-")
        try:
            src = os.path.join(d, "s.c")
            with open(src, "w") as fh:
                fh.write('#include <stdio.h>\nint main(void){puts("hi");return 0;}\n')
            musl = os.path.join(d, "musl-static")
            subprocess.run(["musl-gcc", "-static", "-o", musl, src], check=True)
            self.assertVerdict(musl, 1, "static-musl", ["statically linked (musl"])
            glibc = os.path.join(d, "glibc-static")
            subprocess.run(["cc", "-static", "-o", glibc, src], check=True)
            self.assertVerdict(glibc, 1, "static-glibc", ["statically linked (glibc)"])
            gosrc = os.path.join(d, "hello.go")
            with open(gosrc, "w") as fh:
                fh.write(GO_SRC)
            gobin = os.path.join(d, "gohello")
            env = dict(os.environ, HOME=d, GOCACHE=os.path.join(ROOT, "build", "gocache"),
                       GO111MODULE="off", GOFLAGS="", GOPATH=os.path.join(d, "gopath"))
            subprocess.run(["go", "build", "-o", gobin, gosrc], check=True, env=env, cwd=d)
            self.assertVerdict(gobin, 1, "go", ["crypto/tls"])
            env["CGO_ENABLED"] = "0"
            gostatic = gobin + "-static"
            subprocess.run(["go", "build", "-o", gostatic, gosrc], check=True, env=env, cwd=d)
            self.assertVerdict(gostatic, 1, "go", ["crypto/tls"])
        finally:
            shutil.rmtree(d, ignore_errors=True)
