"""faults.py - calls that go wrong, one after the other, and calls that are
big or many. Run under `tokentap run --gateway on` (through the gateway:
plain HTTP) and directly against the mock (HTTPS, its CA in SSL_CERT_FILE),
so the test compares what the client sees; the base URLs come from the
environment. Prints one line per case: '<case> <outcome>' (outcome: ok, or
the exception's class, prefixed with "ConnectionError:" when it is one)."""
import http.client
import json
import os
import sys
import threading
import time
from urllib.parse import urlsplit

OAI = urlsplit(os.environ["OPENAI_BASE_URL"])
ANT = urlsplit(os.environ["ANTHROPIC_BASE_URL"])
_oll = os.environ["OLLAMA_HOST"]        # an upstream that resets mid-answer
OLL = urlsplit(_oll if "://" in _oll else "http://" + _oll)
GEM = urlsplit(os.environ["GOOGLE_GEMINI_BASE_URL"])   # one that never answers


def conn(u):
    if u.scheme == "https":
        return http.client.HTTPSConnection(u.hostname, u.port, timeout=30)
    return http.client.HTTPConnection(u.hostname, u.port, timeout=30)


def chat(u, body, headers=None, path="/chat/completions"):
    c = conn(u)
    h = {"content-type": "application/json", "authorization": "Bearer sk-x"}
    h.update(headers or {})
    c.request("POST", u.path + path, body=json.dumps(body), headers=h)
    return c, c.getresponse()


def case(name, fn):
    try:
        fn()
        print(name, "ok", flush=True)
    except Exception as e:  # noqa: BLE001 - the class is the outcome
        kind = "ConnectionError:" if isinstance(e, ConnectionError) else ""
        print(name, kind + type(e).__name__, flush=True)


MSG = [{"role": "user", "content": "hi"}]


def upstream_down():
    c, r = chat(ANT, {"model": "claude-sonnet-4-5", "max_tokens": 10, "messages": MSG},
                path="/v1/messages")
    r.read()


def reset_mid_stream():
    c, r = chat(OAI, {"model": "gpt-4o-mini", "stream": True, "messages": MSG},
                {"x-mock-cut": "3"})
    r.read()


def upstream_reset():
    c, r = chat(OLL, {"model": "llama3.2", "stream": True, "messages": MSG},
                path="/api/chat")
    r.read()


def upstream_no_answer():
    c, r = chat(GEM, {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]},
                path="/v1beta/models/gemini-2.0-flash:generateContent")
    r.read()


def client_disconnect():
    c, r = chat(OAI, {"model": "gpt-4o-mini", "stream": True, "messages": MSG},
                {"x-mock-delay-ms": "300", "x-mock-chunks": "10"})
    r.read1(100)
    c.sock.close()
    time.sleep(1.5)   # the gateway notices at its next write or poll


def big_body():
    big = [{"role": "user", "content": "x" * (10 * 1024 * 1024)}]
    c, r = chat(OAI, {"model": "gpt-4o-mini", "messages": big},
                {"x-mock-usage": "in=2500000,out=7"})
    if r.status != 200:
        raise RuntimeError(r.status)
    r.read()


def concurrent():
    errors = []

    def one(i):
        try:
            c, r = chat(OAI, {"model": "gpt-4o-mini", "stream": True, "messages": MSG,
                              "stream_options": {"include_usage": True}},
                        {"x-mock-delay-ms": "20", "x-mock-usage": "in=%d,out=3" % (1000 + i)})
            body = r.read()
            if r.status != 200 or b"[DONE]" not in body:
                errors.append(i)
        except Exception:  # noqa: BLE001
            errors.append(i)
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    ts = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if errors:
        raise RuntimeError("%d failed" % len(errors))


def after():
    c, r = chat(OAI, {"model": "gpt-4o-mini", "messages": MSG})
    if r.status != 200:
        raise RuntimeError(r.status)
    r.read()


case("upstream_down", upstream_down)
case("reset_mid_stream", reset_mid_stream)
case("upstream_reset", upstream_reset)
case("upstream_no_answer", upstream_no_answer)
case("client_disconnect", client_disconnect)
case("big_body", big_body)
case("concurrent", concurrent)
case("after", after)
