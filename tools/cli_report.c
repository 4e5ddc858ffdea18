/* cli_report.c - `tokentap report`: traces as one self-contained HTML file
 * (see cli_report.h).
 *
 * C does the data: it reads the spans like `show` does, turns each into the
 * export contract's JSON object (tt_span_to_json, so the page sees exactly
 * what `export` prints), adds per-trace totals computed the way `show`
 * computes them, and writes template + escaped JSON + template. Everything
 * visual is the template's JS, which builds the DOM with textContent only:
 * captured prompts never become markup. */
#include "cli_report.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "spanjson.h"
#include "store.h"

/* A trace's page data is the trace's spans (bodies capped by the preload at
 * TOKENTAP_MAX_BODY each); the cap only stops a runaway. */
#define REPORT_MAX_BYTES ((size_t)1 << 31)
/* IDs on the command line. */
#define REPORT_MAX_TRACES 64

/* The template, split where the data goes. "@TITLE@" is replaced by the
 * escaped title. Edit it as HTML: it is plain text in C strings. */
static const char report_head[] =
    "<!DOCTYPE html>\n"
    "<html lang=\"en\">\n"
    "<head>\n"
    "<meta charset=\"utf-8\">\n"
    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
    "<meta name=\"generator\" content=\"tokentap\">\n"
    "<script>\n"
    "window.onerror = function (msg, src, line, col) {\n"
    "  var e = document.getElementById('js-errors');\n"
    "  var t = msg + ' (' + line + ':' + col + ')';\n"
    "  if (e) { e.textContent += t + '\\n'; e.hidden = false; }\n"
    "};\n"
    "</script>\n"
    "<style>\n"
    ":root { --fg: #1d2330; --muted: #667085; --bg: #f6f7f9; --card: #fff; --line: #dde1e7;\n"
    "  --llm: #3b6fd8; --tool: #d08a16; --proc: #8a94a6; --err: #d43c3c; --ok: #2f9d62; }\n"
    "* { box-sizing: border-box; }\n"
    "body { margin: 0; font: 14px/1.45 system-ui, -apple-system, \"Segoe UI\", sans-serif;\n"
    "  color: var(--fg); background: var(--bg); }\n"
    "header.top { padding: 18px 28px 8px; }\n"
    "header.top h1 { margin: 0; font-size: 20px; }\n"
    ".sub { color: var(--muted); font-size: 13px; word-break: break-all; }\n"
    "main { padding: 0 28px 40px; }\n"
    "section.trace { margin-top: 14px; }\n"
    "h2 { font-size: 15px; margin: 22px 0 8px; text-transform: uppercase; letter-spacing: .04em;\n"
    "  color: var(--muted); }\n"
    ".mono, code, pre { font-family: ui-monospace, \"SFMono-Regular\", Menlo, Consolas, monospace; }\n"
    "#js-errors { margin: 10px 28px; padding: 10px; background: #fde8e8; color: var(--err);\n"
    "  white-space: pre-wrap; border: 1px solid var(--err); border-radius: 6px; }\n"
    ".stats { display: flex; flex-wrap: wrap; gap: 10px; }\n"
    ".stat { background: var(--card); border: 1px solid var(--line); border-radius: 8px;\n"
    "  padding: 10px 16px; min-width: 120px; }\n"
    ".stat .v { font-size: 20px; font-weight: 600; }\n"
    ".stat .k { color: var(--muted); font-size: 12px; text-transform: uppercase; }\n"
    ".stat.bad .v { color: var(--err); }\n"
    ".panel { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 12px 16px; }\n"
    ".tl-axis { position: relative; height: 18px; margin-left: 220px; border-bottom: 1px solid var(--line);\n"
    "  font-size: 11px; color: var(--muted); }\n"
    ".tl-axis span { position: absolute; transform: translateX(-50%); white-space: nowrap; }\n"
    ".tl-group { display: flex; border-bottom: 1px dashed var(--line); padding: 4px 0; }\n"
    ".tl-label { width: 220px; flex: none; padding-right: 10px; font-size: 12px; overflow: hidden;\n"
    "  text-overflow: ellipsis; white-space: nowrap; }\n"
    ".tl-lane { position: relative; flex: 1; }\n"
    ".bar { position: absolute; height: 16px; border-radius: 3px; font-size: 10px; line-height: 16px;\n"
    "  color: #fff; padding: 0 4px; overflow: hidden; white-space: nowrap; text-decoration: none;\n"
    "  min-width: 2px; }\n"
    ".bar.llm { background: var(--llm); }\n"
    ".bar.tool { background: var(--tool); }\n"
    ".bar.process { background: var(--proc); opacity: .35; height: 6px; }\n"
    ".bar.other { background: var(--proc); }\n"
    ".bar.error { background: var(--err); }\n"
    ".legend { font-size: 12px; color: var(--muted); margin-top: 6px; }\n"
    ".legend i { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin: 0 4px 0 12px; }\n"
    "svg.chart text { font-size: 12px; fill: var(--fg); }\n"
    "svg.chart rect.b { fill: var(--llm); }\n"
    "ul.tree, ul.tree ul { list-style: none; margin: 0; padding-left: 18px; }\n"
    "ul.tree { padding-left: 0; }\n"
    ".tree-row { padding: 2px 0; }\n"
    ".tree-row a { color: inherit; }\n"
    ".badge { display: inline-block; font-size: 11px; padding: 0 6px; border-radius: 9px;\n"
    "  background: #eef1f6; color: var(--muted); margin-right: 6px; }\n"
    ".badge.llm { background: #e4ecfb; color: var(--llm); }\n"
    ".badge.tool { background: #fbf0dc; color: #8a5a08; }\n"
    ".badge.process { background: #eceef2; color: #4b5565; }\n"
    ".badge.error, .badge.st-error { background: #fde8e8; color: var(--err); }\n"
    ".badge.st-ok { background: #e3f4ea; color: var(--ok); }\n"
    ".muted { color: var(--muted); }\n"
    ".cards { display: grid; gap: 12px; }\n"
    ".card { background: var(--card); border: 1px solid var(--line); border-left: 4px solid var(--llm);\n"
    "  border-radius: 8px; padding: 12px 16px; }\n"
    ".card.tool { border-left-color: var(--tool); }\n"
    ".card.error { border-left-color: var(--err); background: #fffafa; }\n"
    ".card h3 { margin: 0 0 6px; font-size: 15px; }\n"
    ".card .metrics { display: grid; grid-template-columns: repeat(auto-fill, minmax(150px, 1fr));\n"
    "  gap: 4px 14px; margin: 6px 0; }\n"
    ".card .metrics div span { display: block; font-size: 11px; color: var(--muted); text-transform: uppercase; }\n"
    ".errmsg { color: var(--err); background: #fde8e8; border-radius: 4px; padding: 6px 8px; margin: 6px 0;\n"
    "  white-space: pre-wrap; word-break: break-word; }\n"
    ".toolcalls { background: #fff7e6; border: 1px solid #f1d29b; border-radius: 4px; padding: 6px 8px; margin: 6px 0; }\n"
    ".toolcalls b { color: #8a5a08; }\n"
    "details { margin: 4px 0; }\n"
    "summary { cursor: pointer; color: var(--muted); }\n"
    "pre { background: #f3f4f7; border-radius: 4px; padding: 8px; max-height: 420px; overflow: auto;\n"
    "  white-space: pre-wrap; word-break: break-word; font-size: 12px; margin: 4px 0; }\n"
    "</style>\n"
    "<title>@TITLE@</title>\n"
    "</head>\n"
    "<body>\n"
    "<header class=\"top\"><h1>@TITLE@</h1><div class=\"sub\" id=\"subtitle\"></div></header>\n"
    "<div id=\"js-errors\" hidden></div>\n"
    "<main id=\"app\"></main>\n"
    "<script type=\"application/json\" id=\"tt-data\">\n";

static const char report_tail[] =
    "</script>\n"
    "<script>\n"
    "(function () {\n"
    "  'use strict';\n"
    "  var data = JSON.parse(document.getElementById('tt-data').textContent);\n"
    "\n"
    "  function el(tag, cls, text) {\n"
    "    var e = document.createElement(tag);\n"
    "    if (cls) e.className = cls;\n"
    "    if (text !== undefined && text !== null) e.textContent = String(text);\n"
    "    return e;\n"
    "  }\n"
    "  function add(parent, child) { parent.appendChild(child); return child; }\n"
    "  function fmtInt(n) { return Number(n || 0).toLocaleString('en-US'); }\n"
    "  function fmtCost(v) { return '$' + Number(v || 0).toFixed(6); }\n"
    "  function fmtMs(ms) {\n"
    "    if (ms === null || ms === undefined || ms < 0) return '-';\n"
    "    return ms < 1000 ? ms.toFixed(1) + ' ms' : (ms / 1000).toFixed(2) + ' s';\n"
    "  }\n"
    "  function durMs(s) { return (s.end_time - s.start_time) / 1e6; }\n"
    "  function model(s) { return s.response_model || s.request_model || s.name || s.kind; }\n"
    "  function isErr(s) { return s.status === 'error'; }\n"
    "  function pretty(v) {\n"
    "    if (v === null || v === undefined) return '';\n"
    "    if (typeof v === 'string') {\n"
    "      try { return JSON.stringify(JSON.parse(v), null, 2); } catch (e) { return v; }\n"
    "    }\n"
    "    return JSON.stringify(v, null, 2);\n"
    "  }\n"
    "  function fold(parent, title, v, open) {\n"
    "    var d = add(parent, el('details'));\n"
    "    if (open) d.open = true;\n"
    "    add(d, el('summary', null, title));\n"
    "    add(d, el('pre', 'mono', pretty(v)));\n"
    "    return d;\n"
    "  }\n"
    "  function procKey(s) { return (s.exe || '?') + ' (pid ' + (s.pid === null ? '?' : s.pid) + ')'; }\n"
    "\n"
    "  function stats(sec, t) {\n"
    "    var tot = t.totals;\n"
    "    add(sec, el('h2', null, 'Summary'));\n"
    "    var box = add(sec, el('div', 'stats'));\n"
    "    var items = [\n"
    "      ['duration', fmtMs(tot.duration_ms), tot.duration_ms],\n"
    "      ['calls', fmtInt(tot.calls), tot.calls],\n"
    "      ['tokens-in', fmtInt(tot.input_tokens), tot.input_tokens],\n"
    "      ['tokens-out', fmtInt(tot.output_tokens), tot.output_tokens],\n"
    "      ['cost', fmtCost(tot.cost_usd) + (tot.cost_unknown_calls ? '+?' : ''), tot.cost_usd],\n"
    "      ['tools', fmtInt(tot.tool_spans), tot.tool_spans],\n"
    "      ['errors', fmtInt(tot.errors), tot.errors]\n"
    "    ];\n"
    "    var names = { 'tokens-in': 'tokens in', 'tokens-out': 'tokens out', tools: 'tool spans' };\n"
    "    items.forEach(function (it) {\n"
    "      var d = add(box, el('div', 'stat' + (it[0] === 'errors' && it[2] > 0 ? ' bad' : '')));\n"
    "      d.setAttribute('data-stat', it[0]);\n"
    "      d.setAttribute('data-value', String(it[2]));\n"
    "      add(d, el('div', 'v', it[1]));\n"
    "      add(d, el('div', 'k', names[it[0]] || it[0]));\n"
    "    });\n"
    "  }\n"
    "\n"
    "  function timeline(sec, t, spans) {\n"
    "    add(sec, el('h2', null, 'Timeline'));\n"
    "    var panel = add(sec, el('div', 'panel timeline'));\n"
    "    var t0 = t.totals.start_time, span = Math.max(t.totals.end_time - t0, 1);\n"
    "    var pct = function (ns) { return Math.max(0, Math.min(100, (ns - t0) / span * 100)); };\n"
    "    var axis = add(panel, el('div', 'tl-axis'));\n"
    "    for (var i = 0; i <= 4; i++) {\n"
    "      var tick = add(axis, el('span', null, fmtMs(span * i / 4 / 1e6)));\n"
    "      tick.style.left = (i * 25) + '%';\n"
    "    }\n"
    "    var groups = [], byKey = {};\n"
    "    spans.forEach(function (s) {\n"
    "      var k = procKey(s);\n"
    "      if (!byKey[k]) { byKey[k] = { key: k, procs: [], spans: [] }; groups.push(byKey[k]); }\n"
    "      (s.kind === 'process' ? byKey[k].procs : byKey[k].spans).push(s);\n"
    "    });\n"
    "    groups.forEach(function (g) {\n"
    "      var row = add(panel, el('div', 'tl-group'));\n"
    "      row.setAttribute('data-process', g.key);\n"
    "      add(row, el('div', 'tl-label mono', g.key)).title = g.key;\n"
    "      var lane = add(row, el('div', 'tl-lane'));\n"
    "      var lanesEnd = [], top0 = g.procs.length ? 10 : 0;\n"
    "      g.procs.forEach(function (s) {\n"
    "        var b = add(lane, el('div', 'bar process' + (isErr(s) ? ' error' : '')));\n"
    "        b.style.left = pct(s.start_time) + '%';\n"
    "        b.style.width = Math.max(pct(s.end_time) - pct(s.start_time), 0.2) + '%';\n"
    "        b.style.top = '0px';\n"
    "        b.title = (s.name || 'process') + ' ' + fmtMs(durMs(s));\n"
    "      });\n"
    "      g.spans.forEach(function (s) {\n"
    "        var l = 0;\n"
    "        while (l < lanesEnd.length && lanesEnd[l] > s.start_time) l++;\n"
    "        lanesEnd[l] = Math.max(s.end_time, s.start_time + 1);\n"
    "        var kind = s.kind === 'llm' || s.kind === 'tool' ? s.kind : 'other';\n"
    "        var b = add(lane, el(kind === 'other' ? 'div' : 'a', 'bar ' + kind + (isErr(s) ? ' error' : ''),\n"
    "          kind === 'llm' ? model(s) : (s.name || s.kind)));\n"
    "        if (kind !== 'other') b.href = '#card-' + s.span_id;\n"
    "        b.setAttribute('data-span', s.span_id);\n"
    "        b.style.left = pct(s.start_time) + '%';\n"
    "        b.style.width = Math.max(pct(s.end_time) - pct(s.start_time), 0.3) + '%';\n"
    "        b.style.top = (top0 + l * 19) + 'px';\n"
    "        b.title = (s.name || s.kind) + ' - ' + fmtMs(durMs(s)) + (isErr(s) ? ' - ' + (s.error || 'error') : '');\n"
    "      });\n"
    "      lane.style.height = (top0 + Math.max(lanesEnd.length, 1) * 19) + 'px';\n"
    "    });\n"
    "    var lg = add(panel, el('div', 'legend'));\n"
    "    [['LLM call', 'var(--llm)'], ['tool', 'var(--tool)'], ['process', 'var(--proc)'], ['error', 'var(--err)']]\n"
    "      .forEach(function (x) { add(lg, el('i')).style.background = x[1]; lg.appendChild(document.createTextNode(x[0])); });\n"
    "  }\n"
    "\n"
    "  function costChart(sec, spans) {\n"
    "    add(sec, el('h2', null, 'Cost by model'));\n"
    "    var panel = add(sec, el('div', 'panel'));\n"
    "    var by = {}, rows = [];\n"
    "    spans.forEach(function (s) {\n"
    "      if (s.kind !== 'llm') return;\n"
    "      var m = s.response_model || s.request_model || '(unknown model)';\n"
    "      if (!by[m]) { by[m] = { model: m, cost: 0, calls: 0, unknown: 0 }; rows.push(by[m]); }\n"
    "      by[m].calls++;\n"
    "      if (s.cost_known) by[m].cost += s.cost_usd; else by[m].unknown++;\n"
    "    });\n"
    "    if (!rows.length) { add(panel, el('div', 'muted', 'no LLM calls')); return; }\n"
    "    rows.sort(function (a, b) { return b.cost - a.cost || b.calls - a.calls; });\n"
    "    var max = Math.max.apply(null, rows.map(function (r) { return r.cost; })) || 1;\n"
    "    var NS = 'http://www.w3.org/2000/svg', W = 900, RH = 26;\n"
    "    var svg = document.createElementNS(NS, 'svg');\n"
    "    svg.setAttribute('class', 'chart');\n"
    "    svg.setAttribute('viewBox', '0 0 ' + W + ' ' + rows.length * RH);\n"
    "    svg.setAttribute('width', '100%');\n"
    "    svg.setAttribute('height', String(rows.length * RH));\n"
    "    svg.setAttribute('preserveAspectRatio', 'xMinYMin meet');\n"
    "    rows.forEach(function (r, i) {\n"
    "      var g = document.createElementNS(NS, 'g');\n"
    "      g.setAttribute('class', 'cost-row');\n"
    "      g.setAttribute('data-model', r.model);\n"
    "      var tl = document.createElementNS(NS, 'text');\n"
    "      tl.setAttribute('x', '0'); tl.setAttribute('y', String(i * RH + 17));\n"
    "      tl.textContent = r.model;\n"
    "      var rect = document.createElementNS(NS, 'rect');\n"
    "      rect.setAttribute('class', 'b');\n"
    "      rect.setAttribute('x', '240'); rect.setAttribute('y', String(i * RH + 4));\n"
    "      rect.setAttribute('height', '18');\n"
    "      rect.setAttribute('width', String(Math.max(r.cost / max * (W - 460), 1)));\n"
    "      var tv = document.createElementNS(NS, 'text');\n"
    "      tv.setAttribute('x', String(250 + Math.max(r.cost / max * (W - 460), 1)));\n"
    "      tv.setAttribute('y', String(i * RH + 17));\n"
    "      tv.textContent = fmtCost(r.cost) + (r.unknown ? '+?' : '') + '  (' + r.calls + ' call' + (r.calls === 1 ? '' : 's') + ')';\n"
    "      g.appendChild(tl); g.appendChild(rect); g.appendChild(tv);\n"
    "      svg.appendChild(g);\n"
    "    });\n"
    "    panel.appendChild(svg);\n"
    "  }\n"
    "\n"
    "  function tree(sec, t, spans) {\n"
    "    add(sec, el('h2', null, 'Span tree'));\n"
    "    var panel = add(sec, el('div', 'panel'));\n"
    "    var nodes = {}, root = { span: null, children: [] };\n"
    "    spans.forEach(function (s) { nodes[s.span_id] = { span: s, children: [] }; });\n"
    "    /* A parent is followed only when the chain reaches the root without a\n"
    "     * loop; anything else (missing parent: the run span, old stores) hangs\n"
    "     * from the root. */\n"
    "    function reachesRoot(s) {\n"
    "      var seen = {}, p = s;\n"
    "      while (p && p.parent_id && nodes[p.parent_id]) {\n"
    "        if (seen[p.span_id]) return false;\n"
    "        seen[p.span_id] = true;\n"
    "        p = nodes[p.parent_id].span;\n"
    "      }\n"
    "      return true;\n"
    "    }\n"
    "    spans.forEach(function (s) {\n"
    "      var n = nodes[s.span_id];\n"
    "      if (s.parent_id && nodes[s.parent_id] && s.parent_id !== s.span_id && reachesRoot(s)) {\n"
    "        n.parent = s.parent_id;\n"
    "        nodes[s.parent_id].children.push(n);\n"
    "      } else {\n"
    "        n.parent = '';\n"
    "        root.children.push(n);\n"
    "      }\n"
    "    });\n"
    "    function row(n) {\n"
    "      var s = n.span, r = el('span', 'tree-row');\n"
    "      if (n.conv) {\n"
    "        add(r, el('span', 'badge', 'conversation'));\n"
    "        add(r, el('span', 'mono', n.conv));\n"
    "        add(r, el('span', 'muted', ' ' + n.children.length + ' spans'));\n"
    "        return r;\n"
    "      }\n"
    "      if (!s) {\n"
    "        add(r, el('span', 'badge', 'trace'));\n"
    "        add(r, el('span', 'mono', t.trace_id));\n"
    "        return r;\n"
    "      }\n"
    "      add(r, el('span', 'badge ' + s.kind, s.kind));\n"
    "      var label = s.kind === 'llm' ? (s.name || model(s)) : (s.name || s.kind);\n"
    "      if (s.kind === 'llm' || s.kind === 'tool') {\n"
    "        var a = add(r, el('a', null, label)); a.href = '#card-' + s.span_id;\n"
    "      } else {\n"
    "        add(r, el('span', null, label));\n"
    "      }\n"
    "      var extra = ' ' + fmtMs(durMs(s));\n"
    "      if (s.kind === 'llm') extra += ' \\u00b7 ' + fmtInt(s.input_tokens) + '\\u2192' + fmtInt(s.output_tokens) + ' tok \\u00b7 ' +\n"
    "        (s.cost_known ? fmtCost(s.cost_usd) : '?');\n"
    "      if (s.conversation_id) extra += ' \\u00b7 conv ' + s.conversation_id;\n"
    "      add(r, el('span', 'muted', extra));\n"
    "      if (isErr(s)) add(r, el('span', 'badge error', 'error'));\n"
    "      return r;\n"
    "    }\n"
    "    function start(n) { return n.span ? n.span.start_time : n.start; }\n"
    "    /* Calls of one conversation (2 or more under the same parent) are\n"
    "     * gathered under a conversation node: process -> conversation -> calls. */\n"
    "    function byConversation(children) {\n"
    "      var count = {}, convs = {}, out = [];\n"
    "      children.forEach(function (c) {\n"
    "        var id = c.span && c.span.conversation_id;\n"
    "        if (id) count[id] = (count[id] || 0) + 1;\n"
    "      });\n"
    "      children.forEach(function (c) {\n"
    "        var id = c.span && c.span.conversation_id;\n"
    "        if (!id || count[id] < 2) { out.push(c); return; }\n"
    "        if (!convs[id]) {\n"
    "          convs[id] = { span: null, conv: id, start: c.span.start_time, children: [] };\n"
    "          out.push(convs[id]);\n"
    "        }\n"
    "        convs[id].children.push(c);\n"
    "        convs[id].start = Math.min(convs[id].start, c.span.start_time);\n"
    "      });\n"
    "      return out;\n"
    "    }\n"
    "    function render(n, ul) {\n"
    "      var li = add(ul, el('li', 'tree-node' + (n.span ? ' kind-' + n.span.kind\n"
    "        : n.conv ? ' kind-conversation' : ' kind-trace')));\n"
    "      if (n.conv) li.setAttribute('data-conversation', n.conv);\n"
    "      if (n.span) {\n"
    "        li.setAttribute('data-span', n.span.span_id);\n"
    "        li.setAttribute('data-parent', n.parent);\n"
    "      }\n"
    "      if (!n.children.length) { li.appendChild(row(n)); return; }\n"
    "      var d = add(li, el('details'));\n"
    "      d.open = true;\n"
    "      add(d, el('summary')).appendChild(row(n));\n"
    "      var sub = add(d, el('ul'));\n"
    "      var kids = n.conv ? n.children : byConversation(n.children);\n"
    "      kids.sort(function (a, b) { return start(a) - start(b); });\n"
    "      kids.forEach(function (c) { render(c, sub); });\n"
    "    }\n"
    "    render(root, add(panel, el('ul', 'tree')));\n"
    "  }\n"
    "\n"
    "  function card(list, s, i) {\n"
    "    var c = add(list, el('article', 'card ' + (s.kind === 'tool' ? 'tool' : 'llm') + (isErr(s) ? ' error' : '')));\n"
    "    c.id = 'card-' + s.span_id;\n"
    "    c.setAttribute('data-span', s.span_id);\n"
    "    var h = add(c, el('h3'));\n"
    "    add(h, el('span', 'muted', '#' + i + ' '));\n"
    "    add(h, el('span', null, s.kind === 'tool' ? (s.name || 'tool') : model(s)));\n"
    "    add(h, el('span', null, ' '));\n"
    "    if (s.provider) add(h, el('span', 'badge', s.provider));\n"
    "    add(h, el('span', 'badge st-' + s.status, s.status + (s.http_status ? ' ' + s.http_status : '')));\n"
    "    if (s.stream) add(h, el('span', 'badge', 'stream'));\n"
    "    var m = add(c, el('div', 'metrics'));\n"
    "    function metric(k, v, cls) {\n"
    "      var d = add(m, el('div', cls));\n"
    "      add(d, el('span', null, k));\n"
    "      d.appendChild(document.createTextNode(v));\n"
    "    }\n"
    "    if (s.kind === 'llm') {\n"
    "      metric('tokens in', s.usage_known ? fmtInt(s.input_tokens) : '?', 'm-in');\n"
    "      metric('tokens out', s.usage_known ? fmtInt(s.output_tokens) : '?', 'm-out');\n"
    "      if (s.cache_read_tokens) metric('cache read', fmtInt(s.cache_read_tokens));\n"
    "      if (s.cache_write_tokens) metric('cache write', fmtInt(s.cache_write_tokens));\n"
    "      if (s.reasoning_tokens) metric('reasoning', fmtInt(s.reasoning_tokens));\n"
    "      metric('cost', s.cost_known ? fmtCost(s.cost_usd) : '?', 'm-cost');\n"
    "    }\n"
    "    metric('latency', fmtMs(durMs(s)), 'm-latency');\n"
    "    if (s.kind === 'llm') {\n"
    "      metric('ttft', fmtMs(s.ttft_ms), 'm-ttft');\n"
    "      metric('finish', (s.finish_reasons || []).join(', ') || '-', 'm-finish');\n"
    "    }\n"
    "    metric('process', procKey(s));\n"
    "    if (s.conversation_id) metric('conversation', s.conversation_id);\n"
    "    if (s.error) add(c, el('div', 'errmsg', s.error));\n"
    "    var calls = Array.isArray(s.tool_calls) ? s.tool_calls : [];\n"
    "    if (calls.length) {\n"
    "      var tc = add(c, el('div', 'toolcalls'));\n"
    "      add(tc, el('b', null, calls.length + ' tool call' + (calls.length === 1 ? '' : 's') + ': '));\n"
    "      tc.appendChild(document.createTextNode(calls.map(function (x) { return x && x.name; }).join(', ')));\n"
    "      fold(tc, 'arguments', calls, false);\n"
    "    }\n"
    "    fold(c, s.kind === 'tool' ? 'Call (input)' : 'Request (input)', s.input, false).className = 'io-input';\n"
    "    fold(c, s.kind === 'tool' ? 'Result (output)' : 'Response (output)', s.output, false).className = 'io-output';\n"
    "    if (s.metadata) fold(c, 'Metadata', s.metadata, false);\n"
    "    fold(c, 'All fields', s, false);\n"
    "  }\n"
    "\n"
    "  function renderTrace(app, t) {\n"
    "    var sec = add(app, el('section', 'trace'));\n"
    "    sec.setAttribute('data-trace', t.trace_id);\n"
    "    var head = add(sec, el('div', 'sub mono'));\n"
    "    head.textContent = 'trace ' + t.trace_id +\n"
    "      (t.run ? ' \\u00b7 ' + t.run.command + ' \\u00b7 exit ' + t.run.exit_code : '') +\n"
    "      ' \\u00b7 started ' + new Date(t.totals.start_time / 1e6).toISOString();\n"
    "    var spans = t.spans.slice().sort(function (a, b) { return a.start_time - b.start_time; });\n"
    "    stats(sec, t);\n"
    "    timeline(sec, t, spans);\n"
    "    costChart(sec, spans);\n"
    "    tree(sec, t, spans);\n"
    "    add(sec, el('h2', null, 'Calls'));\n"
    "    var list = add(sec, el('div', 'cards'));\n"
    "    var i = 0;\n"
    "    spans.forEach(function (s) { if (s.kind === 'llm' || s.kind === 'tool') card(list, s, ++i); });\n"
    "    if (!i) add(list, el('div', 'muted', 'no LLM calls in this trace'));\n"
    "  }\n"
    "\n"
    "  var app = document.getElementById('app');\n"
    "  document.getElementById('subtitle').textContent = data.generator + ' \\u00b7 ' + data.traces.length +\n"
    "    ' trace' + (data.traces.length === 1 ? '' : 's') + ' \\u00b7 generated ' + new Date(data.generated_at / 1e6).toISOString();\n"
    "  data.traces.forEach(function (t) { renderTrace(app, t); });\n"
    "  document.body.setAttribute('data-rendered', '1');\n"
    "})();\n"
    "</script>\n"
    "</body>\n"
    "</html>\n";

/* -------------------------------------------------------------- escaping */

int tt_report_json_escape(const char *json, size_t len, struct tt_buf *out)
{
    size_t run = 0;     /* start of the bytes not yet copied */

    for (size_t i = 0; i < len; i++) {
        const char *rep = NULL;
        size_t skip = 1;
        unsigned char c = (unsigned char)json[i];

        if (c == '<')
            rep = "\\u003c";
        else if (c == '>')
            rep = "\\u003e";
        else if (c == '&')
            rep = "\\u0026";
        else if (c == 0xe2 && i + 2 < len && (unsigned char)json[i + 1] == 0x80 &&
                 ((unsigned char)json[i + 2] == 0xa8 || (unsigned char)json[i + 2] == 0xa9)) {
            rep = (unsigned char)json[i + 2] == 0xa8 ? "\\u2028" : "\\u2029";
            skip = 3;
        }
        if (!rep)
            continue;
        int rc = tt_buf_append(out, json + run, i - run);
        if (rc == TT_OK)
            rc = tt_buf_append_str(out, rep);
        if (rc != TT_OK)
            return rc;
        i += skip - 1;
        run = i + 1;
    }
    return tt_buf_append(out, json + run, len - run);
}

int tt_report_html_escape(const char *s, size_t len, struct tt_buf *out)
{
    size_t run = 0;

    for (size_t i = 0; i < len; i++) {
        const char *rep;
        switch (s[i]) {
        case '&': rep = "&amp;"; break;
        case '<': rep = "&lt;"; break;
        case '>': rep = "&gt;"; break;
        case '"': rep = "&quot;"; break;
        case '\'': rep = "&#39;"; break;
        default: continue;
        }
        int rc = tt_buf_append(out, s + run, i - run);
        if (rc == TT_OK)
            rc = tt_buf_append_str(out, rep);
        if (rc != TT_OK)
            return rc;
        run = i + 1;
    }
    return tt_buf_append(out, s + run, len - run);
}

/* Append a template piece, with each "@TITLE@" replaced by the escaped
 * title. */
static int append_template(const char *t, const char *title, struct tt_buf *out)
{
    static const char mark[] = "@TITLE@";
    const char *p;
    int rc;

    while ((p = strstr(t, mark)) != NULL) {
        rc = tt_buf_append(out, t, (size_t)(p - t));
        if (rc == TT_OK)
            rc = tt_report_html_escape(title, strlen(title), out);
        if (rc != TT_OK)
            return rc;
        t = p + sizeof(mark) - 1;
    }
    return tt_buf_append_str(out, t);
}

int tt_report_render(const json_t *doc, const char *title, struct tt_buf *out)
{
    /* 15 significant digits, like export: costs read 0.00036. */
    char *text = json_dumps(doc, JSON_COMPACT | JSON_REAL_PRECISION(15));
    int rc;

    if (!text)
        return TT_ERR_NOMEM;
    rc = append_template(report_head, title, out);
    if (rc == TT_OK)
        rc = tt_report_json_escape(text, strlen(text), out);
    if (rc == TT_OK)
        rc = append_template(report_tail, title, out);
    free(text);
    return rc;
}

/* ------------------------------------------------------------------ data */

/* The trace `report` shows without IDs: the newest, in `ls` order (a run's
 * own start, else its first span's). */
static int last_trace(sqlite3 *db, char *trace)
{
    sqlite3_stmt *q = NULL;
    int rc;

    if (sqlite3_prepare_v2(db,
            "SELECT ids.trace_id FROM"
            " (SELECT trace_id FROM spans UNION SELECT trace_id FROM runs) ids"
            " ORDER BY COALESCE((SELECT start_time FROM runs r"
            "                    WHERE r.trace_id = ids.trace_id),"
            "                   (SELECT MIN(start_time) FROM spans s"
            "                    WHERE s.trace_id = ids.trace_id), 0) DESC,"
            " ids.trace_id LIMIT 1", -1, &q, NULL) != SQLITE_OK)
        return TT_ERR_IO;
    rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        const char *t = (const char *)sqlite3_column_text(q, 0);
        snprintf(trace, 33, "%s", t ? t : "");
        rc = TT_OK;
    } else {
        rc = rc == SQLITE_DONE ? TT_ERR : TT_ERR_IO;
    }
    sqlite3_finalize(q);
    return rc;
}

/* {"command", "start_time", "end_time", "exit_code", "pid"} of the trace's
 * run record, or JSON null. NULL on OOM or a failed query. */
static json_t *run_json(sqlite3 *db, const char *trace)
{
    sqlite3_stmt *q = NULL;
    json_t *r = NULL;

    if (sqlite3_prepare_v2(db, "SELECT command, start_time, end_time, exit_code, pid "
                           "FROM runs WHERE trace_id = ?1", -1, &q, NULL) != SQLITE_OK)
        return NULL;
    sqlite3_bind_text(q, 1, trace, -1, SQLITE_STATIC);
    switch (sqlite3_step(q)) {
    case SQLITE_ROW: {
        const char *c = (const char *)sqlite3_column_text(q, 0);
        r = json_pack("{s:s, s:I, s:I, s:I, s:I}", "command", c ? c : "",
                      "start_time", (json_int_t)sqlite3_column_int64(q, 1),
                      "end_time", (json_int_t)sqlite3_column_int64(q, 2),
                      "exit_code", (json_int_t)(sqlite3_column_type(q, 3) == SQLITE_NULL
                                                    ? -1 : sqlite3_column_int64(q, 3)),
                      "pid", (json_int_t)sqlite3_column_int64(q, 4));
        break;
    }
    case SQLITE_DONE:
        r = json_null();
        break;
    default:
        break;
    }
    sqlite3_finalize(q);
    return r;
}

/* What the stat strip shows, summed the way `show` sums. */
struct totals {
    int64_t calls, input, output, unknown, errors, tools, spans;
    double cost;
    int64_t first, last;
};

static void totals_add(struct totals *t, const struct tt_span *s)
{
    if (t->spans++ == 0 || s->start_time < t->first)
        t->first = s->start_time;
    if (s->end_time > t->last)
        t->last = s->end_time;
    if (s->kind && strcmp(s->kind, "llm") == 0) {
        t->calls++;
        t->input += s->input_tokens;
        t->output += s->output_tokens;
        if (s->cost_known)
            t->cost += s->cost_usd;
        else
            t->unknown++;
    } else if (s->kind && strcmp(s->kind, "tool") == 0) {
        t->tools++;
    }
    if (s->status && strcmp(s->status, "error") == 0)
        t->errors++;
}

/* One trace's object: {"trace_id", "run", "totals", "spans"}. Returns 0,
 * TT_ERR_NOMEM or TT_ERR_IO (query). */
static int trace_json(sqlite3 *db, const char *trace, json_t **out)
{
    sqlite3_stmt *q = NULL;
    json_t *spans = json_array(), *run = run_json(db, trace), *o = NULL;
    struct totals t = { 0 };
    int rc = TT_ERR_NOMEM;

    *out = NULL;
    if (!spans || !run)
        goto out;
    if (sqlite3_prepare_v2(db, "SELECT * FROM spans WHERE trace_id = ?1 "
                           "ORDER BY start_time, span_id", -1, &q, NULL) != SQLITE_OK) {
        rc = TT_ERR_IO;
        goto out;
    }
    sqlite3_bind_text(q, 1, trace, -1, SQLITE_STATIC);
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        struct tt_span s;
        json_t *j;
        if (tt_store_span_from_row(q, &s) != TT_OK) {
            tt_span_clear(&s);
            rc = TT_ERR_NOMEM;
            goto out;
        }
        totals_add(&t, &s);
        j = tt_span_to_json(&s);
        tt_span_clear(&s);
        if (!j || json_array_append_new(spans, j) != 0) {
            rc = TT_ERR_NOMEM;
            goto out;
        }
    }
    if (rc != SQLITE_DONE) {
        rc = TT_ERR_IO;
        goto out;
    }
    /* The run record bounds the trace when there is one: the timeline then
     * shows the time before the first call and after the last. */
    if (json_is_object(run)) {
        int64_t rs = json_integer_value(json_object_get(run, "start_time"));
        int64_t re = json_integer_value(json_object_get(run, "end_time"));
        if (rs > 0 && (t.spans == 0 || rs < t.first))
            t.first = rs;
        if (re > t.last)
            t.last = re;
        if (t.spans == 0 && t.last < t.first)
            t.last = t.first;
    }
    o = json_pack("{s:s, s:O, s:{s:I, s:I, s:I, s:f, s:I, s:I, s:I, s:I, s:I, s:I, s:f}, s:O}",
                  "trace_id", trace, "run", run,
                  "totals", "calls", (json_int_t)t.calls,
                  "input_tokens", (json_int_t)t.input,
                  "output_tokens", (json_int_t)t.output,
                  "cost_usd", t.cost,
                  "cost_unknown_calls", (json_int_t)t.unknown,
                  "errors", (json_int_t)t.errors,
                  "tool_spans", (json_int_t)t.tools,
                  "spans", (json_int_t)t.spans,
                  "start_time", (json_int_t)t.first,
                  "end_time", (json_int_t)t.last,
                  "duration_ms", (double)(t.last - t.first) / 1e6,
                  "spans", spans);
    rc = o ? TT_OK : TT_ERR_NOMEM;
    *out = o;
out:
    sqlite3_finalize(q);
    json_decref(spans);
    json_decref(run);
    return rc;
}

/* ---------------------------------------------------------------- output */

/* Write data to path, mode 0600 whatever was there: a temporary file next
 * to it (mkstemp makes it 0600), renamed over it once complete, so a
 * reader never sees half a page. "-" is stdout. Returns 0 or errno. */
static int write_file(const char *path, const char *data, size_t len)
{
    char tmp[PATH_MAX];
    FILE *f;
    int fd, err = 0;

    if (strcmp(path, "-") == 0) {
        if (fwrite(data, 1, len, stdout) != len || fflush(stdout) != 0)
            return errno ? errno : EIO;
        return 0;
    }
    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path) >= sizeof(tmp))
        return ENAMETOOLONG;
    fd = mkstemp(tmp);
    if (fd < 0)
        return errno;
    f = fdopen(fd, "w");
    if (!f) {
        err = errno;
        close(fd);
        unlink(tmp);
        return err;
    }
    if (fwrite(data, 1, len, f) != len)
        err = errno ? errno : EIO;
    if (fclose(f) != 0 && !err)
        err = errno ? errno : EIO;
    if (!err && rename(tmp, path) != 0)
        err = errno;
    if (err)
        unlink(tmp);
    return err;
}

/* ------------------------------------------------------------ subcommand */

int tt_cli_report_main(int argc, char **argv)
{
    static const struct option opts[] = {
        { "output", required_argument, NULL, 'o' },
        { "db", required_argument, NULL, 'd' },
        { "help", no_argument, NULL, 'h' },
        { 0 },
    };
    const char *dbopt = NULL, *outopt = NULL;
    char traces[REPORT_MAX_TRACES][33], outpath[PATH_MAX], title[128];
    size_t ntraces = 0;
    struct tt_store *st = NULL;
    json_t *doc = NULL, *arr = NULL;
    struct tt_buf page;
    struct timespec now;
    int c, ret, rc;

    tt_buf_init(&page, REPORT_MAX_BYTES);
    opterr = 0;
    optind = 0;
    while ((c = getopt_long(argc, argv, ":o:d:h", opts, NULL)) != -1) {
        switch (c) {
        case 'o': outopt = optarg; break;
        case 'd': dbopt = optarg; break;
        case 'h': fputs(tt_cli_help("report"), stdout); return TT_CLI_EXIT_OK;
        default: return tt_cli_usage_error("report", argv, optind, c);
        }
    }
    if (argc - optind > REPORT_MAX_TRACES) {
        fprintf(stderr, "tokentap report: at most %d traces per report\n",
                REPORT_MAX_TRACES);
        return TT_CLI_EXIT_USAGE;
    }
    ret = tt_cli_open_store_ro("report", dbopt, false, &st);
    if (!st)
        return ret;
    sqlite3 *db = tt_store_db(st);
    if (optind == argc) {
        rc = last_trace(db, traces[0]);
        if (rc == TT_ERR) {
            fprintf(stderr, "tokentap report: no traces yet; trace a program "
                    "with: tokentap run -- CMD\n");
            ret = TT_CLI_EXIT_ERR;
            goto out;
        }
        if (rc != TT_OK) {
            ret = tt_cli_sql_error("report", db);
            goto out;
        }
        ntraces = 1;
    }
    for (int i = optind; i < argc; i++) {
        ret = tt_cli_resolve_id("report", db, argv[i], traces[ntraces]);
        if (ret != TT_CLI_EXIT_OK)
            goto out;
        bool dup = false;
        for (size_t k = 0; k < ntraces; k++)
            dup |= strcmp(traces[k], traces[ntraces]) == 0;
        if (!dup)
            ntraces++;
    }

    clock_gettime(CLOCK_REALTIME, &now);
    arr = json_array();
    doc = json_pack("{s:s, s:I, s:O}", "generator", "tokentap " TT_CLI_VERSION,
                    "generated_at",
                    (json_int_t)now.tv_sec * 1000000000 + (json_int_t)now.tv_nsec,
                    "traces", arr);
    if (!arr || !doc) {
        rc = TT_ERR_NOMEM;
        goto fail;
    }
    for (size_t i = 0; i < ntraces; i++) {
        json_t *t;
        rc = trace_json(db, traces[i], &t);
        if (rc != TT_OK)
            goto fail;
        if (json_array_append_new(arr, t) != 0) {
            rc = TT_ERR_NOMEM;
            goto fail;
        }
    }
    if (ntraces == 1)
        snprintf(title, sizeof(title), "tokentap report - trace %.12s", traces[0]);
    else
        snprintf(title, sizeof(title), "tokentap report - %zu traces", ntraces);
    rc = tt_report_render(doc, title, &page);
    if (rc != TT_OK)
        goto fail;

    if (outopt)
        snprintf(outpath, sizeof(outpath), "%s", outopt);
    else
        snprintf(outpath, sizeof(outpath), "tokentap-report-%.12s.html", traces[0]);
    int err = write_file(outpath, page.data, page.len);
    if (err) {
        fprintf(stderr, "tokentap report: cannot write %s: %s\n", outpath,
                strerror(err));
        ret = TT_CLI_EXIT_ERR;
        goto out;
    }
    if (strcmp(outpath, "-") != 0)
        fprintf(stderr, "tokentap report: wrote %s (%zu trace%s)\n", outpath,
                ntraces, ntraces == 1 ? "" : "s");
    ret = TT_CLI_EXIT_OK;
    goto out;
fail:
    if (rc == TT_ERR_IO)
        (void)tt_cli_sql_error("report", db);
    else
        fprintf(stderr, "tokentap report: %s\n", tt_strerror(rc));
    ret = TT_CLI_EXIT_ERR;
out:
    json_decref(doc);
    json_decref(arr);
    tt_buf_free(&page);
    tt_store_close(st);
    return ret;
}
