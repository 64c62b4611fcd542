#!/usr/bin/env node
// quantize_bench.mjs — float32 vs `cellcam export --quantize fp16|int8` model folders: file size, session
// creation and session.run time in onnxruntime-node and in ONNX Runtime Web (wasm, headless Chromium), and
// how far the quantised graphs' outputs move from the float32 graph's on the same tensors.
//
//   node bench/quantize_bench.mjs --model DIR [--variant NAME=DIR]... [--n 64] [--split SPLIT.csv] [--threads 1,2]
//                                 [--rounds 5] [--no-browser]
//                                 [--out build/bench/quantize_bench.json]
//   e.g. build/cellcam export models/pcam --out runs/q/pcam-int8 --quantize int8 ...
//        node bench/quantize_bench.mjs --model models/pcam --variant fp16=runs/q/pcam-fp16 --variant int8=runs/q/pcam-int8
//
// Tensors: the first N test images of --split (at most all of them), else the first N images of the
// model's dataset under ../shared/data (tests/data, repeated, when absent), preprocessed by the page's own
// wasm pipeline (tests/node/site.mjs), batches of 1 and 32. Each timing is the mean ms per image over all N
// images after one warm-up run, the median (ms) and the fastest (msMin) of --rounds (5) rounds that take
// the variants in turn; sessions at graphOptimizationLevel 'all' (what the page asks for). The browser
// part serves build/web (make site) and hands each model to ORT Web
// as bytes, so nothing is copied into the site. Output diffs are against the --model graph: probs max abs
// diff and decisions changed (model.json's threshold, or the top class); the map of each image's predicted
// class normalised to [0,1] (the page's relative scale): max abs diff and the lowest Pearson correlation;
// every class's map on the absolute scale (P(class) x map / max): max abs diff.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as ort from 'onnxruntime-node';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const argv = process.argv.slice(2);
const arg = (name, fallback) => { const i = argv.indexOf(`--${name}`); return i >= 0 ? argv[i + 1] : fallback; };
const all = (name) => argv.flatMap((a, i) => (a === `--${name}` ? [argv[i + 1]] : []));
let N = Number(arg('n', 64));
const THREADS = arg('threads', '1,2').split(',').map(Number);
const BATCHES = [1, 32];
const ROUNDS = Number(arg('rounds', 5));
const median = (xs) => { const v = [...xs].sort((a, b) => a - b); return v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2; };
const OUT = arg('out', join(root, 'build', 'bench', 'quantize_bench.json'));
const BROWSER = !argv.includes('--no-browser');
const SPLIT = arg('split', '');
const base = resolve(arg('model', join(root, 'models', 'malaria')));
const variants = [['float32', base], ...all('variant').map((v) => { const [n, d] = v.split('='); return [n, resolve(d)]; })];

const r3 = (x) => Math.round(x * 1000) / 1000;
const modelJson = JSON.parse(readFileSync(join(base, 'model.json'), 'utf8'));
const [C, H, W] = modelJson.input.shape.slice(1);
const size = C * H * W;

// ---------------------------------------------------------------- tensors
function images() {
  if (SPLIT) {  // the test part of a split file (`cellcam split`: path,label,group,part; paths as written there)
    const rows = readFileSync(SPLIT, 'utf8').trim().split('\n').slice(1).map((l) => l.split(','));
    return rows.filter((r) => r[r.length - 1] === 'test').slice(0, N).map((r) => resolve(r[0]));
  }
  const name = modelJson.name?.replace(/-.*$/, '');
  const shared = join(root, '..', 'shared', 'data', name ?? '');
  const found = [];
  const walk = (dir) => {
    if (!existsSync(dir) || found.length >= N) return;
    for (const f of readdirSync(dir).sort()) {
      const p = join(dir, f);
      if (statSync(p).isDirectory()) walk(p);
      else if (/\.(png|jpe?g|tiff?)$/i.test(f) && found.length < N) found.push(p);
    }
  };
  walk(shared);
  if (found.length < N) walk(join(root, 'tests', 'data', name ?? 'malaria'));
  return found;
}
const { loadSite } = await import(pathToFileURL(join(root, 'tests', 'node', 'site.mjs')).href);
const { normalise, pearson } = await import(pathToFileURL(join(root, 'tests', 'node', 'cam_compare.mjs')).href);
const { cellcam, UTIF, pipeline } = await loadSite();
const specText = JSON.stringify({ preprocess: modelJson.preprocess });
const tensors = [];
const files = images();
if (SPLIT) N = Math.min(N, files.length);
for (const f of files) {
  const r = pipeline.preprocessFile(cellcam, UTIF, new Uint8Array(readFileSync(f)), specText, { thumbnailSize: 64 });
  if (r.ok) tensors.push(r.tensor);
}
while (tensors.length < N) tensors.push(tensors[tensors.length % Math.max(1, tensors.length)]);
const stacked = new Float32Array(N * size);
tensors.slice(0, N).forEach((t, i) => stacked.set(t, i * size));

// ---------------------------------------------------------------- onnxruntime-node
// ms per image over all N images at batch b, after one warm-up run.
async function timeRuns(session, T, b) {
  const run = (s) => session.run({ input: new T('float32', stacked.slice(s * size, (s + b) * size), [b, C, H, W]) });
  await run(0);
  const t1 = performance.now();
  let n = 0;
  for (let s = 0; s + b <= N; s += b) { await run(s); n += b; }
  return (performance.now() - t1) / n;
}

// Every variant's session first, then ROUNDS rounds that time each variant in turn (the load of a shared
// machine hits all of them alike); the median round per variant and batch.
async function nodeTimes(files, threads) {
  await ort.InferenceSession.create(files[0], { intraOpNumThreads: threads });  // a first session pays the runtime's own set-up
  const sessions = [];
  const createMs = [];
  for (const file of files) {
    const t0 = performance.now();
    sessions.push(await ort.InferenceSession.create(file, { intraOpNumThreads: threads, interOpNumThreads: 1, graphOptimizationLevel: 'all' }));
    createMs.push(performance.now() - t0);
  }
  const rounds = files.map(() => Object.fromEntries(BATCHES.map((b) => [b, []])));
  for (let r = 0; r < ROUNDS; r++)
    for (const b of BATCHES)
      for (let i = 0; i < files.length; i++) rounds[i][b].push(await timeRuns(sessions[i], ort.Tensor, b));
  return files.map((_, i) => ({ createMs: createMs[i], ms: Object.fromEntries(BATCHES.map((b) => [b, median(rounds[i][b])])),
    msMin: Object.fromEntries(BATCHES.map((b) => [b, Math.min(...rounds[i][b])])) }));
}

async function outputs(file) {
  const session = await ort.InferenceSession.create(file, { intraOpNumThreads: 1, graphOptimizationLevel: 'all' });
  return session.run({ input: new ort.Tensor('float32', stacked, [N, C, H, W]) });
}

// ---------------------------------------------------------------- output diffs
// Each image's map of the class the float32 graph predicts (`classes[n]`), normalised as the page's relative
// scale draws it: the largest max abs diff and the lowest correlation.
function mapDiff(got, want, dims, classes) {
  const [, c, h, w] = dims;
  let maxAbs = 0, minCorr = 1;
  classes.forEach((k, n) => {
    const i = n * c + k;
    const g = normalise(Array.from(got.subarray(i * h * w, (i + 1) * h * w)));
    const e = normalise(Array.from(want.subarray(i * h * w, (i + 1) * h * w)));
    for (let j = 0; j < g.length; j++) maxAbs = Math.max(maxAbs, Math.abs(g[j] - e[j]));
    minCorr = Math.min(minCorr, pearson(g, e));
  });
  return { maxAbs, minCorr };
}
// Every class's map on the absolute scale (cellcam/cam.h scale_cam: P(class) x map / its maximum).
function absoluteDiff(got, want, gotProbs, wantProbs, dims) {
  const [n, c, h, w] = dims;
  const scaled = (m, p) => { const max = Math.max(...m); return m.map((v) => (max > 0 ? (p * v) / max : 0)); };
  let worst = 0;
  for (let i = 0; i < n * c; i++) {
    const g = scaled(Array.from(got.subarray(i * h * w, (i + 1) * h * w)), gotProbs[i]);
    const e = scaled(Array.from(want.subarray(i * h * w, (i + 1) * h * w)), wantProbs[i]);
    for (let j = 0; j < g.length; j++) worst = Math.max(worst, Math.abs(g[j] - e[j]));
  }
  return worst;
}
// The decision per image: P(positive) >= threshold (binary), else the top class.
function decisions(probs, c, threshold) {
  return Array.from({ length: probs.length / c }, (_, i) => {
    const row = Array.from(probs.subarray(i * c, (i + 1) * c));
    return threshold === undefined ? row.indexOf(Math.max(...row)) : Number(row[1] >= threshold);
  });
}
function probsDiff(got, want) {
  let m = 0;
  for (let i = 0; i < got.length; i++) m = Math.max(m, Math.abs(got[i] - want[i]));
  return m;
}

// ---------------------------------------------------------------- ORT Web in Chromium
async function browserTimes(models) {
  const SITE = join(root, 'build', 'web');
  if (!existsSync(join(SITE, 'vendor', 'ort', 'ort.wasm.min.mjs'))) throw new Error('build/web is not built: make site');
  const PORT = 18900 + (process.pid % 300);
  const server = spawn(process.execPath, [join(root, 'scripts', 'serve.mjs'), SITE], { env: { ...process.env, PORT: String(PORT) }, stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise((res) => server.stdout.on('data', (d) => { if (String(d).includes('serving')) res(); }));
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({ executablePath: process.env.CELLCAM_CHROMIUM ?? '/usr/bin/chromium', headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking'] });
  const results = {};
  try {
    for (const threads of THREADS) {
      const context = await browser.newContext();
      const page = await context.newPage();
      await page.goto(`http://127.0.0.1:${PORT}/?nosw`);
      const out = await page.evaluate(async ({ models: list, data, count, nt, batches, shape, rounds }) => {
        const ortWeb = await import('/vendor/ort/ort.wasm.min.mjs');
        ortWeb.env.wasm.wasmPaths = new URL('/vendor/ort/', location.href).href;
        ortWeb.env.wasm.numThreads = nt;
        ortWeb.env.logLevel = 'error';
        const all = new Float32Array(Uint8Array.from(atob(data), (c) => c.charCodeAt(0)).buffer);
        const sz = shape[0] * shape[1] * shape[2];
        const sessions = [], createMs = [];
        await ortWeb.InferenceSession.create(Uint8Array.from(atob(list[0]), (c) => c.charCodeAt(0)), { executionProviders: ['wasm'] });  // loads the wasm
        for (const b64 of list) {
          const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
          const t0 = performance.now();
          sessions.push(await ortWeb.InferenceSession.create(bytes, { executionProviders: ['wasm'], graphOptimizationLevel: 'all' }));
          createMs.push(performance.now() - t0);
        }
        const times = sessions.map(() => Object.fromEntries(batches.map((b) => [b, []])));
        for (let r = 0; r < rounds; r++)
          for (const b of batches)
            for (let i = 0; i < sessions.length; i++) {
              const run = (s) => sessions[i].run({ input: new ortWeb.Tensor('float32', all.slice(s * sz, (s + b) * sz), [b, ...shape]) });
              await run(0);
              const t1 = performance.now();
              let n = 0;
              for (let s = 0; s + b <= count; s += b) { await run(s); n += b; }
              times[i][b].push((performance.now() - t1) / n);
            }
        return { createMs, times, isolated: self.crossOriginIsolated };
      }, { models: models.map(([, dir]) => readFileSync(join(dir, 'model.onnx')).toString('base64')), data: Buffer.from(stacked.buffer).toString('base64'),
        count: N, nt: threads, batches: BATCHES, shape: [C, H, W], rounds: ROUNDS });
      if (!out.isolated && threads > 1) console.error('quantize_bench: the page is not cross-origin isolated: ORT Web runs 1 thread');
      models.forEach(([name], i) => {
        results[`${name}/${threads}`] = { createMs: out.createMs[i], ms: Object.fromEntries(BATCHES.map((b) => [b, median(out.times[i][b])])),
          msMin: Object.fromEntries(BATCHES.map((b) => [b, Math.min(...out.times[i][b])])) };
      });
      await context.close();
    }
  } finally {
    await browser.close();
    server.kill();
  }
  return results;
}

// ---------------------------------------------------------------- run
const report = { model: base, n: N, cpus: cpus().length, loadavg: loadavg().map(r3), variants: {} };
const reference = await outputs(join(base, 'model.onnx'));
const nodeRuns = {};
for (const t of THREADS) nodeRuns[t] = await nodeTimes(variants.map(([, dir]) => join(dir, 'model.onnx')), t);
for (const [index, [name, dir]] of variants.entries()) {
  const file = join(dir, 'model.onnx');
  const card = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8'));
  const v = { dir, bytes: statSync(file).size, quantization: card.quantization?.mode ?? 'none', node: {} };
  for (const t of THREADS) v.node[t] = nodeRuns[t][index];
  const out = await outputs(file);
  v.probsMaxAbs = probsDiff(out.probs.data, reference.probs.data);
  const c = out.probs.dims[1];
  const predicted = decisions(reference.probs.data, c, modelJson.threshold);
  v.decisionsChanged = decisions(out.probs.data, c, modelJson.threshold).filter((d, i) => d !== predicted[i]).length;
  for (const k of ['cam', 'hirescam']) {
    v[k] = mapDiff(out[k].data, reference[k].data, out[k].dims, predicted);
    v[k].absoluteMax = absoluteDiff(out[k].data, reference[k].data, out.probs.data, reference.probs.data, out[k].dims);
  }
  report.variants[name] = v;
}
if (BROWSER) {
  const web = await browserTimes(variants);
  for (const [key, r] of Object.entries(web)) {
    const [name, t] = key.split('/');
    (report.variants[name].web ??= {})[t] = r;
  }
}
for (const [name, v] of Object.entries(report.variants)) {
  const times = (o) => Object.entries(o ?? {}).map(([t, r]) => `${t}T b1 ${r3(r.ms[1])} b32 ${r3(r.ms[32])} (create ${Math.round(r.createMs)})`).join('; ');
  console.log(`${name}: ${v.bytes} bytes | node ms/image ${times(v.node)} | web ${times(v.web)} | probs max diff ${v.probsMaxAbs.toExponential(2)}` +
    ` (${v.decisionsChanged} decisions changed) | predicted-class cam max ${v.cam.maxAbs.toExponential(2)} corr ${v.cam.minCorr.toFixed(5)},` +
    ` absolute ${v.cam.absoluteMax.toExponential(2)} | hirescam max ${v.hirescam.maxAbs.toExponential(2)} corr ${v.hirescam.minCorr.toFixed(5)}, absolute ${v.hirescam.absoluteMax.toExponential(2)}`);
}
mkdirSync(dirname(OUT), { recursive: true });
writeFileSync(OUT, JSON.stringify(report, null, 1));
console.log(`quantize_bench: ${OUT}`);
