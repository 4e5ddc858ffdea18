"""One ordinary client program: N sequential non-streaming chat calls over a
single keep-alive requests.Session, each with a ~10 KB request body. Nothing
here knows about tokentap. Usage: client_calls.py N  (MOCK_BASE, MOCK_CA in
the environment). Prints the answer's size, VmRSS and VmHWM (kB) at the end, and last the
wall time of the N timed calls in seconds; the
interpreter start, the imports and one warm-up call (TLS handshake, first
connection; under tokentap also the lazy setup of the preload) are excluded,
so N+1 calls are made in all. MOCK_CHUNKS (default 800) is sent as
x-mock-chunks: 800 content pieces make the mock's answer ~5 KB.
PRINT_EACH=1: after each call, one line to stdout (os.write: no buffering),
as a program that prints each answer does, then a pause of PAUSE_MS
(default 10: a real model answers in hundreds of ms, the mock at once, and
a program is seldom in a tight loop of calls); the median time of that
write is printed too (write_us), before the seconds (which include the
pauses)."""
import json
import os
import sys
import time

import requests

N = int(sys.argv[1])
URL = os.environ["MOCK_BASE"] + "/v1/chat/completions"
CA = os.environ["MOCK_CA"]

# Serialised once: both variants (with and without tokentap) pay the same.
BODY = json.dumps({
    "model": "gpt-4o-mini", "temperature": 0.2, "max_tokens": 64,
    "messages": [{"role": "system", "content": "You are terse."},
                 {"role": "user", "content": "Summarise: " + "lorem ipsum " * 850}],
}).encode()
assert 10000 <= len(BODY) <= 10600, len(BODY)
HDRS = {"content-type": "application/json", "authorization": "Bearer sk-bench",
        "x-mock-chunks": os.environ.get("MOCK_CHUNKS", "800")}


PRINT_EACH = os.environ.get("PRINT_EACH") == "1"
PAUSE = float(os.environ.get("PAUSE_MS") or 10) / 1e3
writes = []


def call(s):
    r = s.post(URL, data=BODY, headers=HDRS, verify=CA, timeout=30)
    if r.status_code != 200 or not r.json().get("choices"):
        sys.exit("bad response %d: %s" % (r.status_code, r.text[:200]))
    if PRINT_EACH:
        t = time.perf_counter_ns()
        os.write(1, b"answer %d bytes\n" % len(r.content))
        writes.append(time.perf_counter_ns() - t)
        time.sleep(PAUSE)
    return len(r.content)


with requests.Session() as s:
    size = call(s)
    t0 = time.perf_counter()
    for _ in range(N):
        call(s)
    dt = time.perf_counter() - t0
extra = ""
if PRINT_EACH:
    writes.sort()
    extra = "write_us %.1f " % (writes[len(writes) // 2] / 1e3)
status = dict(l.split(":", 1) for l in open("/proc/self/status"))
# The seconds last: bench/fig_08_mitm.py reads the last word.
print("bytes %d rss_kb %d hwm_kb %d %sseconds %.6f"
      % (size, int(status["VmRSS"].split()[0]), int(status["VmHWM"].split()[0]), extra, dt))
