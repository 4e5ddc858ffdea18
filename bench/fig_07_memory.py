"""Figure 7 of `make bench` (issue #5): memory tokentap adds to the traced
process, read by the process itself from /proc/self/status at its end.

  - After 1,000 calls: CALLS non-streaming keep-alive calls (10 KB request,
    ~5 KB answer) against `tokentap mock`, from Python requests
    (bench/client_calls.py) and from libcurl (bench/bench_curl_calls.c):
    VmRSS at the end, with and without. Target: <= +8 MiB (the capture
    buffers of one exchange; nothing may grow per call).
  - During one 100 MB streamed response: a single SSE stream of 3,200 events
    of 32 KiB content each (~105 MB) from bench/sse_server.py (the mock
    stops at 10,000 short deltas, ~2.7 MB), read by the libcurl client (its
    write callback counts and drops the bytes): VmHWM, the peak, with and
    without. tokentap keeps at most TOKENTAP_MAX_BODY (default 8 MiB) of a
    body, so the peak may grow by one capped response body plus one capped
    request body: target <= +16 MiB.
Interleaved rounds (the order flips every round), medians. Traced runs must
store every call (CALLS+1 spans, ok; the stream: 1 span, which tokentap
marks truncated and, its usage event lying past the cap, an error).
Env: ROUNDS (3, QUICK: 1), CALLS (1000)."""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import (BENCH, PY, QUICK, Bench, build_curl_client, die, log,  # noqa: E402
                      median, row)

ROUNDS = int(os.environ.get("ROUNDS") or (1 if QUICK else 3))
CALLS = int(os.environ.get("CALLS") or 1000)
EVENTS, EVENT_BYTES = 3200, 32768
CALLS_TARGET_KB, STREAM_TARGET_KB = 8 * 1024, 16 * 1024

BODY = json.dumps({
    "model": "gpt-4o-mini", "temperature": 0.2, "max_tokens": 64,
    "messages": [{"role": "system", "content": "You are terse."},
                 {"role": "user", "content": "Summarise: " + "lorem ipsum " * 850}],
}).encode()
STREAM_BODY = json.dumps({"model": "gpt-4o-mini", "stream": True,
                          "messages": [{"role": "user", "content": "Write a long story."}]})


def parse(out):
    w = out.split()
    return {w[i]: float(w[i + 1]) for i in range(0, len(w) - 1, 2)}


def main():
    curl = build_curl_client()
    cmd = "ROUNDS=%d CALLS=%d python3 bench/fig_07_memory.py" % (ROUNDS, CALLS)
    with Bench("fig07", sse=True) as b:
        body, sbody = b.file("body.json", BODY), b.file("stream.json", STREAM_BODY)
        cases = {
            "python": ([PY, os.path.join(BENCH, "client_calls.py"), str(CALLS)],
                       "rss_kb", CALLS + 1),
            "curl": ([curl, b.mock.base + "/v1/chat/completions", body, b.mock.cert,
                      str(CALLS), "x-mock-chunks: 800"], "rss_kb", CALLS + 1),
            "stream": ([curl, b.sse.base + "/v1/chat/completions", sbody, b.sse.cert, "1",
                        "--no-warmup", "--http1.1", "x-events: %d" % EVENTS,
                        "x-event-bytes: %d" % EVENT_BYTES], "hwm_kb", 1),
        }
        res = {c: {False: [], True: []} for c in cases}
        got = {}
        for r in range(ROUNDS):
            for c, (argv, key, spans) in cases.items():
                for traced in ((False, True) if r % 2 == 0 else (True, False)):
                    out, tenv = b.run(argv, traced)
                    d = parse(out)
                    got[c] = d
                    res[c][traced].append(d[key])
                    if traced:
                        # The 100 MB stream's span is truncated at the cap
                        # (and, the usage event being past it, not "ok").
                        b.spans(tenv, spans, "%s round %d" % (c, r + 1), c != "stream")
                log("fig07 round %d/%d %s: %s without %.0f kB, with %.0f kB"
                    % (r + 1, ROUNDS, c, key, res[c][False][-1], res[c][True][-1]))
    if got["stream"]["bytes"] < 100e6:
        die("fig07: the stream was %d bytes, want >= 100 MB" % got["stream"]["bytes"])
    labels = {
        "python": ("7. memory, VmRSS after %d calls, Python requests (kB)" % CALLS,
                   CALLS_TARGET_KB),
        "curl": ("7. memory, VmRSS after %d calls, libcurl (kB)" % CALLS, CALLS_TARGET_KB),
        "stream": ("7. memory, peak VmHWM during one %.0f MB SSE response, libcurl (kB)"
                   % (got["stream"]["bytes"] / 1e6), STREAM_TARGET_KB),
    }
    for c, (label, target) in labels.items():
        a, w = median(res[c][False]), median(res[c][True])
        row(label, "%.0f" % a, "%.0f (%+.0f)" % (w, w - a), "%.2f" % (w / a),
            "<= +%d MiB%s" % (target // 1024,
                              " (TOKENTAP_MAX_BODY 8 MiB x 2)" if c == "stream" else ""),
            "ok" if w - a <= target else "MISSED", cmd)


if __name__ == "__main__":
    main()
