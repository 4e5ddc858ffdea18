"""The same agent over the Anthropic Messages API: tool_use blocks in the
answer, tool_result blocks in the next user message. Nothing here knows
about tokentap."""
import os
import time

import requests

BASE = os.environ["MOCK_BASE"]
CA = os.environ.get("MOCK_CA")
TOOLS = [{"name": "get_weather", "description": "Current weather of a city",
          "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}]


def get_weather(city):
    time.sleep(0.05)
    return "rain, 12C in %s" % city


def ask(sess, messages):
    r = sess.post(BASE + "/v1/messages", verify=CA, timeout=30,
                  headers={"x-api-key": "sk-ant-none", "anthropic-version": "2023-06-01"},
                  json={"model": "claude-sonnet-4-5", "max_tokens": 256,
                        "system": "You are a weather agent.", "tools": TOOLS,
                        "messages": messages})
    r.raise_for_status()
    return r.json()


def turn(sess, messages, question):
    messages.append({"role": "user", "content": [{"type": "text", "text": question}]})
    for _ in range(4):
        resp = ask(sess, messages)
        messages.append({"role": "assistant", "content": resp["content"]})
        uses = [b for b in resp["content"] if b["type"] == "tool_use"]
        if not uses:
            return "".join(b.get("text", "") for b in resp["content"])
        messages.append({"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": b["id"],
             "content": get_weather(b["input"].get("city", "?"))} for b in uses]})
    return None


def main():
    sess = requests.Session()
    messages = []
    print("answer:", turn(sess, messages, "What is the weather in Rome?"))
    print("answer:", turn(sess, messages, "And tomorrow?"))


if __name__ == "__main__":
    main()
