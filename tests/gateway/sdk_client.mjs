// sdk_client.mjs: the official OpenAI and Anthropic SDKs, configured only
// by OPENAI_BASE_URL / ANTHROPIC_BASE_URL (as `tokentap run --gateway`
// sets them): one chat completion, one streamed chat completion, one
// streamed Anthropic message. Prints what the SDKs returned.
import OpenAI from "openai";
import Anthropic from "@anthropic-ai/sdk";

const oai = new OpenAI({ apiKey: "sk-sdk", maxRetries: 0 });
const r1 = await oai.chat.completions.create({
  model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }],
});
console.log("openai", r1.usage.prompt_tokens, r1.usage.completion_tokens, r1.choices[0].message.content);
const st = await oai.chat.completions.create({
  model: "gpt-4o-mini", stream: true, stream_options: { include_usage: true },
  messages: [{ role: "user", content: "hi" }],
});
let text = "";
for await (const ch of st) text += ch.choices[0]?.delta?.content ?? "";
console.log("openai-stream", text);
const ant = new Anthropic({ apiKey: "sk-ant-sdk", maxRetries: 0 });
const ms = await ant.messages.stream({
  model: "claude-sonnet-4-5", max_tokens: 100, messages: [{ role: "user", content: "hi" }],
});
const fin = await ms.finalMessage();
console.log("anthropic-stream", fin.usage.input_tokens, fin.usage.output_tokens, fin.content[0].text);
