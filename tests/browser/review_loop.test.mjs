// review_loop.test.mjs — the whole review loop of issue 17, end to end: the page classifies 16 malaria
// cells with the shipped model, a reviewer goes through them with the keyboard in the large view
// (confirms 14, corrects 2), exports the reviewed set (ZIP); `cellcam finetune models/malaria ZIP` trains
// on it (the corrected labels, not the model's), `cellcam export` makes a model folder whose card names the
// base model and the set, and that folder loads in the page as the user's own model (SHA-256 checked) and
// classifies. Not one request leaves the page's origin.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { strFromU8, unzipSync } from 'fflate';

import { cliPath, dataDir, root, siteDir } from '../node/site.mjs';
import { startSiteAndBrowser } from './site_browser.mjs';

const PORT = 22000 + (process.pid % 1000);
const ORIGIN = `http://127.0.0.1:${PORT}`;
const modelDir = join(root, 'models', 'malaria');
const modelJson = JSON.parse(readFileSync(join(modelDir, 'model.json'), 'utf8'));
const classes = modelJson.classes;
const smoke = join(dataDir, 'train_smoke');

let site;
let browser;
const tmp = mkdtempSync(join(tmpdir(), 'cellcam-loop-'));

before(async () => {
  assert.ok(existsSync(cliPath), `${cliPath} is missing: make native`);
  site = await startSiteAndBrowser(PORT);
  browser = site.browser;
});

after(async () => {
  await site?.close();
  rmSync(tmp, { recursive: true, force: true });
});

function cli(args) {
  const r = spawnSync(cliPath, args, { encoding: 'utf8', timeout: 300_000 });
  return { code: r.status, stderr: r.stderr };
}

const waitDone = (page, n) => page.waitForFunction((k) => document.getElementById('progress-text').textContent.startsWith(`${k} / ${k} done`), n, { timeout: 60000 });

test('classify, review with the keyboard, export the set, finetune on it, load the new model in the page', { timeout: 300000 }, async () => {
  const cells = [];
  for (const cls of ['Parasitized', 'Uninfected'])
    for (const f of readdirSync(join(smoke, cls)).filter((x) => x.endsWith('.png')).sort().slice(0, 8)) cells.push(join(smoke, cls, f));

  const context = await browser.newContext({ viewport: { width: 1366, height: 900 }, acceptDownloads: true });
  const page = await context.newPage();
  const requests = [];
  const errors = [];
  context.on('request', (r) => requests.push(r.url()));
  page.on('pageerror', (e) => errors.push(`pageerror: ${e}`));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(`console: ${m.text()}`); });
  page.on('dialog', (d) => d.accept());
  await page.goto(`${ORIGIN}/?nosw`);
  await page.waitForFunction(() => ['ready', 'failed'].includes(document.body.dataset.engine), null, { timeout: 60000 });
  assert.equal(await page.getAttribute('body', 'data-engine'), 'ready', await page.textContent('#alert-text'));

  // ---- the page classifies; the reviewer confirms all but the first two, which get the other class
  await page.setInputFiles('#pick-files', cells);
  await waitDone(page, cells.length);
  const results = await page.evaluate(() => window.cellcam.records());
  const predicted = results.map((r) => classes.indexOf(r.predicted));
  assert.ok(predicted.every((k) => k >= 0));
  await page.focus('#results .row .thumb-button');
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => document.getElementById('viewer').open);
  for (let i = 0; i < cells.length; ++i) await page.keyboard.press(i < 2 ? String(2 - predicted[i]) : 'c');
  await page.keyboard.press('Escape');
  assert.deepEqual(await page.evaluate(() => window.cellcam.reviews()), { reviewed: 16, confirmed: 14, corrected: 2 });
  const want = new Map(results.map((r, i) => [r.file, classes[i < 2 ? 1 - predicted[i] : predicted[i]]]));

  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#export-zip')]);
  const zip = join(tmp, 'reviewed.zip');
  writeFileSync(zip, readFileSync(await download.path()));
  const manifest = strFromU8(unzipSync(new Uint8Array(readFileSync(zip)))['manifest.csv']).trim().split(/\r?\n/).slice(1).map((l) => l.split(','));
  assert.equal(manifest.length, 16);

  // ---- back into training: the reviewed labels are what it trains on
  const run = join(tmp, 'ft');
  const ft = cli(['finetune', modelDir, zip, '--out', run, '--epochs', '1', '--threads', '2', '--workers', '1']);
  assert.equal(ft.code, 0, ft.stderr);
  assert.match(ft.stderr, /before \/ after/);
  const report = JSON.parse(readFileSync(join(run, 'report.json'), 'utf8'));
  const heldOut = report.finetune.before_after.find((row) => row.images === 'reviewed set, held out');
  assert.ok(heldOut && heldOut.n > 0, JSON.stringify(report.finetune.before_after));
  const data = readFileSync(join(run, 'finetune_data.csv'), 'utf8').trim().split('\n');
  const header = data[0].split(',');
  const [pathCol, labelCol] = [header.indexOf('path'), header.indexOf('label')];
  let corrected = 0;
  for (const line of data.slice(1)) {
    const f = line.split(',');
    const original = results.find((r) => f[pathCol].endsWith(`_${r.file.replace(/[^A-Za-z0-9._-]/g, '_')}`));
    assert.ok(original, f[pathCol]);
    assert.equal(f[labelCol], want.get(original.file), `${original.file}: the reviewed label`);
    if (f[labelCol] !== original.predicted) ++corrected;
  }
  assert.equal(corrected, 2, 'both corrections reach the training data');

  const exported = join(tmp, 'model-reviewed');
  const ex = cli(['export', run, '--out', exported, '--name', 'malaria-reviewed']);
  assert.equal(ex.code, 0, ex.stderr);
  const card = JSON.parse(readFileSync(join(exported, 'model.json'), 'utf8'));
  assert.equal(card.finetuned.base_model.name, modelJson.name);
  assert.equal(card.finetuned.base_model.onnx_sha256, modelJson.onnx.sha256);
  assert.equal(card.finetuned.reviewed_set.review.corrected, 2);

  // ---- the new model in the page, as the user's own: verified, and it classifies
  await page.setInputFiles('#own-model', [join(exported, 'model.onnx'), join(exported, 'model.json')]);
  await page.waitForFunction(() => document.body.dataset.engine === 'ready' && document.getElementById('engine-status').textContent.includes('malaria-reviewed'), null, { timeout: 60000 });
  assert.match(await page.textContent('#model-card'), /malaria-reviewed.*verified/s);
  await page.setInputFiles('#pick-files', join(dataDir, 'malaria', 'parasitized_P61_cell_164.png'));
  await waitDone(page, cells.length + 1);
  const last = (await page.evaluate(() => window.cellcam.records())).at(-1);
  assert.equal(last.error, '');
  assert.match(last.model, /^malaria-reviewed/);
  assert.ok(classes.includes(last.predicted));

  assert.deepEqual(requests.filter((u) => !u.startsWith(`${ORIGIN}/`) && !u.startsWith('blob:') && !u.startsWith('data:')), [], 'no request leaves the origin');
  assert.deepEqual(errors, []);
  await context.close();
});
