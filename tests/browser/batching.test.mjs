// batching.test.mjs — how the page feeds its inference worker (issue 20), in headless Chromium against build/web:
//   - 64 cell crops dropped together run in a few ORT runs, not one or two images per run: the worker waits
//     (bounded, ?fill=MS) for fuller batches while the page says more images are coming; the first run
//     does not wait, so the first result comes before the rest are decoded; the worker's counters
//     (window.cellcam.engineStats) say how many runs and waits there were;
//   - ?fill=0 (no waiting) and the default give the same classes and probabilities (batching changes
//     nothing but speed);
//   - with test-time augmentation (8 views per image, made by the decode worker) the same: few runs, the same answers.
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { dataDir } from '../node/site.mjs';
import { startSiteAndBrowser } from './site_browser.mjs';

const PORT = 24000 + (process.pid % 1000);
const cells = ['Parasitized', 'Uninfected'].flatMap((c) => readdirSync(join(dataDir, 'train_smoke', c)).filter((f) => f.endsWith('.png')).sort()
  .slice(0, 32).map((f) => join(dataDir, 'train_smoke', c, f)));

let site;

before(async () => {
  site = await startSiteAndBrowser(PORT);
});

after(async () => {
  await site?.close();
});

// Opens the page, drops the files, waits for every row: { records, stats, firstDone (rows done when the
// first one was), batch sizes }.
async function runPage(query, files) {
  const context = await site.browser.newContext({ viewport: { width: 1366, height: 900 } });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(`${site.origin}/?model=malaria&nosw${query}`);
  await page.waitForFunction(() => ['ready', 'failed'].includes(document.body.dataset.engine), null, { timeout: 120000 });
  assert.equal(await page.evaluate(() => document.body.dataset.engine), 'ready');
  await page.evaluate(() => {
    window.__firstDone = null;
    new MutationObserver(() => {
      if (window.__firstDone === null && document.querySelector('#results .row:not(.pending)'))
        window.__firstDone = document.querySelectorAll('#results .row:not(.pending)').length;
    }).observe(document.getElementById('results'), { subtree: true, childList: true, attributes: true, attributeFilter: ['class'] });
  });
  await page.setInputFiles('#pick-files', files);
  await page.waitForFunction((n) => document.getElementById('progress-text').textContent.startsWith(`${n} / ${n} done`), files.length, { timeout: 240000, polling: 200 });
  const out = await page.evaluate(async () => ({
    rows: Array.from({ length: document.querySelectorAll('#results .row').length }, (_, i) => window.cellcam.result(i)),
    timings: window.cellcam.timings(),
    stats: await window.cellcam.engineStats(),
    firstDone: window.__firstDone,
    drawn: [...document.querySelectorAll('#results canvas.thumb')].filter((c) => c.dataset.drawn?.startsWith('overlay')).length,
  }));
  await context.close();
  assert.deepEqual(errors, []);
  return out;
}

const maxDiff = (a, b) => {
  let m = 0;
  for (let i = 0; i < a.rows.length; i++) for (let k = 0; k < a.rows[i].probs.length; k++) m = Math.max(m, Math.abs(a.rows[i].probs[k] - b.rows[i].probs[k]));
  return m;
};

test('64 images dropped together run in a few ORT runs, the first result at once; ?fill=0 gives the same answers', { timeout: 300000 }, async () => {
  // A generous fill wait, so that the batches fill however slow the machine decodes.
  const filled = await runPage('&tta=0&fill=1000', cells);
  const n = cells.length;
  assert.equal(filled.stats.images, n, `the worker counted ${filled.stats.images} images in its runs`);
  const batches = filled.timings.map((t) => t.batch);
  console.log(`fill=1000: ${n} images in ${filled.stats.runs} ORT runs (batch sizes ${[...new Set(batches)].join(', ')}), ` +
    `${filled.stats.waits} waits (${Math.round(filled.stats.waitMs)} ms); ${filled.firstDone} row(s) done at the first result`);
  // One image per run (the page before issue 20 ran 1-2) would be 64 runs; full batches of 32 after a quick first run: 3-4.
  assert.ok(filled.stats.runs <= 6, `${n} images took ${filled.stats.runs} ORT runs`);
  assert.ok(filled.stats.waits >= 1, 'the worker never waited for a fuller batch');
  // The first run does not wait for a full batch: the first result comes with few rows.
  assert.ok(filled.firstDone >= 1 && filled.firstDone < n / 2, `${filled.firstDone} rows were done at the first result`);
  // The page said when no more images were coming: the last batch did not wait out the fill time.
  assert.ok(filled.stats.waitMs < 1000 * filled.stats.waits, 'a wait ran to its end');
  assert.equal(filled.drawn, n, 'not every overlay was drawn');

  const unfilled = await runPage('&tta=0&fill=0', cells);
  assert.equal(unfilled.stats.waits, 0, '?fill=0 waited');
  assert.equal(unfilled.rows.length, n);
  for (let i = 0; i < n; i++) assert.equal(unfilled.rows[i].index, filled.rows[i].index, `row ${i}: another class with ?fill=0`);
  const diff = maxDiff(filled, unfilled);
  console.log(`fill=0: ${unfilled.stats.runs} ORT runs; max abs diff of the probabilities against fill=1000 ${diff.toExponential(2)}`);
  assert.ok(diff <= 1e-5, `probabilities differ by ${diff} between batchings`);
});

test('test-time augmentation: 16 images in a few runs of 8 views each, the answers those of ?fill=0', { timeout: 300000 }, async () => {
  // The views are made by the decode worker (the shared makeInput); page.test.mjs checks TTA against `cellcam predict --tta`.
  const files = cells.filter((_, i) => i % 4 === 0);
  const filled = await runPage('&tta=1&fill=1000', files);
  const unfilled = await runPage('&tta=1&fill=0', files);
  console.log(`TTA: ${files.length} images in ${filled.stats.runs} ORT runs (fill=1000), ${unfilled.stats.runs} (fill=0)`);
  assert.ok(filled.stats.runs <= 4, `${files.length} images took ${filled.stats.runs} ORT runs`);
  for (const r of filled.rows) assert.ok(Number.isFinite(r.viewDisagreement), 'a row without the views\u2019 disagreement');
  const diff = maxDiff(filled, unfilled);
  assert.ok(diff <= 1e-5, `TTA probabilities differ by ${diff} between batchings`);
});
