"""An asyncio agent on httpx with HTTP/2: N calls in flight at once on one
connection, half of them streamed, alternating OpenAI and Anthropic.
Prints each response's HTTP version and the pool's connection count."""
import asyncio
import os
import sys

import httpx

BASE = os.environ["MOCK_BASE"]
CA = os.environ["MOCK_CA"]
N = int(sys.argv[1]) if len(sys.argv) > 1 else 6
EXTRA = dict(h.split(":", 1) for h in sys.argv[2:])


async def one(client, i):
    stream = i % 2 == 1
    usage = "in=%d,out=%d" % (100 + i, 10 + i)
    hdrs = {"x-mock-usage": usage, "x-mock-delay-ms": "20", **EXTRA}
    if i % 4 < 2:
        path, body = "/v1/chat/completions", {
            "model": "gpt-4o-mini", "messages": [{"role": "user", "content": str(i)}]}
        hdrs["authorization"] = "Bearer sk-h2"
        if stream:
            body.update(stream=True, stream_options={"include_usage": True})
    else:
        path, body = "/v1/messages", {
            "model": "claude-sonnet-4-5", "max_tokens": 50,
            "messages": [{"role": "user", "content": str(i)}]}
        hdrs.update({"x-api-key": "sk-ant-h2", "anthropic-version": "2023-06-01"})
        if stream:
            body["stream"] = True
    try:
        if stream:
            async with client.stream("POST", BASE + path, json=body, headers=hdrs) as r:
                async for _ in r.aiter_lines():
                    pass
        else:
            r = await client.post(BASE + path, json=body, headers=hdrs)
        return r.http_version
    except httpx.HTTPError as e:
        return "error:" + type(e).__name__


async def main():
    async with httpx.AsyncClient(http2=True, verify=CA, timeout=30) as client:
        versions = await asyncio.gather(*(one(client, i) for i in range(N)))
        pool = getattr(client._transport, "_pool", None)
        conns = len(pool.connections) if pool is not None else -1
    for v in versions:
        print(v)
    print("connections", conns)


asyncio.run(main())
