"""One ordinary streaming client: OpenAI chat completions with "stream": true
over one keep-alive requests.Session, reading the SSE with iter_lines and
timestamping every content event on arrival. Nothing here knows about
tokentap.

Usage: client_stream.py EVENTS STREAMS DELAY_US  (SSE_BASE, SSE_CA in the
environment: bench/sse_server.py, whose events carry their CLOCK_MONOTONIC
write time "t", and the role event the time "t_req" the request was read).
One untimed warm-up stream (events back to back), then STREAMS streams of
EVENTS content deltas DELAY_US apart. Prints one JSON list on stdout, per
stream, in µs:
  ttft: just before the request -> the first content delta read
  ttlt: ... -> the last content delta read
  up:   just before the request -> the server has read it
  lat:  per content delta, its write by the server -> its read here.
PAUSE_MS (environment, default 0): a pause before each timed stream, to
tell the previous stream's tail work (its span finished and stored) from
the request's own path in "up"."""
import json
import os
import sys
import time

import requests

EVENTS, STREAMS, DELAY = (int(x) for x in sys.argv[1:4])
URL = os.environ["SSE_BASE"] + "/v1/chat/completions"
CA = os.environ["SSE_CA"]
BODY = json.dumps({"model": "gpt-4o-mini", "stream": True,
                   "messages": [{"role": "user", "content": "Tell me a story."}]}).encode()


def stream(s, delay):
    hdrs = {"content-type": "application/json", "authorization": "Bearer sk-bench",
            "x-events": str(EVENTS), "x-delay-us": str(delay)}
    now = time.monotonic_ns
    got = []
    t_req = None
    t0 = now()
    with s.post(URL, data=BODY, headers=hdrs, verify=CA, timeout=60, stream=True) as r:
        if r.status_code != 200:
            sys.exit("bad response %d" % r.status_code)
        for line in r.iter_lines(chunk_size=65536):
            if line.startswith(b'data: {') and b'"delta":{"content"' in line:
                got.append((now(), int(line[line.rindex(b'"t":') + 4:-1])))
            elif b'"t_req":' in line:
                i = line.index(b'"t_req":') + 8
                t_req = int(line[i:line.index(b",", i)])
    if len(got) != EVENTS or t_req is None:
        sys.exit("got %d content events, want %d" % (len(got), EVENTS))
    return {"ttft": (got[0][0] - t0) / 1e3, "ttlt": (got[-1][0] - t0) / 1e3,
            "up": (t_req - t0) / 1e3, "lat": [round((a - t) / 1e3, 1) for a, t in got]}


PAUSE = float(os.environ.get("PAUSE_MS") or 0) / 1e3


def paused(s, delay):
    if PAUSE:
        time.sleep(PAUSE)
    return stream(s, delay)


with requests.Session() as s:
    stream(s, 0)
    out = [paused(s, DELAY) for _ in range(STREAMS)]
print(json.dumps(out))
