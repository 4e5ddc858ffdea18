"""An ordinary LLM client: calls an OpenAI- or Anthropic-style endpoint with
requests, urllib or httpx, the way agent code does. Nothing here knows about
tokentap. Usage:
  llm_call.py --lib requests|urllib|httpx --api openai|anthropic [--stream]
              [--model M] [--n N] [--tools] [--header 'k: v' ...]
              [--exit CODE]
Prints one line per call: the HTTP status and the text it got."""
import argparse
import json
import os
import ssl
import sys

BASE = os.environ["MOCK_BASE"]
CA = os.environ.get("MOCK_CA")


def body(args):
    msgs = [{"role": "user", "content": "Say hello to the test suite."}]
    tools = None
    if args.api == "openai":
        b = {"model": args.model or "gpt-4o-mini", "messages": msgs,
             "temperature": 0.2, "max_tokens": 64}
        if args.stream:
            b["stream"] = True
            if not args.no_include_usage:
                b["stream_options"] = {"include_usage": True}
        if args.tools:
            b["tools"] = [{"type": "function", "function": {
                "name": "get_weather", "description": "weather",
                "parameters": {"type": "object", "properties": {
                    "city": {"type": "string"}}}}}]
        return "/v1/chat/completions", b
    b = {"model": args.model or "claude-sonnet-4-5", "max_tokens": 128,
         "system": "You are terse.", "messages": msgs}
    if args.stream:
        b["stream"] = True
    if args.tools:
        b["tools"] = [{"name": "get_weather", "description": "weather",
                       "input_schema": {"type": "object", "properties": {
                           "city": {"type": "string"}}}}]
    return "/v1/messages", b


def headers(args):
    h = {"content-type": "application/json"}
    if args.api == "openai":
        h["authorization"] = "Bearer " + os.environ.get("OPENAI_API_KEY", "sk-none")
    else:
        h["x-api-key"] = os.environ.get("ANTHROPIC_API_KEY", "sk-ant-none")
        h["anthropic-version"] = "2023-06-01"
    for kv in args.header:
        k, v = kv.split(":", 1)
        h[k.strip()] = v.strip()
    return h


def call_requests(args, sess, path, b, h):
    r = sess.post(BASE + path, json=b, headers=h, verify=CA, stream=args.stream,
                  timeout=30)
    if args.stream:
        text = "".join(line.decode() + "\n" for line in r.iter_lines())
    else:
        text = r.text
    # requests decodes gzip itself: say what the wire carried.
    print("content-encoding:", r.headers.get("content-encoding", "identity"))
    return r.status_code, text


def call_urllib(args, path, b, h):
    import urllib.request
    import urllib.error
    ctx = ssl.create_default_context(cafile=CA) if BASE.startswith("https") else None
    req = urllib.request.Request(BASE + path, data=json.dumps(b).encode(),
                                 headers=h, method="POST")
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=30) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def call_httpx(args, client, path, b, h):
    if args.stream:
        with client.stream("POST", BASE + path, json=b, headers=h) as r:
            text = "".join(line + "\n" for line in r.iter_lines())
            return r.status_code, text
    r = client.post(BASE + path, json=b, headers=h)
    return r.status_code, r.text


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lib", default="requests")
    ap.add_argument("--api", default="openai")
    ap.add_argument("--model")
    ap.add_argument("--stream", action="store_true")
    ap.add_argument("--no-include-usage", action="store_true")
    ap.add_argument("--tools", action="store_true")
    ap.add_argument("--n", type=int, default=1)
    ap.add_argument("--header", action="append", default=[])
    ap.add_argument("--exit", type=int, default=0)
    args = ap.parse_args()
    path, b = body(args)
    h = headers(args)
    sess = client = None
    if args.lib == "requests":
        import requests
        sess = requests.Session()
    elif args.lib == "httpx":
        import httpx
        client = httpx.Client(verify=CA if CA else True, timeout=30)
    for _ in range(args.n):
        try:
            if args.lib == "requests":
                st, text = call_requests(args, sess, path, b, h)
            elif args.lib == "urllib":
                st, text = call_urllib(args, path, b, h)
            else:
                st, text = call_httpx(args, client, path, b, h)
        except Exception as e:  # a cut stream raises in some libraries
            st, text = -1, "exception: %s" % type(e).__name__
        print(st, len(text), flush=True)
    sys.exit(args.exit)


if __name__ == "__main__":
    main()
