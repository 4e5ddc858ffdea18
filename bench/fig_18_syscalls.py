"""Figure 18 of `make bench` (issue #14): system calls, counted, not timed.

On this VM a system call costs about a microsecond (getppid(2) in a loop:
1.06 µs; page-table isolation on, paravirtualised), so the calls tokentap
adds are a direct part of what a call costs the program and what a span
costs tokentapd. strace -f -c counts them, deterministically:

  - in the traced program, per LLM call: the libcurl bench client
    (bench/bench_curl_calls.c, HTTP/2 by ALPN, ~10 KB request / ~5 KB
    answer) against `tokentap mock`, traced minus untraced, all threads
    (the program's and the capture worker's);
  - in tokentapd, per span stored: a private `tokentapd --foreground`
    under strace, its threads together.

Two regimes: calls back to back, and calls answered THINK_MS (5) ms after
the request (x-mock-think-ms), where every span reaches tokentapd alone and
is committed alone, as real calls seconds apart are. Each count is the
difference between a run of N2 and one of N1 calls divided by N2-N1, so
process start, the TLS handshake and the daemon's own start cancel out.

ROW lines (info): the added calls per LLM call and per span, and on stderr
the breakdown by system call.
Env: N1 (20), N2 (220, QUICK: 120), THINK_MS (5)."""
import os
import re
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import (QUICK, ROOT, TOKENTAP, Bench, build_curl_client, die, log,  # noqa: E402
                      row)

N1 = int(os.environ.get("N1") or 20)
N2 = int(os.environ.get("N2") or (120 if QUICK else 220))
THINK_MS = int(os.environ.get("THINK_MS") or 5)
DAEMON = os.path.join(ROOT, "build", "bin", "tokentapd")
PRELOAD = os.path.join(ROOT, "build", "lib", "libtokentap.so")

from fig_02_llm_calls import BODY  # noqa: E402


def counts(path):
    """{syscall: calls} from an `strace -c` summary (all threads)."""
    out = {}
    for line in open(path):
        w = line.split()
        # % time, seconds, usecs/call, calls, [errors,] syscall
        if len(w) >= 5 and re.match(r"^[0-9.]+$", w[0]) and w[-1] != "total":
            out[w[-1]] = int(w[3])
    if not out:
        die("fig18: no strace summary in %s" % path)
    return out


class Daemon:
    """A private tokentapd under strace -f -c: socket and store in tmp."""

    def __init__(self, b, tag):
        self.home = os.path.join(b.tmp, "dhome-" + tag)
        os.makedirs(self.home, exist_ok=True)
        self.sock = os.path.join(self.home, "d.sock")
        self.out = os.path.join(b.tmp, "st-daemon-%s.txt" % tag)
        self.env = dict(b.env, TOKENTAP_HOME=self.home, TOKENTAP_SOCKET=self.sock,
                        TOKENTAP_DB=os.path.join(self.home, "traces.db"),
                        TOKENTAP_SPOOL=os.path.join(self.home, "spool"))
        self.pidfile = os.path.join(self.home, "pid")
        self.proc = subprocess.Popen(["strace", "-f", "-c", "-o", self.out, DAEMON,
                                      "--foreground", "--pidfile", self.pidfile], env=self.env,
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=open(os.path.join(self.home, "log"), "w"))
        deadline = time.time() + 20
        while not (os.path.exists(self.sock) and os.path.exists(self.pidfile)):
            if self.proc.poll() is not None or time.time() > deadline:
                self.stop()
                die("fig18: tokentapd under strace did not start (see %s/log)" % self.home)
            time.sleep(0.05)
        time.sleep(0.3)

    def stop(self):
        # The daemon itself, not strace (which would only detach): strace
        # writes its summary when its tracee has exited.
        if self.proc.poll() is None:
            try:
                os.kill(int(open(self.pidfile).read().split()[0]), signal.SIGTERM)
            except (OSError, ValueError, IndexError):
                self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(60)


def main():
    if not shutil.which("strace"):
        die("fig18: strace is missing (bench/install-bench-deps.sh)")
    curl = build_curl_client()
    with Bench("fig18") as b:
        body = b.file("body.json", BODY)
        url = b.mock.base + "/v1/chat/completions"
        for regime, hdrs in (("back to back", []),
                             ("answered %d ms after the request" % THINK_MS,
                              ["x-mock-think-ms: %d" % THINK_MS])):
            tot = {}
            for mode in ("plain", "traced"):
                for n in (N1, N2):
                    out = os.path.join(b.tmp, "st-%s-%s-%d.txt" % (regime[:4], mode, n))
                    env = dict(b.env)
                    d = None
                    if mode == "traced":
                        d = Daemon(b, "%s-%d" % (regime[:4], n))
                        env.update(d.env, TOKENTAP_HOSTS=b.hosts, LD_PRELOAD=PRELOAD)
                    argv = ["strace", "-f", "-c", "-o", out, curl, url, body, b.mock.cert,
                            str(n), "x-mock-chunks: 800"] + hdrs
                    p = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL,
                                       capture_output=True, text=True, timeout=600)
                    if d:
                        d.stop()
                    if p.returncode != 0:
                        die("fig18: %s failed (%d):\n%s" % (" ".join(argv), p.returncode,
                                                            p.stderr[-2000:]))
                    tot[(mode, n)] = counts(out)
                    if d:
                        q = subprocess.run([TOKENTAP, "export", "--format", "jsonl"],
                                           env=d.env, capture_output=True, text=True)
                        llm = [ln for ln in q.stdout.splitlines()
                               if '"kind":"llm"' in ln.replace(" ", "")]
                        if len(llm) != n + 1:
                            die("fig18: %s N=%d stored %d LLM spans, want %d"
                                % (regime, n, len(llm), n + 1))
                        tot[("daemon", n)] = counts(d.out)

            def per(mode, name=None):
                a, z = tot[(mode, N1)], tot[(mode, N2)]
                keys = [name] if name else set(a) | set(z)
                return sum(z.get(k, 0) - a.get(k, 0) for k in keys) / (N2 - N1)

            names = set()
            for k in tot:
                names |= set(tot[k])
            plain, traced, daemon = per("plain"), per("traced"), per("daemon")
            log("fig18 %s: system calls per LLM call: untraced %.1f, traced %.1f (%+.1f); "
                "tokentapd per span %.1f. By call (added per LLM call | tokentapd per span):"
                % (regime, plain, traced, traced - plain, daemon))
            for k in sorted(names, key=lambda k: -(abs(per("traced", k) - per("plain", k))
                                                   + abs(per("daemon", k)))):
                added, dk = per("traced", k) - per("plain", k), per("daemon", k)
                if abs(added) >= 0.05 or abs(dk) >= 0.05:
                    log("    %-16s %+6.2f | %6.2f" % (k, added, dk))
            cmd = "N1=%d N2=%d THINK_MS=%d python3 bench/fig_18_syscalls.py" % (N1, N2, THINK_MS)
            row("18. system calls per LLM call in the traced program (all threads), libcurl "
                "h2, calls %s (untraced / traced)" % regime,
                "%.1f" % plain, "%.1f (%+.1f)" % (traced, traced - plain),
                "%.2f" % (traced / plain), "info", "info", cmd)
            row("18. system calls per span in tokentapd, calls %s" % regime,
                "-", "%.1f" % daemon, "-", "info", "info", cmd)


if __name__ == "__main__":
    main()
