// app.js — the page: pick a model (shipped, or the user's own model.onnx + model.json, verified against
// its SHA-256), collect dropped or picked files (folders too), decode them in one worker (worker.js),
// classify them in another (infer.js, ONNX Runtime Web), and stream rows with a thumbnail, the class,
// a probability bar per class, the refer-for-review flag and a Grad-CAM overlay. Sort, filter, export.
// Nothing is uploaded: files are read with the File API and processed in this tab; the only requests
// are for the page's own files (its Content-Security-Policy allows nothing else).
//
// No exception escapes into the page: a failure for one file becomes its error row, a failure of the
// model or a worker becomes a visible message (#alert) and the status pill; window-level handlers catch
// anything else and show it the same way.
//
// URL parameters (for testing and benchmarking): ?backend=auto|webgpu|wasm  ?batch=N  ?threads=N  ?model=ID
import { loadCellcam } from './cellcam.js';

const IMAGE_EXTENSIONS = /\.(png|jpe?g|tiff?|bmp|gif|tga)$/i;
const FILE_TIMEOUT_MS = 20000;               // a decoder that takes longer is abandoned (worker restarted)
const MAX_FILE_BYTES = 512 * 1024 * 1024;    // larger files are refused before they are read
const VIEW_MAX = 1024;                       // longer side of the image kept for overlays and the large view
const THUMB_CSS = 104;                       // row thumbnail box, CSS pixels
const MAX_AHEAD = 48;                        // decoded images waiting for the model, at most
const DEFAULT_ALPHA = 0.5;                   // the shared renderer's default (cellcam gradcam --alpha)

const params = new URLSearchParams(location.search);
const $ = (id) => document.getElementById(id);

const state = {
  models: [],          // [{ id, folder, title, default }] from models/index.json, + the user's own
  choice: null,        // the chosen model: { id, title, source, text, parsed, url | bytes, readme }
  queue: [],
  rows: [],
  total: 0,
  running: false,
  stopRequested: false,
  started: 0,
  batchStart: 0,
  cam: { on: true, cls: 'predicted', alpha: DEFAULT_ALPHA },
  viewTimer: 0,
  viewer: null,        // the row open in the large view
  skipped: 0,
};

// ---------------------------------------------------------------- messages
// The wasm module on the main thread too: it reads model.json (the shared C++ model card) and blends the
// overlay at the slider's opacity; the workers hold their own copies for decoding and for the rules.
const cellcamReady = loadCellcam();
let cellcamMain = null;
cellcamReady.then((c) => { cellcamMain = c; }, () => {});

// model.json text -> the model's description, read by the shared C++ (cellcam/model_card.h), or the error.
async function readModelJson(text) {
  const cellcam = await cellcamReady;
  const opened = cellcam.openModel(text);
  if (!opened.ok) return opened;
  opened.model.delete();  // the page keeps the description; the workers hold the rules
  return opened.info;
}

function showAlert(text) {
  $('alert-text').textContent = text;
  $('alert').hidden = false;
}
window.addEventListener('error', (e) => {
  showAlert(`Unexpected error: ${e.message || e.error || 'unknown'}`);
  e.preventDefault();
});
window.addEventListener('unhandledrejection', (e) => {
  const r = e.reason;
  showAlert(`Unexpected error: ${r && r.message ? r.message : r}`);
  e.preventDefault();
});
const errorText = (e) => (e && e.message ? e.message : String(e));

function setStatus(text, kind = '') {
  $('engine-status').textContent = text;
  $('engine-status').dataset.kind = kind;
}

// ---------------------------------------------------------------- small DOM helper
function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = v;
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k in el && typeof v !== 'string') el[k] = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) el.append(c);
  return el;
}
const fmt = (p, digits = 3) => (Number.isFinite(p) ? p.toFixed(digits) : '');

// ---------------------------------------------------------------- decode worker (worker.js)
// Files are handed over DECODE_AHEAD at a time, so the worker decodes the next one while the page
// handles the last. The worker takes them in order; the one it is on has FILE_TIMEOUT_MS: past that the
// worker is abandoned (a decoder that never returns), the file gets a timeout row, and the files waiting
// behind it go to a fresh worker.
const DECODE_AHEAD = 2;
const decoder = { worker: null, ready: null, waiting: [], timer: 0 };

function startDecoder() {
  const worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
  decoder.worker = worker;
  worker.addEventListener('error', (e) => { e.preventDefault(); });
  decoder.ready = new Promise((resolve) => {
    worker.addEventListener('message', function onReady(e) {
      if (e.data.type === 'ready' || e.data.type === 'failed') {
        worker.removeEventListener('message', onReady);
        resolve(e.data);
      }
    });
  });
  worker.addEventListener('message', (e) => {
    if (e.data.type !== 'result' || worker !== decoder.worker) return;
    const i = decoder.waiting.findIndex((w) => w.row.id === e.data.id);
    if (i < 0) return;
    const [entry] = decoder.waiting.splice(i, 1);
    entry.resolve(e.data.result);
    armDecodeTimer();
  });
  return decoder.ready;
}

function armDecodeTimer() {
  clearTimeout(decoder.timer);
  decoder.timer = 0;
  const head = decoder.waiting[0];
  if (!head) return;
  decoder.timer = setTimeout(() => {
    decoder.waiting.shift();
    decoder.worker.terminate();
    const rest = decoder.waiting.splice(0);
    startDecoder();
    head.resolve({ ok: false, code: 'timeout', message: `gave up after ${FILE_TIMEOUT_MS / 1000} s decoding this file` });
    for (const entry of rest) postDecode(entry);
  }, FILE_TIMEOUT_MS);
}

function postDecode(entry) {
  decoder.waiting.push(entry);
  if (decoder.waiting.length === 1) armDecodeTimer();
  const worker = decoder.worker;
  entry.row.file.arrayBuffer().then(
    (bytes) => {
      if (worker === decoder.worker) worker.postMessage({ id: entry.row.id, bytes, modelJson: entry.modelJson, options: entry.options }, [bytes]);
    },
    (err) => {
      const i = decoder.waiting.indexOf(entry);
      if (i >= 0) decoder.waiting.splice(i, 1);
      if (i === 0) armDecodeTimer();
      entry.resolve({ ok: false, code: 'io', message: `could not read the file: ${errorText(err)}` });
    },
  );
}

// row -> Promise of the worker's result (pipeline.js), or an error result; never rejects.
function decodeInWorker(row, modelJson, options) {
  return new Promise((resolve) => postDecode({ row, modelJson, options, resolve }));
}

// ---------------------------------------------------------------- inference worker (infer.js)
const engine = { worker: null, ready: null, info: null, pending: new Map(), renders: new Map(), nextReq: 1, generation: 0 };

function failPending(message) {
  for (const [, resolve] of engine.pending) resolve({ ok: false, code: 'inference', message });
  engine.pending.clear();
  for (const [, resolve] of engine.renders) resolve({ ok: false, code: 'inference', message });
  engine.renders.clear();
}

function startEngine() {
  const choice = state.choice;
  if (engine.worker) engine.worker.terminate();
  failPending('the model was restarted');
  const generation = ++engine.generation;
  engine.info = null;
  document.body.dataset.engine = 'loading';
  setStatus(`loading ${choice.parsed.name}…`);
  $('backend-label').textContent = '';
  const worker = new Worker(new URL('./infer.js', import.meta.url), { type: 'module' });
  engine.worker = worker;
  engine.ready = new Promise((resolve) => {
    const failed = (message) => {
      if (generation !== engine.generation) return;
      engine.info = { ok: false, message };
      document.body.dataset.engine = 'failed';
      setStatus('model not loaded', 'bad');
      $('backend-label').textContent = '';
      showAlert(message);
      renderModelCard();
      failPending(message);
      resolve(engine.info);
    };
    worker.addEventListener('error', (e) => {
      e.preventDefault();
      failed(`the inference worker stopped: ${e.message || 'unknown error'}`);
    });
    worker.addEventListener('message', (e) => {
      const m = e.data;
      if (generation !== engine.generation) return;
      if (m.type === 'ready') {
        engine.info = { ok: true, ...m };
        document.body.dataset.engine = 'ready';
        document.body.dataset.backend = m.backend;
        setStatus(`${choice.parsed.name} ${choice.parsed.version ? `v${choice.parsed.version}` : ''} · ${m.backend === 'webgpu' ? 'WebGPU' : 'WASM'} · ready`, 'ok');
        $('backend-label').textContent = m.label + (m.note ? ` — ${m.note}` : '');
        $('version').textContent = `v${m.cellcamVersion}`;
        performance.mark('cellcam-ready');
        renderModelCard();
        resolve(engine.info);
      } else if (m.type === 'failed') {
        failed(m.message);
      } else if (m.type === 'result') {
        const resolveResult = engine.pending.get(m.id);
        engine.pending.delete(m.id);
        if (resolveResult) resolveResult(m.result);
      } else if (m.type === 'rendered') {
        const resolveRender = engine.renders.get(m.reqId);
        engine.renders.delete(m.reqId);
        if (resolveRender) resolveRender(m);
      }
    });
  });
  const init = {
    type: 'init', backend: $('backend').value, modelJson: choice.text,
    batch: Number(params.get('batch')) || 0, threads: Number(params.get('threads')) || 0, tta: $('tta').checked,
  };
  if (choice.bytes) init.modelBytes = choice.bytes.slice(0);
  else init.modelBase = new URL(choice.base, location.href).href;
  worker.postMessage(init, init.modelBytes ? [init.modelBytes] : []);
  return engine.ready;
}

function classifyInEngine(row, decoded) {
  return new Promise((resolve) => {
    engine.pending.set(row.id, resolve);
    // The view's pixels stay here: the worker needs only its size (to draw the heatmap at it).
    row.view = decoded.thumbnail;
    const view = { width: decoded.thumbnail.width, height: decoded.thumbnail.height };
    const msg = { type: 'classify', id: row.id, tensor: decoded.tensor, view, source: decoded.source };
    const transfer = [decoded.tensor.buffer];
    if (decoded.tiles) {
      msg.tiles = decoded.tiles;
      transfer.push(decoded.tiles.tensor.buffer);
    }
    try {
      engine.worker.postMessage(msg, transfer);
    } catch (e) {
      engine.pending.delete(row.id);
      resolve({ ok: false, code: 'internal', message: `could not hand the image to the model: ${errorText(e)}` });
    }
  });
}

// The heatmap of another class for a row, drawn by the shared renderer in the inference worker.
async function renderInEngine(row, cls) {
  const info = await engine.ready;  // after a backend switch, the new worker draws
  return new Promise((resolve) => {
    if (!info || !info.ok) {
      resolve({ ok: false, message: 'the model is not loaded' });
      return;
    }
    const reqId = engine.nextReq++;
    engine.renders.set(reqId, resolve);
    const plane = row.result.camWidth * row.result.camHeight;
    const cam = row.result.cams.slice(cls * plane, (cls + 1) * plane);
    engine.worker.postMessage({
      type: 'render', reqId, cam, camWidth: row.result.camWidth, camHeight: row.result.camHeight,
      stitched: row.result.stitched, view: { width: row.view.width, height: row.view.height },
    });
  });
}

// ---------------------------------------------------------------- models
async function loadModelIndex() {
  const response = await fetch('models/index.json');
  if (!response.ok) throw new Error(`models/index.json: HTTP ${response.status}`);
  const { models } = await response.json();
  if (!Array.isArray(models) || models.length === 0) throw new Error('models/index.json lists no model');
  state.models = models.map((m) => ({ ...m, source: 'shipped' }));
  const select = $('model');
  select.textContent = '';
  for (const m of state.models) select.append(h('option', { value: m.id, text: m.title || m.id }));
  select.append(h('option', { value: '__own__', text: 'Your own model (model.onnx + model.json)…' }));
  const wanted = params.get('model');
  const initial = state.models.find((m) => m.id === wanted) ?? state.models.find((m) => m.default) ?? state.models[0];
  select.value = initial.id;
  return initial;
}

async function chooseShipped(entry) {
  const base = `models/${entry.folder}/`;
  const response = await fetch(`${base}model.json`);
  if (!response.ok) throw new Error(`${base}model.json: HTTP ${response.status}`);
  const text = await response.text();
  const parsed = await readModelJson(text);
  if (!parsed.ok) throw new Error(parsed.message);
  setChoice({ id: entry.id, title: entry.title, source: 'shipped', text, parsed, base, readme: `${base}README.md` });
}

async function chooseOwn(files) {
  const onnx = files.filter((f) => /\.onnx$/i.test(f.name));
  const json = files.filter((f) => /\.json$/i.test(f.name));
  if (onnx.length !== 1 || json.length !== 1) {
    showAlert(`Choose exactly one .onnx and one .json file (the folder \`cellcam export\` writes); got ${onnx.length} and ${json.length}.`);
    return false;
  }
  const text = await json[0].text();
  const parsed = await readModelJson(text);
  if (!parsed.ok) {
    showAlert(`${json[0].name}: ${parsed.message}`);
    return false;
  }
  const bytes = await onnx[0].arrayBuffer();
  setChoice({ id: '__own__', title: `${parsed.name} (your files)`, source: 'own', text, parsed, bytes, fileName: onnx[0].name });
  const option = [...$('model').options].find((o) => o.value === '__own__');
  option.textContent = `Your model: ${parsed.name} (${onnx[0].name}) — choose another…`;
  $('model').value = '__own__';
  $('own-model-box').hidden = false;
  return true;
}

function setChoice(choice) {
  state.choice = choice;
  const m = choice.parsed;
  $('tile').value = m.tileSettings.tile;
  if (!$('tile-above').value) $('tile-above').value = m.tileSettings.above;
  // TTA as the model's folder recommends (model.json "tta"; `?tta=1|0` overrides, for tests and links).
  $('tta').checked = params.has('tta') ? params.get('tta') === '1' : m.tta.default;
  buildClassSelects();
  renderModelCard();
  startEngine();
}

function renderModelCard() {
  const card = $('model-card');
  card.textContent = '';
  const choice = state.choice;
  if (!choice) return;
  const m = choice.parsed;
  const rules = m.rules;
  const metrics = [];
  if (m.metrics) {
    if (Number.isFinite(m.metrics.accuracy)) metrics.push(`accuracy ${(100 * m.metrics.accuracy).toFixed(1)} %`);
    if (Number.isFinite(m.metrics.roc_auc)) metrics.push(`ROC AUC ${m.metrics.roc_auc.toFixed(3)}`);
    if (m.metrics.macro && Number.isFinite(m.metrics.macro.f1)) metrics.push(`macro F1 ${m.metrics.macro.f1.toFixed(3)}`);
  }
  const info = engine.info;
  const verified = info && info.ok
    ? h('span', { class: 'ok', text: `✓ SHA-256 ${m.sha256.slice(0, 12)}… verified` })
    : info && !info.ok ? h('span', { class: 'bad', text: `✗ ${info.message}` }) : h('span', { class: 'muted', text: `SHA-256 ${m.sha256.slice(0, 12)}… checking…` });
  card.append(
    h('div', {},
      h('strong', { text: m.name }), m.version ? ` v${m.version}` : '',
      ` · ${m.head} · ${m.classes.join(', ')} · input ${m.inputShape.join('×')}`,
      metrics.length ? ` · held-out ${metrics.join(', ')}` : '',
      choice.readme ? [' · ', h('a', { href: choice.readme, target: '_blank', rel: 'noopener', text: 'model card (intended use, limits)' })] : '',
      choice.source === 'own' ? ` · from ${choice.fileName}` : '',
      ' · ', verified),
    h('div', { class: 'muted' }, `Class: ${rules.decision}. Review: ${rules.review}. ${rules.tiles[0].toUpperCase()}${rules.tiles.slice(1)}.` +
      (m.temperature !== 1 ? ` Probabilities calibrated by temperature scaling (T = ${m.temperature.toFixed(2)}, fitted on validation).` : '') +
      (m.ensemble ? ` An ensemble of ${m.members.length} models (${m.ensemble.method === 'stacking' ? 'stacking: a logistic regression on their probabilities' : 'soft voting'}; ` +
        `Grad-CAM: the weighted mean of their maps)${m.ensemble.review ? `, referred when the members disagree by ≥ ${m.ensemble.review.cutoff.toFixed(3)}` : ''}.` : '') +
      ` Test-time augmentation: ${$('tta').checked ? 'on, each image also seen as its 8 flips/rotations (8× the inference time)' : 'off'}` +
      `${m.tta.note ? ` (${m.tta.note})` : ''}.`),
  );
}

function buildClassSelects() {
  const classes = state.choice.parsed.classes;
  const all = $('cam-class-all');
  all.textContent = '';
  all.append(h('option', { value: 'predicted', text: 'predicted class' }));
  classes.forEach((c, i) => all.append(h('option', { value: String(i), text: c })));
  all.value = state.cam.cls === 'predicted' || Number(state.cam.cls) >= classes.length ? 'predicted' : String(state.cam.cls);
  const filter = $('filter');
  const old = filter.value;
  filter.textContent = '';
  filter.append(h('option', { value: 'all', text: 'All images' }));
  const labels = new Set(classes);
  for (const r of state.rows) if (r.result) labels.add(r.result.label);
  for (const c of labels) filter.append(h('option', { value: `class:${c}`, text: `Predicted ${c}` }));
  filter.append(h('option', { value: 'review', text: 'Refer for review' }));
  filter.append(h('option', { value: 'errors', text: 'Errors' }));
  filter.value = [...filter.options].some((o) => o.value === old) ? old : 'all';
}

// ---------------------------------------------------------------- collecting files
async function filesFromDataTransfer(dt) {
  const entries = [...dt.items].map((it) => (it.webkitGetAsEntry ? it.webkitGetAsEntry() : null));
  if (entries.every((e) => e === null)) return [...dt.files].map((file) => ({ file, path: file.name }));
  const out = [];
  const walk = async (entry, prefix, fromFolder) => {
    if (!entry) return;
    if (entry.isFile) {
      const file = await new Promise((res, rej) => entry.file(res, rej)).catch(() => null);
      // Files inside folders are filtered by extension; files dropped by name are always tried.
      if (file && (!fromFolder || IMAGE_EXTENSIONS.test(file.name))) out.push({ file, path: prefix + file.name });
      else if (file) state.skipped++;
    } else if (entry.isDirectory) {
      const reader = entry.createReader();
      for (;;) {
        const batch = await new Promise((res) => reader.readEntries(res, () => res([])));
        if (batch.length === 0) break;
        for (const child of batch) await walk(child, `${prefix}${entry.name}/`, true);
      }
    }
  };
  for (const entry of entries) await walk(entry, '', false);
  return out;
}

function filesFromInput(input, fromFolder) {
  const all = [...input.files];
  const kept = all.filter((f) => !fromFolder || IMAGE_EXTENSIONS.test(f.name));
  state.skipped += all.length - kept.length;
  return kept.map((file) => ({ file, path: file.webkitRelativePath || file.name }));
}

// ---------------------------------------------------------------- rows
function makeRow(item) {
  const row = {
    id: state.total++, file: item.file, path: item.path, status: 'waiting', decoded: null, result: null, error: null,
    view: null, heat: new Map(), cam: { ...state.cam }, el: {},
  };
  const canvas = h('canvas', { class: 'thumb', width: 1, height: 1 });
  // The context is made before the canvas is in the document: made later, it forces a style and
  // layout pass of the page for every row.
  const ctx = canvas.getContext('2d');
  const thumbButton = h('button', { type: 'button', class: 'thumb-button', disabled: true, 'aria-label': `Open ${item.path} larger`, onclick: () => openViewer(row) }, canvas);
  row.el = {
    tr: h('div', { 'data-id': String(row.id), class: 'row pending', role: 'row' }),
    num: h('div', { class: 'num', role: 'cell', text: String(row.id + 1) }),
    thumb: h('div', { class: 'thumb-cell', role: 'cell' }, thumbButton),
    thumbButton,
    canvas,
    ctx,
    file: h('div', { class: 'file', role: 'cell' }, h('div', { class: 'name', text: item.path }), h('div', { class: 'meta muted', text: 'waiting' })),
    result: h('div', { class: 'result', role: 'cell' }),
    probs: h('div', { class: 'probs', role: 'cell' }),
    camCell: h('div', { class: 'cam', role: 'cell' }),
  };
  row.el.tr.append(row.el.num, row.el.thumb, row.el.file, row.el.result, row.el.probs, row.el.camCell);
  $('results').append(row.el.tr);
  state.rows.push(row);
  $('empty').hidden = true;
  return row;
}

function setMeta(row, text) {
  row.el.file.querySelector('.meta').textContent = text;
}

function describeSource(row) {
  const d = row.decoded;
  if (!d) return '';
  const s = d.source;
  let text = `${d.format} ${s.width}×${s.height}, ${s.channels === 1 ? 'gray' : s.channels === 2 ? 'gray+alpha' : s.channels === 3 ? 'RGB' : 'RGBA'} ${s.bits}-bit`;
  const t = row.result && row.result.tiles;
  if (t) text += ` · ${t.count} tiles of ${t.tile} px`;
  return text;
}

function classColour(model, index) {
  if (model.head === 'binary') return index === 1 ? 'pos' : 'neg';
  return `c${index % 8}`;
}

function fillError(row, code, message) {
  row.status = 'error';
  row.error = { code, message };
  const { tr, thumb, file, result, probs, camCell } = row.el;
  tr.className = 'row error';
  thumb.textContent = '';
  thumb.append(h('span', { class: 'no-thumb', 'aria-hidden': 'true', text: '—' }));
  setMeta(row, row.decoded ? describeSource(row) : '');
  result.textContent = '';
  result.append(h('div', { class: 'err', text: message }), h('div', { class: 'code', text: code }));
  probs.remove();
  camCell.remove();
  file.title = row.path;
}

function probabilityBars(model, probs, predicted) {
  return h('div', { class: 'pbars' }, model.classes.map((c, k) => {
    const fill = h('span', { class: `fill ${classColour(model, k)}` });
    fill.style.width = `${Math.max(0, Math.min(1, probs[k])) * 100}%`;
    return h('div', { class: `pbar${k === predicted ? ' predicted' : ''}` },
      h('span', { class: 'cls', text: c, title: c }),
      h('span', { class: 'track', 'aria-hidden': 'true' }, fill),
      h('span', { class: 'val', text: fmt(probs[k]) }));
  }));
}

function resultBadges(model, r) {
  const score = model.head === 'binary' ? `P(${model.classes[1]}) = ${fmt(r.score, 4)}` : `top-1 ${fmt(r.score, 4)}`;
  return [
    h('span', { class: `badge ${classColour(model, r.index)}`, text: r.label }),
    r.review ? h('span', { class: 'flag', title: model.ensemble && model.ensemble.review && r.disagreement !== null
      ? `The members disagree by ${fmt(r.disagreement)} (refer at ≥ ${fmt(model.ensemble.review.cutoff)})`
      : `In the uncertainty band ${model.reviewBand.map((v) => fmt(v)).join('–')}`, text: '⚑ Refer for review' }) : null,
    Number.isFinite(r.disagreement) ? h('div', { class: 'muted', title: 'how far the ensemble\u2019s members are from their mean (0: they agree)', text: `members disagree ${fmt(r.disagreement)}` }) : null,
    Number.isFinite(r.viewDisagreement) ? h('div', { class: 'muted', title: 'test-time augmentation: how far the 8 flipped/rotated views\u2019 probabilities are from their mean (0: they agree, at most 1); a second uncertainty score beside the probability', text: `views disagree ${fmt(r.viewDisagreement)}` }) : null,
    h('div', { class: 'score muted', text: score }),
    r.tiles ? h('div', { class: 'score muted', text: model.head === 'binary' ? `${r.tiles.positive} of ${r.tiles.count} tiles positive` : `${r.tiles.count} tiles, mean` }) : null,
  ];
}

function fillResult(row) {
  const r = row.result;
  const model = row.model;
  row.status = 'done';
  const { tr, result, probs, camCell, thumbButton } = row.el;
  tr.className = r.review ? 'row review' : 'row';
  setMeta(row, describeSource(row));
  result.textContent = '';
  result.append(...resultBadges(model, r).filter(Boolean));
  probs.textContent = '';
  probs.append(probabilityBars(model, r.probs, r.index));
  thumbButton.disabled = false;
  camCell.textContent = '';
  if (r.cams) {
    const toggle = h('input', { type: 'checkbox', checked: row.cam.on, 'aria-label': `Grad-CAM overlay for ${row.path}` });
    const select = h('select', { 'aria-label': `Grad-CAM class for ${row.path}` },
      model.classes.map((c, i) => h('option', { value: String(i), text: c })));
    const alpha = h('input', { type: 'range', min: '0', max: '1', step: '0.05', value: String(row.cam.alpha), 'aria-label': `Overlay opacity for ${row.path}` });
    select.value = String(camClassOf(row));
    toggle.addEventListener('change', () => { row.cam.on = toggle.checked; drawRow(row); });
    select.addEventListener('change', () => { row.cam.cls = Number(select.value); drawRow(row); });
    alpha.addEventListener('input', () => { row.cam.alpha = Number(alpha.value); drawRow(row); });
    row.el.camToggle = toggle;
    row.el.camSelect = select;
    row.el.camAlpha = alpha;
    camCell.append(h('label', { class: 'check' }, toggle, ' overlay'), select, alpha);
    if (r.camError) camCell.append(h('div', { class: 'err small', text: r.camError }));
  } else {
    camCell.append(h('span', { class: 'muted', text: 'no CAM output' }));
  }
  drawRow(row);
}

function camClassOf(row) {
  const c = row.cam.cls;
  return c === 'predicted' || !(Number(c) < row.model.classes.length) ? row.result.index : Number(c);
}

// The pixels to show for a row: the image, or the overlay at its opacity (re-blended here exactly as
// the shared renderer blends; the heatmap itself comes from the wasm module).
async function composed(row) {
  const view = row.view;
  if (!row.cam.on || !row.result.cams) return view.data;
  const cls = camClassOf(row);
  let heat = row.heat.get(cls);
  if (!heat) {
    const r = await renderInEngine(row, cls);
    if (!r.ok) {
      showAlert(`Grad-CAM for ${row.path}: ${r.message}`);
      return view.data;
    }
    heat = r.heatmap.data;
    row.heat.set(cls, heat);
  }
  const blended = cellcamMain ? cellcamMain.blendOverlay(view.data, heat, row.cam.alpha) : null;
  if (!blended || blended.ok === false) return view.data;
  return blended;
}

const scratch = document.createElement('canvas');

async function drawRow(row) {
  const token = (row.drawToken = (row.drawToken ?? 0) + 1);
  const pixels = await composed(row);
  if (token !== row.drawToken) return;
  const { width, height } = row.view;
  const canvas = row.el.canvas;
  const image = new ImageData(pixels, width, height);
  if (Math.max(width, height) <= 2 * THUMB_CSS) {
    // Cell crops and patches: the pixels themselves; CSS scales the canvas into the box.
    if (canvas.width !== width || canvas.height !== height) {
      canvas.width = width;
      canvas.height = height;
    }
    row.el.ctx.putImageData(image, 0, 0);
  } else {
    // Large images: a reduced copy (the large view shows every pixel).
    scratch.width = width;
    scratch.height = height;
    scratch.getContext('2d').putImageData(image, 0, 0);
    const scale = (2 * THUMB_CSS) / Math.max(width, height);
    canvas.width = Math.max(1, Math.round(width * scale));
    canvas.height = Math.max(1, Math.round(height * scale));
    const ctx = row.el.ctx;
    ctx.imageSmoothingQuality = 'medium';
    ctx.drawImage(scratch, 0, 0, canvas.width, canvas.height);
    scratch.width = 1;
    scratch.height = 1;
  }
  canvas.dataset.drawn = row.cam.on && row.result.cams ? `overlay:${camClassOf(row)}` : 'image';
  if (state.viewer === row) drawViewer(row, pixels);
}

// ---------------------------------------------------------------- the batch
function decodeOptions() {
  const tile = Math.max(8, Number($('tile').value) || 0);
  const above = Math.max(0, Number($('tile-above').value) || 0);
  return { thumbnailSize: VIEW_MAX, tile: above > 0 ? tile : 0, stride: tile, tileAbove: above, maxTiles: 4096 };
}

function enqueue(items) {
  if (state.skipped > 0) {
    showAlert(`${state.skipped} file${state.skipped > 1 ? 's' : ''} in the folder skipped: not an image by its extension (png, jpg, tif, bmp, gif, tga).`);
    state.skipped = 0;
  }
  if (items.length === 0) return;
  for (const it of items) state.queue.push(makeRow(it));
  if (!state.running) runQueue().catch((e) => showAlert(`The batch stopped: ${errorText(e)}`));
  updateProgress();
  scheduleView();
}

async function runQueue() {
  state.running = true;
  state.stopRequested = false;
  state.started = performance.now();
  state.batchStart = state.rows.filter((r) => r.status === 'done' || r.status === 'error').length;
  setControlsBusy(true);
  updateProgress();
  const inflight = new Set();
  const ahead = [];  // [{ row, decoding: Promise }] handed to the decode worker, in order
  const startDecode = (row) => {
    row.status = 'decoding';
    setMeta(row, 'decoding…');
    if (!state.choice) return Promise.resolve({ ok: false, code: 'no_model', message: 'not classified: no model is loaded' });
    if (row.file.size > MAX_FILE_BYTES)
      return Promise.resolve({ ok: false, code: 'too_large', message: `file is ${(row.file.size / 1048576).toFixed(0)} MB; the page reads files up to ${MAX_FILE_BYTES / 1048576} MB` });
    return decodeInWorker(row, state.choice.text, decodeOptions());
  };
  try {
    await decoder.ready;
    while ((state.queue.length > 0 || ahead.length > 0) && !state.stopRequested) {
      while (ahead.length < DECODE_AHEAD && state.queue.length > 0) {
        const next = state.queue.shift();
        ahead.push({ row: next, decoding: startDecode(next) });
      }
      const { row, decoding } = ahead.shift();
      const decoded = await decoding;
      if (!decoded.ok) {
        fillError(row, decoded.code, decoded.message);
        finished(row);
        continue;
      }
      row.decoded = { format: decoded.format, source: decoded.source, preview: decoded.preview, shape: decoded.shape, ms: decoded.ms };
      const info = await engine.ready;
      if (!info.ok) {
        fillError(row, 'no_model', `not classified: ${info.message}`);
        finished(row);
        continue;
      }
      row.status = 'classifying';
      row.model = state.choice.parsed;
      row.backend = info.backend;
      setMeta(row, 'classifying…');
      const job = classifyInEngine(row, decoded).then((result) => {
        inflight.delete(job);
        onClassified(row, result);
      });
      inflight.add(job);
      while (inflight.size >= MAX_AHEAD) await Promise.race(inflight);
    }
    await Promise.all(inflight);
  } finally {
    // Stopped (or failed): what was already handed to the decoder is not classified either.
    state.queue.unshift(...ahead.splice(0).map((a) => a.row));
    for (const row of state.queue.splice(0)) {
      fillError(row, 'stopped', 'not classified: the batch was stopped');
      finished(row);
    }
    state.running = false;
    state.finishedAt = performance.now();
    setControlsBusy(false);
    updateProgress();
    scheduleView();
  }
}

function onClassified(row, result) {
  try {
    if (!result.ok) {
      fillError(row, result.code, result.message);
    } else {
      row.result = result;
      if (result.heatmap) row.heat.set(result.camClass, result.heatmap.data);
      fillResult(row);
    }
  } catch (e) {
    fillError(row, 'internal', `internal error: ${errorText(e)}`);
  }
  finished(row);
}

function finished() {
  scheduleProgress();
  scheduleView();
}

// Progress and summary at most ten times a second: a batch of hundreds finishes many images a frame.
function scheduleProgress() {
  if (state.progressTimer) return;
  state.progressTimer = setTimeout(() => {
    state.progressTimer = 0;
    updateProgress();
  }, 100);
}

function setControlsBusy(busy) {
  $('stop').disabled = !busy;
  for (const id of ['model', 'backend', 'own-model', 'tile', 'tile-above']) $(id).disabled = busy;
}

function counts() {
  const c = { done: 0, errors: 0, review: 0, perClass: new Map() };
  for (const r of state.rows) {
    if (r.status === 'done') {
      c.done++;
      if (r.result.review) c.review++;
      c.perClass.set(r.result.label, (c.perClass.get(r.result.label) ?? 0) + 1);
    } else if (r.status === 'error') {
      c.errors++;
    }
  }
  return c;
}

function updateProgress() {
  const total = state.rows.length;
  const c = counts();
  const done = c.done + c.errors;
  $('progress').max = Math.max(total, 1);
  $('progress').value = done;
  const batchDone = done - state.batchStart;
  const end = state.running ? performance.now() : state.finishedAt ?? performance.now();
  const elapsed = (end - state.started) / 1000;
  const rate = batchDone > 0 && elapsed > 0 ? batchDone / elapsed : 0;
  const left = rate > 0 ? (total - done) / rate : 0;
  $('progress-text').textContent = total === 0 ? 'No images yet.'
    : state.running ? `${done} / ${total} · ${rate.toFixed(1)} images/s · ${rate > 0 ? `${Math.ceil(left)} s left` : 'starting…'}`
      : `${done} / ${total} done${batchDone > 0 ? ` · last batch ${batchDone} in ${elapsed.toFixed(1)} s (${rate.toFixed(1)} images/s)` : ''}`;
  const summary = $('summary');
  summary.textContent = '';
  if (done > 0) {
    const model = state.choice && state.choice.parsed;
    const order = model ? model.classes.filter((k) => c.perClass.has(k)) : [];
    for (const k of c.perClass.keys()) if (!order.includes(k)) order.push(k);
    const chip = (text, filter, cls) => h('button', { type: 'button', class: `chip ${cls}`, onclick: () => { $('filter').value = filter; scheduleView(0); } }, text);
    summary.append(h('span', { class: 'total', text: `${c.done} classified` }));
    for (const k of order) {
      const i = model ? model.classes.indexOf(k) : -1;
      summary.append(chip(`${k}: ${c.perClass.get(k)}`, `class:${k}`, i >= 0 ? `cls ${classColour(model, i)}` : ''));
    }
    summary.append(chip(`⚑ ${c.review} to review`, 'review', c.review > 0 ? 'flagged' : 'quiet'));
    if (c.errors > 0) summary.append(chip(`${c.errors} error${c.errors > 1 ? 's' : ''}`, 'errors', 'errors'));
    if (![...$('filter').options].some((o) => o.value === `class:${[...c.perClass.keys()].at(-1)}`)) buildClassSelects();
  }
  const any = done > 0;
  for (const id of ['export-csv', 'export-json']) $(id).disabled = !any || state.running;
  $('clear').disabled = total === 0 || state.running;
}

// ---------------------------------------------------------------- sort and filter
// Sort and filter: at once when the user changes them, at most every 200 ms while results stream in.
function scheduleView(delay = 200) {
  if (delay === 0) {
    clearTimeout(state.viewTimer);
    state.viewTimer = 0;
    applyView();
    return;
  }
  if (state.viewTimer) return;
  state.viewTimer = setTimeout(() => {
    state.viewTimer = 0;
    applyView();
  }, delay);
}

function visibleRows() {
  const filter = $('filter').value;
  const needle = $('search').value.trim().toLowerCase();
  const keep = (r) => {
    if (needle && !r.path.toLowerCase().includes(needle)) return false;
    if (filter === 'all') return true;
    if (filter === 'errors') return r.status === 'error';
    if (filter === 'review') return r.status === 'done' && r.result.review;
    if (filter.startsWith('class:')) return r.status === 'done' && r.result.label === filter.slice(6);
    return true;
  };
  const sort = $('sort').value;
  const score = (r) => (r.status === 'done' ? r.result.score : null);
  const byScore = (dir) => (a, b) => {
    const sa = score(a);
    const sb = score(b);
    if (sa === null || sb === null) return (sa === null) - (sb === null) || a.id - b.id;
    return dir * (sa - sb) || a.id - b.id;
  };
  const compare = {
    order: (a, b) => a.id - b.id,
    file: (a, b) => a.path.localeCompare(b.path, undefined, { numeric: true }) || a.id - b.id,
    'score-desc': byScore(-1),
    'score-asc': byScore(1),
    review: (a, b) => (b.status === 'done' && b.result.review) - (a.status === 'done' && a.result.review) || a.id - b.id,
    class: (a, b) => (a.result ? a.result.index : 1e9) - (b.result ? b.result.index : 1e9) || a.id - b.id,
  }[sort] ?? ((a, b) => a.id - b.id);
  return state.rows.filter(keep).sort(compare);
}

function applyView() {
  const rows = visibleRows();
  const shown = new Set(rows);
  const list = $('results');
  for (const r of state.rows) r.el.tr.hidden = !shown.has(r);
  // Re-append in order only when it changed (moving nodes loses focus in them).
  const current = [...list.children].filter((el) => !el.hidden);
  if (current.length !== rows.length || current.some((el, i) => el !== rows[i].el.tr)) {
    const focused = document.activeElement;
    for (const r of rows) list.append(r.el.tr);
    if (focused && list.contains(focused)) focused.focus();
  }
  $('empty').hidden = rows.length > 0;
  $('empty').textContent = state.rows.length === 0 ? 'Results appear here as each image is classified.' : 'No image matches this filter.';
}

// ---------------------------------------------------------------- the large view
function openViewer(row) {
  if (row.status !== 'done') return;
  state.viewer = row;
  const dialog = $('viewer');
  fillViewer(row);
  if (!dialog.open) dialog.showModal();
}

function fillViewer(row) {
  const model = row.model;
  const r = row.result;
  $('viewer-title').textContent = row.path;
  const result = $('viewer-result');
  result.textContent = '';
  result.append(h('div', { class: 'result' }, ...resultBadges(model, r).filter(Boolean)), probabilityBars(model, r.probs, r.index));
  const select = $('viewer-class');
  select.textContent = '';
  model.classes.forEach((c, i) => select.append(h('option', { value: String(i), text: c })));
  select.value = String(camClassOf(row));
  $('viewer-cam').checked = row.cam.on;
  $('viewer-cam').disabled = !r.cams;
  select.disabled = !r.cams;
  $('viewer-alpha').value = String(row.cam.alpha);
  const d = row.decoded;
  const details = $('viewer-details');
  details.textContent = '';
  const dl = h('dl');
  const add = (k, v) => dl.append(h('dt', { text: k }), h('dd', { text: v }));
  add('Image', describeSource(row));
  if (r.tiles) {
    add('Tiles', `${r.tiles.columns}×${r.tiles.rows} grid, ${r.tiles.tile} px every ${r.tiles.stride} px; ${model.head === 'binary' ? `${r.tiles.positive} positive, image score = highest tile (${r.tiles.best.x},${r.tiles.best.y})` : 'image = mean of the tiles'}`);
    add('Heatmap', 'stitched from the tiles\u2019 raw Grad-CAM maps, normalised once over the whole image');
    add('Caution', `each ${r.tiles.tile} px tile was classified as if it were a whole image: check in the model card that the model was made for such tiles`);
  }
  add('Model', `${model.name}${model.version ? ` v${model.version}` : ''} on ${row.backend === 'webgpu' ? 'WebGPU' : 'WASM'}`);
  add('Time', `decode + preprocess ${fmt(d.ms, 1)} ms · inference ${fmt(r.inferMs, 1)} ms${r.tiles ? '' : ` (batch of ${r.batch})`} · Grad-CAM ${fmt(r.camMs, 1)} ms`);
  if (row.view.width !== d.source.width) add('Shown at', `${row.view.width}×${row.view.height} (longer side capped at ${VIEW_MAX} px)`);
  details.append(dl);
  const input = $('viewer-input');
  input.width = d.preview.width;
  input.height = d.preview.height;
  input.getContext('2d').putImageData(new ImageData(d.preview.data, d.preview.width, d.preview.height), 0, 0);
  const visible = visibleRows();
  const i = visible.indexOf(row);
  $('viewer-prev').disabled = i <= 0;
  $('viewer-next').disabled = i < 0 || i >= visible.length - 1;
  composed(row).then((pixels) => drawViewer(row, pixels));
}

function drawViewer(row, pixels) {
  if (state.viewer !== row) return;
  const canvas = $('viewer-canvas');
  canvas.width = row.view.width;
  canvas.height = row.view.height;
  canvas.getContext('2d').putImageData(new ImageData(pixels, row.view.width, row.view.height), 0, 0);
  canvas.dataset.drawn = row.cam.on && row.result.cams ? `overlay:${camClassOf(row)}` : 'image';
  canvas.setAttribute('aria-label', `${row.path}${row.cam.on ? `, Grad-CAM of ${row.model.classes[camClassOf(row)]}` : ''}`);
  canvas.setAttribute('role', 'img');
}

function viewerStep(delta) {
  const visible = visibleRows().filter((r) => r.status === 'done');
  const i = visible.indexOf(state.viewer);
  const next = visible[i + delta];
  if (next) openViewer(next);
}

function syncRowControls(row) {
  if (row.el.camToggle) row.el.camToggle.checked = row.cam.on;
  if (row.el.camSelect) row.el.camSelect.value = String(camClassOf(row));
  if (row.el.camAlpha) row.el.camAlpha.value = String(row.cam.alpha);
}

// ---------------------------------------------------------------- export
function exportRecords() {
  return state.rows.map((r) => {
    const base = { index: r.id + 1, file: r.path };
    const d = r.decoded;
    const source = d ? { format: d.format, width: d.source.width, height: d.source.height } : { format: '', width: '', height: '' };
    if (r.status === 'done') {
      const probabilities = {};
      r.model.classes.forEach((c, k) => { probabilities[c] = Number(r.result.probs[k].toPrecision(9)); });
      return {
        ...base, probabilities, predicted: r.result.label, review: r.result.review, error: '', error_code: '',
        ...(Number.isFinite(r.result.disagreement) ? { disagreement: r.result.disagreement } : {}),
        ...(Number.isFinite(r.result.viewDisagreement) ? { view_disagreement: Number(r.result.viewDisagreement.toPrecision(9)) } : {}),
        tiles: r.result.tiles ? r.result.tiles.count : 0, ...source,
        model: `${r.model.name}${r.model.version ? `@${r.model.version}` : ''}`, backend: r.backend,
      };
    }
    return {
      ...base, probabilities: {}, predicted: '', review: '', error: r.error ? r.error.message : 'not processed',
      error_code: r.error ? r.error.code : 'pending', tiles: '', ...source, model: '', backend: '',
    };
  });
}

function csvField(v) {
  const s = String(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

// file, p_<class>... (as `cellcam predict` writes them), predicted, review, error, then details.
function toCsv(records) {
  const classes = [];
  for (const r of state.rows) if (r.model) for (const c of r.model.classes) if (!classes.includes(c)) classes.push(c);
  if (classes.length === 0 && state.choice) classes.push(...state.choice.parsed.classes);
  const header = ['file', ...classes.map((c) => `p_${c}`), 'predicted', 'review', 'error', 'error_code', 'tiles', 'format', 'width', 'height', 'model', 'backend'];
  const lines = [header.map(csvField).join(',')];
  for (const r of records) {
    const row = [r.file, ...classes.map((c) => (c in r.probabilities ? r.probabilities[c] : '')), r.predicted, r.review, r.error,
      r.error_code, r.tiles, r.format, r.width, r.height, r.model, r.backend];
    lines.push(row.map(csvField).join(','));
  }
  return `${lines.join('\n')}\n`;
}

function toJson(records) {
  const m = state.choice.parsed;
  const rules = m.rules;
  return JSON.stringify({
    tool: 'cellcam', version: $('version').textContent.replace(/^v/, ''), exported: new Date().toISOString(),
    model: { name: m.name, version: m.version, sha256: m.sha256, classes: m.classes, head: m.head, threshold: m.threshold,
      review_band: m.reviewBand, rules, temperature: m.temperature, tta: $('tta').checked,
      members: m.ensemble ? m.members.map((x) => ({ name: x.name, sha256: x.sha256, weight: x.weight })) : undefined,
      ensemble_method: m.ensemble ? m.ensemble.method : undefined },
    backend: engine.info && engine.info.ok ? engine.info.label : '',
    results: records,
  }, null, 2);
}

function download(name, type, data) {
  const url = URL.createObjectURL(data instanceof Blob ? data : new Blob([data], { type }));
  const a = h('a', { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

// ---------------------------------------------------------------- wiring
function wire() {
  $('alert-close').addEventListener('click', () => { $('alert').hidden = true; });
  const drop = $('drop');
  drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', async (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    enqueue(await filesFromDataTransfer(e.dataTransfer));
  });
  // A drop outside the zone would make the browser open the file in place of the page.
  window.addEventListener('dragover', (e) => e.preventDefault());
  window.addEventListener('drop', (e) => e.preventDefault());
  drop.addEventListener('keydown', (e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); $('pick-files').click(); } });
  $('pick-files').addEventListener('change', (e) => { enqueue(filesFromInput(e.target, false)); e.target.value = ''; });
  $('pick-folder').addEventListener('change', (e) => { enqueue(filesFromInput(e.target, true)); e.target.value = ''; });

  $('model').addEventListener('change', async (e) => {
    const id = e.target.value;
    $('own-model-box').hidden = id !== '__own__';
    if (id === '__own__') {
      $('own-model').click();
      return;
    }
    const entry = state.models.find((m) => m.id === id);
    try {
      await chooseShipped(entry);
    } catch (err) {
      showAlert(`Model ${entry.id}: ${errorText(err)}`);
    }
  });
  $('own-model').addEventListener('change', async (e) => {
    const files = [...e.target.files];
    e.target.value = '';
    if (files.length === 0) return;
    try {
      await chooseOwn(files);
    } catch (err) {
      showAlert(`Your model: ${errorText(err)}`);
    }
  });
  // Picking "your own model" and then cancelling the file dialog keeps the model that runs.
  $('own-model').addEventListener('cancel', () => {
    if (state.choice && state.choice.source === 'shipped') {
      $('model').value = state.choice.id;
      $('own-model-box').hidden = true;
    }
  });
  $('backend').addEventListener('change', () => { if (state.choice) startEngine(); });
  $('tta').addEventListener('change', () => { if (state.choice) { renderModelCard(); startEngine(); } });
  $('stop').addEventListener('click', () => { state.stopRequested = true; $('stop').disabled = true; });

  $('filter').addEventListener('change', () => scheduleView(0));
  $('sort').addEventListener('change', () => scheduleView(0));
  $('search').addEventListener('input', () => scheduleView(0));

  const applyCamAll = () => {
    for (const row of state.rows) {
      row.cam = { ...state.cam };
      if (row.status === 'done') {
        syncRowControls(row);
        drawRow(row);
      }
    }
  };
  $('cam-all').addEventListener('change', (e) => { state.cam.on = e.target.checked; applyCamAll(); });
  $('cam-class-all').addEventListener('change', (e) => {
    state.cam.cls = e.target.value === 'predicted' ? 'predicted' : Number(e.target.value);
    applyCamAll();
  });
  $('alpha-all').addEventListener('input', (e) => {
    state.cam.alpha = Number(e.target.value);
    $('alpha-all-value').textContent = state.cam.alpha.toFixed(2);
    applyCamAll();
  });

  $('viewer-close').addEventListener('click', () => $('viewer').close());
  $('viewer').addEventListener('close', () => {
    const row = state.viewer;
    state.viewer = null;
    if (row) row.el.thumbButton.focus();
  });
  $('viewer').addEventListener('keydown', (e) => {
    if (e.target.tagName === 'INPUT' || e.target.tagName === 'SELECT') return;
    if (e.key === 'ArrowLeft') viewerStep(-1);
    if (e.key === 'ArrowRight') viewerStep(1);
  });
  $('viewer-prev').addEventListener('click', () => viewerStep(-1));
  $('viewer-next').addEventListener('click', () => viewerStep(1));
  const viewerChanged = () => {
    const row = state.viewer;
    if (!row) return;
    row.cam = { on: $('viewer-cam').checked, cls: Number($('viewer-class').value), alpha: Number($('viewer-alpha').value) };
    syncRowControls(row);
    drawRow(row);
  };
  $('viewer-cam').addEventListener('change', viewerChanged);
  $('viewer-class').addEventListener('change', viewerChanged);
  $('viewer-alpha').addEventListener('input', viewerChanged);
  $('viewer-save').addEventListener('click', () => {
    const row = state.viewer;
    if (!row) return;
    const stem = row.path.replace(/^.*\//, '').replace(/\.[^.]+$/, '');
    const suffix = row.cam.on && row.result.cams ? `${row.model.classes[camClassOf(row)]}.overlay` : 'image';
    $('viewer-canvas').toBlob((blob) => { if (blob) download(`${stem}.${suffix}.png`, 'image/png', blob); }, 'image/png');
  });

  $('export-csv').addEventListener('click', () => download('cellcam-results.csv', 'text/csv', toCsv(exportRecords())));
  $('export-json').addEventListener('click', () => download('cellcam-results.json', 'application/json', toJson(exportRecords())));
  $('clear').addEventListener('click', () => {
    state.rows = [];
    state.total = 0;
    state.batchStart = 0;
    $('results').textContent = '';
    $('empty').hidden = false;
    buildClassSelects();
    updateProgress();
  });
}

async function main() {
  wire();
  const backend = params.get('backend');
  if (backend && [...$('backend').options].some((o) => o.value === backend)) $('backend').value = backend;
  const decoderReady = startDecoder();
  try {
    const initial = await loadModelIndex();
    await chooseShipped(initial);
  } catch (e) {
    setStatus('no model', 'bad');
    showAlert(`No model could be loaded: ${errorText(e)}`);
  }
  const d = await decoderReady;
  if (d.type !== 'ready') {
    setStatus('wasm module failed', 'bad');
    showAlert(d.message);
  }
}

// For tests and the benchmark: read-only views of what the page holds.
window.cellcam = {
  records: () => exportRecords(),
  timings: () => state.rows.filter((r) => r.status === 'done').map((r) => ({
    file: r.path, decodeMs: r.decoded.ms, inferMs: r.result.inferMs, camMs: r.result.camMs, batch: r.result.batch, tiles: r.result.tiles ? r.result.tiles.count : 0,
  })),
  // The raw model outputs of row i (0-based, order added): probabilities and every class's CAM map.
  result: (i) => {
    const r = state.rows[i];
    if (!r || r.status !== 'done') return null;
    return { probs: [...r.result.probs], index: r.result.index, cams: r.result.cams ? Array.from(r.result.cams) : null,
      camWidth: r.result.camWidth, camHeight: r.result.camHeight, tiles: r.result.tiles ?? null, disagreement: r.result.disagreement ?? null,
      viewDisagreement: r.result.viewDisagreement ?? null };
  },
  engine: () => (engine.info ? { ...engine.info } : null),
  batch: () => ({ started: state.started, finishedAt: state.finishedAt ?? null, running: state.running }),
};

main();
