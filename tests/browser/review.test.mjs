// review.test.mjs — review and correct (issue 17), in headless Chromium against build/web:
//   - a folder (webkitdirectory picker) and dropped files are classified with the shipped malaria model;
//   - a reviewer goes through them with the keyboard only: c confirms, a digit picks the other class (two
//     corrections), n + typing + Enter adds a note, Enter opens the large view where c confirms and moves on,
//     u undoes, ? shows the keys;
//   - the summary counts reviewed / confirmed / corrected; the CSV keeps its columns in place and appends
//     reviewed_label, reviewed_at, note; texts that would run as formulas are neutralised (file, note);
//     the JSON carries the same fields;
//   - "Export reviewed set": the ZIP (fflate, unzipped here) holds manifest.csv (exact header, one row per
//     reviewed image, labels as model.json's class names, the folder as group), the original bytes of
//     each image and review.json;
//   - kept in the browser (opt-in), the reviews survive a reload;
//   - not one request leaves the page's origin. Screenshots: build/test-artifacts/review-*.png.
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { unzipSync, strFromU8 } from 'fflate';

import { dataDir, root, siteDir } from '../node/site.mjs';
import { startSiteAndBrowser } from './site_browser.mjs';

const PORT = 21000 + (process.pid % 1000);
const ORIGIN = `http://127.0.0.1:${PORT}`;
const artifacts = join(root, 'build', 'test-artifacts');
const modelJson = JSON.parse(readFileSync(join(root, 'models', 'malaria', 'model.json'), 'utf8'));
const classes = modelJson.classes;
const CSV_COLUMNS = ['file', ...classes.map((c) => `p_${c}`), 'predicted', 'review', 'error', 'error_code', 'tiles', 'format', 'width', 'height',
  'model', 'backend', 'model_sha256', 'tta', 'tile', 'tile_above', 'threshold', 'review_low', 'review_high', 'review_cutoff', 'ood_score', 'ood',
  'ood_threshold', 'reviewed_label', 'reviewed_at', 'note'];
const MANIFEST = 'path,label,group,predicted,probability,model,reviewed_at,note';
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

let site;
let browser;
const tmp = mkdtempSync(join(tmpdir(), 'cellcam-review-'));

before(async () => {
  assert.ok(existsSync(join(siteDir, 'vendor', 'fflate.mjs')), `${siteDir} is not built (or without fflate): make site`);
  mkdirSync(artifacts, { recursive: true });
  site = await startSiteAndBrowser(PORT);
  browser = site.browser;
});

after(async () => {
  await site?.close();
  rmSync(tmp, { recursive: true, force: true });
});

// RFC 4180 CSV -> array of arrays.
function parseCsv(text) {
  const rows = [];
  let row = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') { field += '"'; i++; } else if (c === '"') quoted = false; else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') { row.push(field); field = ''; } else if (c === '\n') { row.push(field); rows.push(row); row = []; field = ''; } else if (c !== '\r') field += c;
  }
  if (field !== '' || row.length > 0) { row.push(field); rows.push(row); }
  return rows;
}
const keyed = ([header, ...body]) => body.map((r) => Object.fromEntries(header.map((h, i) => [h, r[i] ?? ''])));

// The entries whose DOS time/date differ between the local header and the central-directory record.
function zipTimeMismatches(bytes) {
  const b = Buffer.from(bytes);
  const eocd = b.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  assert.ok(eocd >= 0, 'end of central directory');
  const bad = [];
  let p = b.readUInt32LE(eocd + 16);
  for (let k = b.readUInt16LE(eocd + 10); k > 0; --k) {
    assert.equal(b.readUInt32LE(p), 0x02014b50, 'central directory record');
    const [nameLen, extraLen, commentLen] = [b.readUInt16LE(p + 28), b.readUInt16LE(p + 30), b.readUInt16LE(p + 32)];
    const name = b.toString('utf8', p + 46, p + 46 + nameLen);
    const local = b.readUInt32LE(p + 42);
    assert.equal(b.readUInt32LE(local), 0x04034b50, `${name}: local header`);
    if (b.readUInt32LE(local + 10) !== b.readUInt32LE(p + 12)) bad.push(name);
    p += 46 + nameLen + extraLen + commentLen;
  }
  return bad;
}

async function download(page, selector) {
  const [d] = await Promise.all([page.waitForEvent('download'), page.click(selector)]);
  return { name: d.suggestedFilename(), bytes: readFileSync(await d.path()) };
}

test('review with the keyboard: counts, CSV/JSON fields, the reviewed-set ZIP, kept across a reload', { timeout: 120000 }, async () => {
  // A folder "slide-A" (4 malaria cells + one with an odd name), and dropped files: a cell named like a
  // formula, two PCam patches (not what the malaria model was trained on).
  const folder = join(tmp, 'slide-A');
  mkdirSync(folder);
  const originals = new Map();  // path in the page -> the file's bytes
  for (const f of ['parasitized_P61_cell_164.png', 'parasitized_P139_cell_157.png', 'uninfected_P61_cell_144.png', 'uninfected_P97_cell_57.png']) {
    copyFileSync(join(dataDir, 'malaria', f), join(folder, f));
    originals.set(`slide-A/${f}`, readFileSync(join(folder, f)));
  }
  copyFileSync(join(dataDir, 'malaria', 'uninfected_P61_cell_144.png'), join(folder, 'odd name (2).png'));
  originals.set('slide-A/odd name (2).png', readFileSync(join(folder, 'odd name (2).png')));
  const formula = join(tmp, '=cmd.png');
  copyFileSync(join(dataDir, 'malaria', 'parasitized_P61_cell_164.png'), formula);
  const dropped = [formula, join(dataDir, 'pcam', 'normal_be4fc728.jpg'), join(dataDir, 'pcam', 'tumour_c0318a09.jpg')];
  for (const p of dropped) originals.set(p.replace(/^.*\//, ''), readFileSync(p));

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
  await page.check('#keep-results');
  assert.equal(await page.isDisabled('#export-zip'), true, 'nothing reviewed: no ZIP');

  await page.setInputFiles('#pick-folder', folder);
  await page.waitForFunction(() => document.getElementById('progress-text').textContent.startsWith('5 / 5 done'), null, { timeout: 60000 });
  await page.evaluate((list) => {
    const dt = new DataTransfer();
    for (const f of list) dt.items.add(new File([Uint8Array.from(atob(f.b64), (c) => c.charCodeAt(0))], f.name));
    document.getElementById('drop').dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
  }, dropped.map((p) => ({ name: p.replace(/^.*\//, ''), b64: readFileSync(p).toString('base64') })));
  await page.waitForFunction(() => document.getElementById('progress-text').textContent.startsWith('8 / 8 done'), null, { timeout: 60000 });

  const before = await page.evaluate(() => window.cellcam.records());
  const paths = before.map((r) => r.file);
  assert.deepEqual(new Set(paths), new Set(originals.keys()));
  const predicted = before.map((r) => classes.indexOf(r.predicted));
  assert.ok(predicted.every((k) => k >= 0));
  const otherDigit = (i) => String(2 - predicted[i]);  // binary: the other class's digit (1-based)
  // The digits are shown next to the class names, which are words (model.json display_names).
  const options = await page.$$eval('#results .row select.pick option', (os) => os.slice(1, 3).map((o) => o.textContent));
  assert.deepEqual(options, classes.map((c, k) => `${k + 1} · ${modelJson.display_names ? modelJson.display_names[k] : c}`));

  // ---- the keyboard only, from the first row of the list
  await page.focus('#results .row .thumb-button');
  await page.keyboard.press('c');                          // row 0 confirmed
  await page.keyboard.press('j');
  await page.keyboard.press(otherDigit(1));                // row 1 corrected
  await page.keyboard.press('n');
  assert.equal(await page.evaluate(() => document.activeElement.classList.contains('note')), true, 'n focuses the note');
  await page.keyboard.type('=SUM(A1) stain?');
  await page.keyboard.press('Enter');
  assert.equal(await page.evaluate(() => document.activeElement.classList.contains('thumb-button')), true, 'Enter in the note comes back to the row');
  await page.keyboard.press('?');
  assert.equal(await page.evaluate(() => document.getElementById('review-help').open), true, '? shows the keys');
  await page.keyboard.press('Escape');
  assert.equal(await page.evaluate(() => document.getElementById('review-help').open), false);
  await page.keyboard.press('j');
  await page.keyboard.press('Enter');                      // the large view of row 2
  await page.waitForFunction(() => document.getElementById('viewer').open);
  const title = () => page.textContent('#viewer-title');
  assert.equal(await title(), paths[2]);
  assert.match(await page.textContent('#viewer-review'), /Enter/, 'the shortcuts are on screen');
  await page.keyboard.press('c');                          // row 2 confirmed, on to row 3
  assert.equal(await title(), paths[3]);
  await page.keyboard.press('u');                          // undone: back on row 2, not reviewed
  assert.equal(await title(), paths[2]);
  assert.equal((await page.evaluate(() => window.cellcam.records()))[2].reviewed_label, '');
  await page.keyboard.press(otherDigit(2));                // row 2 corrected, on to row 3
  assert.equal(await title(), paths[3]);
  await page.keyboard.press('Enter');                      // row 3 confirmed (Enter), on to row 4
  assert.equal(await title(), paths[4]);
  await page.keyboard.press('n');
  await page.keyboard.type('blurry, checked twice');
  await page.keyboard.press('Enter');
  await page.keyboard.press('c');                          // row 4 confirmed with its note, on to row 5
  assert.equal(await title(), paths[5]);
  await page.screenshot({ path: join(artifacts, 'review-viewer.png') });
  await page.keyboard.press('Escape');
  await page.waitForFunction(() => !document.getElementById('viewer').open);

  const counts = await page.evaluate(() => window.cellcam.reviews());
  assert.deepEqual(counts, { reviewed: 5, confirmed: 3, corrected: 2 });
  const shown = await page.$eval('#review-counts', (el) => ({ ...el.dataset, text: el.textContent }));
  assert.equal(shown.reviewed, '5');
  assert.equal(shown.confirmed, '3');
  assert.equal(shown.corrected, '2');
  assert.match(shown.text, /5 reviewed.*3 confirmed.*2 corrected/);
  assert.equal(await page.isDisabled('#export-zip'), false);
  await page.screenshot({ path: join(artifacts, 'review-rows.png'), fullPage: true });

  const expected = (i) => ({
    0: { label: classes[predicted[0]], note: '' }, 1: { label: classes[1 - predicted[1]], note: '=SUM(A1) stain?' },
    2: { label: classes[1 - predicted[2]], note: '' }, 3: { label: classes[predicted[3]], note: '' },
    4: { label: classes[predicted[4]], note: 'blurry, checked twice' },
  }[i] ?? { label: '', note: '' });

  // ---- CSV: the columns in their places, the review appended, formulas neutralised
  const csv = parseCsv((await download(page, '#export-csv')).bytes.toString('utf8'));
  assert.deepEqual(csv[0], CSV_COLUMNS);
  const rows = keyed(csv);
  rows.forEach((r, i) => {
    const e = expected(i);
    assert.equal(r.file, paths[i].startsWith('=') ? `'${paths[i]}` : paths[i]);
    assert.equal(r.reviewed_label, e.label, `row ${i}`);
    assert.equal(r.note, e.note.startsWith('=') ? `'${e.note}` : e.note, `row ${i}`);
    if (e.label) assert.match(r.reviewed_at, ISO); else assert.equal(r.reviewed_at, '');
    for (const c of classes) assert.ok(Number.isFinite(Number(r[`p_${c}`])), 'probabilities stay numbers');
  });
  // ---- JSON: the same fields (not neutralised: JSON is not run by a spreadsheet)
  const json = JSON.parse((await download(page, '#export-json')).bytes.toString('utf8'));
  json.results.forEach((r, i) => {
    assert.equal(r.reviewed_label, expected(i).label);
    assert.equal(r.note, expected(i).note);
    if (expected(i).label) assert.match(r.reviewed_at, ISO);
  });

  // ---- the reviewed set. The page's clock is made to jump 3 s at every Date.now() while the ZIP is written:
  // an entry whose local header and central-directory record read the clock separately then disagree,
  // which libzip (cellcam train/finetune) rejects; every entry must carry one time in both places.
  await page.evaluate(() => { const now = Date.now.bind(Date); let skew = 0; Date.now = () => now() + (skew += 3000); });
  const zip = await download(page, '#export-zip');
  assert.deepEqual(zipTimeMismatches(zip.bytes), [], 'local header and central directory agree on each entry\'s time');
  assert.match(zip.name, /^cellcam-reviewed-\d{8}-\d{6}\.zip$/);
  const files = unzipSync(new Uint8Array(zip.bytes));
  const manifestText = strFromU8(files['manifest.csv']);
  const manifest = parseCsv(manifestText);
  assert.equal(manifestText.split('\r\n')[0], MANIFEST);
  assert.equal(manifest.length, 1 + 5, 'one row per reviewed image');
  const entries = keyed(manifest);
  const model = `${modelJson.name}@${modelJson.version}`;
  entries.forEach((m, n) => {
    const i = n;  // rows 0..4 were reviewed, in the order added
    const name = paths[i].replace(/^.*\//, '').replace(/[^A-Za-z0-9._-]/g, '_');
    assert.equal(m.path, `images/${String(n + 1).padStart(5, '0')}_${name}`);
    assert.equal(m.label, expected(i).label);
    assert.ok(classes.includes(m.label), 'the class name, not the display name');
    assert.equal(m.group, paths[i].includes('/') ? 'slide-A' : '');
    assert.equal(m.predicted, classes[predicted[i]]);
    assert.equal(m.probability, before[i].probabilities[m.predicted].toPrecision(6));
    assert.equal(m.model, model);
    assert.match(m.reviewed_at, ISO);
    assert.equal(m.note, expected(i).note.startsWith('=') ? `'${expected(i).note}` : expected(i).note);
    assert.ok(files[m.path], `${m.path} is in the ZIP`);
    assert.ok(Buffer.from(files[m.path]).equals(originals.get(paths[i])), `${m.path}: the original bytes`);
  });
  assert.equal(Object.keys(files).filter((f) => f.startsWith('images/')).length, 5);
  const review = JSON.parse(strFromU8(files['review.json']));
  assert.equal(review.format, 'cellcam-reviewed-set/1');
  assert.deepEqual(review.model, { name: modelJson.name, version: modelJson.version, sha256: modelJson.onnx.sha256 });
  assert.deepEqual(review.classes, classes);
  assert.match(review.exported_at, ISO);
  assert.deepEqual([review.images, review.confirmed, review.corrected], [5, 3, 2]);

  // ---- kept in the browser: the reviews come back after a reload
  const kept = await page.evaluate(() => window.cellcam.records());
  await page.waitForTimeout(600);  // the last review's write (saved.js writes every 250 ms)
  await page.reload();
  await page.waitForFunction(() => document.body.dataset.restored === '8', null, { timeout: 60000 });
  const restored = await page.evaluate(() => window.cellcam.records());
  const pick = (rs) => rs.map((r) => [r.file, r.reviewed_label, r.reviewed_at, r.note]);
  assert.deepEqual(pick(restored), pick(kept));
  assert.deepEqual(await page.evaluate(() => window.cellcam.reviews()), { reviewed: 5, confirmed: 3, corrected: 2 });
  await page.uncheck('#keep-results');  // deletes what was kept

  assert.deepEqual(requests.filter((u) => !u.startsWith(`${ORIGIN}/`) && !u.startsWith('blob:') && !u.startsWith('data:')), [], 'no request leaves the origin');
  assert.deepEqual(errors, []);
  await context.close();
});
