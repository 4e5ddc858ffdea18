// browser.mjs - drive Debian's chromium through puppeteer-core against a
// running `tokentap ui`, for tests/integration/test_ui.py.
//
//   node browser.mjs CONFIG.json
//
// CONFIG: {url (with ?token=), base (http://127.0.0.1:PORT), out (dir for
// screenshots), model (to filter by), evil_trace, live_cmd [argv],
// live_env {..}, chromium (path)}. Runs the steps below and prints one JSON
// object with what it saw; test_ui.py asserts on it. Any page error, console
// error or CSP violation is collected in "errors".
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import puppeteer from 'puppeteer-core';

const cfg = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const out = {};
const errors = [];
const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'tt-ui-chromium-'));

const browser = await puppeteer.launch({
  executablePath: cfg.chromium || '/usr/bin/chromium',
  headless: true,
  userDataDir: profile,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--no-first-run',
    '--disable-dev-shm-usage', '--window-size=1400,1000'],
});

async function rendered(page, what) {
  await page.waitForSelector(`body[data-rendered="${what}"]`, { timeout: 15000 });
}

try {
  // 1. No token: refused, and the API too (a page of its own: the
  // refusals are console errors by design).
  const anon = await browser.newPage();
  let r = await anon.goto(cfg.base + '/', { waitUntil: 'load' });
  out.no_token_status = r.status();
  out.no_token_text = await anon.evaluate(() => document.body.innerText);
  r = await anon.goto(cfg.base + '/api/traces', { waitUntil: 'load' });
  out.no_token_api_status = r.status();
  r = await anon.goto(cfg.base + '/?token=wrong-token-0000000000', { waitUntil: 'load' });
  out.bad_token_status = r.status();
  await anon.close();

  const page = await browser.newPage();
  await page.setViewport({ width: 1400, height: 1000 });
  page.on('pageerror', (e) => errors.push('pageerror: ' + e.message));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push('console: ' + m.text());
  });

  // 2. The printed URL: the token becomes a cookie, the list renders.
  r = await page.goto(cfg.url, { waitUntil: 'load' });
  out.url_after_open = page.url();
  out.csp = r.headers()['content-security-policy'] || null;
  await rendered(page, 'traces');
  const rows = async () => page.$$eval('tr.trace-row', (trs) => trs.map((tr) => ({
    trace: tr.getAttribute('data-trace'),
    cells: Array.from(tr.children).map((td) => td.textContent),
    title: tr.children[1].title,
  })));
  out.rows = await rows();
  await page.screenshot({ path: path.join(cfg.out, 'ui-traces.png') });

  // 3. Filter by model.
  await page.waitForSelector(`#f-model option[value="${cfg.model}"]`, { timeout: 10000 });
  await page.select('#f-model', cfg.model);
  await page.evaluate(() => document.body.removeAttribute('data-rendered'));
  await page.click('form.filters button[type="submit"]');
  await rendered(page, 'traces');
  out.filter_hash = await page.evaluate(() => location.hash);
  out.filtered_rows = await rows();

  // 4. Open a trace (the first filtered row), expand its first LLM call.
  await page.evaluate(() => document.body.removeAttribute('data-rendered'));
  await page.click('tr.trace-row td a');
  await rendered(page, 'trace');
  out.trace_hash = await page.evaluate(() => location.hash);
  out.stats = await page.$$eval('.stat', (ss) => ss.map((s) => [s.getAttribute('data-stat'), s.getAttribute('data-value')]));
  out.tree_nodes = await page.$$eval('li.tree-node', (l) => l.length);
  out.timeline_bars = await page.$$eval('.timeline .bar', (l) => l.length);
  await page.click('details.call summary');
  await page.waitForSelector('details.call[open] .card', { timeout: 5000 });
  out.call = await page.$eval('details.call[open]', (d) => ({
    span: d.getAttribute('data-span'),
    chat: Array.from(d.querySelectorAll('.chat .msg')).map((m) => ({
      role: m.querySelector('.role').textContent,
      text: (m.querySelector('.text') || { textContent: '' }).textContent,
      answer: m.classList.contains('answer'),
    })),
    price: (d.querySelector('.price') || { textContent: null }).textContent,
    metrics: Array.from(d.querySelectorAll('.metrics > div')).map((m) => m.textContent),
  }));
  out.conversation_msgs = await page.$$eval('.conversation .msg', (l) => l.length);
  await page.screenshot({ path: path.join(cfg.out, 'ui-trace.png'), fullPage: false });

  // 5. The hostile prompt renders as text.
  await page.evaluate(() => { window.__marker = 'kept'; });
  await page.evaluate(() => document.body.removeAttribute('data-rendered'));
  await page.evaluate((t) => { location.hash = '#/trace/' + t; }, cfg.evil_trace);
  await rendered(page, 'trace');
  await page.click('details.call summary');
  await page.waitForSelector('details.call[open] .card', { timeout: 5000 });
  out.evil = await page.evaluate(() => ({
    pwned: window.__pwned === undefined ? null : window.__pwned,
    title: document.title,
    imgs: document.querySelectorAll('#app img').length,
    scripts: document.querySelectorAll('#app script').length,
    evil_el: !!document.getElementById('evil'),
    texts: Array.from(document.querySelectorAll('details.call[open] .chat .msg .text')).map((t) => t.textContent),
  }));

  // 6. Live: a span stored while the list is open appears without reload.
  await page.evaluate(() => { location.hash = '#/'; });
  await rendered(page, 'traces');
  const before = await page.$$eval('tr.trace-row', (trs) => trs.map((tr) => tr.getAttribute('data-trace')));
  await page.waitForSelector('#live.on', { timeout: 5000 });
  const t0 = Date.now();
  const p = spawnSync(cfg.live_cmd[0], cfg.live_cmd.slice(1), {
    env: Object.assign({}, process.env, cfg.live_env), encoding: 'utf8', timeout: 60000,
  });
  out.live_cmd_rc = p.status;
  out.live_cmd_stderr = (p.stderr || '').slice(-2000);
  const t1 = Date.now();
  await page.waitForFunction((b) => Array.from(document.querySelectorAll('tr.trace-row'))
    .some((tr) => b.indexOf(tr.getAttribute('data-trace')) < 0), { timeout: 15000, polling: 50 }, before);
  const t2 = Date.now();
  out.live = {
    cmd_ms: t1 - t0,
    appeared_after_cmd_ms: t2 - t1,
    marker: await page.evaluate(() => window.__marker || null),
    new_rows: await page.$$eval('tr.trace-row', (trs, b) => trs.map((tr) => tr.getAttribute('data-trace'))
      .filter((t) => b.indexOf(t) < 0), before),
  };

  // 7. Cost page, its chart and the CSV export.
  await page.evaluate(() => { location.hash = '#/cost'; });
  await rendered(page, 'cost');
  out.cost_groups = await page.$$eval('table.groups tbody tr', (trs) => trs.map((tr) => Array.from(tr.children).map((td) => td.textContent)));
  out.cost_bars = await page.$$eval('svg.series rect', (l) => l.length);
  out.unknown_note = await page.$eval('.unknown-models', (n) => n.textContent).catch(() => null);
  const csvHref = await page.$eval('#cost-csv', (a) => a.getAttribute('href'));
  out.csv = await page.evaluate((h) => fetch(h).then((x) => x.text()), csvHref);
  await page.screenshot({ path: path.join(cfg.out, 'ui-cost.png'), fullPage: false });

  out.errors = errors;
} catch (e) {
  out.failed = String(e && e.stack || e);
  out.errors = errors;
} finally {
  await browser.close();
  fs.rmSync(profile, { recursive: true, force: true });
}
process.stdout.write(JSON.stringify(out) + '\n');
