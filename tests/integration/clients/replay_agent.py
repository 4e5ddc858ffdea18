"""A small agent for the record/replay tests: a few LLM calls with one
library, printing every response in full (status, body or streamed
lines), so two runs can be compared byte for byte. Nothing here knows
about tokentap.
Usage: replay_agent.py --lib requests|urllib|httpx|httpx2 --api openai|anthropic|ollama
                       [--stream] [--prompt TEXT] [--n N] [--header 'k: v' ...]
Call i of N asks PROMPT + " #i"; the last call repeats the first one
(identical requests are answered in recorded order)."""
import argparse
import json
import os
import ssl
import sys

BASE = os.environ["MOCK_BASE"]
CA = os.environ.get("MOCK_CA")


def request(args, i):
    msgs = [{"role": "user", "content": "%s #%d" % (args.prompt, i)}]
    if args.api == "openai":
        b = {"model": "gpt-4o-mini", "messages": msgs, "user": "run-%d" % os.getpid()}
        if args.stream:
            b.update(stream=True, stream_options={"include_usage": True})
        return "/v1/chat/completions", b, {
            "authorization": "Bearer " + os.environ.get("OPENAI_API_KEY", "sk-none")}
    if args.api == "anthropic":
        b = {"model": "claude-sonnet-4-5", "max_tokens": 64, "messages": msgs,
             "metadata": {"user_id": "u-%d" % os.getpid()}}
        if args.stream:
            b["stream"] = True
        return "/v1/messages", b, {
            "x-api-key": os.environ.get("ANTHROPIC_API_KEY", "sk-ant-none"),
            "anthropic-version": "2023-06-01"}
    return "/api/chat", {"model": "llama3.2", "messages": msgs, "stream": args.stream}, {}


def call(args, client, path, b, h):
    h = dict(h, **{"content-type": "application/json"})
    for kv in args.header:
        k, v = kv.split(":", 1)
        h[k.strip()] = v.strip()
    data = json.dumps(b)
    if args.lib == "requests":
        r = client.post(BASE + path, data=data, headers=h, verify=CA, stream=args.stream,
                        timeout=30)
        if args.stream:
            return r.status_code, "".join(l.decode() + "\n" for l in r.iter_lines())
        return r.status_code, r.text
    if args.lib == "urllib":
        import urllib.error
        import urllib.request
        ctx = ssl.create_default_context(cafile=CA) if BASE.startswith("https") else None
        req = urllib.request.Request(BASE + path, data=data.encode(), headers=h, method="POST")
        try:
            with urllib.request.urlopen(req, context=ctx, timeout=30) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()
    if args.stream:
        with client.stream("POST", BASE + path, content=data, headers=h) as r:
            return r.status_code, "".join(l + "\n" for l in r.iter_lines()) + r.http_version
    r = client.post(BASE + path, content=data, headers=h)
    return r.status_code, r.text + "\n" + r.http_version


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lib", default="requests")
    ap.add_argument("--api", default="openai")
    ap.add_argument("--stream", action="store_true")
    ap.add_argument("--prompt", default="Say hello")
    ap.add_argument("--n", type=int, default=2)
    ap.add_argument("--header", action="append", default=[])
    args = ap.parse_args()
    client = None
    if args.lib == "requests":
        import requests
        client = requests.Session()
    elif args.lib.startswith("httpx"):
        import httpx
        client = httpx.Client(verify=CA if CA and BASE.startswith("https") else True,
                              http2=args.lib == "httpx2", timeout=30)
    rc = 0
    for i in list(range(args.n)) + [0]:
        path, b, h = request(args, i)
        try:
            st, text = call(args, client, path, b, h)
        except Exception as e:
            st, text = -1, "exception: %s: %s" % (type(e).__name__, e)
        print("call %d: %s" % (i, st))
        print(text)
        rc = rc or (st != 200)
    sys.exit(1 if rc else 0)


if __name__ == "__main__":
    main()
