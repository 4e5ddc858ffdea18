"""A small tool-using agent over the OpenAI Chat Completions API, with
requests, the way agent code is written: the user asks, the model asks for
a tool, the agent runs it locally and sends the result back, the model
answers; then a follow-up question in the same conversation (which may use
the tool again). Nothing here knows about tokentap."""
import json
import os
import time

import requests

BASE = os.environ["MOCK_BASE"]
CA = os.environ.get("MOCK_CA")
TOOLS = [{"type": "function", "function": {
    "name": "get_weather", "description": "Current weather of a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]


def get_weather(city):
    time.sleep(0.05)          # the tool takes a while: its span has a duration
    return "sunny, 21C in %s" % city


def chat(sess, messages):
    r = sess.post(BASE + "/v1/chat/completions", verify=CA, timeout=30,
                  headers={"authorization": "Bearer sk-none"},
                  json={"model": "gpt-4o-mini", "messages": messages, "tools": TOOLS})
    r.raise_for_status()
    return r.json()["choices"][0]["message"]


def turn(sess, messages, question):
    messages.append({"role": "user", "content": question})
    for _ in range(4):
        msg = chat(sess, messages)
        messages.append(msg)
        if not msg.get("tool_calls"):
            return msg.get("content")
        for tc in msg["tool_calls"]:
            args = json.loads(tc["function"]["arguments"] or "{}")
            messages.append({"role": "tool", "tool_call_id": tc["id"],
                             "content": get_weather(args.get("city", "?"))})
    return None


def main():
    sess = requests.Session()
    messages = [{"role": "system", "content": "You are a weather agent."}]
    print("answer:", turn(sess, messages, "What is the weather in Paris?"))
    print("answer:", turn(sess, messages, "And should I take an umbrella?"))


if __name__ == "__main__":
    main()
