"""WebSocket client on Debian's python3-websockets (asyncio API, 10.x):
the Responses-over-WebSocket flow (a generate:false warm-up, then a real
request chained by previous_response_id) or the Realtime flow (session
update, an item, an audio response, a text response with a tool), against
OPENAI_BASE_URL, else MOCK_BASE/v1 (https -> wss, http -> ws; the CA
from SSL_CERT_FILE).

usage: ws_py.py responses|realtime|abort|killed [--no-deflate] [--header NAME:VALUE]...
(abort: a Responses call whose connection the client drops, without a
closing handshake, after the first text delta; the mock is asked to pause
between deltas. killed: one Responses call, its text printed (stdout
flushed), then the client SIGKILLs itself at once.)
Prints what the program got (the text of each response, its usage), so a
traced run's output can be compared with an untraced one."""
import asyncio
import json
import os
import signal
import ssl
import sys

import websockets


def base_url():
    """OPENAI_BASE_URL as the SDKs read it (the gateway's, under `tokentap
    run --gateway on`), else the mock's /v1."""
    return os.environ.get("OPENAI_BASE_URL") or os.environ["MOCK_BASE"] + "/v1"


def url(path):
    base = base_url().rstrip("/")
    return ("wss" + base[5:] if base.startswith("https") else "ws" + base[4:]) + path


async def recv_until(ws, done):
    """Events until one whose type is in done; returns (text, last event)."""
    text = ""
    while True:
        ev = json.loads(await ws.recv())
        t = ev["type"]
        if t.endswith(".delta") and "transcript" in t or t.endswith("output_text.delta"):
            text += ev["delta"]
        if t in done:
            return text, ev


async def responses(ws):
    await ws.send(json.dumps({"type": "response.create", "model": "gpt-5-mini",
                              "generate": False, "input": [],
                              "instructions": "You are terse."}))
    _, ev = await recv_until(ws, ("response.completed", "error"))
    warm = ev["response"]["id"]
    print("warmup", warm, json.dumps(ev["response"]["usage"], sort_keys=True))
    await ws.send(json.dumps({"type": "response.create", "model": "gpt-5-mini",
                              "previous_response_id": warm,
                              "input": [{"role": "user", "content": "Say hello"}]}))
    text, ev = await recv_until(ws, ("response.completed", "error"))
    print("text", text)
    print("usage", json.dumps(ev["response"]["usage"], sort_keys=True))


async def abort(ws):
    await ws.send(json.dumps({"type": "response.create", "model": "gpt-5-mini",
                              "input": [{"role": "user", "content": "Say hello"}]}))
    await recv_until(ws, ("response.output_text.delta",))
    print("dropping the connection after the first delta")
    ws.transport.abort()


async def killed(ws):
    await ws.send(json.dumps({"type": "response.create", "model": "gpt-5-mini",
                              "input": [{"role": "user", "content": "Say hello"}]}))
    text, _ = await recv_until(ws, ("response.completed", "error"))
    print("text", text, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)


async def realtime(ws):
    ev = json.loads(await ws.recv())
    print("session", ev["type"], ev["session"]["model"])
    await ws.send(json.dumps({"type": "session.update",
                              "session": {"type": "realtime", "instructions": "Be brief."}}))
    await recv_until(ws, ("session.updated",))
    await ws.send(json.dumps({"type": "conversation.item.create", "item": {
        "type": "message", "role": "user",
        "content": [{"type": "input_text", "text": "Say hello"}]}}))
    await recv_until(ws, ("conversation.item.added",))
    await ws.send(json.dumps({"type": "response.create", "response": {}}))
    text, ev = await recv_until(ws, ("response.done",))
    print("audio", text, json.dumps(ev["response"]["usage"], sort_keys=True))
    await ws.send(json.dumps({"type": "response.create", "response": {
        "output_modalities": ["text"],
        "tools": [{"type": "function", "name": "get_weather",
                   "parameters": {"type": "object"}}]}}))
    text, ev = await recv_until(ws, ("response.done",))
    print("text", text, json.dumps(ev["response"]["usage"], sort_keys=True))


async def main():
    flow = sys.argv[1]
    headers = {"x-mock-ws-delay-ms": "300"} if flow == "abort" else {}
    compression = "deflate"
    args = sys.argv[2:]
    while args:
        a = args.pop(0)
        if a == "--no-deflate":
            compression = None
        elif a == "--header":
            k, v = args.pop(0).split(":", 1)
            headers[k] = v
    path = "/realtime?model=gpt-realtime" if flow == "realtime" else "/responses"
    ctx = None
    if base_url().startswith("https"):
        ctx = ssl.create_default_context(cafile=os.environ["SSL_CERT_FILE"])
    try:
        async with websockets.connect(url(path), ssl=ctx, compression=compression,
                                      extra_headers=headers,
                                      max_size=None) as ws:
            await {"responses": responses, "realtime": realtime, "abort": abort,
                   "killed": killed}[flow](ws)
    except websockets.exceptions.ConnectionClosed:
        if flow != "abort":     # the abort flow dropped it on purpose
            raise


asyncio.run(main())
