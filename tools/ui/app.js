/* app.js - the tokentap ui page: traces list, a trace, cost; live updates
 * from /api/events. Draws traces with report.js (TTReport) so the report
 * and the ui look alike. The DOM is built with textContent only; nothing
 * from the server becomes markup. Routes are in the fragment, so a link
 * to a trace or a call (#/trace/ID/SPAN) can be shared on this machine. */
(function () {
  'use strict';
  var R = window.TTReport, el = R.el, add = R.add;
  var app = document.getElementById('app');
  var state = { view: null, traceId: null, trace: null, cursors: [], cursor: null, rows: [] };

  window.addEventListener('error', function (e) {
    var box = document.getElementById('js-errors');
    box.textContent += (e.message || 'error') + '\n';
    box.hidden = false;
  });

  function api(path) {
    return fetch(path, { credentials: 'same-origin', headers: { Accept: 'application/json' } })
      .then(function (r) {
        return r.json().catch(function () { return { error: 'HTTP ' + r.status }; }).then(function (j) {
          if (!r.ok) throw new Error(j.error || ('HTTP ' + r.status));
          return j;
        });
      });
  }
  function banner(parent, msg) { return add(parent, el('div', 'banner', msg)); }
  function clear(n) { while (n.firstChild) n.removeChild(n.firstChild); }
  function pad(n) { return (n < 10 ? '0' : '') + n; }
  function fmtTime(ns) {
    var d = new Date(ns / 1e6);
    return d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate()) + ' ' +
      pad(d.getHours()) + ':' + pad(d.getMinutes()) + ':' + pad(d.getSeconds());
  }
  function fmtCostRow(t) {
    if (!t.calls) return '-';
    if (t.cost_unknown_calls === t.calls) return '?';
    return R.fmtCost(t.cost_usd) + (t.cost_unknown_calls ? '+?' : '');
  }
  function parseHash() {
    var h = location.hash.replace(/^#/, '') || '/';
    var q = h.indexOf('?'), path = q < 0 ? h : h.slice(0, q), params = {};
    if (q >= 0) {
      h.slice(q + 1).split('&').forEach(function (kv) {
        if (!kv) return;
        var i = kv.indexOf('=');
        params[decodeURIComponent(i < 0 ? kv : kv.slice(0, i))] = i < 0 ? '' : decodeURIComponent(kv.slice(i + 1));
      });
    }
    return { parts: path.split('/').filter(Boolean), params: params };
  }
  function qs(params) {
    var out = [];
    Object.keys(params).forEach(function (k) {
      if (params[k] !== undefined && params[k] !== null && params[k] !== '')
        out.push(encodeURIComponent(k) + '=' + encodeURIComponent(params[k]));
    });
    return out.length ? '?' + out.join('&') : '';
  }
  function nav(which) {
    ['traces', 'cost'].forEach(function (n) {
      document.getElementById('nav-' + n).classList.toggle('active', n === which);
    });
  }

  /* ------------------------------------------------------------ traces */

  var FILTERS = [
    ['from', 'since', 'select', [['', 'all time'], ['1h', '1 hour'], ['24h', '24 hours'], ['7d', '7 days'], ['30d', '30 days']]],
    ['model', 'model', 'facet'], ['provider', 'provider', 'facet'], ['session', 'session', 'facet'],
    ['tag', 'tag', 'facet'], ['status', 'status', 'select', [['', 'any'], ['ok', 'ok'], ['error', 'error']]],
    ['process', 'process', 'text'], ['q', 'text in prompts/answers', 'text']
  ];
  var COLS = [
    ['start', 'time', null], ['command', 'command'], ['session', 'session'], ['tags', 'tags'],
    ['calls', 'calls', 'num'], ['in', 'tokens in', 'num'], ['out', 'tokens out', 'num'],
    ['cost', 'cost', 'num'], ['errors', 'errors', 'num'], ['duration', 'duration', 'num']
  ];
  var SORTABLE = { start: 1, calls: 1, cost: 1, duration: 1 };

  function tracesView(params) {
    nav('traces');
    state.view = 'traces';
    clear(app);
    var form = add(app, el('form', 'filters'));
    form.setAttribute('data-view', 'traces');
    var inputs = {};
    FILTERS.forEach(function (f) {
      var lab = add(form, el('label', null, f[1]));
      var inp;
      if (f[2] === 'text') {
        inp = add(lab, el('input'));
        inp.type = 'search';
      } else {
        inp = add(lab, el('select'));
        var opts = f[2] === 'select' ? f[3] : [['', 'any']];
        opts.forEach(function (o) { var op = add(inp, el('option', null, o[1])); op.value = o[0]; });
      }
      inp.name = f[0];
      inp.id = 'f-' + f[0];
      inputs[f[0]] = inp;
    });
    var go = add(form, el('button', null, 'Filter'));
    go.type = 'submit';
    var reset = add(form, el('button', null, 'Reset'));
    reset.type = 'button';
    reset.addEventListener('click', function () { location.hash = '#/'; });
    api('/api/facets').then(function (fc) {
      ['model', 'provider', 'session', 'tag'].forEach(function (k) {
        (fc[k] || []).forEach(function (v) {
          var op = add(inputs[k], el('option', null, v));
          op.value = v;
        });
        if (params[k]) inputs[k].value = params[k];
      });
    }).catch(function () {});
    FILTERS.forEach(function (f) { if (params[f[0]]) inputs[f[0]].value = params[f[0]]; });
    form.addEventListener('submit', function (e) {
      e.preventDefault();
      var p = {};
      FILTERS.forEach(function (f) { p[f[0]] = inputs[f[0]].value; });
      p.sort = params.sort;
      p.order = params.order;
      location.hash = '#/' + qs(p);
    });
    var info = add(app, el('div', 'pager'));
    var table = add(app, el('table', 'grid traces'));
    var head = add(add(table, el('thead')), el('tr'));
    var sort = params.sort || 'start', order = params.order || 'desc';
    COLS.forEach(function (c) {
      var th = add(head, el('th', (c[2] || '') + (SORTABLE[c[0]] ? ' sortable' : '') + (sort === c[0] ? ' sorted' : ''),
        c[1] + (sort === c[0] ? (order === 'desc' ? ' \u25BE' : ' \u25B4') : '')));
      if (SORTABLE[c[0]]) {
        th.setAttribute('data-sort', c[0]);
        th.addEventListener('click', function () {
          var p = Object.assign({}, params);
          p.order = sort === c[0] && order === 'desc' ? 'asc' : 'desc';
          p.sort = c[0];
          location.hash = '#/' + qs(p);
        });
      }
    });
    var body = add(table, el('tbody'));
    var pager = add(app, el('div', 'pager'));
    var prev = add(pager, el('button', null, '\u2190 newer'));
    var next = add(pager, el('button', null, 'older \u2192'));
    prev.type = next.type = 'button';
    prev.id = 'page-prev';
    next.id = 'page-next';
    state.cursors = [];
    state.cursor = null;
    state.listParams = params;

    function load(cursor, fresh) {
      var p = {};
      FILTERS.forEach(function (f) { p[f[0]] = params[f[0]]; });
      p.sort = params.sort;
      p.order = params.order;
      p.cursor = cursor;
      return api('/api/traces' + qs(p)).then(function (res) {
        if (state.view !== 'traces') return;
        clear(body);
        res.traces.forEach(function (t) { row(body, t, fresh && fresh.indexOf(t.trace_id) >= 0); });
        if (!res.traces.length)
          add(add(body, el('tr')), el('td', 'muted', 'no traces match')).colSpan = COLS.length;
        state.cursor = cursor;
        state.next = res.next_cursor;
        next.disabled = !res.next_cursor;
        prev.disabled = !state.cursors.length;
        info.textContent = res.traces.length + ' trace' + (res.traces.length === 1 ? '' : 's') +
          (state.cursors.length ? ' (page ' + (state.cursors.length + 1) + ')' : '') +
          (res.next_cursor ? '; more below' : '');
        document.body.setAttribute('data-rendered', 'traces');
      }).catch(function (e) { clear(body); banner(app, e.message); });
    }
    next.addEventListener('click', function () {
      if (!state.next) return;
      state.cursors.push(state.cursor);
      load(state.next);
    });
    prev.addEventListener('click', function () {
      if (!state.cursors.length) return;
      load(state.cursors.pop());
    });
    state.reload = function (fresh) { if (!state.cursors.length) load(null, fresh); };
    load(null);
  }

  function row(body, t, fresh) {
    var tr = add(body, el('tr', 'trace-row' + (fresh ? ' fresh' : '')));
    tr.setAttribute('data-trace', t.trace_id);
    var a = el('a', 'mono', fmtTime(t.start_time));
    a.href = '#/trace/' + t.trace_id;
    add(add(tr, el('td')), a);
    var cmd = add(tr, el('td', 'cmd mono', t.command || '?'));
    cmd.title = (t.command || '') + (t.models && t.models.length ? '\nmodels: ' + t.models.join(', ') : '');
    add(tr, el('td', 'mono', t.session_id || '-'));
    var tags = add(tr, el('td'));
    (t.tags || []).forEach(function (g) { add(tags, el('span', 'badge', g)); });
    add(tr, el('td', 'num', R.fmtInt(t.calls)));
    add(tr, el('td', 'num', R.fmtInt(t.input_tokens)));
    add(tr, el('td', 'num', R.fmtInt(t.output_tokens)));
    add(tr, el('td', 'num', fmtCostRow(t)));
    add(tr, el('td', 'num' + (t.errors ? ' bad' : ''), t.errors ? String(t.errors) : '-'));
    add(tr, el('td', 'num', t.duration_ms === undefined ? '-' : R.fmtMs(t.duration_ms)));
    tr.addEventListener('click', function (e) {
      if (e.target.tagName !== 'A') location.hash = '#/trace/' + t.trace_id;
    });
  }

  /* ------------------------------------------------------------- trace */

  function priceLine(parent, s) {
    var p = s.price;
    var d = add(parent, el('div', 'price'));
    if (!p) {
      d.textContent = s.cost_known ? 'price: (row not found now)' : 'price: unknown model - cost not counted';
      return;
    }
    d.textContent = 'price row: ' + (p.provider || '*') + ' / ' + p.model + ' - $' + p.input +
      ' in, $' + p.output + ' out, $' + p.cache_read + ' cache read, $' + p.cache_write +
      ' cache write per 1M tokens' + (p.override ? ' (your price file)' : '') +
      (p.date ? ' - read ' + p.date : '') + (p.source ? ' - ' + p.source : '');
  }

  function callList(sec, t, spans, openSpan) {
    add(sec, el('h2', null, 'Calls'));
    var list = add(sec, el('div', 'calls'));
    var i = 0, target = null;
    var calls = spans.filter(function (s) { return s.kind === 'llm' || s.kind === 'tool'; });
    /* Hundreds of calls: the first CALLS_SHOWN, the rest on demand (or
     * when a link names one of them). */
    var CALLS_SHOWN = 200, limit = calls.length > CALLS_SHOWN ? CALLS_SHOWN : calls.length;
    calls.forEach(function (s, k) {
      if (k >= limit && s.span_id === openSpan) limit = calls.length;
    });
    function one(s) {
      var n = ++i;
      var d = add(list, el('details', 'call'));
      d.id = 'call-' + s.span_id;
      d.setAttribute('data-span', s.span_id);
      var sum = add(d, el('summary'));
      add(sum, el('span', 'muted', '#' + n + ' '));
      add(sum, el('span', 'badge ' + s.kind, s.kind));
      add(sum, el('b', null, s.kind === 'tool' ? (s.name || 'tool') : R.model(s)));
      var extra = ' ' + R.fmtMs((s.end_time - s.start_time) / 1e6);
      if (s.kind === 'llm') extra += ' \u00b7 ' + R.fmtInt(s.input_tokens) + '\u2192' + R.fmtInt(s.output_tokens) +
        ' tok \u00b7 ' + (s.cost_known ? R.fmtCost(s.cost_usd) : '?');
      add(sum, el('span', 'muted', extra));
      if (R.isErr(s)) add(sum, el('span', 'badge error', 'error'));
      var link = add(sum, el('a', 'muted', ' link'));
      link.href = '#/trace/' + t.trace_id + '/' + s.span_id;
      var done = false;
      d.addEventListener('toggle', function () {
        if (!d.open || done) return;
        done = true;
        var holder = el('div', 'cards');
        R.card(holder, s, n);
        var card = holder.firstChild;
        if (card && s.kind === 'llm') priceLine(card, s);
        add(d, holder);
      });
      if (openSpan === s.span_id) target = d;
    }
    calls.slice(0, limit).forEach(one);
    if (limit < calls.length) {
      var more = add(sec, el('button', 'calls-more', 'show ' + (calls.length - limit) + ' more calls'));
      more.type = 'button';
      more.addEventListener('click', function () {
        sec.removeChild(more);
        calls.slice(limit).forEach(one);
      });
    }
    if (!i) add(list, el('div', 'muted', 'no LLM calls in this trace'));
    return target;
  }

  /* The agent run as one thread: per conversation, the last call's
   * messages hold the earlier ones; calls without a conversation stand
   * alone. */
  function conversations(sec, spans) {
    var llm = spans.filter(function (s) { return s.kind === 'llm'; });
    if (!llm.length) return;
    add(sec, el('h2', null, 'Conversation'));
    var panel = add(sec, el('div', 'panel conversation'));
    var groups = [], byId = {};
    llm.forEach(function (s) {
      var k = s.conversation_id || ('call-' + s.span_id);
      if (!byId[k]) { byId[k] = { id: s.conversation_id, calls: [] }; groups.push(byId[k]); }
      byId[k].calls.push(s);
    });
    var shown = 0;
    groups.forEach(function (g) {
      if (shown >= 50) return;
      shown++;
      var last = g.calls[g.calls.length - 1];
      var box = add(panel, el('div', 'conv'));
      add(box, el('h3', null, (g.id ? 'conversation ' + g.id : R.model(last)) + ' \u00b7 ' + g.calls.length +
        ' call' + (g.calls.length === 1 ? '' : 's')));
      if (!R.chat(box, last)) add(box, el('div', 'muted', 'no content captured for this call'));
    });
    if (groups.length > shown) add(panel, el('div', 'muted', (groups.length - shown) + ' more conversations in the calls below'));
  }

  function traceView(id, spanId) {
    nav('');
    if (state.view === 'trace' && state.traceId === id && state.trace) {
      openCall(spanId);
      document.body.setAttribute('data-rendered', 'trace');
      return;
    }
    state.view = 'trace';
    state.traceId = id;
    state.trace = null;
    clear(app);
    var back = add(app, el('a', 'muted', '\u2190 traces'));
    back.href = '#/' + qs(state.listParams || {});
    load(spanId);
    function load(openSpan) {
      api('/api/traces/' + encodeURIComponent(id)).then(function (t) {
        if (state.view !== 'trace' || state.traceId !== id) return;
        state.trace = t;
        var keep = app.querySelectorAll('section.trace');
        for (var i = 0; i < keep.length; i++) keep[i].remove();
        renderTrace(t, openSpan);
      }).catch(function (e) { banner(app, e.message); });
    }
    state.reload = function (fresh) { if (fresh && fresh.indexOf(id) >= 0) load(null); };
  }

  function renderTrace(t, openSpan) {
    var sec = add(app, el('section', 'trace'));
    sec.setAttribute('data-trace', t.trace_id);
    var head = add(sec, el('div', 'sub mono'));
    head.textContent = 'trace ' + t.trace_id +
      (t.run ? ' \u00b7 ' + t.run.command + ' \u00b7 exit ' + t.run.exit_code : '') +
      ' \u00b7 started ' + fmtTime(t.totals.start_time);
    var spans = t.spans.slice().sort(function (a, b) { return a.start_time - b.start_time; });
    R.stats(sec, t);
    R.timeline(sec, t, spans);
    R.costChart(sec, spans);
    R.tree(sec, t, spans);
    conversations(sec, spans);
    var target = callList(sec, t, spans, openSpan);
    /* The report's links go to #card-<span>: here they open the call. */
    sec.addEventListener('click', function (e) {
      var a = e.target.closest ? e.target.closest('a') : null;
      if (!a) return;
      var h = a.getAttribute('href') || '';
      if (h.indexOf('#card-') === 0) {
        e.preventDefault();
        location.hash = '#/trace/' + t.trace_id + '/' + h.slice(6);
      }
    });
    document.body.setAttribute('data-rendered', 'trace');
    if (target) openCall(openSpan);
  }

  function openCall(spanId) {
    if (!spanId) return;
    var d = document.getElementById('call-' + spanId);
    if (!d) return;
    d.open = true;
    d.scrollIntoView({ block: 'start' });
  }

  /* -------------------------------------------------------------- cost */

  var PALETTE = ['#3b6fd8', '#d08a16', '#2f9d62', '#9b51e0', '#d43c3c', '#1fa2b8', '#8a94a6', '#c2185b', '#6d8f00'];

  function costView(params) {
    nav('cost');
    state.view = 'cost';
    clear(app);
    var by = params.by || 'model', bucket = params.bucket || 'day', from = params.from || '',
      metric = params.metric || 'cost';
    var form = add(app, el('form', 'filters'));
    form.setAttribute('data-view', 'cost');
    function sel(name, label, opts, val) {
      var lab = add(form, el('label', null, label));
      var s = add(lab, el('select'));
      s.name = name;
      s.id = 'c-' + name;
      opts.forEach(function (o) { var op = add(s, el('option', null, o[1])); op.value = o[0]; });
      s.value = val;
      s.addEventListener('change', submit);
      return s;
    }
    var inputs = {
      by: sel('by', 'by', [['model', 'model'], ['provider', 'provider'], ['process', 'process'], ['session', 'session']], by),
      bucket: sel('bucket', 'per', [['day', 'day'], ['hour', 'hour']], bucket),
      from: sel('from', 'since', [['', 'all time'], ['24h', '24 hours'], ['7d', '7 days'], ['30d', '30 days']], from),
      metric: sel('metric', 'chart', [['cost', 'cost (USD)'], ['tokens', 'tokens']], metric)
    };
    var tagLab = add(form, el('label', null, 'or tag key'));
    var tagIn = add(tagLab, el('input'));
    tagIn.id = 'c-tag';
    tagIn.placeholder = 'e.g. team';
    if (by.indexOf('tag:') === 0) tagIn.value = by.slice(4);
    tagIn.addEventListener('change', submit);
    function submit(e) {
      if (e) e.preventDefault();
      location.hash = '#/cost' + qs({
        by: tagIn.value ? 'tag:' + tagIn.value : inputs.by.value,
        bucket: inputs.bucket.value, from: inputs.from.value, metric: inputs.metric.value
      });
    }
    form.addEventListener('submit', submit);
    var bar = add(app, el('div', 'toolbar'));
    var csv = add(bar, el('a', 'button', 'Export CSV'));
    csv.id = 'cost-csv';
    csv.href = '/api/cost.csv' + qs({ by: by, from: from });
    csv.setAttribute('download', 'tokentap-cost.csv');
    var out = add(app, el('div'));
    function load() {
      api('/api/cost' + qs({ by: by, bucket: bucket, from: from })).then(function (c) {
        if (state.view !== 'cost') return;
        clear(out);
        renderCost(out, c, metric);
        document.body.setAttribute('data-rendered', 'cost');
      }).catch(function (e) { clear(out); banner(out, e.message); });
    }
    state.reload = function () { load(); };
    load();
  }

  function renderCost(out, c, metric) {
    var tot = c.total || {};
    var box = add(out, el('div', 'stats'));
    [['cost', R.fmtCost(tot.cost_usd) + (tot.cost_unknown_calls ? '+?' : '')], ['calls', R.fmtInt(tot.calls)],
      ['tokens in', R.fmtInt(tot.input_tokens)], ['tokens out', R.fmtInt(tot.output_tokens)],
      ['unknown-cost calls', R.fmtInt(tot.cost_unknown_calls)]].forEach(function (it) {
      var d = add(box, el('div', 'stat' + (it[0] === 'unknown-cost calls' && tot.cost_unknown_calls ? ' bad' : '')));
      add(d, el('div', 'v', it[1]));
      add(d, el('div', 'k', it[0]));
    });
    /* Unknown cost has two causes: a model without a price row, and a
     * call that reported no usage (failed, cut short). */
    var unpriced = (c.unknown_cost || []).filter(function (u) { return u.calls > u.no_usage; });
    var nousage = (c.unknown_cost || []).reduce(function (a, u) { return a + u.no_usage; }, 0);
    if (unpriced.length) {
      var n = add(out, el('div', 'note unknown-models'));
      add(n, el('b', null, 'Models with unknown prices (their cost is not counted): '));
      n.appendChild(document.createTextNode(unpriced.map(function (u) {
        var k = u.calls - u.no_usage;
        return u.model + ' (' + k + ' call' + (k === 1 ? '' : 's') + ')';
      }).join(', ')));
      add(n, el('div', 'muted', 'add them to a price file: tokentap pricing --help'));
    }
    if (nousage)
      add(out, el('div', 'note no-usage', nousage + ' call' + (nousage === 1 ? '' : 's') +
        ' reported no token usage (failed or cut short): cost unknown'));
    add(out, el('h2', null, (metric === 'tokens' ? 'Tokens' : 'Cost') + ' per ' + c.bucket + ' by ' + c.by));
    seriesChart(add(out, el('div', 'panel')), c, metric);
    add(out, el('h2', null, 'By ' + c.by));
    var t = add(out, el('table', 'grid groups'));
    var hr = add(add(t, el('thead')), el('tr'));
    [c.by, 'calls', 'tokens in', 'tokens out', 'cache read', 'cache write', 'reasoning', 'cost', 'errors'].forEach(function (h, i) {
      add(hr, el('th', i ? 'num' : null, h));
    });
    var tb = add(t, el('tbody'));
    (c.groups || []).forEach(function (g) {
      var r = add(tb, el('tr'));
      r.setAttribute('data-key', g.key);
      add(r, el('td', 'mono', g.key));
      [R.fmtInt(g.calls), R.fmtInt(g.input_tokens), R.fmtInt(g.output_tokens), R.fmtInt(g.cache_read_tokens),
        R.fmtInt(g.cache_write_tokens), R.fmtInt(g.reasoning_tokens),
        g.cost_unknown_calls === g.calls ? '?' : R.fmtCost(g.cost_usd) + (g.cost_unknown_calls ? '+?' : ''),
        R.fmtInt(g.errors)].forEach(function (v) { add(r, el('td', 'num', v)); });
    });
    if (c.top_traces && c.top_traces.length) {
      add(out, el('h2', null, 'Top traces by cost'));
      var tt = add(out, el('table', 'grid top'));
      var th = add(add(tt, el('thead')), el('tr'));
      ['time', 'command', 'calls', 'tokens', 'cost'].forEach(function (h, i) { add(th, el('th', i > 1 ? 'num' : null, h)); });
      var tbb = add(tt, el('tbody'));
      c.top_traces.forEach(function (x) {
        var r = add(tbb, el('tr', 'trace-row'));
        var a = el('a', 'mono', fmtTime(x.start_time));
        a.href = '#/trace/' + x.trace_id;
        add(add(r, el('td')), a);
        add(r, el('td', 'cmd mono', x.command || '?'));
        add(r, el('td', 'num', R.fmtInt(x.calls)));
        add(r, el('td', 'num', R.fmtInt(x.tokens)));
        add(r, el('td', 'num', fmtCostRow(x)));
      });
    }
  }

  /* Stacked bars per bucket, one colour per key (the 8 biggest; the rest
   * as "other"). */
  function seriesChart(panel, c, metric) {
    var series = c.series || [];
    if (!series.length) { add(panel, el('div', 'muted', 'no LLM calls in this window')); return; }
    var val = function (p) { return metric === 'tokens' ? p.input_tokens + p.output_tokens : p.cost_usd; };
    var keyTot = {}, buckets = [], bIdx = {};
    series.forEach(function (p) {
      keyTot[p.key] = (keyTot[p.key] || 0) + val(p);
      if (!(p.bucket in bIdx)) { bIdx[p.bucket] = buckets.length; buckets.push({ b: p.bucket, parts: {}, sum: 0 }); }
    });
    var keys = Object.keys(keyTot).sort(function (a, b) { return keyTot[b] - keyTot[a]; });
    var top = keys.slice(0, 8), isTop = {};
    top.forEach(function (k) { isTop[k] = true; });
    if (keys.length > 8) top.push('other');
    series.forEach(function (p) {
      var k = isTop[p.key] ? p.key : 'other', b = buckets[bIdx[p.bucket]];
      b.parts[k] = (b.parts[k] || 0) + val(p);
      b.sum += val(p);
    });
    var max = Math.max.apply(null, buckets.map(function (b) { return b.sum; })) || 1;
    var NS = 'http://www.w3.org/2000/svg', W = 900, H = 220, L = 70, B = 40;
    var svg = document.createElementNS(NS, 'svg');
    svg.setAttribute('class', 'chart series');
    svg.setAttribute('viewBox', '0 0 ' + W + ' ' + (H + B));
    svg.setAttribute('width', '100%');
    svg.setAttribute('height', String(H + B));
    function text(x, y, s, anchor) {
      var t = document.createElementNS(NS, 'text');
      t.setAttribute('x', String(x)); t.setAttribute('y', String(y));
      if (anchor) t.setAttribute('text-anchor', anchor);
      t.textContent = s;
      svg.appendChild(t);
    }
    var fmt = function (v) { return metric === 'tokens' ? R.fmtInt(Math.round(v)) : R.fmtCost(v); };
    text(L - 6, 12, fmt(max), 'end');
    text(L - 6, H, fmt(0), 'end');
    var bw = Math.max(Math.min((W - L) / buckets.length - 6, 60), 2);
    buckets.forEach(function (b, i) {
      var x = L + i * ((W - L) / buckets.length) + 3, y = H;
      top.forEach(function (k, ki) {
        var v = b.parts[k] || 0;
        if (!v) return;
        var h = v / max * (H - 16);
        var r = document.createElementNS(NS, 'rect');
        r.setAttribute('x', String(x)); r.setAttribute('y', String(y - h));
        r.setAttribute('width', String(bw)); r.setAttribute('height', String(Math.max(h, 0.5)));
        r.setAttribute('fill', PALETTE[ki % PALETTE.length]);
        r.setAttribute('data-key', k);
        r.setAttribute('data-bucket', b.b);
        var tip = document.createElementNS(NS, 'title');
        tip.textContent = b.b + ' \u00b7 ' + k + ': ' + fmt(v);
        r.appendChild(tip);
        svg.appendChild(r);
        y -= h;
      });
      if (buckets.length <= 16 || i % Math.ceil(buckets.length / 16) === 0)
        text(x + bw / 2, H + 16, b.b.length > 10 ? b.b.slice(5) : b.b, 'middle');
    });
    panel.appendChild(svg);
    var lg = add(panel, el('div', 'legend'));
    top.forEach(function (k, ki) {
      var sw = add(lg, el('span', 'swatch'));
      sw.style.background = PALETTE[ki % PALETTE.length];
      lg.appendChild(document.createTextNode(k + '  '));
    });
  }

  /* ------------------------------------------------------------ router */

  function route() {
    var h = parseHash();
    if (h.parts[0] === 'trace' && h.parts[1]) traceView(h.parts[1], h.parts[2]);
    else if (h.parts[0] === 'cost') costView(h.params);
    else tracesView(h.params);
  }
  window.addEventListener('hashchange', route);

  /* Live: the server says which traces changed; the open view refreshes. */
  var live = document.getElementById('live');
  if (window.EventSource) {
    var es = new EventSource('/api/events');
    es.onopen = function () { live.className = 'live on'; live.textContent = 'live'; };
    es.onerror = function () { live.className = 'live off'; live.textContent = 'reconnecting'; };
    es.addEventListener('update', function (ev) {
      var d;
      try { d = JSON.parse(ev.data); } catch (e) { return; }
      if (state.reload) state.reload(d.traces || []);
    });
  }
  api('/api/status').then(function (s) {
    document.getElementById('store-info').textContent = s.store === 'clickhouse' ? 'ClickHouse ' + s.url :
      s.path + ' \u00b7 ' + R.fmtInt(s.traces) + ' traces';
  }).catch(function () {});
  route();
})();
