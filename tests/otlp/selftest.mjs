#!/usr/bin/env node
// Self-test of receiver.mjs: starts it, sends valid and invalid OTLP/JSON
// trace requests, exercises /control. Exits non-zero on any failure.
//   node tests/otlp/selftest.mjs

import http from 'node:http';
import zlib from 'node:zlib';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'otlp-selftest-'));
const portFile = path.join(tmp, 'port');

const child = spawn(process.execPath, [path.join(here, 'receiver.mjs'), '--port', '0', '--port-file', portFile],
  { stdio: ['ignore', 'inherit', 'pipe'] });
let childErr = '';
child.stderr.on('data', (d) => { childErr += d; });
const exited = new Promise((resolve) => child.on('exit', (code, sig) => resolve({ code, sig })));

let port;
function request(method, p, body, headers = {}) {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? null : (Buffer.isBuffer(body) ? body : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)));
    const req = http.request({ host: '127.0.0.1', port, method, path: p, headers: {
      ...(data ? { 'Content-Type': 'application/json', 'Content-Length': data.length } : {}), ...headers } }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json;
        try { json = JSON.parse(text); } catch { json = undefined; }
        resolve({ status: res.statusCode, headers: res.headers, text, json });
      });
    });
    req.on('error', reject);
    if (data) req.write(data);
    req.end();
  });
}

const TRACE = '5b8efff798038103d269b633813fc60c';
const ROOT = 'eee19b7ec3c1b174';
const CHILD = '1122334455667788';

function validRequest() {
  return {
    resourceSpans: [{
      resource: { attributes: [
        { key: 'service.name', value: { stringValue: 'tokentapd' } },
        { key: 'process.pid', value: { intValue: 4242 } },
      ] },
      scopeSpans: [{
        scope: { name: 'tokentap', version: '0.1.0' },
        spans: [
          {
            traceId: TRACE, spanId: ROOT, parentSpanId: '', name: 'agent run', kind: 1,
            startTimeUnixNano: '1700000000000000000', endTimeUnixNano: '1700000002000000000',
            status: {},
          },
          {
            traceId: TRACE, spanId: CHILD, parentSpanId: ROOT, name: 'chat gpt-4o-mini', kind: 3,
            startTimeUnixNano: '1700000000100000000', endTimeUnixNano: 1700000000500000000,
            attributes: [
              { key: 'gen_ai.usage.input_tokens', value: { intValue: '12' } },
              { key: 'gen_ai.usage.output_tokens', value: { intValue: 34 } },
              { key: 'gen_ai.request.model', value: { stringValue: 'gpt-4o-mini' } },
              { key: 'tokentap.cost_usd', value: { doubleValue: 0.0001 } },
              { key: 'gen_ai.response.finish_reasons', value: { arrayValue: { values: [{ stringValue: 'stop' }] } } },
              { key: 'x', value: { boolValue: true } },
              { key: 'big', value: { intValue: '9223372036854775807' } },
              { key: 'kv', value: { kvlistValue: { values: [{ key: 'a', value: { intValue: '1' } }] } } },
            ],
            events: [{ timeUnixNano: '1700000000200000000', name: 'first_token',
              attributes: [{ key: 'ttft_ms', value: { doubleValue: 100.5 } }] }],
            status: { code: 2, message: 'HTTP 500' },
          },
        ],
      }],
    }],
  };
}

const expectedSpans = [
  {
    resource: { 'service.name': { string: 'tokentapd' }, 'process.pid': { int: 4242 } },
    scope: { name: 'tokentap', version: '0.1.0' },
    traceId: TRACE, spanId: ROOT, parentSpanId: '', name: 'agent run', kind: 1,
    startTimeUnixNano: '1700000000000000000', endTimeUnixNano: '1700000002000000000',
    status: { code: 0, message: '' },
    attributes: {},
  },
  {
    resource: { 'service.name': { string: 'tokentapd' }, 'process.pid': { int: 4242 } },
    scope: { name: 'tokentap', version: '0.1.0' },
    traceId: TRACE, spanId: CHILD, parentSpanId: ROOT, name: 'chat gpt-4o-mini', kind: 3,
    startTimeUnixNano: '1700000000100000000', endTimeUnixNano: '1700000000500000000',
    status: { code: 2, message: 'HTTP 500' },
    attributes: {
      'gen_ai.usage.input_tokens': { int: 12 },
      'gen_ai.usage.output_tokens': { int: 34 },
      'gen_ai.request.model': { string: 'gpt-4o-mini' },
      'tokentap.cost_usd': { double: 0.0001 },
      'gen_ai.response.finish_reasons': { array: [{ string: 'stop' }] },
      x: { bool: true },
      big: { int: '9223372036854775807' },
      kv: { kvlist: { a: { int: 1 } } },
    },
    events: [{ name: 'first_token', timeUnixNano: '1700000000200000000', attributes: { ttft_ms: { double: 100.5 } } }],
  },
];

// Invalid variants: [description, mutate(request) or raw body, expected error substring]
const span1 = (r) => r.resourceSpans[0].scopeSpans[0].spans[1];
const invalid = [
  ['misspelled field "stringvalu"', (r) => { span1(r).attributes[2].value = { stringvalu: 'gpt-4o-mini' }; }, 'stringvalu'],
  ['base64 traceId', (r) => { span1(r).traceId = Buffer.from(TRACE, 'hex').toString('base64'); }, 'traceId'],
  ['uppercase hex spanId', (r) => { span1(r).spanId = 'AABBCCDDEEFF0011'; }, 'spanId'],
  ['short parentSpanId', (r) => { span1(r).parentSpanId = 'abcd'; }, 'parentSpanId'],
  ['all-zero traceId', (r) => { span1(r).traceId = '0'.repeat(32); }, 'all-zero'],
  ['enum as string "SPAN_KIND_CLIENT"', (r) => { span1(r).kind = 'SPAN_KIND_CLIENT'; }, 'kind'],
  ['status code as string', (r) => { span1(r).status.code = 'STATUS_CODE_ERROR'; }, 'code'],
  ['snake_case key start_time_unix_nano', (r) => { span1(r).start_time_unix_nano = span1(r).startTimeUnixNano; delete span1(r).startTimeUnixNano; }, 'start_time_unix_nano'],
  ['intValue "12.5"', (r) => { span1(r).attributes[0].value.intValue = '12.5'; }, 'intValue'],
  ['name as number', (r) => { span1(r).name = 42; }, 'name'],
  ['attributes as object map', (r) => { span1(r).attributes = { model: 'x' }; }, 'attributes'],
  ['doubleValue as string', (r) => { span1(r).attributes[3].value.doubleValue = '0.0001'; }, 'doubleValue'],
  ['two values in one AnyValue', (r) => { span1(r).attributes[3].value.stringValue = 'x'; }, 'multiple values'],
  ['duplicate attribute key', (r) => { span1(r).attributes.push({ key: 'x', value: { boolValue: false } }); }, 'duplicate'],
  ['unknown top-level field', (r) => { r.resource_spans = []; }, 'resource_spans'],
  ['null parentSpanId', (r) => { span1(r).parentSpanId = null; }, 'null'],
  ['missing spanId', (r) => { delete span1(r).spanId; }, 'spanId is required'],
  ['end before start', (r) => { span1(r).endTimeUnixNano = '1600000000000000000'; }, 'endTimeUnixNano <'],
  ['negative droppedAttributesCount', (r) => { span1(r).droppedAttributesCount = -1; }, 'droppedAttributesCount'],
  ['not JSON', '{"resourceSpans": [', 'invalid JSON'],
  ['top-level array', '[]', 'JSON object'],
];

let failures = 0;
let passes = 0;
async function check(name, fn) {
  try {
    await fn();
    passes++;
    console.log(`ok   ${name}`);
  } catch (e) {
    failures++;
    console.log(`FAIL ${name}\n     ${String(e.stack || e).split('\n').slice(0, 6).join('\n     ')}`);
  }
}

const post = (body, headers) => request('POST', '/v1/traces', body, headers);
const control = (c) => request('POST', '/control', c);
const getJson = async (p) => (await request('GET', p)).json;

try {
  for (let i = 0; i < 100 && !fs.existsSync(portFile); i++) await new Promise((r) => setTimeout(r, 50));
  port = Number(fs.readFileSync(portFile, 'utf8').trim());

  await check(`receiver listening, port file says ${port}`, async () => {
    assert.ok(port > 0);
    assert.deepEqual(await getJson('/health'), { ok: true });
  });

  await check('valid request -> 200 {} and decoded spans', async () => {
    const r = await post(validRequest());
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json, {});
    assert.deepEqual(await getJson('/spans'), expectedSpans);
    const reqs = await getJson('/requests');
    assert.equal(reqs.length, 1);
    assert.equal(reqs[0].status, 200);
    assert.equal(reqs[0].nspans, 2);
    assert.equal(reqs[0].error, null);
    assert.equal(reqs[0].contentType, 'application/json');
    assert.equal(typeof reqs[0].at, 'number');
    assert.equal(reqs[0].headers['content-type'], 'application/json');
  });

  await check('valid gzip request -> 200, spans appended', async () => {
    const r = await post(zlib.gzipSync(JSON.stringify(validRequest())), { 'Content-Encoding': 'gzip' });
    assert.equal(r.status, 200, r.text);
    assert.equal((await getJson('/spans')).length, 4);
    const reqs = await getJson('/requests');
    assert.equal(reqs[1].contentEncoding, 'gzip');
  });

  await check('reset clears spans and requests', async () => {
    assert.equal((await request('POST', '/reset')).status, 200);
    assert.deepEqual(await getJson('/spans'), []);
    assert.deepEqual(await getJson('/requests'), []);
  });

  for (const [desc, mut, want] of invalid) {
    await check(`invalid: ${desc} -> 400`, async () => {
      let body;
      if (typeof mut === 'string') body = mut;
      else { body = validRequest(); mut(body); }
      const r = await post(body);
      assert.equal(r.status, 400, `status ${r.status}: ${r.text}`);
      assert.equal(typeof r.json.error, 'string');
      assert.ok(r.json.error.includes(want), `error ${JSON.stringify(r.json.error)} lacks ${JSON.stringify(want)}`);
      const reqs = await getJson('/requests');
      const last = reqs[reqs.length - 1];
      assert.equal(last.status, 400);
      assert.equal(last.error, r.json.error);
      console.log(`       error: ${r.json.error}`);
    });
  }
  await check('invalid requests stored no spans', async () => {
    assert.deepEqual(await getJson('/spans'), []);
  });

  await check('wrong Content-Type -> 415', async () => {
    const r = await post(validRequest(), { 'Content-Type': 'application/x-protobuf' });
    assert.equal(r.status, 415, r.text);
    console.log(`       error: ${r.json.error}`);
  });

  await request('POST', '/reset');
  await check('control 429 + Retry-After, count 1: refused then accepted', async () => {
    assert.equal((await control({ status: 429, retry_after: '2', count: 1 })).status, 200);
    const r1 = await post(validRequest());
    assert.equal(r1.status, 429);
    assert.equal(r1.headers['retry-after'], '2');
    assert.deepEqual(r1.json, {});
    assert.deepEqual(await getJson('/spans'), [], 'refused spans must not be recorded');
    const r2 = await post(validRequest());
    assert.equal(r2.status, 200);
    assert.equal((await getJson('/spans')).length, 2);
    const reqs = await getJson('/requests');
    assert.deepEqual(reqs.map((q) => q.status), [429, 200]);
    assert.deepEqual(reqs.map((q) => q.nspans), [2, 2]);
  });

  await request('POST', '/reset');
  await check('control 400, count 2: two refusals then accepted', async () => {
    await control({ status: 400, count: 2 });
    const got = [];
    for (let i = 0; i < 3; i++) {
      const r = await post(validRequest());
      got.push(r.status);
      if (r.status === 400) assert.equal(r.headers['retry-after'], undefined);
    }
    assert.deepEqual(got, [400, 400, 200]);
    assert.equal((await getJson('/spans')).length, 2);
  });

  await request('POST', '/reset');
  await check('control entries queue in order (503, then 429 x2, then normal)', async () => {
    await control({ status: 503 });
    await control({ status: 429, retry_after: 1, count: 2 });
    assert.equal((await getJson('/control')).length, 2);
    const got = [];
    for (let i = 0; i < 4; i++) got.push((await post(validRequest())).status);
    assert.deepEqual(got, [503, 429, 429, 200]);
    assert.deepEqual(await getJson('/control'), []);
  });

  await request('POST', '/reset');
  await check('control partial: 200 with partialSuccess, spans recorded', async () => {
    await control({ partial: 1, count: 1 });
    const r = await post(validRequest());
    assert.equal(r.status, 200);
    assert.deepEqual(r.json, { partialSuccess: { rejectedSpans: '1', errorMessage: 'test' } });
    assert.equal((await getJson('/spans')).length, 2);
    const r2 = await post(validRequest());
    assert.deepEqual(r2.json, {});
  });

  await request('POST', '/reset');
  await check('control delay_ms 300: answer delayed', async () => {
    await control({ delay_ms: 300, count: 1 });
    const t0 = Date.now();
    const r = await post(validRequest());
    const dt = Date.now() - t0;
    assert.equal(r.status, 200);
    assert.ok(dt >= 290, `answered after ${dt} ms`);
    const t1 = Date.now();
    await post(validRequest());
    assert.ok(Date.now() - t1 < 250);
    console.log(`       delayed answer after ${dt} ms`);
  });

  await check('bad control request -> 400', async () => {
    const r = await control({ stauts: 429 });
    assert.equal(r.status, 400);
  });

  await check('shutdown exits cleanly', async () => {
    const r = await request('POST', '/shutdown');
    assert.equal(r.status, 200);
    const { code, sig } = await Promise.race([exited, new Promise((_, rej) => setTimeout(() => rej(new Error('no exit within 5 s')), 5000))]);
    assert.equal(code, 0, `exit code ${code} signal ${sig}`);
  });
} catch (e) {
  failures++;
  console.log(`FAIL (harness) ${e.stack || e}`);
} finally {
  if (child.exitCode === null) child.kill('SIGKILL');
  fs.rmSync(tmp, { recursive: true, force: true });
}

if (failures) {
  console.log(`--- receiver stderr ---\n${childErr}`);
}
console.log(`${passes} passed, ${failures} failed`);
process.exit(failures ? 1 : 0);
