// The Node programs of tests/integration/test_node.py: real calls from the
// official SDKs and Node's own clients to the mock (MOCK_BASE, its CA in
// NODE_EXTRA_CA_CERTS), run with and without tokentap; stdout must be the
// same bytes. Every call asks the mock for its own token counts
// (x-mock-usage: in=<1000+k>, out=<10+k>), so the test finds each span by
// its input tokens. Usage: node scenarios.mjs [scenario...] (default: all).
import { createRequire } from 'node:module';
import { fork } from 'node:child_process';
import { Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import https from 'node:https';
import http2 from 'node:http2';

const require = createRequire(import.meta.url);
const BASE = process.env.MOCK_BASE;
const usage = (k) => `in=${1000 + k},out=${10 + k}`;
const chatBody = (k, extra = {}) => JSON.stringify({
  model: 'gpt-4o-mini', messages: [{ role: 'user', content: `call ${k}` }], ...extra,
});
const hdr = (k) => ({ 'content-type': 'application/json', authorization: 'Bearer sk-test',
  'x-mock-usage': usage(k) });

function openai(k, extra = {}) {
  const OpenAI = require('openai');
  return new OpenAI({ apiKey: 'sk-test', baseURL: BASE + '/v1', maxRetries: 0,
    defaultHeaders: { 'x-mock-usage': usage(k), ...extra } });
}

function anthropic(k) {
  const Anthropic = require('@anthropic-ai/sdk');
  return new Anthropic({ apiKey: 'sk-ant-test', baseURL: BASE, maxRetries: 0,
    defaultHeaders: { 'x-mock-usage': usage(k) } });
}

async function viaFetch(k) {
  const r = await fetch(BASE + '/v1/chat/completions',
    { method: 'POST', headers: hdr(k), body: chatBody(k) });
  const j = await r.json();
  return `${r.status} ${j.choices[0].message.content} ${j.usage.prompt_tokens}`;
}

function viaHttps(k) {
  return new Promise((resolve, reject) => {
    const body = chatBody(k);
    const req = https.request(BASE + '/v1/chat/completions',
      { method: 'POST', headers: { ...hdr(k), 'content-length': Buffer.byteLength(body) } },
      (res) => {
        let data = '';
        res.setEncoding('utf8');
        res.on('data', (d) => { data += d; });
        res.on('end', () => {
          const j = JSON.parse(data);
          resolve(`${res.statusCode} ${j.choices[0].message.content} ${j.usage.prompt_tokens}`);
        });
      });
    req.on('error', reject);
    req.end(body);
  });
}

// Three streams at once on one HTTP/2 connection (two plain, one streamed).
function viaHttp2(k0) {
  return new Promise((resolve, reject) => {
    const s = http2.connect(BASE);
    s.on('error', reject);
    const one = (k, stream) => new Promise((res, rej) => {
      const body = chatBody(k, stream ? { stream: true, stream_options: { include_usage: true } } : {});
      const q = s.request({ ':method': 'POST', ':path': '/v1/chat/completions', ...hdr(k) });
      let data = '';
      q.setEncoding('utf8');
      q.on('data', (d) => { data += d; });
      q.on('end', () => res(stream ? `stream ${data.includes('[DONE]')}`
        : JSON.parse(data).usage.prompt_tokens));
      q.on('error', rej);
      q.end(body);
    });
    Promise.all([one(k0, false), one(k0 + 1, false), one(k0 + 2, true)])
      .then((r) => { s.close(); resolve(r.join(' ')); }, reject);
  });
}

const scenarios = {
  async 'openai-chat'() {
    const r = await openai(1).chat.completions.create(
      { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hello' }] });
    return `${r.choices[0].message.content} ${r.usage.prompt_tokens}/${r.usage.completion_tokens}`;
  },
  async 'openai-stream'() {
    const s = await openai(2).chat.completions.create({ model: 'gpt-4o-mini', stream: true,
      stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'hello' }] });
    let text = '', u = null;
    for await (const c of s) {
      if (c.choices[0]?.delta?.content) text += c.choices[0].delta.content;
      if (c.usage) u = c.usage;
    }
    return `${text} ${u.prompt_tokens}/${u.completion_tokens}`;
  },
  async 'openai-tool'() {
    const r = await openai(3).chat.completions.create({ model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'weather in Paris?' }],
      tools: [{ type: 'function', function: { name: 'get_weather',
        parameters: { type: 'object', properties: { city: { type: 'string' } } } } }] });
    const t = r.choices[0].message.tool_calls[0];
    return `${r.choices[0].finish_reason} ${t.function.name} ${t.function.arguments}`;
  },
  async 'openai-429'() {
    try {
      await openai(4, { 'x-mock-status': '429' }).chat.completions.create(
        { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hello' }] });
      return 'no error';
    } catch (e) {
      return `error ${e.status}`;
    }
  },
  async 'anthropic'() {
    const c = anthropic(5);
    const r = await c.messages.create({ model: 'claude-sonnet-4-5', max_tokens: 64,
      messages: [{ role: 'user', content: 'hello' }] });
    return `${r.content[0].text} ${r.usage.input_tokens}/${r.usage.output_tokens}`;
  },
  async 'anthropic-stream'() {
    const s = anthropic(6).messages.stream({ model: 'claude-sonnet-4-5', max_tokens: 64,
      messages: [{ role: 'user', content: 'hello' }] });
    const m = await s.finalMessage();
    return `${m.content[0].text} ${m.usage.output_tokens}`;
  },
  fetch: () => viaFetch(7),
  https: () => viaHttps(8),
  http2: () => viaHttp2(9),          // 9, 10, 11
  worker() {
    return new Promise((resolve, reject) => {
      const w = new Worker(new URL(import.meta.url), { argv: ['--worker'] });
      w.on('message', resolve);
      w.on('error', reject);
    });
  },
  async fork() {                      // 13, 14
    const run = (k) => new Promise((resolve, reject) => {
      const c = fork(fileURLToPath(import.meta.url), ['--child', String(k)], { silent: true });
      let out = '';
      c.stdout.on('data', (d) => { out += d; });
      c.on('error', reject);
      c.on('exit', (code) => resolve(`${code} ${out.trim()}`));
    });
    return (await Promise.all([run(13), run(14)])).join(' | ');
  },
};

const argv = process.argv.slice(2);
if (argv[0] === '--worker') {
  const { parentPort } = await import('node:worker_threads');
  parentPort.postMessage('worker ' + await viaFetch(12));
} else if (argv[0] === '--child') {
  console.log('child ' + await viaHttps(Number(argv[1])));
} else {
  for (const name of argv.length ? argv : Object.keys(scenarios)) {
    console.log(`${name}: ${await scenarios[name]()}`);
  }
}
