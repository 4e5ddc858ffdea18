"""Figure 19 of `make bench` (issue #14): instructions per streamed call.

Fig 14 counts a non-streamed call. Agents mostly stream, and a stream is a
few hundred small events, each read by the API's parser on the capture
worker: what that costs per call is counted here the same way (callgrind,
one file per thread, the difference between a run of N2 and one of N1
calls divided by N2-N1, traced minus untraced), for the four streaming
APIs the agents people run speak: OpenAI Chat Completions, OpenAI
Responses, Anthropic Messages and Gemini's streamGenerateContent, each
answered by `tokentap mock` with EVENTS text deltas (x-mock-chunks),
through the libcurl bench client
(bench/bench_curl_calls.c, HTTP/2) to a private tokentapd (not under
callgrind).

Prints ROW lines (info): instructions added per streamed call, all threads
and the program's own thread. Env: N1 (default 5), N2 (default 25, QUICK:
15), EVENTS (200)."""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import (QUICK, ROOT, Bench, PrivateDaemon, build_curl_client, die,  # noqa: E402
                      log, row)
from fig_14_instructions import TUNABLES, total_ir, valgrind_cmd  # noqa: E402

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
    ("Gemini streamGenerateContent", "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
     {"contents": [{"role": "user", "parts": [{"text": "Tell me a story."}]}]}),
]


def main():
    curl = build_curl_client()
    if subprocess.run(["valgrind", "--version"], capture_output=True).returncode != 0:
        die("fig19: valgrind is missing (bench/install-bench-deps.sh)")
    lib = os.path.join(ROOT, "build", "lib", "libtokentap.so")
    with Bench("fig19") as b, PrivateDaemon(b, "home") as d:
        for i, (name, path, body) in enumerate(APIS):
            bf = b.file("body%d.json" % i, json.dumps(body).encode())
            per = {}
            for traced in (False, True):
                ir = {}
                for n in (N1, N2):
                    out = os.path.join(b.tmp, "cg-%d-%d-%d.out" % (i, traced, n))
                    env = dict(d.env, GLIBC_TUNABLES=TUNABLES, TOKENTAP_HOSTS=b.hosts)
                    if traced:
                        env["LD_PRELOAD"] = lib
                    argv = valgrind_cmd(out) + [curl, b.mock.base + path, bf, b.mock.cert,
                                                str(n), "x-mock-chunks: %d" % EVENTS]
                    p = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL,
                                       capture_output=True, text=True, timeout=1800)
                    if p.returncode != 0:
                        die("fig19: %s failed (%d):\n%s" % (" ".join(argv), p.returncode,
                                                            p.stderr[-2000:]))
                    every = total_ir(out)
                    ir[n] = (every, every - total_ir(out, worker_only=True))
                per[traced] = tuple((ir[N2][k] - ir[N1][k]) / (N2 - N1) for k in (0, 1))
            (a, a_prog), (w, w_prog) = per[False], per[True]
            log("fig19 %s: untraced %.0f instructions/call; traced %+.0f all threads, "
                "%+.0f on the program's thread" % (name, a, w - a, w_prog - a_prog))
            cmd = "N1=%d N2=%d EVENTS=%d python3 bench/fig_19_streams.py" % (N1, N2, EVENTS)
            row("19. instructions per streamed call (%d text deltas), %s, libcurl (h2), "
                "all threads (untraced / traced)" % (EVENTS, name),
                "%.0f" % a, "%.0f (%+.0f)" % (w, w - a), "%.2f" % (w / a), "info", "info", cmd)
            row("19. of which on the program's own thread, %s" % name,
                "%.0f" % a_prog, "%.0f (%+.0f)" % (w_prog, w_prog - a_prog),
                "%.2f" % (w_prog / a_prog), "info", "info", cmd)


if __name__ == "__main__":
    main()
