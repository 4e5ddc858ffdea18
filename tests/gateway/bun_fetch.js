// bun_fetch.js: run by the Bun executable from npm (@oven/bun-linux-x64):
// BoringSSL inside, no SSL_* symbol, so only the gateway sees its calls.
// It reads OPENAI_BASE_URL as an SDK would and prints the answer.
const base = process.env.OPENAI_BASE_URL ?? "https://api.openai.com/v1";
const r = await fetch(base + "/chat/completions", {
  method: "POST",
  headers: { "content-type": "application/json", authorization: "Bearer sk-bun" },
  body: JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content: "hi from bun" }] }),
});
const j = await r.json();
console.log(r.status, j.usage.prompt_tokens, j.usage.completion_tokens);
