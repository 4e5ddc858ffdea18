#!/usr/bin/env node
// OTLP/HTTP JSON trace receiver for tokentap's integration tests.
//
// Decodes POST /v1/traces strictly: OTLP/JSON rules are checked here, then the
// request is built, encoded, decoded and turned back into JSON by the
// OpenTelemetry project's own generated protobuf code (shipped in
// @opentelemetry/otlp-transformer), and the round trip must equal the input.
// Tests read what was received (GET /spans, GET /requests) and can inject
// failures for the next requests (POST /control). See README.md.
//
//   node receiver.mjs [--host 127.0.0.1] [--port 0] [--port-file FILE] [--verbose]

import http from 'node:http';
import zlib from 'node:zlib';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

const require = createRequire(import.meta.url);
export const ROOT_MODULE = '@opentelemetry/otlp-transformer/build/src/generated/root.js';
const rootPath = require.resolve(ROOT_MODULE);
const root = require(rootPath);
// The protobufjs runtime the generated code itself uses (for Long).
const { util: pbUtil } = createRequire(rootPath)('protobufjs/minimal');
const Long = pbUtil.Long;

const P = root.opentelemetry.proto;
export const ExportTraceServiceRequest = P.collector.trace.v1.ExportTraceServiceRequest;
const PBTYPES = {
  ResourceSpans: P.trace.v1.ResourceSpans,
  ScopeSpans: P.trace.v1.ScopeSpans,
  Span: P.trace.v1.Span,
};
if (!ExportTraceServiceRequest || !Long) {
  throw new Error(`${ROOT_MODULE}: ExportTraceServiceRequest or Long missing`);
}

const MAX_BODY = 64 * 1024 * 1024;
const HEX_ID_KEYS = new Set(['traceId', 'spanId', 'parentSpanId']);
const ANYVALUE_KEYS = new Set(['stringValue', 'boolValue', 'intValue', 'doubleValue',
  'arrayValue', 'kvlistValue', 'bytesValue']);
const INT64_KEYS = new Set(['startTimeUnixNano', 'endTimeUnixNano', 'timeUnixNano', 'intValue']);
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

class ValidationError extends Error {}
function fail(where, msg) {
  throw new ValidationError(where ? `${where}: ${msg}` : msg);
}
const isObj = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);

// ---------------------------------------------------------------------------
// Step 1: JSON-level checks (no nulls, no __proto__), deep copy.
function cloneJson(v, where) {
  if (v === null) fail(where, 'null value (omit the field instead)');
  if (Array.isArray(v)) return v.map((x, i) => cloneJson(x, `${where}[${i}]`));
  if (typeof v === 'object') {
    const out = {};
    for (const k of Object.keys(v)) {
      if (k === '__proto__') fail(where, 'unknown field "__proto__"');
      out[k] = cloneJson(v[k], where ? `${where}.${k}` : k);
    }
    return out;
  }
  return v;
}

// ---------------------------------------------------------------------------
// Step 2: OTLP/JSON specific fields. Walk the known structure and rewrite the
// hex ids and the 64-bit integers, producing two copies of the request:
//   mode 'pb'    -> what protobufjs verify/fromObject expect (Buffer ids, Long ints)
//   mode 'canon' -> canonical JSON to compare the round trip with (hex ids, decimal strings)
// Fields of unexpected types are left as they are, for verify() to report.

function hexId(obj, key, nhex, where, mode, { required = false, allowEmpty = false } = {}) {
  if (!(key in obj)) {
    if (required) fail(where, `${key} is required`);
    return;
  }
  const v = obj[key];
  const w = `${where}.${key}`;
  if (typeof v !== 'string') fail(w, `must be a string of ${nhex} lowercase hex digits, got ${JSON.stringify(v)}`);
  if (v === '' && allowEmpty) {
    if (mode === 'pb') obj[key] = Buffer.alloc(0);
    return;
  }
  if (!new RegExp(`^[0-9a-f]{${nhex}}$`).test(v)) {
    fail(w, `must be ${nhex} lowercase hex digits, got ${JSON.stringify(v)}`);
  }
  if (/^0+$/.test(v)) fail(w, 'all-zero id is invalid');
  if (mode === 'pb') obj[key] = Buffer.from(v, 'hex');
}

function int64(obj, key, where, mode, unsigned) {
  if (!(key in obj)) return;
  const v = obj[key];
  const w = `${where}.${key}`;
  let big;
  if (typeof v === 'number') {
    if (!Number.isInteger(v)) fail(w, `64-bit integer expected, got ${v}`);
    big = BigInt(v);
  } else if (typeof v === 'string') {
    if (!/^-?(0|[1-9][0-9]*)$/.test(v)) fail(w, `64-bit integer (decimal string or number) expected, got ${JSON.stringify(v)}`);
    big = BigInt(v);
  } else {
    fail(w, `64-bit integer (decimal string or number) expected, got ${JSON.stringify(v)}`);
  }
  if (unsigned && big < 0n) fail(w, `unsigned value expected, got ${v}`);
  // fixed64 fields are decoded by protobufjs as signed Longs, so values >= 2^63
  // would not survive the round trip; no real timestamp gets there.
  if (big < INT64_MIN || big > INT64_MAX) fail(w, `out of range: ${v}`);
  obj[key] = mode === 'pb' ? Long.fromString(big.toString(), false) : big.toString();
}

function anyValue(v, where, mode) {
  if (!isObj(v)) return;
  int64(v, 'intValue', where, mode, false);
  if (typeof v.doubleValue === 'string') {
    if (!['NaN', 'Infinity', '-Infinity'].includes(v.doubleValue)) {
      fail(`${where}.doubleValue`, `number expected, got ${JSON.stringify(v.doubleValue)}`);
    }
    if (mode === 'pb') v.doubleValue = Number(v.doubleValue);
  }
  if (isObj(v.arrayValue) && Array.isArray(v.arrayValue.values)) {
    v.arrayValue.values.forEach((x, i) => anyValue(x, `${where}.arrayValue.values[${i}]`, mode));
  }
  if (isObj(v.kvlistValue)) keyValues(v.kvlistValue, 'values', `${where}.kvlistValue`, mode);
}

function keyValues(obj, key, where, mode) {
  if (!isObj(obj) || !Array.isArray(obj[key])) return;
  const seen = new Set();
  obj[key].forEach((kv, i) => {
    const w = `${where}.${key}[${i}]`;
    if (!isObj(kv)) return;
    if (typeof kv.key === 'string') {
      if (seen.has(kv.key)) fail(w, `duplicate attribute key ${JSON.stringify(kv.key)}`);
      seen.add(kv.key);
    }
    anyValue(kv.value, `${w}.value`, mode);
  });
}

function each(obj, key, where, fn) {
  if (isObj(obj) && Array.isArray(obj[key])) {
    obj[key].forEach((x, i) => { if (isObj(x)) fn(x, `${where ? where + '.' : ''}${key}[${i}]`); });
  }
}

function prepare(req, mode) {
  each(req, 'resourceSpans', '', (rs, wrs) => {
    if (isObj(rs.resource)) keyValues(rs.resource, 'attributes', `${wrs}.resource`, mode);
    each(rs, 'scopeSpans', wrs, (ss, wss) => {
      if (isObj(ss.scope)) keyValues(ss.scope, 'attributes', `${wss}.scope`, mode);
      each(ss, 'spans', wss, (sp, w) => {
        hexId(sp, 'traceId', 32, w, mode, { required: true });
        hexId(sp, 'spanId', 16, w, mode, { required: true });
        hexId(sp, 'parentSpanId', 16, w, mode, { allowEmpty: true });
        int64(sp, 'startTimeUnixNano', w, mode, true);
        int64(sp, 'endTimeUnixNano', w, mode, true);
        keyValues(sp, 'attributes', w, mode);
        each(sp, 'events', w, (ev, we) => {
          int64(ev, 'timeUnixNano', we, mode, true);
          keyValues(ev, 'attributes', we, mode);
        });
        each(sp, 'links', w, (ln, wl) => {
          hexId(ln, 'traceId', 32, wl, mode, { required: true });
          hexId(ln, 'spanId', 16, wl, mode, { required: true });
          keyValues(ln, 'attributes', wl, mode);
        });
      });
    });
  });
  return req;
}

// ---------------------------------------------------------------------------
// Step 3: generated verify(), with the failing element located by index.
function verifyLocated(pb) {
  const err = ExportTraceServiceRequest.verify(pb);
  if (!err) return;
  let where = '';
  if (Array.isArray(pb.resourceSpans)) {
    outer: for (const [i, rs] of pb.resourceSpans.entries()) {
      if (!PBTYPES.ResourceSpans.verify(rs)) continue;
      where = `resourceSpans[${i}]`;
      if (!isObj(rs) || !Array.isArray(rs.scopeSpans)) break;
      for (const [j, ss] of rs.scopeSpans.entries()) {
        if (!PBTYPES.ScopeSpans.verify(ss)) continue;
        where += `.scopeSpans[${j}]`;
        if (!isObj(ss) || !Array.isArray(ss.spans)) break outer;
        for (const [k, sp] of ss.spans.entries()) {
          if (!PBTYPES.Span.verify(sp)) continue;
          where += `.spans[${k}]`;
          break outer;
        }
        break outer;
      }
      break;
    }
  }
  fail(where, `protobuf verify: ${err}`);
}

// ---------------------------------------------------------------------------
// Step 4/5: round trip through the generated code, and compare.
function bytesToJson(v, key) {
  if (v instanceof Uint8Array) {
    const b = Buffer.from(v.buffer, v.byteOffset, v.byteLength);
    return HEX_ID_KEYS.has(key) ? b.toString('hex') : b.toString('base64');
  }
  if (Array.isArray(v)) return v.map((x) => bytesToJson(x, key));
  if (isObj(v)) {
    const out = {};
    for (const k of Object.keys(v)) out[k] = bytesToJson(v[k], k);
    return out;
  }
  return v;
}

// Drop what proto3 would not put on the wire (default scalars, empty repeated
// fields, unset messages); members of the AnyValue oneof are kept, as they are
// always encoded.
function stripDefaults(v) {
  if (Array.isArray(v)) return v.map(stripDefaults);
  if (!isObj(v)) return v;
  const out = {};
  for (const k of Object.keys(v)) {
    const x = v[k];
    if (!ANYVALUE_KEYS.has(k)) {
      if (x === null || x === '' || x === 0 || x === false) continue;
      if (Array.isArray(x) && x.length === 0) continue;
      if (x === '0' && INT64_KEYS.has(k)) continue;
    }
    out[k] = stripDefaults(x);
  }
  return out;
}

// Every key sent must be a field the generated code knows: the round trip is
// produced with defaults, so it lists all fields of every message present.
function unknownKeys(a, b, where) {
  if (Array.isArray(a) && Array.isArray(b)) {
    for (let i = 0; i < a.length && i < b.length; i++) {
      const d = unknownKeys(a[i], b[i], `${where}[${i}]`);
      if (d) return d;
    }
  } else if (isObj(a) && isObj(b)) {
    for (const k of Object.keys(a)) {
      const wk = where ? `${where}.${k}` : k;
      if (!Object.prototype.hasOwnProperty.call(b, k)) {
        return `${wk}: unknown field ${JSON.stringify(k)} (not a lowerCamelCase field of this OTLP message)`;
      }
      const d = unknownKeys(a[k], b[k], wk);
      if (d) return d;
    }
  }
  return null;
}

function diff(a, b, where) {
  const wk = (k) => (where ? `${where}.${k}` : k);
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b)) return `${where}: array/non-array mismatch`;
    if (a.length !== b.length) return `${where}: ${a.length} elements sent, ${b.length} after protobuf round trip`;
    for (let i = 0; i < a.length; i++) {
      const d = diff(a[i], b[i], `${where}[${i}]`);
      if (d) return d;
    }
    return null;
  }
  if (isObj(a) || isObj(b)) {
    if (!isObj(a) || !isObj(b)) return `${where}: value ${JSON.stringify(a)} became ${JSON.stringify(b)}`;
    for (const k of Object.keys(a)) {
      if (!(k in b)) return `${wk(k)}: value ${JSON.stringify(a[k])} lost in protobuf round trip (wrong type?)`;
    }
    for (const k of Object.keys(b)) {
      if (!(k in a)) return `${wk(k)}: field appeared after protobuf round trip`;
    }
    for (const k of Object.keys(a)) {
      const d = diff(a[k], b[k], wk(k));
      if (d) return d;
    }
    return null;
  }
  if (Object.is(a, b)) return null;
  return `${where}: value ${JSON.stringify(a)} became ${JSON.stringify(b)} after protobuf round trip (wrong type?)`;
}

// Semantic requirements of trace.proto that proto3 itself cannot express.
function checkSemantics(rt) {
  (rt.resourceSpans || []).forEach((rs, i) => (rs.scopeSpans || []).forEach((ss, j) =>
    (ss.spans || []).forEach((sp, k) => {
      const w = `resourceSpans[${i}].scopeSpans[${j}].spans[${k}]`;
      if (!sp.name) fail(w, 'name is required (non-empty)');
      if (!sp.startTimeUnixNano || sp.startTimeUnixNano === '0') fail(w, 'startTimeUnixNano is required');
      if (!sp.endTimeUnixNano || sp.endTimeUnixNano === '0') fail(w, 'endTimeUnixNano is required');
      if (BigInt(sp.endTimeUnixNano) < BigInt(sp.startTimeUnixNano)) fail(w, 'endTimeUnixNano < startTimeUnixNano');
    })));
}

// ---------------------------------------------------------------------------
// Flattening for tests.
function typedValue(av) {
  if (!isObj(av)) return null;
  if ('stringValue' in av) return { string: av.stringValue };
  if ('boolValue' in av) return { bool: av.boolValue };
  if ('intValue' in av) {
    const n = Number(av.intValue);
    return { int: Number.isSafeInteger(n) ? n : av.intValue };
  }
  if ('doubleValue' in av) return { double: av.doubleValue };
  if ('arrayValue' in av) return { array: ((av.arrayValue && av.arrayValue.values) || []).map(typedValue) };
  if ('kvlistValue' in av) return { kvlist: attrMap((av.kvlistValue && av.kvlistValue.values) || []) };
  if ('bytesValue' in av) return { bytes: av.bytesValue };
  return null; // empty AnyValue
}

function attrMap(list) {
  const m = {};
  for (const kv of list || []) m[kv.key || ''] = typedValue(kv.value);
  return m;
}

function flatten(rt) {
  const out = [];
  for (const rs of rt.resourceSpans || []) {
    const resource = attrMap(rs.resource && rs.resource.attributes);
    for (const ss of rs.scopeSpans || []) {
      const scope = { name: (ss.scope && ss.scope.name) || '', version: (ss.scope && ss.scope.version) || '' };
      for (const sp of ss.spans || []) {
        const f = {
          resource,
          scope,
          traceId: sp.traceId || '',
          spanId: sp.spanId || '',
          parentSpanId: sp.parentSpanId || '',
          name: sp.name || '',
          kind: sp.kind || 0,
          startTimeUnixNano: sp.startTimeUnixNano || '0',
          endTimeUnixNano: sp.endTimeUnixNano || '0',
          status: { code: (sp.status && sp.status.code) || 0, message: (sp.status && sp.status.message) || '' },
          attributes: attrMap(sp.attributes),
        };
        if (sp.traceState) f.traceState = sp.traceState;
        if (sp.flags) f.flags = sp.flags;
        if (sp.droppedAttributesCount) f.droppedAttributesCount = sp.droppedAttributesCount;
        if (sp.events && sp.events.length) {
          f.events = sp.events.map((e) => ({
            name: e.name || '',
            timeUnixNano: e.timeUnixNano || '0',
            attributes: attrMap(e.attributes),
          }));
        }
        if (sp.links && sp.links.length) {
          f.links = sp.links.map((l) => ({
            traceId: l.traceId || '',
            spanId: l.spanId || '',
            attributes: attrMap(l.attributes),
          }));
        }
        out.push(f);
      }
    }
  }
  return out;
}

// The whole decode. Returns the flattened spans; throws ValidationError.
export function decodeTraceRequest(input) {
  if (!isObj(input)) fail('', 'request body must be a JSON object (ExportTraceServiceRequest)');
  const checked = cloneJson(input, '');
  const pb = prepare(cloneJson(checked, ''), 'pb');
  const canon = prepare(cloneJson(checked, ''), 'canon');
  try {
    verifyLocated(pb);
  } catch (e) {
    if (e instanceof ValidationError) throw e;
    fail('', `protobuf verify failed: ${e.message}`);
  }
  let rt;
  try {
    const msg = ExportTraceServiceRequest.fromObject(pb);
    const wire = ExportTraceServiceRequest.encode(msg).finish();
    const back = ExportTraceServiceRequest.decode(wire);
    rt = bytesToJson(ExportTraceServiceRequest.toObject(back, {
      longs: String, enums: Number, json: true, defaults: true, arrays: true,
    }), '');
  } catch (e) {
    fail('', `protobuf encode/decode failed: ${e.message}`);
  }
  const d = unknownKeys(canon, rt, '') || diff(stripDefaults(canon), stripDefaults(rt), '');
  if (d) fail('', d);
  checkSemantics(rt);
  return flatten(rt);
}

// ---------------------------------------------------------------------------
// HTTP server.
const state = { spans: [], requests: [], control: [] };

function send(res, status, obj, headers = {}) {
  const body = JSON.stringify(obj);
  if (res.destroyed) return;
  res.writeHead(status, {
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(body),
    ...headers,
  });
  res.end(body);
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let n = 0;
    req.on('data', (c) => {
      n += c.length;
      if (n > MAX_BODY) {
        reject(Object.assign(new Error(`body larger than ${MAX_BODY} bytes`), { http: 413 }));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

const CONTROL_KEYS = new Set(['status', 'retry_after', 'count', 'partial', 'error_message', 'delay_ms']);
function parseControl(c) {
  if (!isObj(c)) throw new Error('control entry must be an object');
  for (const k of Object.keys(c)) if (!CONTROL_KEYS.has(k)) throw new Error(`unknown control key ${JSON.stringify(k)}`);
  const e = { count: 1 };
  if ('count' in c) {
    if (!Number.isInteger(c.count) || c.count < 1) throw new Error('count must be an integer >= 1');
    e.count = c.count;
  }
  if ('status' in c) {
    if (!Number.isInteger(c.status) || c.status < 200 || c.status > 599) throw new Error('status must be an integer 200..599');
    e.status = c.status;
  }
  if ('retry_after' in c) {
    if (!['string', 'number'].includes(typeof c.retry_after)) throw new Error('retry_after must be a string or number');
    e.retry_after = String(c.retry_after);
  }
  if ('partial' in c) {
    if (!Number.isInteger(c.partial) || c.partial < 0) throw new Error('partial must be an integer >= 0 (rejected span count)');
    e.partial = c.partial;
  }
  if ('error_message' in c) e.error_message = String(c.error_message);
  if ('delay_ms' in c) {
    if (typeof c.delay_ms !== 'number' || !(c.delay_ms >= 0)) throw new Error('delay_ms must be a number >= 0');
    e.delay_ms = c.delay_ms;
  }
  if (e.status !== undefined && e.partial !== undefined) throw new Error('status and partial are exclusive');
  if (e.status === undefined && e.partial === undefined && e.delay_ms === undefined) {
    throw new Error('control entry needs status, partial or delay_ms');
  }
  e.remaining = e.count;
  return e;
}

function takeControl() {
  const e = state.control[0];
  if (!e) return null;
  e.remaining -= 1;
  if (e.remaining <= 0) state.control.shift();
  const { remaining, ...rest } = e;
  return rest;
}

let verbose = false;
function log(msg) { process.stderr.write(`otlp-receiver: ${msg}\n`); }

async function handleTraces(req, res) {
  const inj = takeControl();
  const rec = {
    status: null,
    nspans: 0,
    contentType: req.headers['content-type'] ?? null,
    contentEncoding: req.headers['content-encoding'] ?? null,
    headers: req.headers,
    error: null,
    at: Date.now(),
    injected: inj,
  };
  state.requests.push(rec);

  let status = 200;
  let reply = {};
  let spans = null;
  try {
    let body;
    try {
      body = await readBody(req);
    } catch (e) {
      throw Object.assign(new ValidationError(e.message), { http: e.http || 400 });
    }
    rec.bytes = body.length;
    const ctype = String(req.headers['content-type'] || '').split(';')[0].trim().toLowerCase();
    if (ctype !== 'application/json') {
      throw Object.assign(new ValidationError(`unsupported Content-Type ${JSON.stringify(req.headers['content-type'] ?? null)} (only application/json)`), { http: 415 });
    }
    const enc = String(req.headers['content-encoding'] || 'identity').trim().toLowerCase();
    if (enc === 'gzip') {
      try {
        body = zlib.gunzipSync(body, { maxOutputLength: MAX_BODY });
      } catch (e) {
        throw new ValidationError(`gzip decoding failed: ${e.message}`);
      }
    } else if (enc !== 'identity') {
      throw Object.assign(new ValidationError(`unsupported Content-Encoding ${JSON.stringify(enc)} (gzip or none)`), { http: 415 });
    }
    let text;
    try {
      text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(body);
    } catch (e) {
      throw new ValidationError('body is not valid UTF-8');
    }
    let json;
    try {
      json = JSON.parse(text);
    } catch (e) {
      throw new ValidationError(`invalid JSON: ${e.message}`);
    }
    spans = decodeTraceRequest(json);
    rec.nspans = spans.length;
  } catch (e) {
    if (!(e instanceof ValidationError)) {
      e = Object.assign(new ValidationError(`internal error while decoding: ${e.stack || e}`), { http: 500 });
    }
    rec.error = e.message;
    status = e.http || 400;
    reply = { error: e.message };
    spans = null;
    log(`rejected request #${state.requests.length - 1}: ${e.message}`);
  }

  if (inj && inj.delay_ms) {
    await new Promise((r) => setTimeout(r, inj.delay_ms));
  }
  if (res.destroyed || req.socket.destroyed) {
    rec.aborted = true; // client gave up while we delayed: nothing answered, nothing stored
    if (verbose) log(`request #${state.requests.indexOf(rec)}: client went away`);
    return;
  }

  const headers = {};
  if (inj && inj.status !== undefined) {
    status = inj.status;
    reply = {};
    if (inj.retry_after !== undefined) headers['Retry-After'] = inj.retry_after;
    spans = null; // refused: not recorded
  } else if (spans && inj && inj.partial !== undefined) {
    reply = { partialSuccess: { rejectedSpans: String(inj.partial), errorMessage: inj.error_message ?? 'test' } };
  }
  if (spans) state.spans.push(...spans);
  rec.status = status;
  if (verbose) log(`POST /v1/traces -> ${status} (${rec.nspans} spans${inj ? ', injected ' + JSON.stringify(inj) : ''})`);
  send(res, status, reply, headers);
}

async function handle(req, res, server) {
  const url = new URL(req.url, 'http://localhost');
  const p = url.pathname;
  const m = req.method;
  if (p === '/v1/traces') {
    if (m !== 'POST') return send(res, 405, { error: 'method not allowed' }, { Allow: 'POST' });
    return handleTraces(req, res);
  }
  if (m === 'GET' && p === '/spans') return send(res, 200, state.spans);
  if (m === 'GET' && p === '/requests') return send(res, 200, state.requests);
  if (m === 'GET' && p === '/control') {
    return send(res, 200, state.control.map(({ remaining, ...e }) => ({ ...e, remaining })));
  }
  if (m === 'GET' && p === '/health') return send(res, 200, { ok: true });
  if (m === 'POST' && p === '/reset') {
    await readBody(req).catch(() => null);
    state.spans = [];
    state.requests = [];
    state.control = [];
    return send(res, 200, {});
  }
  if (m === 'POST' && p === '/control') {
    let entries;
    try {
      const raw = JSON.parse((await readBody(req)).toString('utf8'));
      entries = (Array.isArray(raw) ? raw : [raw]).map(parseControl);
    } catch (e) {
      return send(res, 400, { error: `bad control request: ${e.message}` });
    }
    state.control.push(...entries);
    if (verbose) log(`control queued: ${JSON.stringify(entries)}`);
    return send(res, 200, { queued: entries.length, pending: state.control.length });
  }
  if (m === 'POST' && p === '/shutdown') {
    await readBody(req).catch(() => null);
    res.on('finish', () => {
      server.close();
      if (server.closeAllConnections) server.closeAllConnections();
      setImmediate(() => process.exit(0));
    });
    return send(res, 200, {});
  }
  return send(res, 404, { error: `no route for ${m} ${p}` });
}

// ---------------------------------------------------------------------------
function usage(code) {
  process.stderr.write('usage: node receiver.mjs [--host 127.0.0.1] [--port N (0 = ephemeral, default)] [--port-file FILE] [--verbose]\n');
  process.exit(code);
}

function main(argv) {
  let host = '127.0.0.1';
  let port = 0;
  let portFile = null;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      if (i + 1 >= argv.length) usage(2);
      return argv[++i];
    };
    if (a === '--port') {
      port = Number(val());
      if (!Number.isInteger(port) || port < 0 || port > 65535) usage(2);
    } else if (a === '--port-file') portFile = val();
    else if (a === '--host') host = val();
    else if (a === '--verbose' || a === '-v') verbose = true;
    else if (a === '--help' || a === '-h') usage(0);
    else usage(2);
  }
  const server = http.createServer((req, res) => {
    handle(req, res, server).catch((e) => {
      log(`internal error: ${e.stack || e}`);
      if (!res.headersSent) send(res, 500, { error: String(e) });
    });
  });
  server.on('error', (e) => {
    log(`cannot listen on ${host}:${port}: ${e.message}`);
    process.exit(1);
  });
  server.listen(port, host, () => {
    const actual = server.address().port;
    if (portFile) {
      const tmp = path.join(path.dirname(portFile), `.${path.basename(portFile)}.${process.pid}.tmp`);
      fs.writeFileSync(tmp, `${actual}\n`);
      fs.renameSync(tmp, portFile);
    }
    log(`listening on http://${host}:${actual} (pid ${process.pid})`);
  });
  for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
}

if (process.argv[1] && import.meta.url === pathToFileURL(fs.realpathSync(process.argv[1])).href) {
  main(process.argv.slice(2));
}
