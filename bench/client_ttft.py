"""One ordinary streaming client: N OpenAI chat completion streams, one
after the other on one keep-alive requests.Session, each timed from just
before the request to the first content delta read (iter_lines). Nothing
here knows about tokentap. Usage: client_ttft.py N  (MOCK_BASE, MOCK_CA in
the environment). One untimed warm-up stream first. Prints
"ttft_us <median> n <N>"."""
import json
import os
import sys
import time

import requests

N = int(sys.argv[1])
URL = os.environ["MOCK_BASE"] + "/v1/chat/completions"
CA = os.environ["MOCK_CA"]
BODY = json.dumps({"model": "gpt-4o-mini", "stream": True,
                   "stream_options": {"include_usage": True},
                   "messages": [{"role": "user", "content": "Tell me a story."}]}).encode()
HDRS = {"content-type": "application/json", "authorization": "Bearer sk-bench"}


def one(s):
    t0 = time.perf_counter_ns()
    first = None
    with s.post(URL, data=BODY, headers=HDRS, verify=CA, timeout=30, stream=True) as r:
        if r.status_code != 200:
            sys.exit("bad response %d" % r.status_code)
        for line in r.iter_lines(chunk_size=65536):
            if first is None and b'"delta":{"content":"' in line and b'"content":""' not in line:
                first = time.perf_counter_ns()
    if first is None:
        sys.exit("no content delta")
    return (first - t0) / 1e3


with requests.Session() as s:
    one(s)
    xs = sorted(one(s) for _ in range(N))
print("ttft_us %.1f n %d" % (xs[len(xs) // 2], N))
