// offline.test.mjs — the page without the network, on any static host, and what it keeps (issue 17, "Works
// offline, everywhere"), in headless Chromium (Debian's, driven by playwright-core):
//   - first visit: the service worker keeps the site; then the server is stopped and the browser set
//     offline, the page reloads, is still cross-origin isolated (the worker's headers: no server left to
//     send them), classifies a batch as it did online, and not one request fails or leaves the origin;
//     the web app manifest and its icons are served;
//   - a bare static host (no COOP/COEP): the worker makes the page cross-origin isolated after one reload;
//     `?nosw` unregisters it, deletes its copy and the page is back to what the host sends;
//   - results kept in the browser (opt-in): a reload shows the same rows and exports, "Clear saved results"
//     deletes them, and without the box ticked nothing is kept; closing a page with results neither exported
//     nor kept asks first;
//   - WebGPU failing (?webgpu-fault=create: session creation; =lose: the device destroyed before the first
//     batch): the page runs on WASM, says so, and every image gets the answer a WASM run gives (needs a WebGPU adapter:
//     --enable-unsafe-webgpu, SwiftShader here; skipped with a message without one);
//   - a new build (sw.js with another build hash, a changed file) replaces the kept copy: on a page with
//     results only when its "Reload" note is clicked, then the old build's cache is gone;
//   - every control reached with Tab shows a focus ring (the file and folder pickers' labels too).
import assert from 'node:assert/strict';
// The page's answers are compared with its own on WASM with the network up (page.test.mjs compares those
// with `cellcam predict`).
import { spawn } from 'node:child_process';
import { appendFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { after, before, test } from 'node:test';

import { dataDir, root, siteDir } from '../node/site.mjs';

const CHROMIUM = process.env.CELLCAM_CHROMIUM ?? '/usr/bin/chromium';
const PORT = 20000 + (process.pid % 1000);  // page.test.mjs uses 18000-19999
const PLAIN_PORT = PORT + 1000;
const OFFLINE_PORT = PORT + 2000;           // its own server, stopped by the offline test
const UPDATE_PORT = PORT + 3000;            // a copy of the site, rebuilt by the update test
const ORIGIN = `http://127.0.0.1:${PORT}`;
const PLAIN_ORIGIN = `http://127.0.0.1:${PLAIN_PORT}`;
const OFFLINE_ORIGIN = `http://127.0.0.1:${OFFLINE_PORT}`;
const artifacts = join(root, 'build', 'test-artifacts');
const BOUND = 1e-4;
const BASE_ARGS = ['--no-sandbox', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--disable-default-apps', '--metrics-recording-only'];
const fixtures = (...names) => names.map((n) => join(dataDir, n));
const CELLS = fixtures('malaria/parasitized_P61_cell_164.png', 'malaria/uninfected_P61_cell_144.png', 'tiff/rgb16_lzw.tif');
const BROKEN = fixtures('malformed/truncated.png');

let browser;

function serve(port, extra = [], dir = siteDir) {
  const server = spawn(process.execPath, [join(root, 'scripts', 'serve.mjs'), ...extra, dir], { env: { ...process.env, PORT: String(port) }, stdio: ['ignore', 'pipe', 'inherit'] });
  const started = new Promise((resolve, reject) => {
    server.stdout.on('data', (d) => { if (String(d).includes('serving')) resolve(); });
    server.on('exit', (code) => reject(new Error(`serve.mjs exited with ${code}`)));
  });
  started.catch(() => {});
  return { server, started, stop: () => new Promise((resolve) => { server.once('exit', resolve); server.kill(); }) };
}
const servers = [serve(PORT), serve(PLAIN_PORT, ['--plain'])];

async function launch(args) {
  const { chromium } = await import('playwright-core');
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: [...BASE_ARGS, ...args] });
}

before(async () => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: scripts/setup.sh installs Debian's chromium`);
  assert.ok(existsSync(join(siteDir, 'vendor', 'ort', 'ort.wasm.min.mjs')), `${siteDir} is not built: make site`);
  mkdirSync(artifacts, { recursive: true });
  await Promise.all(servers.map((s) => s.started));
  browser = await launch(['--disable-gpu']);
});

after(async () => {
  await browser?.close();
  for (const s of servers) s.server.kill();
});

// ---------------------------------------------------------------- helpers
function record(context, page) {
  const log = { requests: [], failed: [], errors: [] };
  context.on('request', (r) => log.requests.push(r.url()));
  context.on('requestfailed', (r) => log.failed.push(`${r.url()} (${r.failure()?.errorText})`));
  page.on('pageerror', (e) => log.errors.push(`pageerror: ${e}`));
  page.on('console', (m) => { if (m.type() === 'error') log.errors.push(`console: ${m.text()}`); });
  return log;
}

async function openPage(b, url) {
  const context = await b.newContext({ viewport: { width: 1366, height: 900 }, acceptDownloads: true });
  const page = await context.newPage();
  const log = record(context, page);
  await page.goto(url);
  await waitEngine(page);
  return { page, context, log };
}

// Polls fn in the page until it returns a truthy value; the page may reload itself meanwhile.
async function until(page, fn, arg, timeout = 120000, what = String(fn)) {
  const end = Date.now() + timeout;
  for (;;) {
    try {
      const v = await page.evaluate(fn, arg);
      if (v) return v;
    } catch {
      // the document was replaced (a reload): ask the new one
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const waitEngine = (page) => until(page, () => ['ready', 'failed'].includes(document.body.dataset.engine), null, 120000, 'the model');
const waitDone = (page, n, timeout = 180000) => until(page, (k) => document.getElementById('progress-text').textContent.startsWith(`${k} / ${k} done`), n, timeout, `${n} images done`);
const records = (page) => page.evaluate(() => window.cellcam.records());

async function dropFiles(page, paths) {
  const files = paths.map((p) => ({ name: basename(p), b64: readFileSync(p).toString('base64') }));
  await page.evaluate((list) => {
    const dt = new DataTransfer();
    for (const f of list) dt.items.add(new File([Uint8Array.from(atob(f.b64), (c) => c.charCodeAt(0))], f.name));
    document.getElementById('drop').dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
  }, files);
}

// The page's records against reference records of the same files: same class, flag and error, and
// probabilities within BOUND.
function assertSame(recs, reference) {
  assert.deepEqual(recs.map((r) => r.file), reference.map((r) => r.file));
  let worst = 0;
  recs.forEach((r, i) => {
    const ref = reference[i];
    assert.equal(r.error, ref.error, r.file);
    assert.equal(r.predicted, ref.predicted, r.file);
    assert.equal(r.review, ref.review, r.file);
    for (const [c, p] of Object.entries(ref.probabilities)) worst = Math.max(worst, Math.abs(r.probabilities[c] - p));
  });
  assert.ok(worst <= BOUND, `max abs diff ${worst} > ${BOUND}`);
  return worst;
}

const outsideOrigin = (requests, origin) => requests.filter((u) => !u.startsWith(`${origin}/`) && !u.startsWith('blob:') && !u.startsWith('data:'));

// ---------------------------------------------------------------- offline
test('after the first visit the page loads and classifies with the server gone; no request fails or leaves the origin', { timeout: 300000 }, async () => {
  const server = serve(OFFLINE_PORT);
  servers.push(server);
  await server.started;
  const { page, context, log } = await openPage(browser, `${OFFLINE_ORIGIN}/`);
  const t0 = Date.now();
  await until(page, () => ['ready', 'failed'].includes(document.body.dataset.offline), null, 120000, 'the offline copy');
  assert.equal(await page.evaluate(() => document.body.dataset.offline), 'ready', await page.getAttribute('#offline-status', 'title'));
  console.log(`offline copy kept in ${((Date.now() - t0) / 1000).toFixed(1)} s after the model was ready: ${await page.getAttribute('#offline-status', 'title')}`);
  assert.equal(await page.evaluate(() => Boolean(navigator.serviceWorker.controller)), true);
  const paths = [...CELLS, ...BROKEN];
  await dropFiles(page, paths);
  await waitDone(page, paths.length);
  const online = await records(page);
  assert.match(online.at(-1).error, /truncated PNG/);
  assert.equal(online.filter((r) => r.error === '').length, CELLS.length);

  // Installable: a manifest with 192 and 512 px PNG icons, served from the site.
  const manifest = await page.evaluate(async () => {
    const href = document.querySelector('link[rel="manifest"]').href;
    const m = await (await fetch(href)).json();
    const icons = await Promise.all(m.icons.map(async (i) => {
      const bitmap = await createImageBitmap(await (await fetch(new URL(i.src, href))).blob());
      return { sizes: i.sizes, actual: `${bitmap.width}x${bitmap.height}`, purpose: i.purpose };
    }));
    return { name: m.name, display: m.display, start: m.start_url, icons };
  });
  assert.equal(manifest.display, 'standalone');
  for (const i of manifest.icons) assert.equal(i.actual, i.sizes);
  assert.deepEqual(manifest.icons.map((i) => i.sizes).sort(), ['192x192', '512x512', '512x512']);

  // The network gone: the server stopped, the browser offline.
  await server.stop();
  await context.setOffline(true);
  log.requests.length = 0;
  log.failed.length = 0;
  page.on('dialog', (d) => d.accept());  // leave the page with its results
  await page.reload();
  await waitEngine(page);
  assert.equal(await page.getAttribute('body', 'data-engine'), 'ready', await page.textContent('#alert-text'));
  assert.equal(await page.evaluate(() => self.crossOriginIsolated), true, 'isolated by the service worker\u2019s headers (no server left to send them)');
  await until(page, () => document.body.dataset.offline === 'ready', null, 30000, 'the header to say "works offline" offline');
  await dropFiles(page, paths);
  await waitDone(page, paths.length);
  const worst = assertSame(await records(page), online);
  console.log(`offline: ${log.requests.length} requests, all answered by the service worker; offline vs online max abs diff ${worst.toExponential(2)}`);
  await page.screenshot({ path: join(artifacts, 'offline-batch.png'), fullPage: true });
  assert.ok(log.requests.length > 10, `only ${log.requests.length} requests recorded`);
  assert.deepEqual(outsideOrigin(log.requests, OFFLINE_ORIGIN), [], 'requests outside the page origin');
  assert.deepEqual(log.failed, [], 'requests that failed offline');
  assert.deepEqual(log.errors, []);
  await context.close();
});

// ---------------------------------------------------------------- a new build
test('a new build replaces the kept copy, after the "Reload" note on a page with results', { timeout: 240000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cellcam-site-'));
  try {
    cpSync(siteDir, dir, { recursive: true });
    const server = serve(UPDATE_PORT, [], dir);
    servers.push(server);
    await server.started;
    const origin = `http://127.0.0.1:${UPDATE_PORT}`;
    const { page, context, log } = await openPage(browser, `${origin}/`);
    await until(page, () => document.body.dataset.offline === 'ready', null, 120000, 'the offline copy');
    const kept = () => page.evaluate(async () => (await caches.keys()).filter((k) => k.startsWith('cellcam-')));
    const sw = readFileSync(join(dir, 'sw.js'), 'utf8');
    const build = sw.match(/const BUILD = "([0-9a-f]{16})"/)[1];
    assert.deepEqual(await kept(), [`cellcam-${build}`]);
    await dropFiles(page, CELLS.slice(0, 1));
    await waitDone(page, 1);

    // Rebuilt: a changed stylesheet, and sw.js with the new build's hash (as build_site.mjs writes them).
    appendFileSync(join(dir, 'css', 'app.css'), '\n/* rebuilt */\n');
    const next = 'f'.repeat(16);
    writeFileSync(join(dir, 'sw.js'), sw.replace(`"${build}"`, `"${next}"`));
    await page.evaluate(async () => (await navigator.serviceWorker.getRegistration()).update());
    // The page holds a result: no reload behind its back, a note instead.
    await page.waitForSelector('#update-note:not([hidden])', { timeout: 120000 });
    assert.equal(await page.evaluate(() => window.cellcam.records().length), 1);
    page.on('dialog', (d) => d.accept());  // the result was not exported: leave anyway
    await page.evaluate(() => { window.beforeUpdate = true; });
    await page.click('#update-reload');
    await until(page, async () => !window.beforeUpdate && document.body.dataset.offline === 'ready' &&
      (await (await fetch('css/app.css')).text()).includes('/* rebuilt */'), null, 120000, 'the new build');
    assert.deepEqual(await kept(), [`cellcam-${next}`], 'the old build\u2019s copy deleted');
    assert.deepEqual(outsideOrigin(log.requests, origin), []);
    assert.deepEqual(log.errors, []);
    await context.close();
    await server.stop();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// ---------------------------------------------------------------- a bare static host, and ?nosw
test('a static host without COOP/COEP: the service worker isolates the page (threads); ?nosw turns it off', { timeout: 240000 }, async () => {
  const { page, context, log } = await openPage(browser, `${PLAIN_ORIGIN}/`);
  // The first load is not isolated; once the worker holds the page it reloads once, isolated by its headers.
  await until(page, () => self.crossOriginIsolated && document.body.dataset.offline === 'ready' && document.body.dataset.engine === 'ready', null, 120000, 'isolation by the service worker');
  const engine = await page.evaluate(() => window.cellcam.engine());
  assert.doesNotMatch(engine.label, /not cross-origin isolated/);
  assert.equal(await page.evaluate(() => typeof SharedArrayBuffer), 'function');
  await dropFiles(page, CELLS.slice(0, 2));
  await waitDone(page, 2);
  assert.deepEqual((await records(page)).map((r) => r.error), ['', '']);
  page.on('dialog', (d) => d.accept());

  // ?nosw: unregistered, its copy deleted, and the page (reloaded once from the server) is what the host sends.
  await page.goto(`${PLAIN_ORIGIN}/?nosw`);
  const state = await until(page, async () => {
    if (document.body.dataset.offline !== 'off' || document.body.dataset.engine !== 'ready' || navigator.serviceWorker.controller) return null;
    return { registrations: (await navigator.serviceWorker.getRegistrations()).length, caches: (await caches.keys()).filter((k) => k.startsWith('cellcam-')),
      isolated: self.crossOriginIsolated, label: window.cellcam.engine().label };
  }, null, 60000, '?nosw');
  assert.deepEqual(state, { registrations: 0, caches: [], isolated: false, label: 'WASM SIMD · 1 thread (page not cross-origin isolated)' });
  // ... and stays off: a later ?nosw load registers nothing.
  await page.reload();
  await waitEngine(page);
  await page.waitForTimeout(1000);
  assert.equal(await page.evaluate(async () => (await navigator.serviceWorker.getRegistrations()).length), 0);
  assert.deepEqual(outsideOrigin(log.requests, PLAIN_ORIGIN), []);
  assert.deepEqual(log.errors, []);
  await context.close();
});

// ---------------------------------------------------------------- results kept in the browser
test('results kept in the browser (opt-in) survive a reload; "Clear saved results" deletes them', { timeout: 240000 }, async () => {
  const { page, context, log } = await openPage(browser, `${ORIGIN}/?nosw`);
  page.on('dialog', (d) => d.accept());
  assert.equal(await page.isChecked('#keep-results'), false, 'off by default');
  // Not ticked: nothing comes back.
  await dropFiles(page, CELLS.slice(0, 1));
  await waitDone(page, 1);
  await page.reload();
  await waitEngine(page);
  await page.waitForFunction(() => document.body.dataset.restored === '0');
  assert.equal(await page.$$eval('#results .row', (r) => r.length), 0);

  await page.check('#keep-results');
  const paths = [...CELLS, ...BROKEN];
  await dropFiles(page, paths);
  await waitDone(page, paths.length);
  await page.waitForFunction((n) => document.getElementById('keep-note').textContent.startsWith(`${n} results kept`), paths.length);
  const before = await records(page);
  const cams = await page.evaluate(() => window.cellcam.result(0).cams);
  const thumbs = () => page.$$eval('#results .row canvas.thumb', (cs) => cs.map((c) => `${c.dataset.drawn}:${c.toDataURL().length}`));
  const thumbsBefore = await thumbs();

  await page.reload();
  await waitEngine(page);
  await page.waitForFunction((n) => document.body.dataset.restored === String(n), paths.length);
  assert.equal(await page.isChecked('#keep-results'), true);
  assert.deepEqual(await records(page), before, 'the same rows and exports after a reload');
  assert.deepEqual(await page.evaluate(() => window.cellcam.result(0).cams), cams);
  await page.waitForFunction((n) => [...document.querySelectorAll('#results .row canvas.thumb')].filter((c) => c.dataset.drawn).length === n, paths.length - 1);
  assert.deepEqual(await thumbs(), thumbsBefore, 'thumbnails and overlays drawn again');
  assert.match(await page.textContent('#summary'), /3 classified/);
  // Kept rows are not lost by closing: no warning for them.
  assert.equal(await page.evaluate(() => { const e = new Event('beforeunload', { cancelable: true }); window.dispatchEvent(e); return e.defaultPrevented; }), false);

  await page.click('#forget-results');
  await page.waitForFunction(() => document.getElementById('keep-note').textContent.startsWith('0 results kept'));
  await page.reload();
  await waitEngine(page);
  await page.waitForFunction(() => document.body.dataset.restored === '0');
  assert.equal(await page.$$eval('#results .row', (r) => r.length), 0);
  assert.deepEqual(log.errors, []);
  await context.close();
});

test('closing a page with results neither exported nor kept asks first', { timeout: 120000 }, async () => {
  const { page, context } = await openPage(browser, `${ORIGIN}/?nosw`);
  const asks = async () => {
    await page.click('#search');  // a user gesture: Chromium asks before unload only after one
    const dialog = page.waitForEvent('dialog', { timeout: 5000 }).then((d) => d, () => null);
    await page.close({ runBeforeUnload: true });
    const d = await dialog;
    if (d) await d.dismiss();  // stay
    return d ? d.type() : null;
  };
  assert.equal(await asks(), null, 'no results: closes without asking');
  const page2 = await context.newPage();
  await page2.goto(`${ORIGIN}/?nosw`);
  await waitEngine(page2);
  await dropFiles(page2, CELLS.slice(0, 2));
  await waitDone(page2, 2);
  await page2.click('#search');
  let dialog = page2.waitForEvent('dialog', { timeout: 5000 });
  await page2.close({ runBeforeUnload: true });
  dialog = await dialog;
  assert.equal(dialog.type(), 'beforeunload');
  await dialog.dismiss();
  assert.equal(page2.isClosed(), false, 'dismissed: the page stays');
  await Promise.all([page2.waitForEvent('download'), page2.click('#export-csv')]);
  const closed = page2.waitForEvent('close');
  const asked = page2.waitForEvent('dialog', { timeout: 3000 }).then(() => true, () => false);
  await page2.close({ runBeforeUnload: true });
  await closed;
  assert.equal(await asked, false, 'exported: closes without asking');
  await context.close();
});

// ---------------------------------------------------------------- WebGPU fails: WASM takes over
test('WebGPU failing (session creation; device lost before a batch): the page runs on WASM, says so, and no image is lost', { timeout: 360000 }, async (t) => {
  const gpuBrowser = await launch(['--enable-unsafe-webgpu']);
  try {
    const paths = [...CELLS, ...fixtures('malaria/uninfected_P97_cell_57.png', 'pcam/tumour_c0318a09.jpg')];
    // The reference: the same images on WASM.
    const ref = await openPage(gpuBrowser, `${ORIGIN}/?nosw&backend=wasm`);
    await dropFiles(ref.page, paths);
    await waitDone(ref.page, paths.length);
    const reference = await records(ref.page);
    assert.deepEqual(reference.map((r) => r.error), paths.map(() => ''));
    await ref.context.close();
    for (const fault of ['create', 'lose']) {
      const { page, context, log } = await openPage(gpuBrowser, `${ORIGIN}/?nosw&backend=webgpu&batch=2&webgpu-fault=${fault}`);
      const engine = await page.evaluate(() => window.cellcam.engine());
      assert.ok(engine && engine.ok, await page.textContent('#alert-text'));
      if (/no WebGPU adapter/.test(engine.note)) {
        await context.close();
        t.skip(`NO WebGPU ADAPTER in this Chromium even with --enable-unsafe-webgpu (${engine.note}): the fallback was NOT tested`);
        return;
      }
      if (fault === 'create') {
        assert.equal(engine.backend, 'wasm');
        assert.match(engine.fallback, /WebGPU session was not created: simulated/);
      } else {
        assert.equal(engine.backend, 'webgpu', 'the device is lost at the first batch, after start-up');
      }
      await dropFiles(page, paths);
      await waitDone(page, paths.length, 300000);
      const after = await page.evaluate(() => window.cellcam.engine());
      assert.equal(after.backend, 'wasm');
      assert.equal(await page.inputValue('#backend'), 'wasm');
      assert.match(await page.textContent('#alert-text'), /WebGPU failed \(.+\)\. The model runs on WASM from now on/);
      assert.match(await page.textContent('#backend-label'), /WebGPU failed .*: running on WASM/);
      const recs = await records(page);
      assert.deepEqual(recs.map((r) => r.error), paths.map(() => ''), 'every image classified');
      assert.deepEqual(recs.map((r) => r.backend), paths.map(() => 'wasm'), 'each row says WASM answered it');
      const worst = assertSame(recs, reference);
      console.log(`WebGPU fault "${fault}": ${after.fallback}; ${paths.length} images on WASM, max abs diff vs a WASM run ${worst.toExponential(2)}`);
      assert.deepEqual(outsideOrigin(log.requests, ORIGIN), []);
      await context.close();
    }
  } finally {
    await gpuBrowser.close();
  }
});

// ---------------------------------------------------------------- focus rings
test('every control reached with Tab shows a focus ring, the file and folder pickers too', { timeout: 120000 }, async () => {
  const { page, context } = await openPage(browser, `${ORIGIN}/?nosw`);
  await dropFiles(page, CELLS.slice(0, 2));
  await waitDone(page, 2);
  const seen = [];
  for (let i = 0; i < 80; i++) {
    await page.keyboard.press('Tab');
    const f = await page.evaluate(() => {
      const el = document.activeElement;
      if (!el || el === document.body) return null;
      // A visually hidden input shows its focus on its label.
      const shown = el.classList.contains('visually-hidden') ? document.querySelector(`label[for="${el.id}"]`) : el;
      const s = getComputedStyle(shown);
      const ring = s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 1;
      const name = el.id || el.getAttribute('aria-label') || el.textContent.trim().slice(0, 30) || el.tagName;
      return { name, ring, key: el.id || `${el.tagName}:${name}` };
    });
    if (!f || seen.some((s) => s.key === f.key)) break;
    seen.push(f);
  }
  const names = seen.map((s) => s.name);
  for (const id of ['pick-files', 'pick-folder', 'drop', 'model', 'keep-results', 'search', 'cam-method', 'cam-scale']) assert.ok(names.includes(id), `${id} not reached with Tab (${names.join(', ')})`);
  assert.ok(seen.length >= 20, `only ${seen.length} controls reached`);
  assert.deepEqual(seen.filter((s) => !s.ring).map((s) => s.name), [], 'controls without a focus ring');
  await context.close();
});
