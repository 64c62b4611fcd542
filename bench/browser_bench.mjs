#!/usr/bin/env node
// browser_bench.mjs — the page in headless Chromium on real images: end-to-end images/s, each stage's
// cost (decode, preprocess, inference, Grad-CAM rendering), cold start, and the same model's inference
// in ONNX Runtime Web (browser, wasm) against onnxruntime-node (native) on the same tensors.
//
//   make site && node bench/browser_bench.mjs [--n 256] [--model malaria] [--threads T] [--batch B] [--tta 0|1] [--variants]
//                                             [--rounds 2] [--before REV] [--no-fill-run] [--out build/bench/browser_bench.json]
//   (--threads / --batch / --tta are passed to the page as ?threads= / ?batch= / ?tta=; default: the page's own choice)
//   --before REV: the page as it was at git revision REV (its web/js/, the rest of build/web as built now) runs
//                 beside today's, same images, alternating: before/after in one run
//   --no-fill-run: skip today's page with ?fill=0 (no waiting for fuller batches) beside it
//
// Images: 96x96 PCam patches and malaria cell crops from ../shared/data (the first N of each, sorted;
// falls back to tests/data, repeated, when that folder is absent). The model is the shipped one
// (models/<model>, served from build/web).
//
// What each number is:
//   cold start      navigation -> the page's `cellcam-ready` mark (model fetched, SHA-256 checked, ORT
//                   session created), a fresh browser context (empty HTTP cache) each run, median of 3;
//   end-to-end      N files given to "Choose files" -> the last row drawn, as the page runs them: decoding
//                   in one worker, inference (batches of up to 32) + CAM rendering in another, overlapped;
//                   a fresh browser context each (the first batch after the page loaded; then the same files
//                   again in that page: the warm page), ROUNDS times in alternating order with the --before
//                   page and ?fill=0, the median reported; against ORT Web
//                   alone (batch 32, the page's thread count, measured in the same rounds): the ratio; and the
//                   time to the first result (batch start -> the first row filled);
//   TTA             the malaria set with ?tta=1 (8 views per image) against ORT Web alone on 8x as many inputs
//                   (batch 256: the page's 32 images x 8 views), both in the same rounds;
//   stage times     measured inside the page's workers, per image: decode+preprocess (decode_worker.js), the
//                   ORT session.run share (inference_worker.js), the CAM render of the predicted class (renderCam);
//   stage split     main thread, the page's wasm module, warm, as the page calls it (the preprocess block
//                   as spec, full-size RGBA view): decode = preprocess(bytes) - preprocessPixels(decoded
//                   RGBA); preprocess = preprocessPixels (resize, normalise, the view copy); CAM = renderCam
//                   (the heatmap, as the page asks for it) + blendOverlay (the overlay: cam.h blend_rgba in wasm, as the page);
//                   with a stain block, preprocess again without it, interleaved: the stain normalisation's cost;
//   inference       session.run alone, same model and tensors: ORT Web (wasm SIMD, in the page) vs
//                   onnxruntime-node (native CPU), 1 and 2 threads, batch 1 and 32, ms per image.
import { execFileSync, spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as ort from 'onnxruntime-node';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const argv = process.argv.slice(2);
const arg = (name, fallback) => { const i = argv.indexOf(`--${name}`); return i >= 0 ? argv[i + 1] : fallback; };
const N = Number(arg('n', 256));
const MODEL = arg('model', 'malaria');
const PAGE_QS = `${arg('threads', '') ? `&threads=${arg('threads')}` : ''}${arg('batch', '') ? `&batch=${arg('batch')}` : ''}` +
  `${arg('tta', '') ? `&tta=${arg('tta')}` : ''}`;
const OUT = arg('out', join(root, 'build', 'bench', 'browser_bench.json'));
const ROUNDS = Math.max(1, Number(arg('rounds', 2)));
const BEFORE = arg('before', '');
const SITE = join(root, 'build', 'web');
const PORT = 18600 + (process.pid % 300);
const ORIGIN = `http://127.0.0.1:${PORT}`;
const BEFORE_ORIGIN = `http://127.0.0.1:${PORT + 300}`;
const CHROMIUM = process.env.CELLCAM_CHROMIUM ?? '/usr/bin/chromium';
const ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync'];

if (!existsSync(join(SITE, 'vendor', 'ort', 'ort.wasm.min.mjs'))) {
  console.error('browser_bench: build/web is not built: make site');
  process.exit(1);
}
const modelDir = join(root, 'models', MODEL);
const modelText = readFileSync(join(modelDir, 'model.json'), 'utf8');
const modelJson = JSON.parse(modelText);
const specText = JSON.stringify({ preprocess: modelJson.preprocess });  // the preprocess block the page's wasm Model holds
// The same block without per-image stain normalisation, timed beside it when the model has one: its cost.
const { stain: stainBlock, ...preprocessWithoutStain } = modelJson.preprocess;
const specNoStainText = stainBlock ? JSON.stringify({ preprocess: preprocessWithoutStain }) : null;
const [C, H, W] = modelJson.input.shape.slice(1);

// ---------------------------------------------------------------- images
function firstN(dir, n, filter = () => true) {
  return existsSync(dir) ? readdirSync(dir).filter(filter).sort().slice(0, n).map((f) => join(dir, f)) : [];
}
function repeatTo(list, n) {
  return Array.from({ length: n }, (_, i) => list[i % list.length]);
}
const shared = join(root, '..', 'shared', 'data');
let pcam = firstN(join(shared, 'pcam', 'images'), N, (f) => f.endsWith('.jpg'));
if (pcam.length < N) pcam = repeatTo(firstN(join(root, 'tests', 'data', 'pcam'), 100), N);
let malaria = [];
const para = firstN(join(shared, 'malaria', 'Parasitized'), Math.ceil(N / 2), (f) => f.endsWith('.png'));
const unin = firstN(join(shared, 'malaria', 'Uninfected'), Math.floor(N / 2), (f) => f.endsWith('.png'));
malaria = [...para, ...unin];
if (malaria.length < N) malaria = repeatTo(firstN(join(root, 'tests', 'data', 'malaria'), 100), N);
const SETS = { 'PCam 96x96 patches (JPEG)': pcam, 'malaria cell crops (PNG, 46-394 px)': malaria };

// ---------------------------------------------------------------- helpers
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2; };
const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
const r1 = (x) => Math.round(x * 10) / 10;
const r2 = (x) => Math.round(x * 100) / 100;
const r3 = (x) => Math.round(x * 1000) / 1000;

function serve(dir, port) {
  const child = spawn(process.execPath, [join(root, 'scripts', 'serve.mjs'), dir], { env: { ...process.env, PORT: String(port) }, stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve) => child.stdout.on('data', (d) => { if (String(d).includes('serving')) resolve(child); }));
}
const servers = [await serve(SITE, PORT)];
process.on('exit', () => { for (const server of servers) server.kill(); });
// --before REV: build/web with web/js/ as it was at REV (git archive), served on a port of its own.
let beforeRev = '';
if (BEFORE) {
  beforeRev = execFileSync('git', ['-C', root, 'rev-parse', '--short', BEFORE], { encoding: 'utf8' }).trim();
  const dir = join(root, 'build', 'bench', 'web-before');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dirname(dir), { recursive: true });
  cpSync(SITE, dir, { recursive: true });
  const tmp = mkdtempSync(join(tmpdir(), 'cellcam-before-'));
  execFileSync('sh', ['-c', `git -C "${root}" archive --format=tar ${beforeRev} web/js | tar -x -C "${tmp}"`]);
  rmSync(join(dir, 'js'), { recursive: true, force: true });
  cpSync(join(tmp, 'web', 'js'), join(dir, 'js'), { recursive: true });
  rmSync(tmp, { recursive: true, force: true });
  servers.push(await serve(dir, PORT + 300));
}
const { chromium } = await import('playwright-core');
const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ARGS });
const chromiumVersion = browser.version();

async function open(url = `${ORIGIN}/?model=${MODEL}${PAGE_QS}`) {
  const context = await browser.newContext({ viewport: { width: 1366, height: 900 } });
  const page = await context.newPage();
  page.on('pageerror', (e) => console.error(`pageerror: ${e}`));
  await page.goto(url);
  await page.waitForFunction(() => ['ready', 'failed'].includes(document.body.dataset.engine), null, { timeout: 120000 });
  const engine = await page.evaluate(() => window.cellcam.engine());
  if (!engine || !engine.ok) throw new Error(`the page did not load its model: ${await page.textContent('#alert-text')}`);
  return { context, page, engine };
}

// Runs the page on files in a fresh context: { ips, seconds, firstMs (batch start -> first row filled), timings, engine,
// warm (again: the same files a second time in that page: { ips, seconds, firstMs, meanBatch }) }.
// The first result is seen by a MutationObserver on the rows' class (pending -> done or error), so an
// older page (--before) is timed the same way.
async function pageRun(url, files, { timeout = 600000, again = false } = {}) {
  const { context, page, engine } = await open(url);
  await page.evaluate(() => {
    window.__firstResult = null;
    new MutationObserver(() => {
      if (window.__firstResult === null && document.querySelector('#results .row:not(.pending)')) window.__firstResult = performance.now();
    }).observe(document.getElementById('results'), { subtree: true, childList: true, attributes: true, attributeFilter: ['class'] });
  });
  await page.setInputFiles('#pick-files', files);
  await page.waitForFunction((n) => document.getElementById('progress-text').textContent.startsWith(`${n} / ${n} done`), files.length, { timeout, polling: 250 });  // not 'raf': polling every frame costs the page a third of its speed
  const batch = await page.evaluate(() => window.cellcam.batch());
  const timings = await page.evaluate(() => window.cellcam.timings());
  const first = await page.evaluate(() => window.__firstResult);
  const stats = await page.evaluate(() => (window.cellcam.engineStats ? window.cellcam.engineStats() : null));
  const seconds = (batch.finishedAt - batch.started) / 1000;
  // The same files again in the same page (Clear, then drop): the page warm, V8 done compiling its code.
  let warm = null;
  if (again) {
    if (!(await page.isDisabled('#clear'))) await page.click('#clear');
    await page.evaluate(() => { window.__firstResult = null; });
    await page.setInputFiles('#pick-files', files);
    await page.waitForFunction((n) => document.getElementById('progress-text').textContent.startsWith(`${n} / ${n} done`), files.length, { timeout, polling: 250 });
    const b2 = await page.evaluate(() => window.cellcam.batch());
    const first2 = await page.evaluate(() => window.__firstResult);
    const t2 = await page.evaluate(() => window.cellcam.timings());
    const s2 = (b2.finishedAt - b2.started) / 1000;
    warm = { ips: files.length / s2, seconds: s2, firstMs: first2 - b2.started, meanBatch: mean(t2.map((t) => t.batch)) };
  }
  return { context, page, engine, ips: files.length / seconds, seconds, firstMs: first - batch.started, timings, stats, warm };
}

// ORT Web alone in a page of the site (no image pipeline): session.run on `count` inputs at each batch
// size, after one warm-up run per size -> { [batch]: ms per input }. Inputs: the malaria tensors, repeated.
async function ortAlone({ threads, batches, count }) {
  const { context, page } = await open(`${ORIGIN}/?model=${MODEL}`);
  const ms = await page.evaluate(async ({ b64, have, n, threads: nt, batches: bs, shape, modelUrl }) => {
    const ortWeb = await import('/vendor/ort/ort.wasm.min.mjs');
    ortWeb.env.wasm.wasmPaths = new URL('/vendor/ort/', location.href).href;
    ortWeb.env.wasm.numThreads = nt;
    ortWeb.env.logLevel = 'error';
    const session = await ortWeb.InferenceSession.create(modelUrl, { executionProviders: ['wasm'], graphOptimizationLevel: 'all' });
    const raw = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const src = new Float32Array(raw.buffer);
    const sz = shape[0] * shape[1] * shape[2];
    const out = {};
    for (const b of bs) {
      const input = new Float32Array(b * sz);
      for (let i = 0; i < b; i++) input.set(src.subarray((i % have) * sz, ((i % have) + 1) * sz), i * sz);
      const run = () => session.run({ input: new ortWeb.Tensor('float32', input.slice(), [b, ...shape]) });
      await run();
      const t0 = performance.now();
      let done = 0;
      while (done < n) { await run(); done += b; }
      out[b] = (performance.now() - t0) / done;
    }
    return out;
  }, { b64: Buffer.from(stacked.buffer).toString('base64'), have: tensors.length, n: count, threads, batches, shape: [C, H, W], modelUrl: `/models/${MODEL}/model.onnx` });
  await context.close();
  return ms;
}

const report = {
  date: new Date().toISOString(), machine: `${cpus().length} x ${cpus()[0].model}`, loadavg: loadavg().map(r2),
  chromium: chromiumVersion, model: `${modelJson.name} ${modelJson.version} (${modelJson.onnx.sha256.slice(0, 12)})`, input: [C, H, W], n: N,
};

// Tensors: the page's pipeline in node (the same wasm module: identical floats to the browser's).
const { loadSite } = await import(pathToFileURL(join(root, 'tests', 'node', 'site.mjs')).href);
const { cellcam, UTIF, pipeline } = await loadSite();
const tensors = [];
for (const f of malaria.slice(0, 128)) {
  const r = pipeline.preprocessFile(cellcam, UTIF, new Uint8Array(readFileSync(f)), specText, { thumbnailSize: 1024 });
  if (r.ok) tensors.push(r.tensor);
}
// Fewer than 128 (a small --n): repeated to 128, so every batch size has full batches.
for (let i = 0, have = tensors.length; tensors.length < 128 && have > 0; i++) tensors.push(tensors[i % have]);
const size = C * H * W;
const stacked = new Float32Array(tensors.length * size);
tensors.forEach((t, i) => stacked.set(t, i * size));

// ---------------------------------------------------------------- cold start
{
  const runs = [];
  for (let i = 0; i < 3; i++) {
    const { context, page, engine } = await open();
    const ready = await page.evaluate(() => performance.getEntriesByName('cellcam-ready')[0].startTime);
    runs.push({ ready, worker: engine.totalMs, session: engine.createMs, verify: engine.verifyMs });
    await context.close();
  }
  report.coldStart = {
    readyMs: r1(median(runs.map((r) => r.ready))), workerMs: r1(median(runs.map((r) => r.worker))),
    sessionMs: r1(median(runs.map((r) => r.session))), sha256Ms: r1(median(runs.map((r) => r.verify))), runs: runs.map((r) => r1(r.ready)),
  };
  console.log(`cold start: ${report.coldStart.readyMs} ms to ready (runs ${report.coldStart.runs.join(', ')}; ORT session ${report.coldStart.sessionMs} ms, SHA-256 ${report.coldStart.sha256Ms} ms)`);
}

// ---------------------------------------------------------------- end to end + stages, per image set
report.sets = {};
const PAGE_URL = `${ORIGIN}/?model=${MODEL}${PAGE_QS}`;
// The pages compared on each set, every round in alternating order: today's, the --before one, today's with ?fill=0.
const CONFIGS = [['page', PAGE_URL], ...(BEFORE ? [[`page at ${beforeRev}`, `${BEFORE_ORIGIN}/?model=${MODEL}${PAGE_QS}`]] : []),
  ...(argv.includes('--no-fill-run') ? [] : [['page, ?fill=0', `${PAGE_URL}&fill=0`]])];
report.pipeline = { rounds: ROUNDS, configs: CONFIGS.map(([name]) => name), ortAloneMs: [], sets: {} };
for (const [name, files] of Object.entries(SETS)) {
  const runs = Object.fromEntries(CONFIGS.map(([c]) => [c, []]));
  let kept = null;  // today's page, first run: its stage times and its page for the stage split
  for (let round = 0; round < ROUNDS; round++) {
    for (const [config, url] of round % 2 ? [...CONFIGS].reverse() : CONFIGS) {
      const first = config === 'page' && !kept;
      const r = await pageRun(url, files, { again: true });
      runs[config].push(r);
      console.log(`${name}, ${config}, round ${round + 1}: ${r1(r.ips)} images/s, first result ${Math.round(r.firstMs)} ms, mean batch ` +
        `${r1(mean(r.timings.map((t) => t.batch)))}${r.stats ? ` (${r.stats.runs} ORT runs, ${r.stats.waits} batch-fill waits, ${Math.round(r.stats.waitMs)} ms)` : ''}` +
        (r.warm ? `; again in the same page: ${r1(r.warm.ips)} images/s, first result ${Math.round(r.warm.firstMs)} ms, mean batch ${r1(r.warm.meanBatch)}` : ''));
      if (first) kept = r;
      else await r.context.close();
    }
    // ORT Web alone in the same round: batch 32, the page's thread count, 256 inputs.
    const alone = await ortAlone({ threads: kept.engine.threads, batches: [32], count: 256 });
    report.pipeline.ortAloneMs.push(alone[32]);
    console.log(`ORT Web alone, ${kept.engine.threads} thread(s), batch 32: ${r3(alone[32])} ms/image = ${r1(1000 / alone[32])} images/s`);
  }
  const { context, page, engine, timings } = kept;
  report.pageThreads = engine.threads;
  const errors = files.length - timings.length;
  const seconds = median(runs.page.map((r) => r.seconds));
  // Stage split on the main thread with the page's own wasm module (warm: second pass).
  const payload = files.map((f) => readFileSync(f).toString('base64'));
  const split = await page.evaluate(async ({ b64s, spec, specNoStain, cam: camInfo }) => {
    const { loadCellcam } = await import('/js/cellcam.js');
    const cc = await loadCellcam();
    const blendOverlay = (rgba, heat, alpha) => cc.blendOverlay(rgba, heat, alpha);  // cam.h blend_rgba
    const bytes = b64s.map((b) => Uint8Array.from(atob(b), (c) => c.charCodeAt(0)));
    const cam = new Float32Array(camInfo.width * camInfo.height).map((_, i) => Math.abs(Math.sin(i)));
    let out = null;
    for (let pass = 0; pass < 1; pass++) {
      let whole = 0;
      let pre = 0;
      let render = 0;
      let preNoStain = 0;
      let n = 0;
      for (const b of bytes) {
        const full = cc.preprocess(b, spec, { thumbnailSize: 25000 });
        if (!full.ok) continue;
        const pixels = { width: full.thumbnail.width, height: full.thumbnail.height, channels: 4, bits: 8, data: new Uint8Array(full.thumbnail.data.buffer) };
        // Both with the page's full-size RGBA copy (thumbnailSize 1024): a tiny thumbnailSize would add an
        // extreme-downscale resize to both and distort the split. Each the fastest of 3 (a busy machine).
        const best = (fn) => {
          let m = Infinity;
          for (let k = 0; k < 3; k++) { const t = performance.now(); fn(); m = Math.min(m, performance.now() - t); }
          return m;
        };
        whole += best(() => cc.preprocess(b, spec, { thumbnailSize: 1024 }));
        // With and without the stain block in alternating order: whichever runs second was measured faster
        // on malaria crops by ~0.1 ms (two runs), an order effect as large as the stain's own cost.
        const withoutStain = () => { if (specNoStain) preNoStain += best(() => cc.preprocessPixels(pixels, specNoStain, { thumbnailSize: 1024 })); };
        if (n % 2) withoutStain();
        pre += best(() => cc.preprocessPixels(pixels, spec, { thumbnailSize: 1024 }));
        if (n % 2 === 0) withoutStain();
        render += best(() => {
          const r = cc.renderCam({ cam, camWidth: camInfo.width, camHeight: camInfo.height, width: pixels.width, height: pixels.height, heatmapOnly: true }, spec);
          blendOverlay(pixels.data, r.heatmap.data, 0.5);
        });
        n++;
      }
      out = { decode: (whole - pre) / n, preprocess: pre / n, cam: render / n, preprocessNoStain: specNoStain ? preNoStain / n : null, n };
    }
    return out;
  }, { b64s: payload, spec: specText, specNoStain: specNoStainText, cam: modelJson.cam });
  await context.close();

  const aloneIps = 1000 / median(report.pipeline.ortAloneMs.slice(-ROUNDS));
  report.pipeline.sets[name] = Object.fromEntries(CONFIGS.map(([c]) => {
    const ips = median(runs[c].map((r) => r.ips));
    const warm = runs[c].filter((r) => r.warm).map((r) => r.warm);
    const warmIps = warm.length ? median(warm.map((w) => w.ips)) : null;
    return [c, { imagesPerSecond: r1(ips), runs: runs[c].map((r) => r1(r.ips)), ratioToOrtAlone: r2(ips / aloneIps),
      firstResultMs: Math.round(median(runs[c].map((r) => r.firstMs))), meanBatch: r1(median(runs[c].map((r) => mean(r.timings.map((t) => t.batch))))),
      ...(warmIps ? { warm: { imagesPerSecond: r1(warmIps), runs: warm.map((w) => r1(w.ips)), ratioToOrtAlone: r2(warmIps / aloneIps),
        firstResultMs: Math.round(median(warm.map((w) => w.firstMs))), meanBatch: r1(median(warm.map((w) => w.meanBatch))) } } : {}) }];
  }));
  report.pipeline.sets[name].ortAloneImagesPerSecond = r1(aloneIps);
  report.sets[name] = {
    files: files.length, errors, seconds: r2(seconds), imagesPerSecond: r1(files.length / seconds), backend: engine.label,
    page: { decodePreprocessMs: r3(mean(timings.map((t) => t.decodeMs))), inferMs: r3(mean(timings.map((t) => t.inferMs))),
      camMs: r3(mean(timings.map((t) => t.camMs))), meanBatch: r1(mean(timings.map((t) => t.batch))) },
    split: { decodeMs: r3(split.decode), preprocessMs: r3(split.preprocess), camMs: r3(split.cam),
      ...(split.preprocessNoStain !== null ? { preprocessWithoutStainMs: r3(split.preprocessNoStain) } : {}) },
  };
  const s = report.sets[name];
  console.log(`${name}: ${files.length} images in ${s.seconds} s = ${s.imagesPerSecond} images/s (${engine.label}); ` +
    `per image in the workers: decode+preprocess ${s.page.decodePreprocessMs} ms, inference ${s.page.inferMs} ms (mean batch ${s.page.meanBatch}), CAM ${s.page.camMs} ms; ` +
    `split: decode ${s.split.decodeMs}, preprocess ${s.split.preprocessMs}, CAM ${s.split.camMs} ms` +
    (s.split.preprocessWithoutStainMs !== undefined
      ? ` (preprocess without the stain block ${s.split.preprocessWithoutStainMs} ms: stain normalisation ` +
        `${r3(s.split.preprocessMs - s.split.preprocessWithoutStainMs)} ms, ${r2(s.split.preprocessMs / s.split.preprocessWithoutStainMs)}x)`
      : ''));
}

// ---------------------------------------------------------------- TTA against ORT Web alone on 8x the inputs
// The malaria set with ?tta=1: each image runs as 8 views, so the page's work is ORT Web alone on 8 x N inputs
// at batch 256 (32 images x 8 views, as the page batches them). Same rounds, alternating (--no-tta: skipped).
if (!argv.includes('--no-tta')) {
  const runs = [];
  const alone = [];
  for (let round = 0; round < ROUNDS; round++) {
    const r = await pageRun(`${ORIGIN}/?model=${MODEL}&tta=1${PAGE_QS.replace(/&tta=[^&]*/, '')}`, malaria, { timeout: 900000 });
    await r.context.close();
    runs.push(r);
    const ms = await ortAlone({ threads: report.pageThreads, batches: [256], count: 1024 });
    alone.push(ms[256]);
    console.log(`TTA round ${round + 1}: page ${r1(r.ips)} images/s (${r.engine.views} views, first result ${Math.round(r.firstMs)} ms, ` +
      `inference in the worker ${r3(mean(r.timings.map((t) => t.inferMs)))} ms/image, mean batch ${r1(mean(r.timings.map((t) => t.batch)))}); ` +
      `ORT Web alone, batch 256: ${r3(ms[256])} ms/input`);
  }
  const pageSeconds = median(runs.map((r) => r.seconds));
  const aloneMs = median(alone);
  const views = runs[0].engine.views;
  const aloneSeconds = (malaria.length * views * aloneMs) / 1000;
  const inferMs = median(runs.map((r) => mean(r.timings.map((t) => t.inferMs))));
  report.tta = {
    images: malaria.length, views, pageSeconds: r2(pageSeconds), imagesPerSecond: r1(malaria.length / pageSeconds),
    firstResultMs: Math.round(median(runs.map((r) => r.firstMs))), ortAloneMsPerInput: r3(aloneMs), ortAloneSeconds: r2(aloneSeconds),
    ratioToOrtAlone: r2(aloneSeconds / pageSeconds), workerInferMsPerImage: r3(inferMs), workerInferToOrtAlone: r2(inferMs / (views * aloneMs)),
    meanBatch: r1(median(runs.map((r) => mean(r.timings.map((t) => t.batch))))),
  };
}

// ---------------------------------------------------------------- variants: TTA and the ensemble (--variants)
// End-to-end images/s on the malaria set for the single model, the same with test-time augmentation (8 views
// per image) and the shipped ensemble, in this one run, each twice in alternating order (best of two),
// as ratios to the single model.
if (argv.includes('--variants')) {
  const variants = [['malaria', 'tta=0'], ['malaria, TTA', 'tta=1'], ['malaria-ensemble', 'tta=0']];
  const urls = { malaria: 'model=malaria', 'malaria, TTA': 'model=malaria', 'malaria-ensemble': 'model=malaria-ensemble' };
  const best = {};
  for (let round = 0; round < 2; round++) {
    for (const [name, qs] of round === 0 ? variants : [...variants].reverse()) {
      const { context, page, engine } = await open(`${ORIGIN}/?${urls[name]}&${qs}`);
      const files = malaria;
      await page.setInputFiles('#pick-files', files);
      await page.waitForFunction((n) => document.getElementById('progress-text').textContent.startsWith(`${n} / ${n} done`), files.length, { timeout: 900000, polling: 250 });
      const batch = await page.evaluate(() => window.cellcam.batch());
      const timings = await page.evaluate(() => window.cellcam.timings());
      const ips = files.length / ((batch.finishedAt - batch.started) / 1000);
      // inferMs: the worker's inference time per image (all members and views), meanBatch: images per run
      const detail = { inferMs: r3(mean(timings.map((t) => t.inferMs))), meanBatch: r1(mean(timings.map((t) => t.batch))) };
      if (!best[name] || ips > best[name].ips) best[name] = { ips, ...detail };
      console.log(`variant ${name}: ${r1(ips)} images/s, inference ${detail.inferMs} ms/image, mean batch ${detail.meanBatch} ` +
        `(${engine.label}, members ${engine.members}, views ${engine.views})`);
      await context.close();
    }
  }
  report.variants = Object.fromEntries(variants.map(([name]) => [name, {
    imagesPerSecond: r1(best[name].ips), ratio: r2(best[name].ips / best.malaria.ips), inferMs: best[name].inferMs,
    inferRatio: r2(best[name].inferMs / best.malaria.inferMs), meanBatch: best[name].meanBatch }]));
  for (const [name, v] of Object.entries(report.variants))
    console.log(`variant ${name}: best ${v.imagesPerSecond} images/s = ${v.ratio}x the single model; inference ${v.inferMs} ms/image = ${v.inferRatio}x; mean batch ${v.meanBatch}`);
}

// ---------------------------------------------------------------- inference alone: browser vs native
const BATCHES = [1, 32];

async function nativeMs(threads, batch) {
  const session = await ort.InferenceSession.create(join(modelDir, 'model.onnx'), { intraOpNumThreads: threads, interOpNumThreads: 1 });
  const run = (start) => session.run({ input: new ort.Tensor('float32', stacked.slice(start * size, (start + batch) * size), [batch, C, H, W]) });
  await run(0);
  const t0 = performance.now();
  let images = 0;
  for (let s = 0; s + batch <= tensors.length; s += batch) { await run(s); images += batch; }
  return (performance.now() - t0) / images;
}

report.inference = [];
for (const threads of [1, 2]) {
  const browserMs = await ortAlone({ threads, batches: BATCHES, count: tensors.length });
  for (const b of BATCHES) {
    const nat = await nativeMs(threads, b);
    report.inference.push({ threads, batch: b, browserMs: r3(browserMs[b]), nativeMs: r3(nat), ratio: r2(browserMs[b] / nat) });
    console.log(`inference alone, ${threads} thread(s), batch ${b}: ORT Web ${r3(browserMs[b])} ms/image, onnxruntime-node ${r3(nat)} ms/image, browser/native ${r2(browserMs[b] / nat)}x`);
  }
}

// ---------------------------------------------------------------- the target: preprocessing + CAM < 15% of inference
// Each measured alone in the browser: preprocess and CAM from the stage split, inference = ORT Web at
// batch 32 with the page's thread count (report.pageThreads).
const pageInference = report.inference.find((x) => x.threads === report.pageThreads && x.batch === 32)
  ?? report.inference.find((x) => x.batch === 32);
for (const [name, s] of Object.entries(report.sets)) {
  s.preprocessPlusCamShare = r3((s.split.preprocessMs + s.split.camMs) / pageInference.browserMs);
  console.log(`${name}: (preprocess ${s.split.preprocessMs} + CAM ${s.split.camMs} ms) / inference ${pageInference.browserMs} ms ` +
    `(ORT Web, batch 32, ${pageInference.threads} thread) = ${(100 * s.preprocessPlusCamShare).toFixed(1)} % (target < 15 %)`);
}

// ---------------------------------------------------------------- the ratios (issue 20)
console.log('--- the page end to end against ORT Web alone (batch 32, the page\'s thread count, same rounds; median of ' +
  `${ROUNDS} round${ROUNDS > 1 ? 's' : ''})`);
for (const [name, sets] of Object.entries(report.pipeline.sets)) {
  for (const c of report.pipeline.configs) {
    const v = sets[c];
    console.log(`${name}, ${c}: ${v.imagesPerSecond} images/s = ${v.ratioToOrtAlone}x ORT Web alone (${sets.ortAloneImagesPerSecond} images/s); ` +
      `first result ${v.firstResultMs} ms; mean batch ${v.meanBatch}` +
      (v.warm ? `; the second batch in the page: ${v.warm.imagesPerSecond} images/s = ${v.warm.ratioToOrtAlone}x, first result ${v.warm.firstResultMs} ms, mean batch ${v.warm.meanBatch}` : ''));
  }
}
if (report.tta) {
  const t = report.tta;
  console.log(`TTA (${t.views} views), ${t.images} malaria crops: page ${t.pageSeconds} s (${t.imagesPerSecond} images/s, first result ${t.firstResultMs} ms) ` +
    `against ORT Web alone on ${t.views}x the inputs ${t.ortAloneSeconds} s (batch 256, ${t.ortAloneMsPerInput} ms/input): ${t.ratioToOrtAlone}x; ` +
    `inference in the worker ${t.workerInferMsPerImage} ms/image = ${t.workerInferToOrtAlone}x ${t.views} inputs of ORT Web alone; mean batch ${t.meanBatch}`);
}

await browser.close();
for (const server of servers) server.kill();
mkdirSync(dirname(OUT), { recursive: true });
writeFileSync(OUT, `${JSON.stringify(report, null, 2)}\n`);
console.log(`browser_bench: ${OUT} (load average at start ${report.loadavg.join(', ')}; files: ${basename(pcam[0])}...)`);
