"""One ordinary client program: N sequential non-streaming chat calls over a
single keep-alive requests.Session, each with a ~10 KB request body. Nothing
here knows about tokentap. Usage: client_calls.py N  (MOCK_BASE, MOCK_CA in
the environment). Prints the wall time of the N timed calls in seconds; the
interpreter start, the imports and one warm-up call (TLS handshake, first
connection; under tokentap also the lazy setup of the preload) are excluded,
so N+1 calls are made in all."""
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
HDRS = {"content-type": "application/json", "authorization": "Bearer sk-bench"}


def call(s):
    r = s.post(URL, data=BODY, headers=HDRS, verify=CA, timeout=30)
    if r.status_code != 200 or not r.json().get("choices"):
        sys.exit("bad response %d: %s" % (r.status_code, r.text[:200]))


with requests.Session() as s:
    call(s)
    t0 = time.perf_counter()
    for _ in range(N):
        call(s)
    print("%.6f" % (time.perf_counter() - t0))
