"""A multiprocessing child makes the LLM call; children leave by os._exit,
so nothing at exit can rescue a span that was not handed over already."""
import multiprocessing as mp
import os
import requests

BASE = os.environ["MOCK_BASE"]
CA = os.environ["MOCK_CA"]


def child(q):
    r = requests.post(BASE + "/v1/chat/completions", verify=CA, json={
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": "from a child"}]},
        headers={"authorization": "Bearer sk-child",
                 "x-mock-usage": "in=321,out=12"})
    q.put(r.status_code)


if __name__ == "__main__":
    mp.set_start_method("fork")
    q = mp.Queue()
    p = mp.Process(target=child, args=(q,))
    p.start()
    status = q.get(timeout=30)
    p.join()
    print("child status", status, "exitcode", p.exitcode)
