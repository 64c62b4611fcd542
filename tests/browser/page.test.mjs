// page.test.mjs — the page in headless Chromium (Debian's, driven by playwright-core), served by
// scripts/serve.mjs from build/web, classifying real fixtures with the shipped model:
//   - a dropped batch (malaria cells, PCam patches, TIFFs, a 2048x1536 image, broken files): classes and
//     probabilities equal `cellcam predict` on the same files (max abs diff <= 1e-4); the large image is
//     cut into tiles and its score is the highest tile's, checked against `cellcam preprocess --tile`
//     tensors run through onnxruntime-node; overlays are drawn; error rows; summary, filter and sort;
//     CSV and JSON export; the large view and keyboard access; not one request outside the page's origin;
//   - a folder picked with "Choose a folder" (non-images skipped, with a message);
//   - the WebGPU backend (--enable-unsafe-webgpu: SwiftShader here, slow) at batch 1 agrees with WASM
//     within 1e-4 (probabilities and normalised Grad-CAM maps); without an adapter the test says so;
//   - the same site from a bare static host (no COOP/COEP) and no service worker (?nosw): single-threaded, same numbers;
//   - the user's own model.onnx + model.json: accepted when the SHA-256 matches, refused when not;
//   - test-time augmentation switched on: equals `cellcam predict --tta`;
//   - the shipped ensemble (several ONNX files, one per member): equals `cellcam predict` on its folder,
//     with the combined Grad-CAM drawn.
//   - settings during a batch (issue 16): TTA clicked mid-batch changes nothing (every control that changes
//     results is locked, with the reason), no row lost to a restarted model; each exported row (CSV and
//     JSON) records the model, backend, TTA and tile settings it used, and the JSON's top level no longer
//     claims one TTA setting for rows that used two.
// Screenshots go to build/test-artifacts/.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { after, before, test } from 'node:test';
import * as ort from 'onnxruntime-node';

import { cliPath, dataDir, loadSite, root, siteDir } from '../node/site.mjs';

const CHROMIUM = process.env.CELLCAM_CHROMIUM ?? '/usr/bin/chromium';
const PORT = 18000 + (process.pid % 1000);
const PLAIN_PORT = PORT + 1000;
const ORIGIN = `http://127.0.0.1:${PORT}`;
const PLAIN_ORIGIN = `http://127.0.0.1:${PLAIN_PORT}`;
const artifacts = join(root, 'build', 'test-artifacts');
const modelDir = join(root, 'models', 'malaria');
const modelJson = JSON.parse(readFileSync(join(modelDir, 'model.json'), 'utf8'));
const BOUND = 1e-4;
// Launch flags: no sandbox (root in CI), and nothing that phones home at start-up.
const BASE_ARGS = ['--no-sandbox', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--disable-default-apps', '--metrics-recording-only'];

const servers = [];
let browser;
const tmp = mkdtempSync(join(tmpdir(), 'cellcam-page-'));

function serve(port, extra = []) {
  const server = spawn(process.execPath, [join(root, 'scripts', 'serve.mjs'), ...extra, siteDir], { env: { ...process.env, PORT: String(port) }, stdio: ['ignore', 'pipe', 'inherit'] });
  servers.push(server);
  return new Promise((resolve, reject) => {
    server.stdout.on('data', (d) => { if (String(d).includes('serving')) resolve(); });
    server.on('exit', (code) => reject(new Error(`serve.mjs exited with ${code}`)));
  });
}

async function launch(args) {
  const { chromium } = await import('playwright-core');
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: [...BASE_ARGS, ...args] });
}

before(async () => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: scripts/setup.sh installs Debian's chromium`);
  assert.ok(existsSync(join(siteDir, 'vendor', 'ort', 'ort.wasm.min.mjs')), `${siteDir} is not built: make site`);
  mkdirSync(artifacts, { recursive: true });
  await Promise.all([serve(PORT), serve(PLAIN_PORT, ['--plain'])]);
  browser = await launch(['--disable-gpu']);
});

after(async () => {
  await browser?.close();
  for (const s of servers) s.kill();
  rmSync(tmp, { recursive: true, force: true });
});

// ---------------------------------------------------------------- helpers
// A page with every request, page error and console error recorded (workers included: context-wide).
async function openPage(b, url, { viewport = { width: 1366, height: 900 } } = {}) {
  const context = await b.newContext({ viewport, acceptDownloads: true });
  const page = await context.newPage();
  const log = { requests: [], errors: [] };
  context.on('request', (r) => log.requests.push(r.url()));
  page.on('pageerror', (e) => log.errors.push(`pageerror: ${e}`));
  page.on('console', (m) => { if (m.type() === 'error') log.errors.push(`console: ${m.text()}`); });
  await page.goto(url);
  await page.waitForFunction(() => ['ready', 'failed'].includes(document.body.dataset.engine), null, { timeout: 120000 });
  return { page, context, log };
}

async function waitDone(page, n, timeout = 180000) {
  await page.waitForFunction((k) => document.getElementById('progress-text').textContent.startsWith(`${k} / ${k} done`), n, { timeout, polling: 200 });
}

// Drops files on the drop zone as a browser would (a DragEvent with a DataTransfer).
async function dropFiles(page, paths) {
  const files = paths.map((p) => ({ name: basename(p), b64: readFileSync(p).toString('base64') }));
  await page.evaluate((list) => {
    const dt = new DataTransfer();
    for (const f of list) dt.items.add(new File([Uint8Array.from(atob(f.b64), (c) => c.charCodeAt(0))], f.name));
    const drop = document.getElementById('drop');
    drop.dispatchEvent(new DragEvent('dragover', { dataTransfer: dt, bubbles: true, cancelable: true }));
    drop.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
  }, files);
}

// RFC 4180 CSV -> array of objects keyed by the header.
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
  const [header, ...body] = rows;
  return body.map((r) => Object.fromEntries(header.map((h, i) => [h, r[i] ?? ''])));
}

async function exportCsv(page) {
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#export-csv')]);
  return readFileSync(await download.path(), 'utf8');
}

function nativePredict(paths, { model = modelDir, extra = [] } = {}) {
  const out = join(tmp, `predict-${Date.now()}.csv`);
  try {
    execFileSync(cliPath, ['predict', model, ...paths, '--out', out, ...extra], { stdio: 'pipe' });
  } catch (e) {
    if (!existsSync(out)) throw e;  // exit 2: some inputs failed, the CSV is still written
  }
  return new Map(parseCsv(readFileSync(out, 'utf8')).map((r) => [basename(r.file), r]));
}

const outsideOrigin = (requests, origin) => requests.filter((u) => !u.startsWith(`${origin}/`) && !u.startsWith('blob:') && !u.startsWith('data:'));

// Compares page CSV rows with `cellcam predict` rows: same class, refer-for-review flag and tile count,
// probabilities within BOUND.
function comparePredictions(pageRows, native, classes) {
  let worst = 0;
  for (const r of pageRows) {
    const n = native.get(r.file);
    assert.ok(n, `${r.file}: no native prediction`);
    assert.equal(n.error, '', `${r.file}: native error ${n.error}`);
    assert.equal(r.predicted, n.predicted, `${r.file}: class`);
    assert.equal(r.review, n.review, `${r.file}: refer for review`);
    assert.equal(r.tiles, n.tiles, `${r.file}: tiles`);
    for (const c of classes) worst = Math.max(worst, Math.abs(Number(r[`p_${c}`]) - Number(n[`p_${c}`])));
  }
  return worst;
}

const classes = modelJson.classes;
const fixtures = (...names) => names.map((n) => join(dataDir, n));
const GOOD = fixtures(
  'malaria/parasitized_P61_cell_164.png', 'malaria/parasitized_P139_cell_157.png', 'malaria/uninfected_P61_cell_144.png',
  'malaria/uninfected_P97_cell_57.png', 'pcam/normal_be4fc728.jpg', 'pcam/normal_c8aa6215.jpg', 'pcam/tumour_c0318a09.jpg',
  'pcam/tumour_cf2dbdae.jpg', 'tiff/rgb16_lzw.tif', 'tiff/palette8_lzw.tif', 'tiff/rgb8_jpeg_ycbcr.tif', 'formats/cell_gray8.png');
const LARGE = join(dataDir, 'formats', 'large_2048x1536.jpg');
const BROKEN = {
  'truncated.png': /truncated PNG/,
  'compression_zstd.tif': /TIFF compression ZSTD is not supported/,
  'text_renamed.png': /not an image/,
  'huge_dims.png': /image 100000x100000 exceeds the 25000 px limit/,
};

// ---------------------------------------------------------------- the main batch
test('a dropped batch: classes and probabilities equal `cellcam predict`, overlays, tiles, errors, export, no request leaves the origin', { timeout: 300000 }, async () => {
  const { page, context, log } = await openPage(browser, `${ORIGIN}/`);
  assert.equal(await page.getAttribute('body', 'data-engine'), 'ready', await page.textContent('#alert-text'));
  const engine = await page.evaluate(() => window.cellcam.engine());
  assert.equal(engine.backend, 'wasm', 'headless Chromium with --disable-gpu has no WebGPU: auto picks WASM');
  assert.match(engine.label, /^WASM SIMD · \d threads?$/);
  assert.equal(await page.evaluate(() => self.crossOriginIsolated), true);
  const cores = await page.evaluate(() => navigator.hardwareConcurrency);
  assert.equal(engine.threads, Math.max(1, Math.min(4, cores - 1)), 'cross-origin isolated: the cores but one');
  assert.match(await page.textContent('#model-card'), /SHA-256 [0-9a-f]{12}… verified/);

  // Keyboard: Enter on the drop zone opens the file picker (the click is caught before a dialog opens).
  const picked = page.evaluate(() => new Promise((resolve) => {
    document.getElementById('pick-files').addEventListener('click', (e) => { e.preventDefault(); resolve(e.target.multiple); }, { once: true });
  }));
  await page.focus('#drop');
  await page.keyboard.press('Enter');
  assert.equal(await picked, true);

  const paths = [...GOOD, LARGE, ...fixtures(...Object.keys(BROKEN).map((f) => `malformed/${f}`))];
  await dropFiles(page, paths);
  await waitDone(page, paths.length);

  const csv = parseCsv(await exportCsv(page));
  assert.equal(csv.length, paths.length);
  assert.deepEqual(csv.map((r) => r.file), paths.map((p) => basename(p)), 'CSV rows in the order added');
  assert.deepEqual(Object.keys(csv[0]).slice(0, 2 + classes.length + 2), ['file', ...classes.map((c) => `p_${c}`), 'predicted', 'review', 'error']);

  // Probabilities and classes against the native CLI (whole images; the large one is tiled below).
  const native = nativePredict(GOOD);
  const good = csv.filter((r) => GOOD.some((p) => basename(p) === r.file));
  const worst = comparePredictions(good, native, classes);
  console.log(`page (WASM) vs cellcam predict: max abs diff ${worst.toExponential(2)} over ${good.length} images`);
  assert.ok(worst <= BOUND, `max abs diff ${worst} > ${BOUND}`);
  for (const r of good) {
    assert.equal(r.error, '');
    assert.equal(r.tiles, '0');
    assert.ok(r.review === 'true' || r.review === 'false');
  }

  // The large image: 64 px tiles (the model's input size), its P(positive) = the highest tile's.
  const large = csv.find((r) => r.file === basename(LARGE));
  const [C, H, W] = modelJson.input.shape.slice(1);
  const tile = Math.max(H, W);
  const tilesDir = join(tmp, 'tiles');
  execFileSync(cliPath, ['preprocess', LARGE, '--spec', join(modelDir, 'model.json'), '--out', tilesDir, '--tile', String(tile), '--stride', String(tile)], { stdio: 'pipe' });
  const npys = readdirSync(tilesDir).filter((f) => /\.tile\d+\.npy$/.test(f));
  assert.equal(Number(large.tiles), npys.length);
  const size = C * H * W;
  const stacked = new Float32Array(npys.length * size);
  npys.forEach((f, k) => {
    const b = readFileSync(join(tilesDir, `large_2048x1536.tile${k}.npy`));
    const payload = b.subarray(10 + b.readUInt16LE(8));
    stacked.set(new Float32Array(payload.buffer.slice(payload.byteOffset, payload.byteOffset + payload.byteLength)), k * size);
  });
  const session = await ort.InferenceSession.create(join(modelDir, 'model.onnx'));
  const out = await session.run({ input: new ort.Tensor('float32', stacked, [npys.length, C, H, W]) });
  let pMax = 0;
  for (let k = 0; k < npys.length; k++) pMax = Math.max(pMax, out.probs.data[k * classes.length + 1]);
  const dLarge = Math.abs(Number(large[`p_${classes[1]}`]) - pMax);
  console.log(`large image: ${large.tiles} tiles, P(${classes[1]}) page ${large[`p_${classes[1]}`]} vs native tiles + onnxruntime-node ${pMax} (diff ${dLarge.toExponential(2)})`);
  assert.ok(dLarge <= BOUND);
  assert.equal(large.predicted, pMax >= modelJson.threshold ? classes[1] : classes[0]);
  // ... and `cellcam predict` tiles it the same way itself: same tiles, class, flag and probabilities.
  const worstLarge = comparePredictions([large], nativePredict([LARGE]), classes);
  console.log(`large image: page vs cellcam predict (both tiled): max abs diff ${worstLarge.toExponential(2)}`);
  assert.ok(worstLarge <= BOUND);
  const largeResult = await page.evaluate((i) => window.cellcam.result(i), GOOD.length);
  let positiveTiles = 0;
  for (let k = 0; k < npys.length; k++) if (out.probs.data[k * classes.length + 1] >= modelJson.threshold) positiveTiles++;
  assert.equal(largeResult.tiles.positive, positiveTiles, 'tiles at or above the threshold');
  assert.equal(largeResult.camWidth, Math.round((2048 * modelJson.cam.width) / tile), 'stitched map: one cell per tile/cam px');
  assert.equal(largeResult.camHeight, Math.round((1536 * modelJson.cam.height) / tile));

  // Broken files: error rows with the decoder's message; the rest of the batch went on.
  for (const [name, pattern] of Object.entries(BROKEN)) {
    const r = csv.find((x) => x.file === name);
    assert.match(r.error, pattern, name);
    assert.equal(r.predicted, '');
    assert.ok(r.error_code.length > 0);
  }
  const rows = await page.$$eval('#results .row', (els) => els.map((el) => ({ error: el.classList.contains('error'), text: el.textContent, drawn: el.querySelector('canvas.thumb')?.dataset.drawn ?? null })));
  assert.equal(rows.length, paths.length);
  assert.equal(rows.filter((r) => r.error).length, Object.keys(BROKEN).length);

  // Overlays: every classified row's thumbnail shows the Grad-CAM of its predicted class, and it is
  // really drawn (many colours, and different from the plain image).
  const okRows = csv.filter((r) => r.error === '');
  for (const [i, r] of okRows.entries()) assert.equal(rows[i].drawn, `overlay:${classes.indexOf(r.predicted)}`, r.file);
  const pixels = () => page.$$eval('#results .row:not(.error) canvas.thumb', (cs) => cs.map((c) => {
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let hash = 0;
    const colours = new Set();
    for (let i = 0; i < d.length; i += 4) { colours.add((d[i] << 16) | (d[i + 1] << 8) | d[i + 2]); hash = (hash * 31 + d[i] + d[i + 1] + d[i + 2]) | 0; }
    return { colours: colours.size, hash };
  }));
  const withCam = await pixels();
  for (const [i, p] of withCam.entries()) assert.ok(p.colours > 50, `${okRows[i].file}: only ${p.colours} colours in the overlay`);
  await page.uncheck('#cam-all');
  await page.waitForFunction(() => [...document.querySelectorAll('#results .row:not(.error) canvas.thumb')].every((c) => c.dataset.drawn === 'image'));
  const plain = await pixels();
  for (const [i, p] of plain.entries()) assert.notEqual(p.hash, withCam[i].hash, `${okRows[i].file}: overlay and image are the same pixels`);
  await page.check('#cam-all');
  // Another class for every image: heatmaps rendered on demand by the shared renderer.
  await page.selectOption('#cam-class-all', '0');
  await page.waitForFunction(() => [...document.querySelectorAll('#results .row:not(.error) canvas.thumb')].every((c) => c.dataset.drawn === 'overlay:0'));
  await page.selectOption('#cam-class-all', 'predicted');

  // Summary, filter and sort.
  const perClass = Object.fromEntries(classes.map((c) => [c, okRows.filter((r) => r.predicted === c).length]));
  const flagged = okRows.filter((r) => r.review === 'true').length;
  const summary = await page.textContent('#summary');
  assert.match(summary, new RegExp(`${okRows.length} classified`));
  for (const c of classes) if (perClass[c] > 0) assert.match(summary, new RegExp(`${c}: ${perClass[c]}`));
  assert.match(summary, new RegExp(`⚑ ${flagged} to review`));
  assert.match(summary, new RegExp(`${Object.keys(BROKEN).length} errors`));
  const visible = () => page.$$eval('#results .row:not([hidden])', (els) => els.map((el) => el.querySelector('.file .name').textContent));
  await page.selectOption('#filter', 'errors');
  await page.waitForFunction((n) => document.querySelectorAll('#results .row:not([hidden])').length === n, Object.keys(BROKEN).length);
  await page.selectOption('#filter', 'review');
  await page.waitForFunction((n) => document.querySelectorAll('#results .row:not([hidden])').length === n, flagged);
  await page.selectOption('#filter', `class:${classes[1]}`);
  await page.waitForFunction((n) => document.querySelectorAll('#results .row:not([hidden])').length === n, perClass[classes[1]]);
  await page.selectOption('#filter', 'all');
  await page.selectOption('#sort', 'score-desc');
  await page.waitForTimeout(300);
  const sorted = await visible();
  const scores = sorted.slice(0, okRows.length).map((f) => Number(csv.find((r) => r.file === f)[`p_${classes[1]}`]));
  assert.deepEqual(scores, [...scores].sort((a, b) => b - a), 'sorted by P(positive), high to low');
  await page.fill('#search', 'pcam-does-not-exist');
  await page.waitForFunction(() => document.querySelectorAll('#results .row:not([hidden])').length === 0);
  await page.fill('#search', '');
  await page.selectOption('#sort', 'order');

  // JSON export carries the model and the same rows.
  const [jsonDownload] = await Promise.all([page.waitForEvent('download'), page.click('#export-json')]);
  const exported = JSON.parse(readFileSync(await jsonDownload.path(), 'utf8'));
  assert.equal(exported.model.sha256, modelJson.onnx.sha256);
  assert.equal(exported.results.length, paths.length);
  assert.equal(exported.results[0].probabilities[classes[1]], Number(csv[0][`p_${classes[1]}`]));

  await page.screenshot({ path: join(artifacts, 'page-batch.png'), fullPage: true });

  // The large view, by keyboard: Enter on a thumbnail opens it, arrows step, Escape closes.
  await page.focus('#results .row:first-child .thumb-button');
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => document.getElementById('viewer').open);
  await page.waitForFunction(() => document.getElementById('viewer-canvas').dataset.drawn?.startsWith('overlay'));
  assert.equal(await page.textContent('#viewer-title'), basename(GOOD[0]));
  await page.$eval('#viewer-alpha', (el) => { el.value = '0.8'; el.dispatchEvent(new Event('input', { bubbles: true })); });
  await page.screenshot({ path: join(artifacts, 'page-viewer.png') });
  await page.keyboard.press('Escape');
  await page.waitForFunction(() => !document.getElementById('viewer').open);
  assert.equal(await page.evaluate(() => document.activeElement.classList.contains('thumb-button')), true, 'focus returns to the thumbnail');
  // The large image's view is capped at 1024 px and carries the stitched heatmap.
  await page.click(`#results .row:nth-child(${GOOD.length + 1}) .thumb-button`);
  await page.waitForFunction(() => document.getElementById('viewer-canvas').dataset.drawn?.startsWith('overlay'));
  assert.deepEqual(await page.$eval('#viewer-canvas', (c) => [c.width, c.height]), [1024, 768]);
  await page.screenshot({ path: join(artifacts, 'page-viewer-large.png') });
  await page.click('#viewer-close');

  assert.deepEqual(outsideOrigin(log.requests, ORIGIN), [], 'requests outside the page origin');
  assert.ok(!log.requests.some((u) => u.includes('weights.pt') || u.endsWith('.map')));
  assert.deepEqual(log.errors, []);
  await context.close();
});

test('a picked folder: images classified, other files skipped with a message', { timeout: 120000 }, async () => {
  const folder = join(tmp, 'cells');
  mkdirSync(folder, { recursive: true });
  for (const f of ['parasitized_P61_cell_164.png', 'uninfected_P61_cell_144.png']) copyFileSync(join(dataDir, 'malaria', f), join(folder, f));
  writeFileSync(join(folder, 'notes.txt'), 'not an image');
  const { page, context, log } = await openPage(browser, `${ORIGIN}/`);
  await page.setInputFiles('#pick-folder', folder);
  await waitDone(page, 2);
  assert.match(await page.textContent('#alert-text'), /1 file in the folder skipped/);
  const csv = parseCsv(await exportCsv(page));
  assert.deepEqual(csv.map((r) => r.file).sort(), ['cells/parasitized_P61_cell_164.png', 'cells/uninfected_P61_cell_144.png']);
  const native = nativePredict(fixtures('malaria/parasitized_P61_cell_164.png', 'malaria/uninfected_P61_cell_144.png'));
  assert.ok(comparePredictions(csv.map((r) => ({ ...r, file: basename(r.file) })), native, classes) <= BOUND);
  assert.deepEqual(outsideOrigin(log.requests, ORIGIN), []);
  assert.deepEqual(log.errors, []);
  await context.close();
});

// ---------------------------------------------------------------- WebGPU
test('WebGPU at batch 1 agrees with WASM within 1e-4 (probabilities and Grad-CAM)', { timeout: 480000 }, async (t) => {
  const files = fixtures('malaria/parasitized_P61_cell_164.png', 'malaria/uninfected_P97_cell_57.png', 'pcam/tumour_c0318a09.jpg');
  const gpuBrowser = await launch(['--enable-unsafe-webgpu']);
  try {
    const results = {};
    for (const backend of ['webgpu', 'wasm']) {
      const { page, context, log } = await openPage(gpuBrowser, `${ORIGIN}/?backend=${backend}&batch=1`);
      const engine = await page.evaluate(() => window.cellcam.engine());
      assert.ok(engine && engine.ok, await page.textContent('#alert-text'));
      if (backend === 'webgpu' && engine.backend !== 'webgpu') {
        await context.close();
        t.skip(`NO WebGPU ADAPTER in this Chromium even with --enable-unsafe-webgpu (${engine.note}): the WebGPU path was NOT tested`);
        return;
      }
      assert.equal(engine.backend, backend);
      if (backend === 'webgpu') console.log(`WebGPU adapter: ${JSON.stringify(engine.adapter)}`);
      await page.setInputFiles('#pick-files', files);
      await waitDone(page, files.length, 400000);
      results[backend] = await page.evaluate((n) => Array.from({ length: n }, (_, i) => window.cellcam.result(i)), files.length);
      if (backend === 'webgpu') await page.screenshot({ path: join(artifacts, 'page-webgpu.png'), fullPage: true });
      assert.deepEqual(outsideOrigin(log.requests, ORIGIN), []);
      assert.deepEqual(log.errors, []);
      await context.close();
    }
    const normalise = (m) => {
      const min = Math.min(...m);
      const max = Math.max(...m.map((v) => v - min));
      return m.map((v) => (v - min) / (max + 1e-7));
    };
    let dp = 0;
    let dc = 0;
    for (let i = 0; i < files.length; i++) {
      const g = results.webgpu[i];
      const w = results.wasm[i];
      assert.ok(g && w, `${files[i]} was not classified`);
      assert.equal(g.index, w.index);
      for (let k = 0; k < g.probs.length; k++) dp = Math.max(dp, Math.abs(g.probs[k] - w.probs[k]));
      const plane = g.camWidth * g.camHeight;
      for (let k = 0; k < g.probs.length; k++) {
        const a = normalise(g.cams.slice(k * plane, (k + 1) * plane));
        const b = normalise(w.cams.slice(k * plane, (k + 1) * plane));
        for (let j = 0; j < plane; j++) dc = Math.max(dc, Math.abs(a[j] - b[j]));
      }
    }
    console.log(`WebGPU vs WASM: probabilities max abs diff ${dp.toExponential(2)}, normalised Grad-CAM ${dc.toExponential(2)}`);
    assert.ok(dp <= BOUND, `probabilities differ by ${dp}`);
    assert.ok(dc <= BOUND, `Grad-CAM maps differ by ${dc}`);
  } finally {
    await gpuBrowser.close();
  }
});

// ---------------------------------------------------------------- a bare static host
// ?nosw: without its service worker (whose headers isolate the page on such a host: offline.test.mjs).
test('from a static host without COOP/COEP: single-threaded, same numbers', { timeout: 120000 }, async () => {
  const { page, context, log } = await openPage(browser, `${PLAIN_ORIGIN}/?nosw`);
  assert.equal(await page.evaluate(() => self.crossOriginIsolated), false);
  const engine = await page.evaluate(() => window.cellcam.engine());
  assert.ok(engine && engine.ok, await page.textContent('#alert-text'));
  assert.equal(engine.threads, 1);
  assert.match(engine.label, /1 thread \(page not cross-origin isolated\)/);
  const files = fixtures('malaria/parasitized_P139_cell_157.png', 'tiff/rgb8_lzw.tif');
  await page.setInputFiles('#pick-files', files);
  await waitDone(page, files.length);
  const csv = parseCsv(await exportCsv(page));
  assert.ok(comparePredictions(csv, nativePredict(files), classes) <= BOUND);
  assert.deepEqual(outsideOrigin(log.requests, PLAIN_ORIGIN), []);
  assert.deepEqual(log.errors, []);
  await context.close();
});

// ---------------------------------------------------------------- the user's own model
test('your own model.onnx + model.json: used when its SHA-256 matches, refused when not', { timeout: 120000 }, async () => {
  const own = join(tmp, 'own');
  const tampered = join(tmp, 'tampered');
  mkdirSync(own, { recursive: true });
  mkdirSync(tampered, { recursive: true });
  copyFileSync(join(modelDir, 'model.onnx'), join(own, 'model.onnx'));
  writeFileSync(join(own, 'model.json'), JSON.stringify({ ...modelJson, name: 'my-malaria' }));
  copyFileSync(join(modelDir, 'model.onnx'), join(tampered, 'model.onnx'));
  writeFileSync(join(tampered, 'model.json'), JSON.stringify({ ...modelJson, onnx: { ...modelJson.onnx, sha256: '0'.repeat(64) } }));

  const { page, context, log } = await openPage(browser, `${ORIGIN}/`);
  await page.setInputFiles('#own-model', [join(own, 'model.onnx'), join(own, 'model.json')]);
  await page.waitForFunction(() => document.body.dataset.engine === 'ready' && document.getElementById('engine-status').textContent.includes('my-malaria'), null, { timeout: 60000 });
  assert.match(await page.textContent('#model-card'), /my-malaria.*from model\.onnx.*verified/s);
  await page.setInputFiles('#pick-files', fixtures('malaria/uninfected_P61_cell_144.png'));
  await waitDone(page, 1);
  const csv = parseCsv(await exportCsv(page));
  assert.equal(csv[0].model, `my-malaria@${modelJson.version}`);
  assert.ok(comparePredictions(csv, nativePredict(fixtures('malaria/uninfected_P61_cell_144.png')), classes) <= BOUND);

  await page.setInputFiles('#own-model', [join(tampered, 'model.onnx'), join(tampered, 'model.json')]);
  await page.waitForFunction(() => document.body.dataset.engine === 'failed', null, { timeout: 60000 });
  assert.match(await page.textContent('#alert-text'), /model\.onnx does not match model\.json: its SHA-256 is [0-9a-f]{16}…, model\.json says 0{16}… \(refused\)/);
  await page.setInputFiles('#pick-files', fixtures('malaria/parasitized_P61_cell_164.png'));
  await waitDone(page, 2);
  assert.match(await page.textContent('#results .row:nth-child(2)'), /not classified: .*does not match/);
  assert.deepEqual(outsideOrigin(log.requests, ORIGIN), []);
  await context.close();
});

// ---------------------------------------------------------------- a multiclass model
// The exporter's golden multiclass case (build/golden, written by CTest golden_fixtures): 5 classes,
// 28x28 input, CAM at full resolution. Given a model.json here, it goes through the page like any
// user's model: five bars per image, argmax, a five-way CAM class selector, overlays drawn.
test('a multiclass model: bars per class, argmax, CAM of any class, same probabilities as onnxruntime-node', { timeout: 120000 }, async (t) => {
  const onnxPath = join(root, 'build', 'golden', 'avg_pool_multiclass', 'model.onnx');
  if (!existsSync(onnxPath)) {
    t.skip(`${onnxPath} is missing: run \`ctest --test-dir build -R golden_fixtures\` (make test does) to test a multiclass model`);
    return;
  }
  const dir = join(tmp, 'multi');
  mkdirSync(dir, { recursive: true });
  const onnx = readFileSync(onnxPath);
  copyFileSync(onnxPath, join(dir, 'model.onnx'));
  const multiClasses = ['basophil', 'eosinophil', 'lymphocyte', 'monocyte', 'neutrophil'];
  const spec = {
    schema_version: 1, name: 'golden-multiclass', version: '0.0.1', head: 'multiclass', classes: multiClasses,
    preprocess: { width: 28, height: 28, resize_filter: 'triangle', aspect: 'crop', color: 'rgb', mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] },
    cam: { layer: 'features.2', width: 28, height: 28, outputs: ['cam', 'hirescam'] },
    onnx: { file: 'model.onnx', sha256: createHash('sha256').update(onnx).digest('hex'), bytes: onnx.length },
    input: { name: 'input', shape: ['N', 3, 28, 28] },
  };
  const text = JSON.stringify(spec);
  writeFileSync(join(dir, 'model.json'), text);
  const files = fixtures('blood/lymphocyte_LY_104129.jpg', 'blood/neutrophil_BNE_106934.jpg', 'malaria/parasitized_P61_cell_164.png');

  const { page, context, log } = await openPage(browser, `${ORIGIN}/`);
  await page.setInputFiles('#own-model', [join(dir, 'model.onnx'), join(dir, 'model.json')]);
  await page.waitForFunction(() => document.body.dataset.engine === 'ready' && document.getElementById('engine-status').textContent.includes('golden-multiclass'), null, { timeout: 60000 });
  assert.match(await page.textContent('#model-card'), /top probability is in \[0\.000, 0\.600\] \(default/);
  await page.setInputFiles('#pick-files', files);
  await waitDone(page, files.length);
  const results = await page.evaluate((n) => Array.from({ length: n }, (_, i) => window.cellcam.result(i)), files.length);

  const { cellcam, UTIF, pipeline } = await loadSite();
  const session = await ort.InferenceSession.create(onnxPath);
  let worst = 0;
  for (const [i, f] of files.entries()) {
    const pre = pipeline.preprocessFile(cellcam, UTIF, new Uint8Array(readFileSync(f)), text, {});
    const out = await session.run({ input: new ort.Tensor('float32', pre.tensor, [1, 3, 28, 28]) });
    const want = Array.from(out.probs.data);
    for (let k = 0; k < 5; k++) worst = Math.max(worst, Math.abs(results[i].probs[k] - want[k]));
    assert.equal(results[i].index, want.indexOf(Math.max(...want)), `${f}: argmax`);
    assert.equal(results[i].cams.length, 5 * 28 * 28);
  }
  console.log(`multiclass page vs onnxruntime-node: max abs diff ${worst.toExponential(2)}`);
  assert.ok(worst <= BOUND);
  assert.equal(await page.$$eval('#results .row:first-child .pbar', (bars) => bars.length), 5);
  assert.equal(await page.$$eval('#results .row:first-child .cam select option', (o) => o.length), 5);
  await page.selectOption('#results .row:first-child .cam select', '3');
  await page.waitForFunction(() => document.querySelector('#results .row:first-child canvas.thumb').dataset.drawn === 'overlay:3');
  const csv = parseCsv(await exportCsv(page));
  assert.deepEqual(Object.keys(csv[0]).slice(0, 6), ['file', ...multiClasses.map((c) => `p_${c}`)]);
  await page.screenshot({ path: join(artifacts, 'page-multiclass.png'), fullPage: true });
  assert.deepEqual(outsideOrigin(log.requests, ORIGIN), []);
  assert.deepEqual(log.errors, []);
  await context.close();
});

// ---------------------------------------------------------------- TTA and ensembles
test('test-time augmentation switched on: the mean of the 8 views equals `cellcam predict --tta`', { timeout: 180000 }, async () => {
  const files = fixtures('malaria/parasitized_P61_cell_164.png', 'malaria/uninfected_P97_cell_57.png', 'malaria/parasitized_P139_cell_157.png',
    'tiff/rgb16_lzw.tif');
  const { page, context, log } = await openPage(browser, `${ORIGIN}/?tta=1`);
  await page.setInputFiles('#pick-files', files);
  await waitDone(page, files.length);
  assert.equal(await page.isChecked('#tta'), true);
  assert.match(await page.textContent('#model-card'), /Test-time augmentation: on/);
  const csv = parseCsv(await exportCsv(page));
  const worst = comparePredictions(csv.map((r) => ({ ...r, file: basename(r.file) })), nativePredict(files, { extra: ['--tta'] }), classes);
  console.log(`page TTA vs cellcam predict --tta: max abs diff ${worst.toExponential(2)}`);
  assert.ok(worst <= BOUND);
  // and it is not the single-view answer
  const single = nativePredict(files);
  const moved = Math.max(...csv.map((r) => Math.abs(Number(r[`p_${classes[1]}`]) - Number(single.get(basename(r.file))[`p_${classes[1]}`]))));
  assert.ok(moved > 1e-3, `TTA moved no probability (${moved})`);
  // Each row also says how much the views disagree (views.js viewDisagreement, as `cellcam eval --tta`).
  const spreads = await page.evaluate((n) => Array.from({ length: n }, (_, i) => window.cellcam.result(i).viewDisagreement), files.length);
  for (const d of spreads) assert.ok(Number.isFinite(d) && d >= 0 && d <= 1, `view disagreement ${d}`);
  assert.ok(Math.max(...spreads) > 1e-4, `the views never disagree (${spreads})`);
  assert.equal((await page.$$('#results .row >> text=/views disagree/')).length, files.length);
  assert.ok(await page.$('#results .row:first-child canvas.thumb'));
  assert.deepEqual(outsideOrigin(log.requests, ORIGIN), []);
  assert.deepEqual(log.errors, []);
  await context.close();
});

const ensembleEntry = JSON.parse(readFileSync(join(root, 'models', 'index.json'), 'utf8')).models
  .find((m) => JSON.parse(readFileSync(join(root, 'models', m.folder, 'model.json'), 'utf8')).ensemble);
test('the shipped ensemble: its members run in the page as `cellcam predict` runs its folder, maps combined', { timeout: 180000, skip: !ensembleEntry && 'models/index.json lists no ensemble' }, async () => {
  const folder = join(root, 'models', ensembleEntry.folder);
  const spec = JSON.parse(readFileSync(join(folder, 'model.json'), 'utf8'));
  const files = fixtures('malaria/parasitized_P61_cell_164.png', 'malaria/uninfected_P97_cell_57.png', 'malaria/parasitized_P139_cell_157.png',
    'malaria/uninfected_P61_cell_144.png', 'formats/cell_gray8.png');
  const { page, context, log } = await openPage(browser, `${ORIGIN}/?model=${ensembleEntry.id}&tta=0`);
  await page.setInputFiles('#pick-files', files);
  await waitDone(page, files.length);
  assert.match(await page.textContent('#model-card'), new RegExp(`An ensemble of ${spec.ensemble.members.length} models`));
  const csv = parseCsv(await exportCsv(page));
  const worst = comparePredictions(csv.map((r) => ({ ...r, file: basename(r.file) })), nativePredict(files, { model: folder }), spec.classes);
  console.log(`page ensemble vs cellcam predict ${ensembleEntry.folder}: max abs diff ${worst.toExponential(2)}`);
  assert.ok(worst <= BOUND);
  const results = await page.evaluate((n) => Array.from({ length: n }, (_, i) => window.cellcam.result(i)), files.length);
  for (const r of results) {
    assert.ok(r.cams && r.cams.length > 0, 'no combined map');
    assert.ok(Number.isFinite(r.disagreement) && r.disagreement >= 0 && r.disagreement <= 1, `disagreement ${r.disagreement}`);
  }
  // every member's file was fetched from the site itself
  for (const m of spec.ensemble.members) assert.ok(log.requests.some((u) => u.endsWith(m.onnx.file)), `${m.onnx.file} not fetched`);
  await page.waitForFunction(() => document.querySelector('#results .row:first-child canvas.thumb')?.dataset.drawn?.startsWith('overlay'));
  await page.screenshot({ path: join(artifacts, 'page-ensemble.png'), fullPage: true });
  assert.deepEqual(outsideOrigin(log.requests, ORIGIN), []);
  assert.deepEqual(log.errors, []);
  await context.close();
});

// ---------------------------------------------------------------- settings during a batch (issue 16)
// A user who toggles test-time augmentation (or any other setting that changes results) while a batch
// runs: the controls are locked (and say why) until the batch ends, so no row is lost to a restarted
// model and every row of the batch ran with the same settings; each exported row says what it used,
// and the JSON's top level claims only what is true of every row.
const LOCKED = ['model', 'backend', 'own-model', 'own-folder', 'tta', 'tile', 'tile-above'];
test('settings that change results are locked during a batch; each exported row records what it used', { timeout: 300000 }, async () => {
  const cells = fixtures('malaria/parasitized_P61_cell_164.png', 'malaria/uninfected_P97_cell_57.png',
    'malaria/parasitized_P139_cell_157.png', 'malaria/uninfected_P61_cell_144.png');
  const dir = join(tmp, 'locked');
  mkdirSync(dir, { recursive: true });
  const paths = [];
  for (let i = 0; i < 120; i++) {
    const p = join(dir, `c${String(i).padStart(3, '0')}_${basename(cells[i % cells.length])}`);
    copyFileSync(cells[i % cells.length], p);
    paths.push(p);
  }
  paths.splice(40, 0, join(dataDir, 'malformed', 'truncated.png'));
  paths.splice(80, 0, join(dataDir, 'malformed', 'text_renamed.png'));
  // batch=1: one run per image, so the batch lasts long enough to be interrupted.
  const { page, context, log } = await openPage(browser, `${ORIGIN}/?tta=0&batch=1`);
  assert.equal(await page.getAttribute('body', 'data-engine'), 'ready', await page.textContent('#alert-text'));
  assert.equal(await page.isChecked('#tta'), false);
  for (const id of LOCKED) assert.equal(await page.isDisabled(`#${id}`), false, `#${id} usable before the batch`);

  await dropFiles(page, paths);
  // Mid-batch: what the controls say, then the user's click on the TTA box (a disabled box ignores it).
  const mid = await page.evaluate(async (ids) => {
    const finished = () => document.querySelectorAll('#results .row:not(.pending)').length;
    const t0 = performance.now();
    while (!(window.cellcam.batch().running && finished() >= 3) && performance.now() - t0 < 60000) await new Promise((r) => setTimeout(r, 2));
    const seen = { running: window.cellcam.batch().running, finished: finished(), total: document.querySelectorAll('#results .row').length };
    seen.controls = Object.fromEntries(ids.map((id) => [id, { disabled: document.getElementById(id).disabled, title: document.getElementById(id).title }]));
    seen.buttons = Object.fromEntries(['clear', 'export-csv', 'export-json', 'stop'].map((id) => [id, document.getElementById(id).disabled]));
    document.getElementById('tta').click();
    seen.ttaAfterClick = document.getElementById('tta').checked;
    return seen;
  }, LOCKED);
  assert.ok(mid.running && mid.finished < mid.total, `the click did not land mid-batch (${mid.finished} of ${mid.total} done)`);
  console.log(`mid-batch: ${mid.finished} of ${mid.total} rows done when TTA was clicked`);
  await waitDone(page, paths.length, 240000);

  const records = await page.evaluate(() => window.cellcam.records());
  const restarted = records.filter((r) => /restarted/.test(r.error));
  assert.equal(restarted.length, 0, `${restarted.length} rows lost to a restarted model (${restarted[0]?.error})`);
  for (const id of LOCKED) {
    assert.equal(mid.controls[id].disabled, true, `#${id} is not locked while the batch runs`);
    assert.match(mid.controls[id].title, /batch/, `#${id}: no word on why it is locked`);
  }
  assert.deepEqual(mid.buttons, { clear: true, 'export-csv': true, 'export-json': true, stop: false });
  assert.equal(mid.ttaAfterClick, false, 'the click changed TTA mid-batch');
  assert.equal(await page.isChecked('#tta'), false);
  for (const id of LOCKED) assert.equal(await page.isDisabled(`#${id}`), false, `#${id} unlocked after the batch`);
  assert.equal(records.filter((r) => r.error_code !== '').length, 2, 'only the two broken files fail');

  // A second batch with TTA switched on between the batches: rows record their own setting.
  await page.check('#tta');
  await page.waitForFunction(() => window.cellcam.engine()?.tta === true, null, { timeout: 120000 });
  const again = fixtures('malaria/parasitized_P61_cell_164.png', 'malaria/uninfected_P97_cell_57.png');
  await dropFiles(page, again);
  await waitDone(page, paths.length + again.length, 120000);

  const [jsonDownload] = await Promise.all([page.waitForEvent('download'), page.click('#export-json')]);
  const exported = JSON.parse(readFileSync(await jsonDownload.path(), 'utf8'));
  const rows = exported.results;
  assert.equal(rows.length, paths.length + again.length);
  const ok = rows.filter((r) => r.error === '');
  for (const r of ok) {
    const second = r.index > paths.length;
    assert.equal(r.tta, second, `${r.file}: tta`);
    // what TTA really did: only rows run as 8 views say how much the views disagree
    assert.equal(Number.isFinite(r.view_disagreement), second, `${r.file}: ran ${second ? 'without' : 'with'} TTA`);
    assert.equal(r.backend, 'wasm');
    assert.equal(r.model_sha256, modelJson.onnx.sha256);
    assert.equal(r.tile, 64);
    assert.equal(r.tile_above, 512);
    assert.ok(Math.abs(r.threshold - modelJson.threshold) < 1e-12, `${r.file}: threshold ${r.threshold}`);
    assert.equal(r.review_band.length, 2);
  }
  // The top level says what every row shared, and lists both TTA settings: it no longer claims one.
  assert.equal(exported.model.sha256, modelJson.onnx.sha256);
  assert.equal(exported.model.tta, undefined);
  assert.deepEqual(exported.settings.tta, [false, true]);
  assert.deepEqual(exported.settings.backend, ['wasm']);
  // The numbers agree with what each row says it used.
  const native = nativePredict(again);
  const nativeTta = nativePredict(again, { extra: ['--tta'] });
  const p = (r) => r.probabilities[classes[1]];
  for (const f of again) {
    const name = basename(f);
    const plain = ok.find((r) => r.index <= paths.length && r.file.endsWith(name));
    const tta = ok.find((r) => r.index > paths.length && r.file === name);
    assert.ok(Math.abs(p(plain) - Number(native.get(name)[`p_${classes[1]}`])) <= BOUND, `${name}: without TTA`);
    assert.ok(Math.abs(p(tta) - Number(nativeTta.get(name)[`p_${classes[1]}`])) <= BOUND, `${name}: with TTA`);
  }
  // The CSV carries the same per-row settings as extra columns after the old ones.
  const csv = parseCsv(await exportCsv(page));
  const head = Object.keys(csv[0]);
  assert.deepEqual(head.slice(0, 1 + classes.length + 8), ['file', ...classes.map((c) => `p_${c}`), 'predicted', 'review', 'error', 'error_code', 'tiles', 'format', 'width', 'height']);
  for (const col of ['model', 'backend', 'model_sha256', 'tta', 'tile', 'tile_above', 'threshold', 'review_low', 'review_high']) assert.ok(head.includes(col), `CSV column ${col}`);
  assert.deepEqual(csv.map((r) => r.tta), rows.map((r) => (r.error === '' ? String(r.tta) : '')));
  assert.deepEqual(outsideOrigin(log.requests, ORIGIN), []);
  assert.deepEqual(log.errors, []);
  await context.close();
});
