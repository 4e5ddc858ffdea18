// screenshots.mjs - the README's pictures of `tokentap ui` (docs/ui-*.png):
//   node tests/ui/screenshots.mjs URL OUTDIR TRACE_ID
// URL as `tokentap ui` prints it; TRACE_ID: the trace to show, with its
// first call expanded. Run from tests/ui (puppeteer-core is installed there).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import puppeteer from 'puppeteer-core';

const [url, out, trace] = process.argv.slice(2);
const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'tt-ui-shots-'));
const browser = await puppeteer.launch({
  executablePath: '/usr/bin/chromium', headless: true, userDataDir: profile,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-dev-shm-usage'],
});
try {
  const page = await browser.newPage();
  await page.setViewport({ width: 1280, height: 800 });
  const ready = (w) => page.waitForSelector(`body[data-rendered="${w}"]`, { timeout: 20000 });
  await page.goto(url, { waitUntil: 'load' });
  await ready('traces');
  await page.screenshot({ path: path.join(out, 'ui-traces.png') });
  await page.evaluate(() => document.body.removeAttribute('data-rendered'));
  await page.evaluate((t) => { location.hash = '#/trace/' + t; }, trace);
  await ready('trace');
  await page.setViewport({ width: 1280, height: 1500 });
  await page.screenshot({ path: path.join(out, 'ui-trace.png') });
  await page.click('details.call summary');
  await page.waitForSelector('details.call[open] .card');
  await (await page.$('details.call[open]')).screenshot({ path: path.join(out, 'ui-call.png') });
  await page.evaluate(() => { document.body.removeAttribute('data-rendered'); location.hash = '#/cost'; });
  await ready('cost');
  await page.setViewport({ width: 1280, height: 1000 });
  await page.screenshot({ path: path.join(out, 'ui-cost.png') });
} finally {
  await browser.close();
  fs.rmSync(profile, { recursive: true, force: true });
}
