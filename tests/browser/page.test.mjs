// page.test.mjs — the page in headless Chromium (Debian's, driven by playwright-core): serve build/web
// with scripts/serve.mjs, pick real fixtures and broken files, and check what a user would see: a row
// per file with the decoded image and the model input, error rows for the broken ones, a CSV export
// with the right rows, and not one request outside the page's own origin. Screenshots are kept in
// build/test-artifacts/.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { dataDir, root, siteDir } from '../node/site.mjs';

const CHROMIUM = process.env.CELLCAM_CHROMIUM ?? '/usr/bin/chromium';
const PORT = 18000 + (process.pid % 1000);
const ORIGIN = `http://127.0.0.1:${PORT}`;
const artifacts = join(root, 'build', 'test-artifacts');

let server;
let browser;

before(async () => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: scripts/setup.sh installs Debian's chromium`);
  mkdirSync(artifacts, { recursive: true });
  server = spawn(process.execPath, [join(root, 'scripts', 'serve.mjs'), siteDir], { env: { ...process.env, PORT: String(PORT) }, stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise((resolve, reject) => {
    server.stdout.on('data', (d) => { if (String(d).includes('serving')) resolve(); });
    server.on('exit', (code) => reject(new Error(`serve.mjs exited with ${code}`)));
  });
  const { chromium } = await import('playwright-core');
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
});

after(async () => {
  await browser?.close();
  server?.kill();
});

test('drop a batch with broken files: rows, previews, errors, CSV, and no request leaves the origin', async () => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const requests = [];
  page.on('request', (r) => requests.push(r.url()));
  const consoleErrors = [];
  page.on('pageerror', (e) => consoleErrors.push(String(e)));
  await page.goto(`${ORIGIN}/`);
  await page.waitForFunction(() => document.getElementById('engine-status').textContent.includes('wasm ready'), null, { timeout: 30000 });
  assert.match(await page.textContent('#engine-status'), /cross-origin isolated/);

  const files = ['malaria/parasitized_P61_cell_164.png', 'malaria/uninfected_P97_cell_57.png', 'pcam/tumour_c0318a09.jpg',
    'tiff/rgb16_lzw.tif', 'tiff/palette8_lzw.tif', 'tiff/rgb8_jpeg_ycbcr.tif', 'formats/large_2048x1536.jpg', 'formats/cell_palette.gif',
    'malformed/truncated.png', 'malformed/compression_zstd.tif', 'malformed/text_renamed.png', 'malformed/huge_dims.png'];
  await page.setInputFiles('#pick-files', files.map((f) => join(dataDir, f)));
  await page.waitForFunction((n) => document.getElementById('progress-text').textContent.startsWith(`${n} / ${n} done`), files.length, { timeout: 60000 });

  const rows = await page.$$eval('#results tr', (trs) => trs.map((tr) => ({
    file: tr.children[1].textContent,
    error: tr.classList.contains('error'),
    canvases: tr.querySelectorAll('canvas').length,
    details: tr.children[4].textContent,
  })));
  assert.equal(rows.length, files.length);
  for (const [i, row] of rows.entries()) {
    const broken = files[i].startsWith('malformed/');
    assert.equal(row.error, broken, `${files[i]}: ${row.details}`);
    assert.equal(row.canvases, broken ? 0 : 2, files[i]);
  }
  assert.match(rows[8].details, /truncated PNG/);
  assert.match(rows[9].details, /TIFF compression ZSTD is not supported/);
  assert.match(rows[11].details, /image 100000x100000 exceeds the 25000 px limit/);
  assert.match(rows[6].details, /JPEG 2048×1536/);
  assert.match(await page.textContent('#summary'), /8 processed · 4 errors/);

  // The model-input canvas is really drawn: not a blank rectangle.
  const distinct = await page.$eval('#results tr:first-child canvas.input', (c) => {
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    return new Set(Array.from({ length: d.length / 4 }, (_, i) => d[4 * i] * 65536 + d[4 * i + 1] * 256 + d[4 * i + 2])).size;
  });
  assert.ok(distinct > 50, `only ${distinct} colours in the preview`);

  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#export-csv')]);
  const csv = readFileSync(await download.path(), 'utf8').trim().split('\n');
  assert.equal(csv.length, files.length + 1);
  assert.match(csv[0], /^index,file,ok,format,width,height/);
  assert.match(csv[9], /truncated\.png,false,.*truncated/);
  assert.match(csv[1], /parasitized_P61_cell_164\.png,true,PNG,139,151,3,8/);

  await page.screenshot({ path: join(artifacts, 'page-batch.png'), fullPage: true });
  const outside = requests.filter((u) => !u.startsWith(`${ORIGIN}/`) && !u.startsWith('blob:') && !u.startsWith('data:'));
  assert.deepEqual(outside, [], 'requests outside the page origin');
  assert.deepEqual(consoleErrors, []);
  await page.close();
});
