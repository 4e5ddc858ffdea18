// ui_render.mjs - for bench/fig_09_ui.py: how long a trace takes to show in
// `tokentap ui`, in Debian's chromium via puppeteer-core (run from
// tests/ui, where it is installed).
//   node ui_render.mjs URL TRACE_ID ROUNDS   ->  {"ms": [...]}
// Each round loads the list, then navigates to #/trace/ID and times until
// the page marks the trace rendered (API fetch, JSON parse and DOM build).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(path.join(process.cwd(), 'package.json'));
const puppeteer = require('puppeteer-core');
const [url, trace, rounds] = process.argv.slice(2);
const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'tt-ui-bench-'));
const browser = await puppeteer.launch({
  executablePath: '/usr/bin/chromium', headless: true, userDataDir: profile,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-dev-shm-usage'],
});
const ms = [];
try {
  const page = await browser.newPage();
  await page.setViewport({ width: 1400, height: 1000 });
  await page.goto(url, { waitUntil: 'load' });
  await page.waitForSelector('body[data-rendered="traces"]', { timeout: 60000 });
  for (let i = 0; i < Number(rounds); i++) {
    await page.evaluate(() => { location.hash = '#/'; });
    await page.waitForSelector('body[data-rendered="traces"]', { timeout: 60000 });
    const t = await page.evaluate((id) => new Promise((resolve) => {
      document.body.removeAttribute('data-rendered');
      const t0 = performance.now();
      const obs = new MutationObserver(() => {
        if (document.body.getAttribute('data-rendered') === 'trace') {
          obs.disconnect();
          // after layout: the frame the user sees
          requestAnimationFrame(() => resolve(performance.now() - t0));
        }
      });
      obs.observe(document.body, { attributes: true });
      location.hash = '#/trace/' + id;
    }), trace);
    ms.push(t);
  }
} finally {
  await browser.close();
  fs.rmSync(profile, { recursive: true, force: true });
}
process.stdout.write(JSON.stringify({ ms }) + '\n');
