"""Figure 14 of `make bench` (issue #14): CPU instructions, counted, not timed.

Wall-clock ratios on a shared 2-core machine move by tens of microseconds
from one run to the next; instruction counts do not. This figure counts
them with valgrind's callgrind:

  - in the traced program, per LLM call: the libcurl bench client
    (bench/bench_curl_calls.c, HTTP/2 by ALPN) and Python requests
    (bench/client_calls.py, HTTP/1.1 over the SSL_read/SSL_write hooks),
    each making keep-alive calls of a ~10 KB request / ~5 KB answer against
    `tokentap mock`, with content capture on (the default) and off
    (TOKENTAP_CAPTURE_CONTENT=off), and untraced;
  - in tokentapd, per span stored: the daemon itself under callgrind
    (`tokentapd --foreground` on a private socket, the traced client
    pointed at it by TOKENTAP_SOCKET).

Each count is the difference between a run of N2 calls and one of N1 calls,
divided by N2-N1: process start, imports, the TLS handshake and the
preload's lazy setup cancel out, what stays is the steady per-call cost.
The preload's share is (traced - untraced) per call. The breakdown lists
the functions of the preload (inclusive instructions per call, i.e. with
what they call in libc, jansson, ...) and of the daemon (per span), the
top entries first.

Prints ROW lines (info: the budget is in µs, fig 2; these are the numbers
that show a change's effect) and the breakdowns on stderr.
Env: N1 (default 10), N2 (default 60, QUICK: 40), CLIENTS (curl,python)."""
import glob
import os
import re
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import (BENCH, PY, QUICK, TOKENTAP, ROOT, Bench, build_curl_client,  # noqa: E402
                      die, log, row)

N1 = int(os.environ.get("N1") or 10)
N2 = int(os.environ.get("N2") or (40 if QUICK else 60))
CLIENTS = (os.environ.get("CLIENTS") or "curl,python").split(",")
TOP = int(os.environ.get("TOP") or 14)
# https (default) or http: the mock answers both on one port. Plain HTTP
# spares the TLS handshake, which under valgrind on a loaded machine can
# outlast the mock's 5 s read timeout; the preload's capture core is the
# same (the hook differs: read/write instead of SSL_read/SSL_write, and
# libcurl speaks HTTP/1.1 instead of h2).
SCHEME = os.environ.get("SCHEME") or "https"
CHUNKS = "800"
DAEMON = os.path.join(ROOT, "build", "bin", "tokentapd")
PRELOAD = os.path.join(ROOT, "build", "lib", "libtokentap.so")
PRELOAD_OBJ = "libtokentap"

# The same body as bench/client_calls.py and fig 2 send.
sys.path.insert(0, BENCH)
from fig_02_llm_calls import BODY  # noqa: E402


# glibc copies and fills of 2 KiB and more with `rep movsb` / `rep stosb`
# on this CPU (its ERMS path), and callgrind counts each iteration of a
# rep-prefixed instruction, i.e. each byte, as an instruction: a 10 KB copy
# would weigh as much as 10,000 instructions where the vector loop used
# below the threshold takes ~700. Every run here (untraced, traced, the
# daemon) raises the thresholds, so a copy counts as the work it is and
# a change in which memcpy a module binds to (a symbol version) does not
# move the figure by itself.
TUNABLES = ("glibc.cpu.x86_rep_movsb_threshold=0xffffffffffff:"
            "glibc.cpu.x86_rep_stosb_threshold=0xffffffffffff")


def valgrind_cmd(out):
    # One file per thread (out-01, out-02, ...): the preload's capture
    # worker (preload/defer.c) is counted apart from the program's thread.
    return ["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out,
            "--separate-threads=yes", "--trace-children=no", "-q"]


def thread_files(path):
    files = sorted(glob.glob(path + "-[0-9]*"))
    return files or [path]


def file_ir(path):
    """The 'summary:' / 'totals:' line of one callgrind file."""
    tot = None
    with open(path) as f:
        for line in f:
            if line.startswith("summary:") or line.startswith("totals:"):
                tot = int(line.split()[1])
    return tot


def is_worker(path):
    with open(path) as f:
        return any("worker_main" in line for line in f if line.startswith(("fn=", "cfn=")))


def total_ir(path, worker_only=False):
    """Instructions of every thread of the run (or of the capture worker's
    thread only)."""
    tot = 0
    seen = False
    for fp in thread_files(path):
        t = file_ir(fp)
        if t is None:
            continue
        seen = True
        if not worker_only or is_worker(fp):
            tot += t
    if not seen:
        die("fig14: no totals in %s" % path)
    return tot


FN_RE = re.compile(r"^\s*([\d,]+)\s+(?:\([^)]*\)\s+)?(.*?)\s*$")


def functions(path, inclusive):
    """{'file:function [object]': Ir} from callgrind_annotate, every thread."""
    res = {}
    for fp in thread_files(path):
        if file_ir(fp) is None:
            continue
        functions_1(fp, inclusive, res)
    return res


def functions_1(path, inclusive, res):
    p = subprocess.run(["callgrind_annotate", "--inclusive=%s" % ("yes" if inclusive else "no"),
                        "--threshold=100", path], capture_output=True, text=True)
    if p.returncode != 0:
        die("fig14: callgrind_annotate %s: %s" % (path, p.stderr))
    started = False
    for line in p.stdout.splitlines():
        if "file:function" in line:
            started = True
            continue
        if not started or not line.strip() or line.startswith("--"):
            continue
        m = FN_RE.match(line)
        if m and not m.group(2).startswith(("=>", "<", ">", "*")):
            res[m.group(2)] = res.get(m.group(2), 0) + int(m.group(1).replace(",", ""))


def short(fn):
    """'preload/exchange.c:tt_ex_end [/x/libtokentap.so]' -> 'tt_ex_end (libtokentap.so)'."""
    m = re.match(r"^(?:.*?:)?([^:\[]+?)\s*(?:'\d+)?\s*\[(.*)\]$", fn)
    if not m:
        return fn
    return "%s (%s)" % (m.group(1), os.path.basename(m.group(2)))


def daemon_work(fns):
    """The daemon's own work: main and its threads, inclusive; the dynamic
    loader's start (relocating a large binary, tens of millions under
    valgrind, and not the same from run to run) left out."""
    tot = 0
    for k, v in fns.items():
        if re.search(r"libc-start\.c:__libc_start_main|pthread_create\.c:start_thread", k):
            tot += v
    if tot == 0:
        die("fig14: no main or threads in the daemon's profile")
    return tot


class Daemon:
    """A private tokentapd under callgrind: its socket and store in tmp."""

    def __init__(self, b, tag):
        self.home = os.path.join(b.tmp, "dhome-" + tag)
        os.makedirs(self.home, exist_ok=True)
        self.sock = os.path.join(self.home, "d.sock")
        self.db = os.path.join(self.home, "traces.db")
        self.out = os.path.join(b.tmp, "cg-daemon-%s.out" % tag)
        env = dict(b.env, GLIBC_TUNABLES=TUNABLES, TOKENTAP_HOME=self.home, TOKENTAP_DB=self.db,
                   TOKENTAP_SOCKET=self.sock,
                   TOKENTAP_SPOOL=os.path.join(self.home, "spool"))
        self.env = env
        self.proc = subprocess.Popen(valgrind_cmd(self.out) + [DAEMON, "--foreground"],
                                     env=env, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL,
                                     stderr=open(os.path.join(self.home, "log"), "w"))
        deadline = time.time() + 60
        while not os.path.exists(self.sock):
            if self.proc.poll() is not None or time.time() > deadline:
                self.stop()
                die("fig14: tokentapd under callgrind did not start (see %s/log)" % self.home)
            time.sleep(0.1)
        time.sleep(0.5)   # bound, then listening: a moment under valgrind

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(120)


def main():
    curl = build_curl_client()
    if subprocess.run(["valgrind", "--version"], capture_output=True).returncode != 0:
        die("fig14: valgrind is missing (bench/install-bench-deps.sh)")
    results = {}
    with Bench("fig14") as b:
        body = b.file("body.json", BODY)
        base = b.mock.base if SCHEME == "https" else "http://127.0.0.1:%d" % b.mock.port
        url = base + "/v1/chat/completions"
        argvs = {
            "curl": lambda n: [curl, url, body, b.mock.cert, str(n),
                               "x-mock-chunks: " + CHUNKS],
            "python": lambda n: [PY, os.path.join(BENCH, "client_calls.py"), str(n)],
        }
        base_env = dict(b.env, MOCK_CHUNKS=CHUNKS, PYTHONHASHSEED="0", MOCK_BASE=base,
                        GLIBC_TUNABLES=TUNABLES)
        for c in CLIENTS:
            if c not in argvs:
                die("fig14: unknown client %s" % c)
            for mode in ("plain", "content", "nocontent"):
                tot, fns, dfns = {}, {}, {}
                for n in (N1, N2):
                    out = os.path.join(b.tmp, "cg-%s-%s-%d.out" % (c, mode, n))
                    env = dict(base_env)
                    d = None
                    argv = valgrind_cmd(out) + argvs[c](n)
                    if mode != "plain":
                        d = Daemon(b, "%s-%s-%d" % (c, mode, n))
                        # What `tokentap run` gives its command, pointed
                        # straight at the daemon under callgrind (run's own
                        # check of a slow daemon could start another).
                        env.update(d.env, TOKENTAP_HOSTS=b.hosts, LD_PRELOAD=PRELOAD,
                                   TRACEPARENT="00-%032x-%016x-01" % (n, n))
                        if mode == "nocontent":
                            env["TOKENTAP_CAPTURE_CONTENT"] = "off"
                    else:
                        # The same number of variables, of the same lengths,
                        # without the preload: Python's requests walks the
                        # environment on every call (proxy settings), which
                        # would otherwise count some 50,000 instructions per
                        # call of the interpreter's as tokentap's.
                        for k, v in {"TOKENTAP_HOME": "h" * 60, "TOKENTAP_DB": "d" * 70,
                                     "TOKENTAP_SOCKET": "s" * 66, "TOKENTAP_SPOOL": "p" * 66,
                                     "TOKENTAP_HOSTS": b.hosts, "TT_BENCH_NO_PRELOAD": PRELOAD,
                                     "TRACEPARENT": "00-%032x-%016x-01" % (n, n)}.items():
                            env[k] = v
                    for attempt in range(3):
                        p = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL,
                                           capture_output=True, text=True, timeout=1800)
                        # The mock gives a read 5 s (SO_RCVTIMEO): a client under
                        # callgrind on a loaded machine can miss it (a TLS
                        # handshake, an HTTP/2 frame). The count does not
                        # depend on the attempt; the error is shown.
                        if p.returncode == 0 or attempt == 2:
                            break
                        log("fig14: %s %s N=%d failed under valgrind (%s), again"
                            % (c, mode, n, p.stderr.strip().splitlines()[-1:]))
                        if d:
                            d.stop()
                            d = Daemon(b, "%s-%s-%d-%d" % (c, mode, n, attempt + 1))
                            env.update(d.env)
                    if d:
                        d.stop()
                    if p.returncode != 0:
                        die("fig14: %s failed (%d):\n%s%s" % (" ".join(argv), p.returncode,
                                                              p.stdout, p.stderr))
                    if d:
                        q = subprocess.run([TOKENTAP, "export", "--format", "jsonl"],
                                           env=d.env, capture_output=True, text=True)
                        llm = [l for l in q.stdout.splitlines() if '"kind":"llm"' in
                               l.replace(" ", "")]
                        if len(llm) != n + 1:
                            die("fig14: %s %s N=%d stored %d LLM spans, want %d"
                                % (c, mode, n, len(llm), n + 1))
                        dfns[n] = functions(d.out, True)
                        tot[("d", n)] = daemon_work(dfns[n])
                    tot[n] = total_ir(out)
                    tot[("w", n)] = total_ir(out, worker_only=True)
                    fns[n] = functions(out, True)
                    log("fig14 %s %s N=%d: %d instructions%s" % (
                        c, mode, n, tot[n],
                        ", daemon %d" % tot[("d", n)] if d else ""))
                per = (tot[N2] - tot[N1]) / (N2 - N1)
                wper = (tot[("w", N2)] - tot[("w", N1)]) / (N2 - N1)
                results[(c, mode)] = {"per": per, "wper": wper, "fns": fns, "dfns": dfns,
                                      "dper": ((tot[("d", N2)] - tot[("d", N1)]) / (N2 - N1)
                                               if mode != "plain" else None)}
    for c in CLIENTS:
        plain = results[(c, "plain")]["per"]
        for mode in ("content", "nocontent"):
            r = results[(c, mode)]
            added = r["per"] - plain
            fns = r["fns"]
            delta = {k: (fns[N2].get(k, 0) - fns[N1].get(k, 0)) / (N2 - N1)
                     for k in set(fns[N2]) | set(fns[N1]) if PRELOAD_OBJ in k}
            log("fig14 %s, content %s: preload instructions per call %.0f "
                "(traced %.0f - untraced %.0f; %.0f of them on the capture worker); "
                "top functions (inclusive, per call):"
                % (c, "on" if mode == "content" else "off", added, r["per"], plain, r["wper"]))
            for k, v in sorted(delta.items(), key=lambda kv: -kv[1])[:TOP]:
                log("    %10.0f  %s" % (v, short(k)))
            dfns = r["dfns"]
            ddelta = {k: (dfns[N2].get(k, 0) - dfns[N1].get(k, 0)) / (N2 - N1)
                      for k in set(dfns[N2]) | set(dfns[N1])}
            log("fig14 %s, content %s: tokentapd instructions per span %.0f; top functions "
                "(inclusive, per span):" % (c, "on" if mode == "content" else "off", r["dper"]))
            for k, v in sorted(ddelta.items(), key=lambda kv: -kv[1])[:TOP]:
                if v > 0:
                    log("    %10.0f  %s" % (v, short(k)))
            name = {"curl": "libcurl easy (%s)" % ("h2" if SCHEME == "https" else "HTTP/1.1"),
                    "python": "Python requests"}[c] + ("" if SCHEME == "https" else ", plain HTTP")
            cmd = "SCHEME=%s N1=%d N2=%d CLIENTS=%s python3 bench/fig_14_instructions.py" % (
                SCHEME, N1, N2, c)
            row("14. instructions per LLM call in the preload, %s, content %s "
                "(untraced / traced)" % (name, "on" if mode == "content" else "off"),
                "%.0f" % plain, "%.0f (%+.0f)" % (r["per"], added), "%.2f" % (r["per"] / plain),
                "info", "info", cmd)
            row("14. of which on the program's own thread (the rest runs on the "
                "capture worker, preload/defer.c), %s, content %s (untraced / traced)"
                % (name, "on" if mode == "content" else "off"),
                "%.0f" % plain, "%.0f (%+.0f)" % (r["per"] - r["wper"], added - r["wper"]),
                "%.2f" % ((r["per"] - r["wper"]) / plain), "info", "info", cmd)
            row("14. instructions per span in tokentapd, %s, content %s"
                % (name, "on" if mode == "content" else "off"),
                "-", "%.0f" % r["dper"], "-", "info", "info", cmd)


if __name__ == "__main__":
    main()
