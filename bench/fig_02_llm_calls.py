"""Figure 2 of `make bench` (issue #5): non-streaming LLM calls.

N sequential keep-alive calls (a ~10 KB request body, a ~5 KB answer: the
mock's x-mock-chunks: 800) against `tokentap mock` over TLS, from two
ordinary clients that know nothing of tokentap:
  - Python requests, one Session (bench/client_calls.py);
  - a libcurl C program, one easy handle reused (bench/bench_curl_calls.c,
    built here with cc -O2 ... -lcurl into build/bench/; libcurl's default
    protocol, i.e. HTTP/2 by ALPN).
Each run makes one untimed warm-up call then N timed ones. ROUNDS rounds,
alternately plain and under `tokentap run` (the order flips every round).
The "without" and "with" cells are the medians of the runs' per-call
times; the added time is paired (benchlib.paired): the median of the
per-round differences, ± the half-width of its bootstrap 90% interval.
Untraced runs of the same client move by ±100 µs per call from one round
to the next on this 2-core machine (other work, the scheduler), more than
the 50 µs the target allows, so the verdict says so: ok when the whole
interval is within the target, MISSED when all of it is past, unclear when
it holds the target. Every traced run gets a fresh store that must then
hold exactly N+1 spans (`tokentap export`), all ok.

Prints two ROW lines (added µs per call and the ratio; target <= 50 µs).
A third client, Python requests writing one line to stdout (a pipe) after
each call, then pausing 10 ms (PRINT_EACH=1, bench/client_calls.py), gives
a third row: the time of that write, the
program's first output after a call. A completed call's span leaves the
process before that output (preload/defer.h), so whatever of the span's
work is not done by then is done in it (info: part of what a call costs a
program that prints its answers).
A fourth client, the libcurl one again with the mock answering THINK_MS
(20) ms after each request (x-mock-think-ms, a provider's time to its
answer; real calls take 0.5 to 30 s), gives the paced row (the median call of each run): what tokentap
adds to a call when the capture worker and tokentapd do their part while
the program waits for its next answer, as they do in real use. The rows
above are calls back to back against a local mock, where all of that work
competes with the client and the server for the 2 cores.
A fifth pair of rows gives the mock's own CPU time per call (user +
system, /proc; info): the server of these back-to-back calls runs on the
same 2 cores as the client, the capture worker and tokentapd, which a real
provider does not.
Env: N (default 2000, QUICK: 300), NP (calls of the printing client,
200, QUICK: 50), NT (calls of the paced client, 200, QUICK: 50), THINK_MS
(20), ROUNDS (9, QUICK: 3). Shorter runs are no substitute for rounds: a
traced run's fresh tokentapd starts (its store created) while the first
calls are timed, which 300 calls feel (+143 µs a call for libcurl in one
QUICK run) and 2000 hardly do."""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import (BENCH, PY, QUICK, Bench, build_curl_client, die, log,  # noqa: E402
                      median, paired, row, verdict_at_most)

N = int(os.environ.get("N") or (300 if QUICK else 2000))
ROUNDS = int(os.environ.get("ROUNDS") or (3 if QUICK else 9))
NP = int(os.environ.get("NP") or (50 if QUICK else 200))
NT = int(os.environ.get("NT") or (50 if QUICK else 200))
THINK_MS = int(os.environ.get("THINK_MS") or 20)
TARGET_US = 50
CHUNKS = "800"

# The same body as bench/client_calls.py sends.
BODY = json.dumps({
    "model": "gpt-4o-mini", "temperature": 0.2, "max_tokens": 64,
    "messages": [{"role": "system", "content": "You are terse."},
                 {"role": "user", "content": "Summarise: " + "lorem ipsum " * 850}],
}).encode()


def parse(out):
    """'key value ...' -> dict of floats."""
    w = out.strip().splitlines()[-1].split()
    return {w[i]: float(w[i + 1]) for i in range(0, len(w) - 1, 2)}


def mock_cpu_s(b):
    """The mock's CPU time so far (user + system, s): the server shares
    the machine's 2 cores with the client, the worker and tokentapd."""
    f = open("/proc/%d/stat" % b.mock.proc.pid).read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


def main():
    curl = build_curl_client()
    with Bench("fig02") as b:
        body = b.file("body.json", BODY)
        url = b.mock.base + "/v1/chat/completions"
        clients = {
            "python": [PY, os.path.join(BENCH, "client_calls.py"), str(N)],
            "curl": [curl, url, body, b.mock.cert, str(N), "x-mock-chunks: " + CHUNKS],
            "print": [PY, os.path.join(BENCH, "client_calls.py"), str(NP)],
            "paced": [curl, url, body, b.mock.cert, str(NT), "x-mock-chunks: " + CHUNKS,
                      "x-mock-think-ms: %d" % THINK_MS],
        }
        calls = {"python": N, "curl": N, "print": NP, "paced": NT}
        env = dict(b.env, MOCK_CHUNKS=CHUNKS)
        res = {c: {False: [], True: []} for c in clients}
        wres = {False: [], True: []}
        mres = {c: {False: [], True: []} for c in clients}
        size = {}
        for r in range(ROUNDS):
            for c, argv in clients.items():
                for traced in ((False, True) if r % 2 == 0 else (True, False)):
                    n = calls[c]
                    cpu0 = mock_cpu_s(b)
                    out, tenv = b.run(argv, traced,
                                      env=dict(env, PRINT_EACH="1") if c == "print" else env)
                    mres[c][traced].append((mock_cpu_s(b) - cpu0) / (n + 1) * 1e6)
                    d = parse(out)
                    size[c] = int(d["bytes"])
                    # The paced client: the median call (a 20 ms sleep's
                    # jitter is ~50 µs; the mean of 200 moves by that).
                    res[c][traced].append(d["median_us"] if c == "paced"
                                          else d["seconds"] / n * 1e6)
                    if c == "print":
                        wres[traced].append(d["write_us"])
                    if traced:
                        b.spans(tenv, n + 1, "%s round %d" % (c, r + 1))
                log("fig02 round %d/%d %s: without %.1f µs/call, with %.1f µs/call "
                    "(%d-byte answers, %d spans stored)"
                    % (r + 1, ROUNDS, c, res[c][False][-1], res[c][True][-1], size[c],
                       calls[c] + 1))
    if not 4000 <= size["curl"] <= 6000:
        die("fig02: the mock's answer is %d bytes, want ~5 KB" % size["curl"])
    names = {"python": "Python requests", "curl": "libcurl easy (h2)",
             "paced": "libcurl easy (h2), the answer %d ms after the request" % THINK_MS}
    for c in ("python", "curl", "paced"):
        a, w = median(res[c][False]), median(res[c][True])
        log("fig02 %s: without %s; with %s (µs/call)"
            % (c, " ".join("%.0f" % x for x in res[c][False]),
               " ".join("%.0f" % x for x in res[c][True])))
        added, nz = paired(res[c][False], res[c][True])
        log("fig02 %s: per-round differences %s; paired %+.0f ±%.0f µs/call"
            % (c, " ".join("%+.0f" % (y - x) for x, y in zip(res[c][False], res[c][True])),
               added, nz))
        row("2. LLM calls, %s, keep-alive, 10 KB req / %.1f KB resp (µs/call; added: "
            "paired median of %d rounds ± 90%% interval)"
            % (names[c], size[c] / 1000, len(res[c][False])),
            "%.0f" % a, "%.0f (%+.0f ±%.0f)" % (w, added, nz), "%.3f" % (w / a) if c == "paced"
            else "%.2f" % (w / a),
            "<= +%d µs/call" % TARGET_US, verdict_at_most(added, nz, TARGET_US),
            ("NT=%d THINK_MS=%d ROUNDS=%d" % (NT, THINK_MS, ROUNDS) if c == "paced"
             else "N=%d ROUNDS=%d" % (N, ROUNDS)) + " python3 bench/fig_02_llm_calls.py")
    for c in ("python", "curl"):
        a, w = median(mres[c][False]), median(mres[c][True])
        log("fig02 %s: the mock's CPU per call: without %s; with %s (µs)"
            % (c, " ".join("%.0f" % x for x in mres[c][False]),
               " ".join("%.0f" % x for x in mres[c][True])))
        row("2. the mock's own CPU per call (the server, on the same 2 cores), %s (µs/call)" % names[c],
            "%.0f" % a, "%.0f (%+.0f)" % (w, w - a), "%.2f" % (w / a), "-", "info",
            "N=%d ROUNDS=%d python3 bench/fig_02_llm_calls.py" % (N, ROUNDS))
    a, w = median(wres[False]), median(wres[True])
    log("fig02 print: the write after each call, median per run: without %s; with %s (µs)"
        % (" ".join("%.1f" % x for x in wres[False]), " ".join("%.1f" % x for x in wres[True])))
    row("2. LLM calls, Python requests, the line written to a pipe after each call (µs/write)",
        "%.0f" % a, "%.0f (%+.0f)" % (w, w - a), "%.2f" % (w / a), "-", "info",
        "N=%d NP=%d ROUNDS=%d python3 bench/fig_02_llm_calls.py" % (N, NP, ROUNDS))


if __name__ == "__main__":
    main()
