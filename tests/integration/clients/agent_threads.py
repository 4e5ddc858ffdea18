"""8 worker threads x 10 calls each, every thread on its own keep-alive
requests.Session, alternating OpenAI and Anthropic; prints the call count."""
import os
import threading
import requests

BASE = os.environ["MOCK_BASE"]
CA = os.environ["MOCK_CA"]
THREADS, CALLS = 8, 10
done = []
lock = threading.Lock()


def worker(i):
    s = requests.Session()
    for j in range(CALLS):
        if (i + j) % 2 == 0:
            r = s.post(BASE + "/v1/chat/completions", verify=CA, json={
                "model": "gpt-4o-mini",
                "messages": [{"role": "user", "content": "t%d c%d" % (i, j)}]},
                headers={"authorization": "Bearer sk-thread"})
        else:
            r = s.post(BASE + "/v1/messages", verify=CA, json={
                "model": "claude-sonnet-4-5", "max_tokens": 32,
                "messages": [{"role": "user", "content": "t%d c%d" % (i, j)}]},
                headers={"x-api-key": "sk-ant-thread",
                         "anthropic-version": "2023-06-01"})
        r.raise_for_status()
        with lock:
            done.append(1)


ts = [threading.Thread(target=worker, args=(i,)) for i in range(THREADS)]
for t in ts:
    t.start()
for t in ts:
    t.join()
print("calls", len(done))
