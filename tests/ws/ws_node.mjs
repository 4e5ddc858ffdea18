// WebSocket client on Node's `ws` package (npm), for tokentap's WebSocket
// tests (tests/integration/test_websocket.py): the Responses-over-WebSocket
// flow (a generate:false warm-up, then a call chained by
// previous_response_id) or the Realtime flow (an audio response, then a text
// response with a tool), against OPENAI_BASE_URL (the gateway's under
// `tokentap run --gateway on`) or MOCK_BASE/v1; the CA from SSL_CERT_FILE.
//
// usage: node ws_node.mjs responses|realtime [--no-deflate] [--header N:V]...
// Prints the text of each response and its usage.
import fs from "node:fs";
import WebSocket from "ws";

const args = process.argv.slice(2);
const flow = args.shift();
let perMessageDeflate = true;
const headers = {};
while (args.length) {
  const a = args.shift();
  if (a === "--no-deflate") perMessageDeflate = false;
  else if (a === "--header") {
    const [k, ...v] = args.shift().split(":");
    headers[k] = v.join(":");
  }
}
const base = (process.env.OPENAI_BASE_URL || process.env.MOCK_BASE + "/v1").replace(/\/+$/, "");
const url = base.replace(/^http/, "ws") +
  (flow === "responses" ? "/responses" : "/realtime?model=gpt-realtime");
const opts = { perMessageDeflate, headers };
if (url.startsWith("wss:")) opts.ca = fs.readFileSync(process.env.SSL_CERT_FILE);

const ws = new WebSocket(url, opts);
const queue = [];
let waiter = null;
ws.on("message", (data) => {
  queue.push(JSON.parse(data.toString()));
  if (waiter) { const w = waiter; waiter = null; w(); }
});
ws.on("error", (e) => { console.error("ws error:", e.message); process.exit(1); });

async function next() {
  while (!queue.length) await new Promise((r) => { waiter = r; });
  return queue.shift();
}

// Events until one whose type is in done; the text deltas along the way.
async function until(...done) {
  let text = "";
  for (;;) {
    const ev = await next();
    if (ev.type.endsWith("output_text.delta") || ev.type.endsWith("transcript.delta"))
      text += ev.delta;
    if (done.includes(ev.type)) return [text, ev];
  }
}

const usage = (ev) => JSON.stringify(ev.response.usage, Object.keys(ev.response.usage).sort());

await new Promise((r) => ws.once("open", r));
if (flow === "responses") {
  ws.send(JSON.stringify({ type: "response.create", model: "gpt-5-mini", generate: false,
                           input: [], instructions: "You are terse." }));
  let [, ev] = await until("response.completed", "error");
  const warm = ev.response.id;
  console.log("warmup", warm, ev.response.usage.total_tokens);
  ws.send(JSON.stringify({ type: "response.create", model: "gpt-5-mini",
                           previous_response_id: warm,
                           input: [{ role: "user", content: "Say hello" }] }));
  let text;
  [text, ev] = await until("response.completed", "error");
  console.log("text", text, usage(ev));
} else {
  let [, ev] = await until("session.created");
  console.log("session", ev.session.model);
  ws.send(JSON.stringify({ type: "session.update",
                           session: { type: "realtime", instructions: "Be brief." } }));
  await until("session.updated");
  ws.send(JSON.stringify({ type: "conversation.item.create", item: {
    type: "message", role: "user", content: [{ type: "input_text", text: "Say hello" }] } }));
  await until("conversation.item.added");
  ws.send(JSON.stringify({ type: "response.create", response: {} }));
  let text;
  [text, ev] = await until("response.done");
  console.log("audio", text, ev.response.usage.total_tokens);
  ws.send(JSON.stringify({ type: "response.create", response: {
    output_modalities: ["text"],
    tools: [{ type: "function", name: "get_weather", parameters: { type: "object" } }] } }));
  [text, ev] = await until("response.done");
  console.log("text", text, ev.response.usage.total_tokens);
}
ws.close(1000);
await new Promise((r) => ws.once("close", r));
