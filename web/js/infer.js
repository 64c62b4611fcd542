// infer.js — the inference worker: ONNX Runtime Web runs the model here so the page stays responsive.
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
// Messages in:
//   { type: 'init', backend: 'auto'|'webgpu'|'wasm', modelJson: text, modelBase (the folder's URL) | modelBytes,
//     batch, threads, tta }
//   An ensemble (model.json "ensemble") gets one session per member, each file checked against its SHA-256;
//   tta: every image also runs as its 8 flips/rotations (cellcam/views.h), probabilities and maps averaged.
//   { type: 'classify', id, tensor: Float32Array (C,H,W), tiles?: {items, tensor (T,C,H,W), ...},
//     view: {width, height} (the size the page shows it at), source: {width, height} }
//   { type: 'render', reqId, cam: Float32Array (h,w), camWidth, camHeight, stitched, view: {width, height} }
// Messages out:
//   { type: 'ready', backend, label, note, threads, adapter, batch, createMs, warmupMs, verifyMs, totalMs, sha256 } | { type: 'failed', message }
//   { type: 'result', id, result }   result: { ok: true, probs, index, label, displayName, score, review, cams,
//     camWidth, camHeight, stitched, camClass, heatmap, tiles?, inferMs, camMs } or { ok: false, code, message }
//   { type: 'rendered', reqId, ok, heatmap | code, message }
// Nothing throws out of a handler: every failure is a message.
import { loadCellcam } from './cellcam.js';
import { sha256Hex } from './sha256.js';

const ORT_DIR = new URL('../vendor/ort/', import.meta.url).href;
const BUNDLES = { wasm: 'ort.wasm.min.mjs', webgpu: 'ort.webgpu.min.mjs' };

let cellcam = null;
let ort = null;
let sessions = [];
let model = null;    // the model's description (info)
let rules = null;    // the wasm Model: every rule after inference (views, combine, decide, tiles, maps)
let tta = false;
let batchSize = 32;
const pending = [];
let pumping = false;

const message = (e) => (e && e.message ? e.message : String(e));

self.onmessage = (event) => {
  const m = event.data;
  if (m.type === 'init') init(m).catch((e) => self.postMessage({ type: 'failed', message: `the model did not load: ${message(e)}` }));
  else if (m.type === 'classify') { pending.push(m); pump(); }
  else if (m.type === 'render') self.postMessage({ type: 'rendered', reqId: m.reqId, ...renderHeatmap(m.cam, m.camWidth, m.camHeight, m.stitched, m.view) });
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
    let bytes = i === 0 && m.modelBytes ? m.modelBytes : null;
    if (!bytes) {
      if (!m.modelBase) throw new Error(`${member.file}: an ensemble's member files load from its folder only`);
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
  ort = await import(ORT_DIR + BUNDLES[choice.backend]);
  ort.env.logLevel = 'error';
  ort.env.wasm.wasmPaths = ORT_DIR;
  ort.env.wasm.proxy = false;
  // Threads need cross-origin isolation (SharedArrayBuffer). One core is left to the decoding worker
  // and the page: on 2 cores, 2 ORT threads were slower than 1 (browser_bench.mjs --threads 2).
  const cores = Math.max(1, self.navigator?.hardwareConcurrency | 0);
  const threads = self.crossOriginIsolated ? Math.max(1, Math.min(4, m.threads > 0 ? m.threads : cores - 1)) : 1;
  ort.env.wasm.numThreads = threads;
  batchSize = m.batch > 0 ? m.batch : choice.backend === 'webgpu' ? 16 : 32;
  const ts = performance.now();
  sessions = [];
  for (const bytes of files) {
    const session = await ort.InferenceSession.create(new Uint8Array(bytes), {
      executionProviders: [choice.backend], graphOptimizationLevel: 'all', logSeverityLevel: 3,
    });
    checkSession(session);
    sessions.push(session);
  }
  const createMs = performance.now() - ts;
  // One run on zeros before saying "ready": the first run pays kernel set-up (and WebGPU shader
  // compilation), which would otherwise land on the first image.
  const tw = performance.now();
  await run(new Float32Array(model.inputShape.reduce((a, b) => a * b, 1)), 1);
  const warmupMs = performance.now() - tw;
  const label = choice.backend === 'webgpu'
    ? `WebGPU${choice.adapter ? ` · ${[choice.adapter.vendor, choice.adapter.architecture].filter(Boolean).join(' ')}` : ''}`
    : `WASM SIMD · ${threads} thread${threads > 1 ? 's' : ''}${self.crossOriginIsolated ? '' : ' (page not cross-origin isolated)'}`;
  self.postMessage({
    type: 'ready', backend: choice.backend, label, note: choice.note, threads, adapter: choice.adapter, batch: batchSize,
    createMs, warmupMs, verifyMs, totalMs: performance.now() - t0, sha256: digest, cellcamVersion: cellcam.version(),
    members: sessions.length, tta, views: tta ? model.viewCount : 1,
  });
}

// The session's inputs and outputs against model.json: a mismatched pair is refused before any image.
function checkSession(session) {
  const names = session.outputNames;
  if (!session.inputNames.includes('input')) throw new Error(`model.onnx has no input named "input" (it has ${session.inputNames.join(', ')})`);
  if (!names.includes('probs')) throw new Error('model.onnx has no "probs" output');
  if (model.cam && !names.includes('cam')) model.cam = null;
  // The classes model.json lists against the probabilities the graph gives (shared model_card.h).
  const dims = (name) => {
    const d = (session.outputMetadata ?? []).find?.((x) => x.name === name);
    return d && Array.isArray(d.shape) ? d.shape.map((v) => (typeof v === 'number' ? v : -1)) : null;
  };
  const probsDims = dims('probs');
  if (probsDims) {
    const checked = rules.checkOutputs(probsDims, model.cam ? dims('cam') : null);
    if (!checked.ok) throw new Error(checked.message);
  }
  const meta = (session.inputMetadata ?? []).find?.((d) => d.name === 'input');
  if (meta && Array.isArray(meta.shape) && meta.shape.length === 4) {
    const [, c, h, w] = meta.shape;
    const want = model.inputShape;
    if ([c, h, w].some((d, i) => typeof d === 'number' && d !== want[i]))
      throw new Error(`model.onnx takes (N,${c},${h},${w}) but model.json's preprocess block makes (${want.join(',')})`);
  }
}

// ---------------------------------------------------------------- classification
async function pump() {
  if (pumping) return;
  pumping = true;
  try {
    while (pending.length > 0) {
      // Let the messages that arrived during the last run be delivered first, so they form one batch
      // (each message would otherwise start a run of its own).
      await new Promise((resolve) => setTimeout(resolve, 0));
      const batch = [];
      if (pending[0].tiles) batch.push(pending.shift());
      else while (batch.length < batchSize && pending.length > 0 && !pending[0].tiles) batch.push(pending.shift());
      try {
        if (batch[0].tiles) await classifyTiled(batch[0]);
        else await classifyBatch(batch);
      } catch (e) {
        // Nothing above should throw; if it does, these images get error rows (the page ignores
        // answers for images it already has one for) and the batch goes on.
        for (const item of batch) post(item.id, { ok: false, code: 'internal', message: `internal error: ${message(e)}` });
      }
    }
  } finally {
    pumping = false;
  }
}

// Runs one session on n stacked (C,H,W) tensors: { probs (n,K), cam: (n,K,h,w) | null, camWidth, camHeight }.
async function runSession(session, stacked, n) {
  const [c, h, w] = model.inputShape;
  const out = await session.run({ input: new ort.Tensor('float32', stacked, [n, c, h, w]) });
  const result = { probs: out.probs ? Float32Array.from(out.probs.data) : new Float32Array(0), cam: null, camWidth: 0, camHeight: 0 };
  if (model.cam && out.cam && out.cam.dims.length === 4) {
    result.cam = Float32Array.from(out.cam.data);
    result.camWidth = out.cam.dims[3];
    result.camHeight = out.cam.dims[2];
  }
  for (const t of Object.values(out)) t.dispose?.();
  return result;
}

// The model on n stacked (C,H,W) tensors: every member, and with TTA every view of every image; the views
// and members are made and combined by the shared C++ (the wasm Model), as `cellcam predict` does.
// -> { probs (n,K), cams: { data (n,K,h,w), h, w } | null, disagreement: Float64Array(n) | null,
//      viewDisagreement: Float64Array(n) | null (one model with TTA: how far its views are from their mean), ms }.
async function run(stacked, n) {
  const input = rules.makeInput(stacked, n, tta);
  if (!input.ok) throw new Error(input.message);
  const t0 = performance.now();
  const outputs = [];
  for (const session of sessions) outputs.push(await runSession(session, input.input, n * input.views));
  const ms = performance.now() - t0;
  const c = rules.combine(outputs, n, tta);
  if (!c.ok) throw new Error(c.message);
  const cams = c.cams ? { data: c.cams, h: c.camHeight, w: c.camWidth } : null;
  return { probs: c.probs, cams, disagreement: c.disagreement, viewDisagreement: c.viewDisagreement, ms };
}

// view: the size the page shows the image at; stitched: the map covers the whole image (tiles).
function renderHeatmap(cam, camWidth, camHeight, stitched, view) {
  if (!rules) return { ok: false, code: 'internal', message: 'no model is loaded' };
  // The heatmap alone: the page blends the overlay itself (cellcam.blendOverlay, the same pixels).
  const r = rules.heatmap({ cam, camWidth, camHeight, width: view.width, height: view.height, stitched: Boolean(stitched) });
  if (!r.ok) return r;
  return { ok: true, heatmap: r.heatmap };
}

function post(id, result, transfer = []) {
  self.postMessage({ type: 'result', id, result }, transfer);
}

function finish(item, probs, cams, camWidth, camHeight, stitched, inferMs, extra = {}, disagreement = null) {
  const d = rules.decide(probs, disagreement);
  if (!d.ok) throw new Error(d.message);
  const t0 = performance.now();
  let heatmap = null;
  let camError = '';
  if (cams) {
    const plane = camWidth * camHeight;
    const r = renderHeatmap(cams.subarray(d.index * plane, (d.index + 1) * plane), camWidth, camHeight, stitched, item.view);
    if (r.ok) heatmap = r.heatmap;
    else camError = r.message;
  }
  const camMs = performance.now() - t0;
  const result = {
    ok: true, probs: Array.from(probs), index: d.index, label: d.label, displayName: d.displayName, score: d.score,
    review: d.review, disagreement, cams, camWidth, camHeight, stitched, camClass: d.index, heatmap, camError, inferMs, camMs,
    ...extra,
  };
  const transfer = [];
  if (cams) transfer.push(cams.buffer);
  if (heatmap) transfer.push(heatmap.data.buffer);
  post(item.id, result, transfer);
}

async function classifyBatch(batch) {
  const n = batch.length;
  const size = batch[0].tensor.length;
  const stacked = new Float32Array(n * size);
  for (let i = 0; i < n; i++) {
    if (batch[i].tensor.length !== size) {  // cannot happen with one spec; refuse rather than misalign
      for (const item of batch) post(item.id, { ok: false, code: 'internal', message: 'tensors of different sizes in one batch' });
      return;
    }
    stacked.set(batch[i].tensor, i * size);
  }
  let out;
  try {
    out = await run(stacked, n);
  } catch (e) {
    for (const item of batch) post(item.id, { ok: false, code: 'inference', message: `inference failed: ${message(e)}` });
    return;
  }
  const K = model.classes.length;
  for (let i = 0; i < n; i++) {
    try {
      let cams = null;
      if (out.cams) {
        const plane = K * out.cams.h * out.cams.w;
        cams = out.cams.data.slice(i * plane, (i + 1) * plane);
      }
      finish(batch[i], out.probs.subarray(i * K, (i + 1) * K), cams, out.cams?.w ?? 0, out.cams?.h ?? 0, false, out.ms / n,
        { batch: n, viewDisagreement: out.viewDisagreement ? out.viewDisagreement[i] : null }, out.disagreement ? out.disagreement[i] : null);
    } catch (e) {
      post(batch[i].id, { ok: false, code: 'internal', message: `internal error: ${message(e)}` });
    }
  }
}

async function classifyTiled(item) {
  try {
    const tiles = item.tiles;
    const T = tiles.items.length;
    const size = model.inputShape.reduce((a, b) => a * b, 1);
    const K = model.classes.length;
    const tileProbs = new Float32Array(T * K);
    let tileCams = null;
    let camW = 0;
    let camH = 0;
    let inferMs = 0;
    for (let start = 0; start < T; start += batchSize) {
      const n = Math.min(batchSize, T - start);
      const out = await run(tiles.tensor.subarray(start * size, (start + n) * size), n);
      inferMs += out.ms;
      tileProbs.set(out.probs, start * K);
      if (out.cams) {
        if (!tileCams) {
          camW = out.cams.w;
          camH = out.cams.h;
          tileCams = new Float32Array(T * K * camW * camH);
        }
        tileCams.set(out.cams.data, start * K * camW * camH);
      }
    }
    const agg = rules.aggregateTiles(tileProbs, tileCams, camW, camH, tiles, item.source.width, item.source.height);
    if (!agg.ok) throw new Error(agg.message);
    const tileInfo = {
      count: T, columns: tiles.columns, rows: tiles.rows, tile: tiles.tile, stride: tiles.stride,
      positive: agg.positiveTiles, best: agg.best,
    };
    finish(item, agg.probs, agg.maps, agg.mapWidth, agg.mapHeight, true, inferMs, { tiles: tileInfo, batch: Math.min(batchSize, T) });
  } catch (e) {
    post(item.id, { ok: false, code: 'inference', message: `inference failed: ${message(e)}` });
  }
}
