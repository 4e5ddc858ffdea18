"""Figure 19 of `make bench` (issue #14): instructions per streamed call.

Fig 14 counts a non-streamed call. Agents mostly stream, and a stream is a
few hundred small events, each read by the API's parser on the capture
worker: what that costs per call is counted here the same way (callgrind,
one file per thread, the difference between a run of N2 and one of N1
calls divided by N2-N1, traced minus untraced), for the three streaming
APIs the agents people run speak: OpenAI Chat Completions, OpenAI
Responses and Anthropic Messages, each answered by `tokentap mock` with
EVENTS text deltas (x-mock-chunks), through the libcurl bench client
(bench/bench_curl_calls.c, HTTP/2) to a private tokentapd (not under
callgrind).

Prints ROW lines (info): instructions added per streamed call, all threads
and the program's own thread. Env: N1 (default 5), N2 (default 25, QUICK:
15), EVENTS (200)."""
import json
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import QUICK, ROOT, Bench, build_curl_client, die, log, row  # noqa: E402
from fig_14_instructions import (DAEMON, TUNABLES, file_ir, is_worker,  # noqa: E402
                                 thread_files, valgrind_cmd)

N1 = int(os.environ.get("N1") or 5)
N2 = int(os.environ.get("N2") or (15 if QUICK else 25))
EVENTS = int(os.environ.get("EVENTS") or 200)
PROMPT = [{"role": "user", "content": "Tell me a story."}]
APIS = [
    ("OpenAI Chat Completions", "/v1/chat/completions",
     {"model": "gpt-4o-mini", "stream": True, "stream_options": {"include_usage": True},
      "messages": PROMPT}),
    ("OpenAI Responses", "/v1/responses",
     {"model": "gpt-5-mini", "stream": True, "input": "Tell me a story."}),
    ("Anthropic Messages", "/v1/messages",
     {"model": "claude-sonnet-4-5", "stream": True, "max_tokens": 1024, "messages": PROMPT}),
]


def count(out):
    """(all threads, the program's thread alone) of one callgrind run."""
    every = program = 0
    for fp in thread_files(out):
        t = file_ir(fp)
        if t is None:
            die("fig19: no instruction total in " + fp)
        every += t
        if not is_worker(fp):
            program += t
    return every, program


def main():
    curl = build_curl_client()
    if subprocess.run(["valgrind", "--version"], capture_output=True).returncode != 0:
        die("fig19: valgrind is missing (bench/install-bench-deps.sh)")
    lib = os.path.join(ROOT, "build", "lib", "libtokentap.so")
    with Bench("fig19") as b:
        home = os.path.join(b.tmp, "home")
        os.makedirs(home)
        denv = dict(b.env, TOKENTAP_HOME=home, TOKENTAP_DB=os.path.join(home, "traces.db"),
                    TOKENTAP_SOCKET=os.path.join(home, "d.sock"),
                    TOKENTAP_SPOOL=os.path.join(home, "spool"))
        daemon = subprocess.Popen([DAEMON, "--foreground"], env=denv, stdin=subprocess.DEVNULL,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.time() + 10
            while not os.path.exists(denv["TOKENTAP_SOCKET"]):
                if daemon.poll() is not None or time.time() > deadline:
                    die("fig19: tokentapd did not start")
                time.sleep(0.05)
            for i, (name, path, body) in enumerate(APIS):
                bf = b.file("body%d.json" % i, json.dumps(body).encode())
                per = {}
                for traced in (False, True):
                    ir = {}
                    for n in (N1, N2):
                        out = os.path.join(b.tmp, "cg-%d-%d-%d.out" % (i, traced, n))
                        env = dict(denv, GLIBC_TUNABLES=TUNABLES, TOKENTAP_HOSTS=b.hosts)
                        if traced:
                            env["LD_PRELOAD"] = lib
                        argv = valgrind_cmd(out) + [curl, b.mock.base + path, bf, b.mock.cert,
                                                    str(n), "x-mock-chunks: %d" % EVENTS]
                        p = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL,
                                           capture_output=True, text=True, timeout=1800)
                        if p.returncode != 0:
                            die("fig19: %s failed (%d):\n%s" % (" ".join(argv), p.returncode,
                                                                p.stderr[-2000:]))
                        ir[n] = count(out)
                    per[traced] = tuple((ir[N2][k] - ir[N1][k]) / (N2 - N1) for k in (0, 1))
                (a, a_prog), (w, w_prog) = per[False], per[True]
                log("fig19 %s: untraced %.0f instructions/call; traced %+.0f all threads, "
                    "%+.0f on the program's thread" % (name, a, w - a, w_prog - a_prog))
                cmd = "N1=%d N2=%d EVENTS=%d python3 bench/fig_19_streams.py" % (N1, N2, EVENTS)
                row("19. instructions per streamed call (%d text deltas), %s, libcurl (h2), "
                    "all threads (untraced / traced)" % (EVENTS, name),
                    "%.0f" % a, "%.0f (%+.0f)" % (w, w - a), "%.2f" % (w / a), "info", "info",
                    cmd)
                row("19. of which on the program's own thread, %s" % name,
                    "%.0f" % a_prog, "%.0f (%+.0f)" % (w_prog, w_prog - a_prog),
                    "%.2f" % (w_prog / a_prog), "info", "info", cmd)
        finally:
            daemon.send_signal(signal.SIGTERM)
            daemon.wait(30)


if __name__ == "__main__":
    main()
