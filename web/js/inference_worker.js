// inference_worker.js — the inference worker: ONNX Runtime Web runs the model here so the page stays responsive.
// Everything after inference is the shared C++ through a wasm Model made once from model.json: the TTA
// views, combining views and members, the decision and review flag, tile aggregation, the stitched map
// and the heatmap. This file moves tensors between ONNX Runtime and that Model, and decides nothing.
//
// Backend: WebGPU when the browser gives a hardware adapter, otherwise WASM (SIMD; when the page is
// cross-origin isolated, threads: the cores but one, at most 4; one thread otherwise). A software WebGPU adapter (SwiftShader, reported as a
// fallback adapter) is slower than WASM, so "auto" skips it; asking for "webgpu" uses it anyway.
// Each backend is its own ORT build, loaded on demand from vendor/ort/ (scripts/build_site.mjs copies
// exactly these): ort.wasm.min.mjs + ort-wasm-simd-threaded.{mjs,wasm} and ort.webgpu.min.mjs +
// ort-wasm-simd-threaded.asyncify.{mjs,wasm}. The page switches backend by starting a new worker.
//
// WebGPU failing (ORT's WebGPU build not loading, a session not created, the warm-up or a run failing, the
// device lost) is never an error row: at start-up the worker answers { type: 'failed', webgpu: true }, later
// it hands every image it holds back to the page ('webgpu-failed', and so every image sent to it afterwards),
// and the page runs them in a new worker on WASM (engines.js). fault (the page's ?webgpu-fault=, for the
// test of that path): 'create' fails the WebGPU session creation, 'lose' destroys the WebGPU device before
// the first batch, as a lost device would.
//
// Messages in:
//   { type: 'init', backend: 'auto'|'webgpu'|'wasm', modelJson: text, modelBase (the folder's URL) | modelBytes
//     | memberBytes ({file named in model.json: ArrayBuffer}, a folder picked from disk),
//     batch, threads, tta, fault: '' | 'create' | 'lose' }
//   An ensemble (model.json "ensemble") gets one session per member, each file checked against its SHA-256;
//   tta: every image also runs as its 8 flips/rotations (cellcam/views.h), probabilities and maps averaged.
//   { type: 'classify', id, tensor: Float32Array (C,H,W), tiles?: {items, tensor (T,C,H,W), ...},
//     view: {width, height} (the size the page shows it at), source: {width, height},
//     more: how many images of the page's run come after this one (decoding or queued; 0: the last for now),
//     first: the first image of the page's run (a run with it does not wait for a fuller batch),
//     views?: Float32Array (V,C,H,W), the image's TTA views made by the decode worker (Model.makeInput) }
//   { type: 'render', reqId, cam: Float32Array (h,w), camWidth, camHeight, stitched, view: {width, height}, scale, probability }
//   { type: 'drain' }   the page replaced this worker: answer 'drained' (it holds nothing by then)
// Messages out:
//   { type: 'ready', backend, label, note, threads, adapter, batch, createMs, warmupMs, verifyMs, totalMs, sha256 } | { type: 'failed', message, webgpu }
//   { type: 'results', items: [{ id, result }] }   one message per run (a batch's answers together), result: { ok: true, probs, index, label, displayName, score, review, ood, oodScore, cams,
//     camWidth, camHeight, stitched, camClass, heatmap, tiles?, inferMs, camMs, backend, backendLabel } or { ok: false, code, message }
//   { type: 'webgpu-failed', message, items: [the classify messages not answered] }   { type: 'drained' }
//   { type: 'stats', reqId, runs, images, waits, waitMs }   (asked for by { type: 'stats', reqId }): ORT runs so far
//     (tiled images count one run per image), images in them, and the batch-fill waits (below)
//   { type: 'rendered', reqId, ok, heatmap | code, message }
// Nothing throws out of a handler: every failure is a message.
import { loadCellcam } from './cellcam.js';
import { checkSession as checkSession_, createClassifier } from './classify.js';
import { sha256Hex } from './sha256.js';

const ORT_DIR = new URL('../vendor/ort/', import.meta.url).href;
const BUNDLES = { wasm: 'ort.wasm.min.mjs', webgpu: 'ort.webgpu.min.mjs' };
// Batch fill: when fewer images than a batch wait and the page says more are coming, a run waits up to
// FILL_MS for them (each ORT run has a fixed cost, and a run of 1-2 images pays it for each). A run with
// the first image of the page's run, or after the worker was idle for IDLE_MS, does not wait: the first
// result of a drop comes at once.
const FILL_MS = 60;
const IDLE_MS = 500;

let cellcam = null;
let ort = null;
let sessions = [];
let model = null;    // the model's description (info)
let rules = null;    // the wasm Model: every rule after inference (views, combine, decide, tiles, maps)
let classifier = null;  // classify.js over the sessions and the Model
let tta = false;
let batchSize = 32;
const pending = [];
let pumping = false;
let backend = '';     // what runs: 'webgpu' | 'wasm', and its label, on every result
let backendLabel = '';
let fault = '';
let device = null;    // ORT's GPUDevice, when on WebGPU
let current = null;   // the batch being run
let broken = '';      // WebGPU failed: why (every image is handed back from then on)
let fillMs = FILL_MS; // how long a run waits for a batch to fill (?fill=0: not at all)
let expected = 0;     // images the page said are still coming after the last one it sent
let lastRunEnd = -Infinity;
let arrived = null;   // wakes a waiting pump when a classify message arrives
const stats = { runs: 0, images: 0, waits: 0, waitMs: 0 };

const message = (e) => (e && e.message ? e.message : String(e));

self.onmessage = (event) => {
  const m = event.data;
  if (m.type === 'init') init(m).catch((e) => self.postMessage({ type: 'failed', message: e.webgpu ? message(e) : `the model did not load: ${message(e)}`, webgpu: Boolean(e.webgpu) }));
  else if (m.type === 'classify' && broken) handBack([m]);
  else if (m.type === 'classify') { pending.push(m); expected = m.more ?? 0; wake(); pump(); }
  else if (m.type === 'drain') self.postMessage({ type: 'drained' });
  else if (m.type === 'stats') self.postMessage({ type: 'stats', reqId: m.reqId, ...stats });
  else if (m.type === 'render') self.postMessage({ type: 'rendered', reqId: m.reqId, ...renderHeatmap(m.cam, m.camWidth, m.camHeight, m.stitched, m.view, m.scale, m.probability) });
};

// ---------------------------------------------------------------- start-up
async function pickBackend(requested) {
  let adapter = null;
  let adapterInfo = null;
  if (requested !== 'wasm' && self.navigator && self.navigator.gpu) {
    try {
      adapter = await self.navigator.gpu.requestAdapter();
    } catch {
      adapter = null;
    }
    if (adapter) {
      const info = adapter.info ?? {};
      adapterInfo = {
        vendor: info.vendor ?? '', architecture: info.architecture ?? '', description: info.description ?? '',
        fallback: Boolean(info.isFallbackAdapter ?? adapter.isFallbackAdapter),
      };
    }
  }
  const name = adapterInfo ? [adapterInfo.vendor, adapterInfo.architecture || adapterInfo.description].filter(Boolean).join(' ') : '';
  if (requested === 'webgpu') {
    if (adapter) return { backend: 'webgpu', adapter: adapterInfo, note: adapterInfo.fallback ? 'a software adapter: slower than WASM here' : '' };
    return { backend: 'wasm', adapter: null, note: 'WebGPU asked for, but this browser gives no WebGPU adapter: running on WASM' };
  }
  if (requested === 'auto' && adapter && !adapterInfo.fallback) return { backend: 'webgpu', adapter: adapterInfo, note: '' };
  if (requested === 'auto' && adapter) return { backend: 'wasm', adapter: adapterInfo, note: `WebGPU adapter is software (${name}): WASM is faster` };
  return { backend: 'wasm', adapter: adapterInfo, note: requested === 'auto' ? 'no WebGPU adapter' : '' };
}

async function init(m) {
  const t0 = performance.now();
  cellcam = await loadCellcam();
  const opened = cellcam.openModel(m.modelJson);
  if (!opened.ok) throw new Error(opened.message);
  if (rules) rules.delete();
  rules = opened.model;
  model = opened.info;

  // Every member's bytes, checked against model.json before any of them runs.
  const files = [];
  let verifyMs = 0;
  let digest = '';
  for (const [i, member] of model.members.entries()) {
    let bytes = m.memberBytes ? m.memberBytes[member.file] ?? null : i === 0 && m.modelBytes ? m.modelBytes : null;
    if (!bytes) {
      if (!m.modelBase) throw new Error(`${member.file}: an ensemble's member files load from its folder only (choose the folder)`);
      const url = new URL(member.file, m.modelBase).href;
      const response = await fetch(url);
      if (!response.ok) throw new Error(`${member.file}: HTTP ${response.status}`);
      bytes = await response.arrayBuffer();
    }
    const tv = performance.now();
    const d = await sha256Hex(bytes);
    verifyMs += performance.now() - tv;
    if (d !== member.sha256)
      throw new Error(`${member.file} does not match model.json: its SHA-256 is ${d.slice(0, 16)}…, model.json says ${member.sha256.slice(0, 16)}… (refused)`);
    if (i === 0) digest = d;
    files.push(bytes);
  }
  tta = Boolean(m.tta);

  const choice = await pickBackend(m.backend ?? 'auto');
  fault = m.fault ?? '';
  const onGpu = choice.backend === 'webgpu';
  // A failure below on WebGPU: the page retries on WASM (the error says where it failed).
  const gpuFailure = (what, e) => (onGpu ? Object.assign(new Error(`${what}: ${message(e)}`), { webgpu: true }) : e);
  try {
    ort = await import(ORT_DIR + BUNDLES[choice.backend]);
  } catch (e) {
    throw gpuFailure('ONNX Runtime\'s WebGPU build did not load', e);
  }
  ort.env.logLevel = 'error';
  ort.env.wasm.wasmPaths = ORT_DIR;
  ort.env.wasm.proxy = false;
  // Threads need cross-origin isolation (SharedArrayBuffer). One core is left to the decoding worker
  // and the page: on 2 cores, 2 ORT threads were slower than 1 (browser_bench.mjs --threads 2).
  const cores = Math.max(1, self.navigator?.hardwareConcurrency | 0);
  const threads = self.crossOriginIsolated ? Math.max(1, Math.min(4, m.threads > 0 ? m.threads : cores - 1)) : 1;
  ort.env.wasm.numThreads = threads;
  batchSize = m.batch > 0 ? m.batch : choice.backend === 'webgpu' ? 16 : 32;
  fillMs = Number.isFinite(m.fill) && m.fill >= 0 ? Math.min(m.fill, 1000) : FILL_MS;
  const ts = performance.now();
  sessions = [];
  for (const bytes of files) {
    let session;
    try {
      if (onGpu && fault === 'create') throw new Error('simulated by ?webgpu-fault=create');
      session = await ort.InferenceSession.create(new Uint8Array(bytes), {
        executionProviders: [choice.backend], graphOptimizationLevel: 'all', logSeverityLevel: 3,
      });
    } catch (e) {
      throw gpuFailure('the WebGPU session was not created', e);
    }
    checkSession(session);
    sessions.push(session);
  }
  if (onGpu) {
    try {
      device = await ort.env.webgpu.device;
      device.lost.then((info) => lostDevice(`the WebGPU device was lost (${info.message || info.reason})`));
    } catch {
      device = null;  // lost devices then show as failed runs
    }
  }
  const createMs = performance.now() - ts;
  classifier = createClassifier({ rules, model, members: sessions.length, batchSize,
    runMember: (m, input, count) => runSession(sessions[m], input, count) });
  // One run on zeros before saying "ready": the first run pays kernel set-up (and WebGPU shader
  // compilation), which would otherwise land on the first image.
  const tw = performance.now();
  try {
    await classifier.run(new Float32Array(model.inputShape.reduce((a, b) => a * b, 1)), 1, tta);
  } catch (e) {
    throw gpuFailure('the first WebGPU run failed', e);
  }
  const warmupMs = performance.now() - tw;
  const label = choice.backend === 'webgpu'
    ? `WebGPU${choice.adapter ? ` · ${[choice.adapter.vendor, choice.adapter.architecture].filter(Boolean).join(' ')}` : ''}`
    : `WASM SIMD · ${threads} thread${threads > 1 ? 's' : ''}${self.crossOriginIsolated ? '' : ' (page not cross-origin isolated)'}`;
  backend = choice.backend;
  backendLabel = label;
  self.postMessage({
    type: 'ready', backend: choice.backend, label, note: choice.note, threads, adapter: choice.adapter, batch: batchSize,
    createMs, warmupMs, verifyMs, totalMs: performance.now() - t0, sha256: digest, cellcamVersion: cellcam.version(),
    members: sessions.length, tta, views: tta ? model.viewCount : 1,
  });
}

// The session's inputs and outputs against model.json: a mismatched pair is refused before any image.
function checkSession(session) {
  const checked = checkSession_(session, rules, model);
  if (!checked.ok) throw new Error(checked.message);
  if (!checked.cam) model.cam = null;
}

// ---------------------------------------------------------------- classification
// A macrotask turn, so that the classify messages already queued are delivered: a MessageChannel, not
// setTimeout(0), which browsers clamp to 4 ms once timers nest (each run would wait that long).
const channel = new MessageChannel();
const turns = [];
channel.port1.onmessage = () => turns.shift()?.();
const nextTurn = () => new Promise((resolve) => { turns.push(resolve); channel.port2.postMessage(0); });

function wake() {
  const resolve = arrived;
  arrived = null;
  resolve?.();
}

// Images at the head of the queue that can share a run (a tiled image runs alone).
function runnable() {
  let n = 0;
  while (n < pending.length && n < batchSize && !pending[n].tiles) n++;
  return n;
}

// Waits (bounded) for a fuller batch: while fewer than batchSize images wait, the page says more are
// coming and the worker was busy a moment ago (the first run of a drop goes at once).
async function fillBatch() {
  if (fillMs <= 0 || pending[0].tiles || performance.now() - lastRunEnd > IDLE_MS || pending.some((m) => m.first)) return;
  const t0 = performance.now();
  const deadline = t0 + fillMs;
  let waited = false;
  while (!broken && runnable() < batchSize && runnable() === pending.length && expected > 0) {
    const left = deadline - performance.now();
    if (left <= 0) break;
    waited = true;
    await new Promise((resolve) => {
      const timer = setTimeout(wake, left);
      arrived = () => { clearTimeout(timer); resolve(); };
    });
  }
  if (waited) {
    stats.waits++;
    stats.waitMs += performance.now() - t0;
  }
}

async function pump() {
  if (pumping) return;
  pumping = true;
  try {
    while (pending.length > 0 && !broken) {
      // Let the messages that arrived during the last run be delivered first, so they form one batch
      // (each message would otherwise start a run of its own).
      await nextTurn();
      if (pending.length === 0 || broken) break;
      await fillBatch();
      if (pending.length === 0 || broken) break;
      const batch = pending[0].tiles ? [pending.shift()] : pending.splice(0, runnable());
      if (batch.length === 0) break;
      current = batch;
      if (fault === 'lose' && device) {
        fault = '';
        device.destroy();  // as a lost device: the runs fail, device.lost resolves
      }
      let results;
      try {
        results = batch[0].tiles ? [await classifier.classifyTiled(batch[0], tta)] : await classifier.classifyBatch(batch, tta);
      } catch (e) {
        // Nothing above should throw; if it does, these images get error rows (the page ignores
        // answers for images it already has one for) and the batch goes on.
        results = batch.map(() => ({ ok: false, code: 'internal', message: `internal error: ${message(e)}` }));
      }
      lastRunEnd = performance.now();
      stats.runs++;
      stats.images += batch.length;
      if (current !== batch) continue;  // handed back meanwhile (the device was lost during the run)
      current = null;
      const failedRun = results.find((r) => !r.ok && r.code === 'inference');
      if (backend === 'webgpu' && failedRun) {
        lostDevice(`a WebGPU run failed: ${failedRun.message}`, batch);
        break;
      }
      postResults(batch.map((item, i) => [item.id, results[i]]));
    }
  } finally {
    pumping = false;
  }
}

// WebGPU is gone: every image this worker holds (the batch in the model, those waiting) goes back to the
// page, which runs them on WASM. Copies, not transfers: a run still in progress may read them.
function lostDevice(why, batch = current) {
  if (broken) return;
  broken = why;
  const items = [...(batch ?? []), ...pending.splice(0)];
  current = null;
  handBack(items);
}

function handBack(items) {
  self.postMessage({ type: 'webgpu-failed', message: broken, items });
}

// Runs one session on n stacked (C,H,W) tensors: { probs (n,K), cam: (n,K,h,w) | null, camWidth, camHeight,
// ood: (n) | null (the graph's out-of-distribution score, cellcam/ood.h) }.
async function runSession(session, stacked, n) {
  const [c, h, w] = model.inputShape;
  const out = await session.run({ input: new ort.Tensor('float32', stacked, [n, c, h, w]) });
  const result = { probs: out.probs ? Float32Array.from(out.probs.data) : new Float32Array(0), cam: null, camWidth: 0, camHeight: 0 };
  if (model.cam && out.cam && out.cam.dims.length === 4) {
    result.cam = Float32Array.from(out.cam.data);
    result.camWidth = out.cam.dims[3];
    result.camHeight = out.cam.dims[2];
    // Every exported graph also gives HiResCAM, same shape (native/explain/export_model.cpp).
    if (out.hirescam && out.hirescam.dims.join() === out.cam.dims.join()) result.hirescam = Float32Array.from(out.hirescam.data);
  }
  result.ood = out.ood ? Float32Array.from(out.ood.data) : null;
  for (const t of Object.values(out)) t.dispose?.();
  return result;
}

// view: the size the page shows the image at; stitched: the map covers the whole image (tiles).
// scale: 'relative' | 'absolute' (with probability, the explained class's), cellcam/cam.h scale_cam.
function renderHeatmap(cam, camWidth, camHeight, stitched, view, scale, probability) {
  if (!rules) return { ok: false, code: 'internal', message: 'no model is loaded' };
  // The heatmap alone: the page blends the overlay itself (cellcam.blendOverlay, the same pixels).
  const r = rules.heatmap({ cam, camWidth, camHeight, width: view.width, height: view.height, stitched: Boolean(stitched), scale, probability });
  if (!r.ok) return r;
  return { ok: true, heatmap: r.heatmap };
}

// A run's results to the page in one message: the maps and the heatmaps travel as transfers, not copies.
function postResults(pairs) {
  const transfer = [];
  const items = pairs.map(([id, result]) => {
    if (result.ok) Object.assign(result, { backend, backendLabel });
    if (result.ok && result.cams) transfer.push(result.cams.buffer);
    if (result.ok && result.hiresCams) transfer.push(result.hiresCams.buffer);
    if (result.ok && result.heatmap) transfer.push(result.heatmap.data.buffer);
    return { id, result };
  });
  self.postMessage({ type: 'results', items }, [...new Set(transfer)]);
}
