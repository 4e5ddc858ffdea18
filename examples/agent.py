"""A small, ordinary agent: asks a model, runs the tool it requests, sends
the result back, and streams a final answer. It knows nothing of tokentap;
run it under `tokentap run --` to see its calls, tokens and cost.
Standard library only (urllib), so it runs on any Python 3."""
import json
import os
import ssl
import urllib.request

BASE = os.environ.get("LLM_BASE_URL", "https://api.openai.com")
CTX = ssl.create_default_context(cafile=os.environ.get("LLM_CA_FILE"))


def post(path, body, headers):
    req = urllib.request.Request(BASE + path, data=json.dumps(body).encode(),
                                 method="POST", headers={
                                     "content-type": "application/json", **headers})
    return urllib.request.urlopen(req, context=CTX, timeout=60)


def openai(messages, tools=None, stream=False):
    body = {"model": "gpt-4o-mini", "messages": messages}
    if tools:
        body["tools"] = tools
    if stream:
        body.update(stream=True, stream_options={"include_usage": True})
    key = os.environ.get("OPENAI_API_KEY", "sk-demo")
    return post("/v1/chat/completions", body, {"authorization": "Bearer " + key})


def main():
    tools = [{"type": "function", "function": {
        "name": "get_weather", "description": "Current weather for a city",
        "parameters": {"type": "object",
                       "properties": {"city": {"type": "string"}}}}}]
    messages = [{"role": "user", "content": "Should I bike to work in Paris?"}]
    msg = json.load(openai(messages, tools))["choices"][0]["message"]
    messages.append(msg)
    for call in msg.get("tool_calls") or []:
        args = json.loads(call["function"]["arguments"] or "{}")
        result = {"city": args.get("city", "Paris"), "forecast": "sunny, 21C"}
        print("tool", call["function"]["name"], "->", result["forecast"])
        messages.append({"role": "tool", "tool_call_id": call["id"],
                         "content": json.dumps(result)})
    answer = []
    with openai(messages, stream=True) as r:
        for line in r:
            line = line.decode().strip()
            if line.startswith("data: ") and line != "data: [DONE]":
                chunk = json.loads(line[6:])
                for ch in chunk.get("choices", []):
                    answer.append(ch.get("delta", {}).get("content") or "")
    print("answer:", "".join(answer))
    # A second provider in the same run: Anthropic's Messages API.
    body = {"model": "claude-sonnet-4-5", "max_tokens": 200,
            "messages": [{"role": "user", "content": "Summarise: " + "".join(answer)}]}
    r = post("/v1/messages", body, {
        "x-api-key": os.environ.get("ANTHROPIC_API_KEY", "sk-ant-demo"),
        "anthropic-version": "2023-06-01"})
    print("summary:", json.load(r)["content"][0]["text"])


if __name__ == "__main__":
    main()
