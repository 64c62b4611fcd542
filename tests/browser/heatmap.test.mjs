// heatmap.test.mjs — the page's heatmap choices, a model folder from disk, and what a screen reader hears
// (issue 17), in headless Chromium against build/web:
//   - the large view says which class a map explains (with its probability), shows the colour scale (the jet
//     table from the wasm module) and says what the colours mean; Grad-CAM / HiResCAM and relative /
//     absolute switch every map without a rerun (for the shipped malaria model HiResCAM equals Grad-CAM, its
//     CAM layer feeding global average pooling: the view says so); on the absolute scale the class a confident answer rules
//     out is drawn without any red, while the relative scale paints the same map red-hot;
//   - a model or ensemble folder picked from disk (webkitdirectory): every member file found by the path
//     model.json names and SHA-256 checked; a changed member is refused, a missing one named;
//   - a batch is announced in a few sentences (start, at most a few progress lines, a summary), not once per
//     image; the progress text and the summary are not live regions;
//   - not one request leaves the origin. Screenshots: build/test-artifacts/heatmap-*.png.
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { dataDir, root, siteDir } from '../node/site.mjs';
import { startSiteAndBrowser } from './site_browser.mjs';

const PORT = 23000 + (process.pid % 1000);
const ORIGIN = `http://127.0.0.1:${PORT}`;
const artifacts = join(root, 'build', 'test-artifacts');
const tmp = mkdtempSync(join(tmpdir(), 'cellcam-heatmap-'));
const cells = ['Parasitized', 'Uninfected'].flatMap((c) => readdirSync(join(dataDir, 'train_smoke', c)).filter((f) => f.endsWith('.png')).sort()
  .slice(0, 6).map((f) => join(dataDir, 'train_smoke', c, f)));
const foreign = readdirSync(join(dataDir, 'pcam')).sort().slice(0, 2).map((f) => join(dataDir, 'pcam', f));

let site;
let browser;

before(async () => {
  mkdirSync(artifacts, { recursive: true });
  site = await startSiteAndBrowser(PORT);
  browser = site.browser;
});

after(async () => {
  await site?.close();
  rmSync(tmp, { recursive: true, force: true });
});

async function openPage(url) {
  const context = await browser.newContext({ viewport: { width: 1366, height: 900 } });
  const page = await context.newPage();
  const log = { requests: [], errors: [] };
  context.on('request', (r) => log.requests.push(r.url()));
  page.on('pageerror', (e) => log.errors.push(`pageerror: ${e}`));
  page.on('console', (m) => { if (m.type() === 'error') log.errors.push(`console: ${m.text()}`); });
  page.on('dialog', (d) => d.accept());
  await page.goto(url);
  await page.waitForFunction(() => ['ready', 'failed'].includes(document.body.dataset.engine), null, { timeout: 60000 });
  return { page, context, log };
}

const offOrigin = (log) => log.requests.filter((u) => !u.startsWith(`${ORIGIN}/`) && !u.startsWith('blob:') && !u.startsWith('data:'));
const waitDone = (page, n) => page.waitForFunction((k) => document.getElementById('progress-text').textContent.startsWith(`${k} / ${k} done`), n, { timeout: 120000 });

// The large view's canvas: the largest red value and a digest of its pixels.
const viewerPixels = (page) => page.evaluate(() => {
  const c = document.getElementById('viewer-canvas');
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let red = 0;
  let sum = 0;
  for (let i = 0; i < d.length; i += 4) {
    red = Math.max(red, d[i]);
    sum = (sum * 31 + d[i] + 7 * d[i + 1] + 13 * d[i + 2]) % 1000000007;
  }
  return { red, sum, drawn: c.dataset.drawn };
});

test('heatmaps: which class, the scale and its legend; Grad-CAM/HiResCAM and relative/absolute switch every map', { timeout: 300000 }, async () => {
  const { page, context, log } = await openPage(`${ORIGIN}/?nosw&tta=0`);
  assert.equal(await page.getAttribute('body', 'data-engine'), 'ready', await page.textContent('#alert-text'));
  // Every text the batch's live region takes, as a screen reader would get it.
  await page.evaluate(() => {
    window.announced = [];
    new MutationObserver(() => window.announced.push(document.getElementById('batch-live').textContent))
      .observe(document.getElementById('batch-live'), { childList: true, characterData: true, subtree: true });
  });
  const files = [...cells, ...foreign];
  await page.setInputFiles('#pick-files', files);
  await waitDone(page, files.length);
  await page.waitForFunction(() => window.announced.length > 0 && / images done/.test(window.announced.at(-1)));
  const announced = await page.evaluate(() => window.announced);
  console.log(`announced for ${files.length} images: ${JSON.stringify(announced)}`);
  assert.ok(announced.length <= 6, `${announced.length} announcements for ${files.length} images`);
  assert.match(announced[0], new RegExp(`^Classifying ${files.length} images\\.$`));
  assert.match(announced.at(-1), new RegExp(`^${files.length} of ${files.length} images done: .*\\d+ (Parasitized|Uninfected|parasitized|uninfected).*; \\d+ to review`, 'i'));
  for (const id of ['progress-text', 'summary']) assert.equal(await page.getAttribute(`#${id}`, 'aria-live'), null, `#${id} is not a live region`);
  assert.equal(await page.getAttribute('#results', 'aria-busy'), null, 'the list is no longer busy');

  // The most confident cell: its other class is ruled out.
  const results = await page.evaluate((n) => Array.from({ length: n }, (_, i) => window.cellcam.result(i)), cells.length);
  assert.ok(results.every((r) => r.hiresCams && r.hiresCams.length === r.cams.length), 'every row keeps its HiResCAM maps');
  // The shipped malaria model's CAM layer feeds global average pooling: the gradient is the same at every
  // position, so HiResCAM equals Grad-CAM (to float precision), and the large view says so.
  const hiresDiff = Math.max(...results.map((r) => Math.max(...r.hiresCams.map((v, i) => Math.abs(v - r.cams[i])))));
  console.log(`HiResCAM vs Grad-CAM over ${results.length} cells: max abs diff ${hiresDiff.toExponential(2)}`);
  assert.ok(hiresDiff < 1e-5);
  const best = results.map((r, i) => ({ i, p: r.probs[r.index] })).sort((a, b) => b.p - a.p)[0];
  assert.ok(best.p > 0.95, `no confident cell among the fixtures (best ${best.p})`);
  const other = 1 - results[best.i].index;

  await page.click(`#results .row:nth-child(${best.i + 1}) .thumb-button`);
  await page.waitForFunction(() => document.getElementById('viewer').open);
  await page.fill('#viewer-alpha', '1');  // the heatmap alone, so its colours can be read back
  await page.dispatchEvent('#viewer-alpha', 'input');
  await page.waitForFunction(() => !document.getElementById('viewer-legend').hidden);
  assert.match(await page.textContent('#viewer-explains'), /^Map explains: Grad-CAM of .+ \(P = 0\.9\d\d\), 8×8 map at features\.\d+$/);
  assert.match(await page.textContent('#viewer-legend-text'), /^Relative scale/);
  assert.equal(await page.getAttribute('#viewer-legend-bar', 'data-drawn'), 'jet');
  const bar = await page.evaluate(() => Array.from(document.getElementById('viewer-legend-bar').getContext('2d').getImageData(0, 0, 256, 1).data));
  assert.deepEqual([bar.slice(0, 3), bar.slice(255 * 4, 255 * 4 + 3)], [[0, 0, 128], [128, 0, 0]], 'the legend runs from jet(0) to jet(1)');
  const gradcam = await viewerPixels(page);

  await page.selectOption('#cam-method', 'hirescam');
  await page.waitForFunction(() => /HiResCAM of/.test(document.getElementById('viewer-explains').textContent));
  assert.match(await page.textContent('#viewer-legend-text'), /HiResCAM draws the same map as Grad-CAM/);
  await page.waitForTimeout(300);
  assert.equal((await viewerPixels(page)).sum, gradcam.sum, 'the same map, the same pixels');

  // The other class's map: red-hot on the relative scale, no red at all on the absolute one.
  await page.selectOption('#viewer-class', String(other));
  await page.waitForFunction((k) => document.getElementById('viewer-canvas').dataset.drawn === `overlay:${k}`, other);
  await page.waitForFunction(() => /HiResCAM of .* \(P = 0\.0\d\d\)/.test(document.getElementById('viewer-explains').textContent));
  await page.waitForTimeout(300);
  const relative = await viewerPixels(page);
  await page.selectOption('#cam-scale', 'absolute');
  await page.waitForFunction(() => /^Absolute scale/.test(document.getElementById('viewer-legend-text').textContent));
  await page.waitForFunction(() => {
    const c = document.getElementById('viewer-canvas');
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    for (let i = 0; i < d.length; i += 4) if (d[i] > 0) return false;
    return true;
  }, null, { timeout: 30000 });
  const absolute = await viewerPixels(page);
  console.log(`ruled-out class (P = ${results[best.i].probs[other].toFixed(4)}): largest red ${relative.red} on the relative scale, ${absolute.red} on the absolute`);
  assert.ok(relative.red >= 100, `the relative scale paints it hot (red ${relative.red})`);
  assert.equal(absolute.red, 0);
  await page.screenshot({ path: join(artifacts, 'heatmap-viewer-absolute.png') });
  // back to the predicted class on the absolute scale: hot where the evidence is (P > 0.95)
  await page.selectOption('#viewer-class', String(results[best.i].index));
  await page.waitForFunction((k) => document.getElementById('viewer-canvas').dataset.drawn === `overlay:${k}`, results[best.i].index);
  await page.waitForFunction(() => {
    const c = document.getElementById('viewer-canvas');
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    for (let i = 0; i < d.length; i += 4) if (d[i] >= 100) return true;
    return false;
  }, null, { timeout: 30000 });
  await page.fill('#viewer-alpha', '0.5');
  await page.dispatchEvent('#viewer-alpha', 'input');
  await page.screenshot({ path: join(artifacts, 'heatmap-viewer-predicted.png') });
  await page.keyboard.press('Escape');
  // Two rows reviewed from the keyboard (confirmed, corrected), so the screenshot shows every kind of row:
  // flagged, reviewed, out of distribution. It is the README's (web/img/page.png).
  await page.focus('#results .row .thumb-button');
  await page.keyboard.press('c');
  await page.focus('#results .row:nth-child(2) .thumb-button');
  await page.keyboard.press(String(2 - results[1].index));
  assert.deepEqual(await page.evaluate(() => window.cellcam.reviews()), { reviewed: 2, confirmed: 1, corrected: 1 });
  await page.screenshot({ path: join(artifacts, 'heatmap-batch.png'), fullPage: true });

  assert.deepEqual(offOrigin(log), [], 'no request leaves the origin');
  assert.deepEqual(log.errors, []);
  await context.close();
});

test('a model or ensemble folder from disk: every member checked by SHA-256; a changed member refused, a missing one named', { timeout: 300000 }, async () => {
  const good = join(tmp, 'my-ensemble');
  cpSync(join(root, 'models', 'malaria-ensemble'), good, { recursive: true });
  const json = JSON.parse(readFileSync(join(good, 'model.json'), 'utf8'));
  const members = json.ensemble.members.map((m) => m.onnx.file);
  writeFileSync(join(good, 'model.json'), JSON.stringify({ ...json, name: 'my-ensemble' }));
  const changed = join(tmp, 'changed-ensemble');
  cpSync(good, changed, { recursive: true });
  const bytes = readFileSync(join(changed, members[1]));
  bytes[bytes.length - 5] ^= 0x01;
  writeFileSync(join(changed, members[1]), bytes);
  const partial = join(tmp, 'partial-ensemble');
  cpSync(good, partial, { recursive: true });
  rmSync(join(partial, members[2]));

  const { page, context, log } = await openPage(`${ORIGIN}/?nosw&tta=0`);
  await page.setInputFiles('#own-folder', good);
  await page.waitForFunction(() => document.body.dataset.engine === 'ready' && document.getElementById('engine-status').textContent.includes('my-ensemble'), null, { timeout: 90000 });
  assert.match(await page.textContent('#model-card'), /my-ensemble.*verified/s);
  assert.match(await page.textContent('#model option[value="__own__"]'), /Your 3-member ensemble: my-ensemble \(my-ensemble\/\)/);
  await page.setInputFiles('#pick-files', cells.slice(0, 3));
  await waitDone(page, 3);
  const rec = await page.evaluate(() => window.cellcam.records());
  assert.ok(rec.every((r) => r.error === '' && /^my-ensemble/.test(r.model)), JSON.stringify(rec.map((r) => [r.model, r.error])));

  await page.setInputFiles('#own-folder', changed);
  await page.waitForFunction(() => document.body.dataset.engine === 'failed', null, { timeout: 90000 });
  assert.match(await page.textContent('#alert-text'), new RegExp(`${members[1].replace(/\//g, '\\/')} does not match model\\.json: its SHA-256 is [0-9a-f]{16}…`));

  await page.setInputFiles('#own-folder', partial);
  await page.waitForFunction((f) => document.getElementById('alert-text').textContent.includes(f), members[2], { timeout: 30000 });
  assert.match(await page.textContent('#alert-text'), /lacks members\/2\/model\.onnx, which its model\.json names/);
  assert.deepEqual(offOrigin(log), [], 'no request leaves the origin');
  assert.deepEqual(log.errors.filter((e) => !/does not match/.test(e)), []);
  await context.close();
});
