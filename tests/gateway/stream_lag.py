"""stream_lag.py URL - one streamed chat completion (x-mock-delay-ms: 100
between events) read event by event; prints the arrival time of each
event, in ms since the first, as JSON. Unbuffered delivery spreads them
out; a buffering gateway would hand them over together at the end."""
import http.client
import json
import sys
import time
from urllib.parse import urlsplit

u = urlsplit(sys.argv[1])
c = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
c.request("POST", u.path + "/chat/completions",
          body=json.dumps({"model": "gpt-4o-mini", "stream": True,
                           "messages": [{"role": "user", "content": "hi"}]}),
          headers={"content-type": "application/json", "x-mock-delay-ms": "100",
                   "x-mock-chunks": "5"})
r = c.getresponse()
times = []
buf = b""
while True:
    chunk = r.read1(65536)
    if not chunk:
        break
    buf += chunk
    while b"\n\n" in buf:
        ev, buf = buf.split(b"\n\n", 1)
        times.append(time.monotonic())
print(json.dumps([round((t - times[0]) * 1000, 1) for t in times]))
