/* report.js - how a trace is drawn, shared by `tokentap report` (inlined in
 * the page) and `tokentap ui` (served as /report.js). DOM built with
 * textContent only: captured content never becomes markup. */
var TTReport = (function () {
  'use strict';
  var TREE_MAX_KIDS = 200, TREE_SHOWN_KIDS = 100;

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function add(parent, child) { parent.appendChild(child); return child; }
  function fmtInt(n) { return Number(n || 0).toLocaleString('en-US'); }
  function fmtCost(v) { return '$' + Number(v || 0).toFixed(6); }
  function fmtMs(ms) {
    if (ms === null || ms === undefined || ms < 0) return '-';
    return ms < 1000 ? ms.toFixed(1) + ' ms' : (ms / 1000).toFixed(2) + ' s';
  }
  function durMs(s) { return (s.end_time - s.start_time) / 1e6; }
  function model(s) { return s.response_model || s.request_model || s.name || s.kind; }
  function isErr(s) { return s.status === 'error'; }
  function pretty(v) {
    if (v === null || v === undefined) return '';
    if (typeof v === 'string') {
      try { return JSON.stringify(JSON.parse(v), null, 2); } catch (e) { return v; }
    }
    return JSON.stringify(v, null, 2);
  }
  function fold(parent, title, v, open) {
    var d = add(parent, el('details'));
    if (open) d.open = true;
    add(d, el('summary', null, title));
    add(d, el('pre', 'mono', pretty(v)));
    return d;
  }
  function procKey(s) { return (s.exe || '?') + ' (pid ' + (s.pid === null ? '?' : s.pid) + ')'; }

  function stats(sec, t) {
    var tot = t.totals;
    add(sec, el('h2', null, 'Summary'));
    var box = add(sec, el('div', 'stats'));
    var items = [
      ['duration', fmtMs(tot.duration_ms), tot.duration_ms],
      ['calls', fmtInt(tot.calls), tot.calls],
      ['tokens-in', fmtInt(tot.input_tokens), tot.input_tokens],
      ['tokens-out', fmtInt(tot.output_tokens), tot.output_tokens],
      ['cost', fmtCost(tot.cost_usd) + (tot.cost_unknown_calls ? '+?' : ''), tot.cost_usd],
      ['tools', fmtInt(tot.tool_spans), tot.tool_spans],
      ['errors', fmtInt(tot.errors), tot.errors]
    ];
    var names = { 'tokens-in': 'tokens in', 'tokens-out': 'tokens out', tools: 'tool spans' };
    items.forEach(function (it) {
      var d = add(box, el('div', 'stat' + (it[0] === 'errors' && it[2] > 0 ? ' bad' : '')));
      d.setAttribute('data-stat', it[0]);
      d.setAttribute('data-value', String(it[2]));
      add(d, el('div', 'v', it[1]));
      add(d, el('div', 'k', names[it[0]] || it[0]));
    });
  }

  function timeline(sec, t, spans) {
    add(sec, el('h2', null, 'Timeline'));
    var panel = add(sec, el('div', 'panel timeline'));
    var t0 = t.totals.start_time, span = Math.max(t.totals.end_time - t0, 1);
    var pct = function (ns) { return Math.max(0, Math.min(100, (ns - t0) / span * 100)); };
    var axis = add(panel, el('div', 'tl-axis'));
    for (var i = 0; i <= 4; i++) {
      var tick = add(axis, el('span', null, fmtMs(span * i / 4 / 1e6)));
      tick.style.left = (i * 25) + '%';
    }
    var groups = [], byKey = {};
    spans.forEach(function (s) {
      var k = procKey(s);
      if (!byKey[k]) { byKey[k] = { key: k, procs: [], spans: [] }; groups.push(byKey[k]); }
      (s.kind === 'process' ? byKey[k].procs : byKey[k].spans).push(s);
    });
    groups.forEach(function (g) {
      var row = add(panel, el('div', 'tl-group'));
      row.setAttribute('data-process', g.key);
      add(row, el('div', 'tl-label mono', g.key)).title = g.key;
      var lane = add(row, el('div', 'tl-lane'));
      var lanesEnd = [], top0 = g.procs.length ? 10 : 0;
      g.procs.forEach(function (s) {
        var b = add(lane, el('div', 'bar process' + (isErr(s) ? ' error' : '')));
        b.style.left = pct(s.start_time) + '%';
        b.style.width = Math.max(pct(s.end_time) - pct(s.start_time), 0.2) + '%';
        b.style.top = '0px';
        b.title = (s.name || 'process') + ' ' + fmtMs(durMs(s));
      });
      g.spans.forEach(function (s) {
        var l = 0;
        while (l < lanesEnd.length && lanesEnd[l] > s.start_time) l++;
        lanesEnd[l] = Math.max(s.end_time, s.start_time + 1);
        var kind = s.kind === 'llm' || s.kind === 'tool' ? s.kind : 'other';
        var b = add(lane, el(kind === 'other' ? 'div' : 'a', 'bar ' + kind + (isErr(s) ? ' error' : ''),
          kind === 'llm' ? model(s) : (s.name || s.kind)));
        if (kind !== 'other') b.href = '#card-' + s.span_id;
        b.setAttribute('data-span', s.span_id);
        b.style.left = pct(s.start_time) + '%';
        b.style.width = Math.max(pct(s.end_time) - pct(s.start_time), 0.3) + '%';
        b.style.top = (top0 + l * 19) + 'px';
        b.title = (s.name || s.kind) + ' - ' + fmtMs(durMs(s)) + (isErr(s) ? ' - ' + (s.error || 'error') : '');
      });
      lane.style.height = (top0 + Math.max(lanesEnd.length, 1) * 19) + 'px';
    });
    var lg = add(panel, el('div', 'legend'));
    [['LLM call', 'var(--llm)'], ['tool', 'var(--tool)'], ['process', 'var(--proc)'], ['error', 'var(--err)']]
      .forEach(function (x) { add(lg, el('i')).style.background = x[1]; lg.appendChild(document.createTextNode(x[0])); });
  }

  function costChart(sec, spans) {
    add(sec, el('h2', null, 'Cost by model'));
    var panel = add(sec, el('div', 'panel'));
    var by = {}, rows = [];
    spans.forEach(function (s) {
      if (s.kind !== 'llm') return;
      var m = s.response_model || s.request_model || '(unknown model)';
      if (!by[m]) { by[m] = { model: m, cost: 0, calls: 0, unknown: 0 }; rows.push(by[m]); }
      by[m].calls++;
      if (s.cost_known) by[m].cost += s.cost_usd; else by[m].unknown++;
    });
    if (!rows.length) { add(panel, el('div', 'muted', 'no LLM calls')); return; }
    rows.sort(function (a, b) { return b.cost - a.cost || b.calls - a.calls; });
    var max = Math.max.apply(null, rows.map(function (r) { return r.cost; })) || 1;
    var NS = 'http://www.w3.org/2000/svg', W = 900, RH = 26;
    var svg = document.createElementNS(NS, 'svg');
    svg.setAttribute('class', 'chart');
    svg.setAttribute('viewBox', '0 0 ' + W + ' ' + rows.length * RH);
    svg.setAttribute('width', '100%');
    svg.setAttribute('height', String(rows.length * RH));
    svg.setAttribute('preserveAspectRatio', 'xMinYMin meet');
    rows.forEach(function (r, i) {
      var g = document.createElementNS(NS, 'g');
      g.setAttribute('class', 'cost-row');
      g.setAttribute('data-model', r.model);
      var tl = document.createElementNS(NS, 'text');
      tl.setAttribute('x', '0'); tl.setAttribute('y', String(i * RH + 17));
      tl.textContent = r.model;
      var rect = document.createElementNS(NS, 'rect');
      rect.setAttribute('class', 'b');
      rect.setAttribute('x', '240'); rect.setAttribute('y', String(i * RH + 4));
      rect.setAttribute('height', '18');
      rect.setAttribute('width', String(Math.max(r.cost / max * (W - 460), 1)));
      var tv = document.createElementNS(NS, 'text');
      tv.setAttribute('x', String(250 + Math.max(r.cost / max * (W - 460), 1)));
      tv.setAttribute('y', String(i * RH + 17));
      tv.textContent = fmtCost(r.cost) + (r.unknown ? '+?' : '') + '  (' + r.calls + ' call' + (r.calls === 1 ? '' : 's') + ')';
      g.appendChild(tl); g.appendChild(rect); g.appendChild(tv);
      svg.appendChild(g);
    });
    panel.appendChild(svg);
  }

  function tree(sec, t, spans) {
    add(sec, el('h2', null, 'Span tree'));
    var panel = add(sec, el('div', 'panel'));
    var nodes = {}, root = { span: null, children: [] };
    spans.forEach(function (s) { nodes[s.span_id] = { span: s, children: [] }; });
    /* A parent is followed only when the chain reaches the root without a
     * loop; anything else (missing parent: the run span, old stores) hangs
     * from the root. */
    function reachesRoot(s) {
      var seen = {}, p = s;
      while (p && p.parent_id && nodes[p.parent_id]) {
        if (seen[p.span_id]) return false;
        seen[p.span_id] = true;
        p = nodes[p.parent_id].span;
      }
      return true;
    }
    spans.forEach(function (s) {
      var n = nodes[s.span_id];
      if (s.parent_id && nodes[s.parent_id] && s.parent_id !== s.span_id && reachesRoot(s)) {
        n.parent = s.parent_id;
        nodes[s.parent_id].children.push(n);
      } else {
        n.parent = '';
        root.children.push(n);
      }
    });
    function row(n) {
      var s = n.span, r = el('span', 'tree-row');
      if (n.conv) {
        add(r, el('span', 'badge', 'conversation'));
        add(r, el('span', 'mono', n.conv));
        add(r, el('span', 'muted', ' ' + n.children.length + ' spans'));
        return r;
      }
      if (!s) {
        add(r, el('span', 'badge', 'trace'));
        add(r, el('span', 'mono', t.trace_id));
        return r;
      }
      add(r, el('span', 'badge ' + s.kind, s.kind));
      var label = s.kind === 'llm' ? (s.name || model(s)) : (s.name || s.kind);
      if (s.kind === 'llm' || s.kind === 'tool') {
        var a = add(r, el('a', null, label)); a.href = '#card-' + s.span_id;
      } else {
        add(r, el('span', null, label));
      }
      var extra = ' ' + fmtMs(durMs(s));
      if (s.kind === 'llm') extra += ' \u00b7 ' + fmtInt(s.input_tokens) + '\u2192' + fmtInt(s.output_tokens) + ' tok \u00b7 ' +
        (s.cost_known ? fmtCost(s.cost_usd) : '?');
      if (s.conversation_id) extra += ' \u00b7 conv ' + s.conversation_id;
      add(r, el('span', 'muted', extra));
      if (isErr(s)) add(r, el('span', 'badge error', 'error'));
      return r;
    }
    function start(n) { return n.span ? n.span.start_time : n.start; }
    /* Calls of one conversation (2 or more under the same parent) are
     * gathered under a conversation node: process -> conversation -> calls. */
    function byConversation(children) {
      var count = {}, convs = {}, out = [];
      children.forEach(function (c) {
        var id = c.span && c.span.conversation_id;
        if (id) count[id] = (count[id] || 0) + 1;
      });
      children.forEach(function (c) {
        var id = c.span && c.span.conversation_id;
        if (!id || count[id] < 2) { out.push(c); return; }
        if (!convs[id]) {
          convs[id] = { span: null, conv: id, start: c.span.start_time, children: [] };
          out.push(convs[id]);
        }
        convs[id].children.push(c);
        convs[id].start = Math.min(convs[id].start, c.span.start_time);
      });
      return out;
    }
    function render(n, ul) {
      var li = add(ul, el('li', 'tree-node' + (n.span ? ' kind-' + n.span.kind
        : n.conv ? ' kind-conversation' : ' kind-trace')));
      if (n.conv) li.setAttribute('data-conversation', n.conv);
      if (n.span) {
        li.setAttribute('data-span', n.span.span_id);
        li.setAttribute('data-parent', n.parent);
      }
      if (!n.children.length) { li.appendChild(row(n)); return; }
      var d = add(li, el('details'));
      d.open = true;
      add(d, el('summary')).appendChild(row(n));
      var sub = add(d, el('ul'));
      var kids = n.conv ? n.children : byConversation(n.children);
      kids.sort(function (a, b) { return start(a) - start(b); });
      /* A node with hundreds of children (a 1,000-call agent loop) shows
       * the first ones and a button for the rest: the page stays quick. */
      var first = kids.length > TREE_MAX_KIDS ? kids.slice(0, TREE_SHOWN_KIDS) : kids;
      first.forEach(function (c) { render(c, sub); });
      if (first.length < kids.length) {
        var more = add(sub, el('li', 'tree-more'));
        var b = add(more, el('button', null, 'show ' + (kids.length - first.length) + ' more'));
        b.type = 'button';
        b.addEventListener('click', function () {
          sub.removeChild(more);
          kids.slice(first.length).forEach(function (c) { render(c, sub); });
        });
      }
    }
    render(root, add(panel, el('ul', 'tree')));
  }

  function card(list, s, i) {
    var c = add(list, el('article', 'card ' + (s.kind === 'tool' ? 'tool' : 'llm') + (isErr(s) ? ' error' : '')));
    c.id = 'card-' + s.span_id;
    c.setAttribute('data-span', s.span_id);
    var h = add(c, el('h3'));
    add(h, el('span', 'muted', '#' + i + ' '));
    add(h, el('span', null, s.kind === 'tool' ? (s.name || 'tool') : model(s)));
    add(h, el('span', null, ' '));
    if (s.provider) add(h, el('span', 'badge', s.provider));
    add(h, el('span', 'badge st-' + s.status, s.status + (s.http_status ? ' ' + s.http_status : '')));
    if (s.stream) add(h, el('span', 'badge', 'stream'));
    var m = add(c, el('div', 'metrics'));
    function metric(k, v, cls) {
      var d = add(m, el('div', cls));
      add(d, el('span', null, k));
      d.appendChild(document.createTextNode(v));
    }
    if (s.kind === 'llm') {
      metric('tokens in', s.usage_known ? fmtInt(s.input_tokens) : '?', 'm-in');
      metric('tokens out', s.usage_known ? fmtInt(s.output_tokens) : '?', 'm-out');
      if (s.cache_read_tokens) metric('cache read', fmtInt(s.cache_read_tokens));
      if (s.cache_write_tokens) metric('cache write', fmtInt(s.cache_write_tokens));
      if (s.reasoning_tokens) metric('reasoning', fmtInt(s.reasoning_tokens));
      metric('cost', s.cost_known ? fmtCost(s.cost_usd) : '?', 'm-cost');
    }
    metric('latency', fmtMs(durMs(s)), 'm-latency');
    if (s.kind === 'llm') {
      metric('ttft', fmtMs(s.ttft_ms), 'm-ttft');
      metric('finish', (s.finish_reasons || []).join(', ') || '-', 'm-finish');
    }
    metric('process', procKey(s));
    if (s.conversation_id) metric('conversation', s.conversation_id);
    if (s.error) add(c, el('div', 'errmsg', s.error));
    var calls = Array.isArray(s.tool_calls) ? s.tool_calls : [];
    if (calls.length) {
      var tc = add(c, el('div', 'toolcalls'));
      add(tc, el('b', null, calls.length + ' tool call' + (calls.length === 1 ? '' : 's') + ': '));
      tc.appendChild(document.createTextNode(calls.map(function (x) { return x && x.name; }).join(', ')));
      fold(tc, 'arguments', calls, false);
    }
    chat(c, s);
    fold(c, s.kind === 'tool' ? 'Call (input)' : 'Request (input)', s.input, false).className = 'io-input';
    fold(c, s.kind === 'tool' ? 'Result (output)' : 'Response (output)', s.output, false).className = 'io-output';
    if (s.metadata) fold(c, 'Metadata', s.metadata, false);
    fold(c, 'All fields', s, false);
  }

  function renderTrace(app, t) {
    var sec = add(app, el('section', 'trace'));
    sec.setAttribute('data-trace', t.trace_id);
    var head = add(sec, el('div', 'sub mono'));
    head.textContent = 'trace ' + t.trace_id +
      (t.run ? ' \u00b7 ' + t.run.command + ' \u00b7 exit ' + t.run.exit_code : '') +
      ' \u00b7 started ' + new Date(t.totals.start_time / 1e6).toISOString();
    var spans = t.spans.slice().sort(function (a, b) { return a.start_time - b.start_time; });
    stats(sec, t);
    timeline(sec, t, spans);
    costChart(sec, spans);
    tree(sec, t, spans);
    add(sec, el('h2', null, 'Calls'));
    var list = add(sec, el('div', 'cards'));
    var i = 0;
    spans.forEach(function (s) { if (s.kind === 'llm' || s.kind === 'tool') card(list, s, ++i); });
    if (!i) add(list, el('div', 'muted', 'no LLM calls in this trace'));
  }

  /* The messages of a call as the chat they were: one bubble per message
   * (system, user, assistant, tool), tool calls and results as their own
   * blocks, images as placeholders. Accepts the shapes providers send
   * (OpenAI/Anthropic messages, Gemini contents, Responses input items);
   * anything else stays in the raw folds below. */
  function partText(p) {
    if (p === null || p === undefined) return '';
    if (typeof p === 'string') return p;
    if (p.type === 'image_url' || p.type === 'image' || p.type === 'input_image' || p.inlineData || p.inline_data)
      return '[image]';
    if (p.type === 'tool_use' || p.functionCall)
      return '';
    if (p.type === 'tool_result')
      return '[tool result] ' + contentText(p.content);
    if (typeof p.text === 'string') return p.text;
    if (p.functionResponse) return '[tool result] ' + JSON.stringify(p.functionResponse.response || p.functionResponse);
    return JSON.stringify(p);
  }
  function contentText(c) {
    if (c === null || c === undefined) return '';
    if (typeof c === 'string') return c;
    if (Array.isArray(c)) return c.map(partText).filter(function (x) { return x !== ''; }).join('\n');
    if (Array.isArray(c.parts)) return contentText(c.parts);
    return partText(c);
  }
  function msgToolCalls(m) {
    var out = [];
    (Array.isArray(m.tool_calls) ? m.tool_calls : []).forEach(function (tc) {
      var f = tc.function || tc;
      out.push({ name: f.name, args: f.arguments !== undefined ? f.arguments : f.input });
    });
    var parts = Array.isArray(m.content) ? m.content : Array.isArray(m.parts) ? m.parts : [];
    parts.forEach(function (p) {
      if (p && p.type === 'tool_use') out.push({ name: p.name, args: p.input });
      if (p && p.functionCall) out.push({ name: p.functionCall.name, args: p.functionCall.args });
    });
    if (m.type === 'function_call') out.push({ name: m.name, args: m.arguments });
    return out;
  }
  function messagesOf(input) {
    var v = input;
    if (typeof v === 'string') { try { v = JSON.parse(v); } catch (e) { return [{ role: 'user', content: v }]; } }
    if (v && !Array.isArray(v)) {
      var sys = v.system || v.systemInstruction || v.instructions;
      var list = v.messages || v.contents || v.input || v.prompt;
      var out = [];
      if (sys) out.push({ role: 'system', content: contentText(sys) });
      if (typeof list === 'string') out.push({ role: 'user', content: list });
      else if (Array.isArray(list)) out = out.concat(list);
      return out;
    }
    return Array.isArray(v) ? v : [];
  }
  function bubble(box, role, text, calls) {
    var b = add(box, el('div', 'msg role-' + String(role || 'user').replace(/[^a-z_]/gi, '')));
    add(b, el('div', 'role', role || 'user'));
    if (text) add(b, el('div', 'text', text));
    (calls || []).forEach(function (tc) {
      var t = add(b, el('div', 'tcall'));
      add(t, el('b', null, '\u2192 ' + (tc.name || 'tool') + ' '));
      add(t, el('span', 'mono', typeof tc.args === 'string' ? tc.args : JSON.stringify(tc.args)));
    });
    return b;
  }
  function chat(parent, s) {
    if (s.kind !== 'llm') return null;
    var msgs = messagesOf(s.input), box = el('div', 'chat');
    msgs.forEach(function (m) {
      if (!m || typeof m !== 'object') { bubble(box, 'user', String(m)); return; }
      var role = m.role || (m.type === 'function_call_output' ? 'tool' : m.type === 'function_call' ? 'assistant' : 'user');
      if (role === 'model') role = 'assistant';
      var text = contentText(m.content !== undefined ? m.content : m.parts !== undefined ? m.parts : m.output);
      if (role === 'tool' && m.tool_call_id) text = '(' + m.tool_call_id + ') ' + text;
      bubble(box, role, text, msgToolCalls(m));
    });
    var answer = contentText(s.output);
    var tcs = (Array.isArray(s.tool_calls) ? s.tool_calls : []).map(function (x) { return { name: x && x.name, args: x && x.arguments }; });
    if (answer || tcs.length) bubble(box, 'assistant', answer, tcs).classList.add('answer');
    if (!box.childNodes.length) return null;
    add(parent, box);
    return box;
  }

  return { el: el, add: add, fmtInt: fmtInt, fmtCost: fmtCost, fmtMs: fmtMs, model: model,
           isErr: isErr, pretty: pretty, fold: fold, stats: stats, timeline: timeline,
           costChart: costChart, tree: tree, card: card, chat: chat, renderTrace: renderTrace };
})();
