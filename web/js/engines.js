// engines.js — the page's two workers: decoding (decode_worker.js, restarted when a file hangs it) and inference
// (inference_worker.js, ONNX Runtime Web and the wasm Model); requests and answers by row.
import { renderModelCard } from './model_panel.js';
import { $, FILE_TIMEOUT_MS, errorText, heatOf, params, setStatus, showAlert, state } from './page.js';

// ---------------------------------------------------------------- decode worker (decode_worker.js)
// Files are handed over DECODE_AHEAD at a time, so the worker always has the next ones while the page
// handles the last, and the inference worker gets enough images to fill its batches. The File itself
// goes to the worker, which checks its size and reads it (a File's size and bytes cost the page's
// thread an IPC each). The worker takes them in order; the one it is on has FILE_TIMEOUT_MS: past that the
// worker is abandoned (a decoder that never returns), the file gets a timeout row, and the files waiting
// behind it go to a fresh worker.
export const DECODE_AHEAD = 16;
export const decoder = { worker: null, ready: null, waiting: [], timer: 0 };

export function startDecoder() {
  const worker = new Worker(new URL('./decode_worker.js', import.meta.url), { type: 'module' });
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

export function armDecodeTimer() {
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
    postDecodes(rest);
  }, FILE_TIMEOUT_MS);
}

// Several files in one message: posting a File costs the page's thread an IPC, a list of them one.
export function postDecodes(entries) {
  if (entries.length === 0) return;
  const wasEmpty = decoder.waiting.length === 0;
  decoder.waiting.push(...entries);
  if (wasEmpty) armDecodeTimer();
  try {
    decoder.worker.postMessage({ items: entries.map((entry) => ({ id: entry.row.id, file: entry.row.file, modelJson: entry.modelJson, options: entry.options })) });
  } catch (err) {
    for (const entry of entries) {
      const i = decoder.waiting.indexOf(entry);
      if (i >= 0) decoder.waiting.splice(i, 1);
      entry.resolve({ ok: false, code: 'io', message: `could not read the file: ${errorText(err)}` });
    }
    armDecodeTimer();
  }
}

// rows -> a Promise of the worker's result (pipeline.js) for each, or an error result; never rejects.
export function decodeInWorker(rows, modelJson, options) {
  const entries = [];
  const results = rows.map((row) => new Promise((resolve) => entries.push({ row, modelJson, options, resolve })));
  postDecodes(entries);
  return results;
}

// ---------------------------------------------------------------- inference worker (inference_worker.js)
export const engine = { worker: null, ready: null, info: null, pending: new Map(), renders: new Map(), nextReq: 1, generation: 0 };

export function failPending(message) {
  for (const [, resolve] of engine.pending) resolve({ ok: false, code: 'inference', message });
  engine.pending.clear();
  for (const [, resolve] of engine.renders) resolve({ ok: false, code: 'inference', message });
  engine.renders.clear();
}

// A new inference worker for the chosen model and settings. fallback (a message): WebGPU failed in the
// worker that runs now (session creation, or a lost device mid-batch): the new worker runs on WASM, the
// images waiting for an answer stay waiting (the old worker hands back what it held, onWebgpuFailed), and
// the page says so. Without it, a restart: the old worker is ended and what it held is failed.
export function startEngine({ fallback = null } = {}) {
  const choice = state.choice;
  const previous = engine.worker;
  if (previous && fallback) previous.postMessage({ type: 'drain' });  // answers 'drained' once it holds nothing
  else if (previous) previous.terminate();
  if (!fallback) failPending('the model was restarted');
  const generation = ++engine.generation;
  engine.info = null;
  document.body.dataset.engine = 'loading';
  setStatus(fallback ? `WebGPU failed: loading ${choice.parsed.name} on WASM…` : `loading ${choice.parsed.name}…`);
  $('backend-label').textContent = '';
  if (fallback) {
    $('backend').value = 'wasm';  // what runs from now on (the select is locked during a batch; this is no change of settings by the user)
    showAlert(`WebGPU failed (${fallback}). The model runs on WASM from now on; the images it had not answered are classified again on WASM, none is lost.`);
  }
  const worker = new Worker(new URL('./inference_worker.js', import.meta.url), { type: 'module' });
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
      // A worker replaced after a WebGPU failure still hands back images and answers overlay requests.
      if (m.type === 'webgpu-failed') {
        onWebgpuFailed(generation, m);
        return;
      }
      if (m.type === 'drained') {
        worker.terminate();
        return;
      }
      if (m.type === 'rendered') {
        const resolveRender = engine.renders.get(m.reqId);
        engine.renders.delete(m.reqId);
        if (resolveRender) resolveRender(m);
        return;
      }
      if (generation !== engine.generation) return;
      if (m.type === 'ready') {
        engine.info = { ok: true, ...m, choice, fallback };  // choice: the model this worker runs (batch.js checks it)
        document.body.dataset.engine = 'ready';
        document.body.dataset.backend = m.backend;
        setStatus(`${choice.parsed.name} ${choice.parsed.version ? `v${choice.parsed.version}` : ''} · ${m.backend === 'webgpu' ? 'WebGPU' : 'WASM'} · ready`, 'ok');
        const note = fallback ? `WebGPU failed (${fallback}): running on WASM` : m.note;
        $('backend-label').textContent = m.label + (note ? ` — ${note}` : '');
        $('version').textContent = `v${m.cellcamVersion}`;
        performance.mark('cellcam-ready');
        renderModelCard();
        resolve(engine.info);
      } else if (m.type === 'failed' && m.webgpu) {
        resolve(startEngine({ fallback: m.message }));  // whoever waits for this worker gets the WASM one
      } else if (m.type === 'failed') {
        failed(m.message);
      } else if (m.type === 'results') {
        // A run's answers together: the rows are filled in this one task (one layout, not one per image).
        for (const { id, result } of m.items) {
          const resolveResult = engine.pending.get(id);
          engine.pending.delete(id);
          if (resolveResult) resolveResult(result);
        }
      } else if (m.type === 'stats') {
        const resolveStats = engine.renders.get(m.reqId);
        engine.renders.delete(m.reqId);
        if (resolveStats) resolveStats(m);
      }
    });
  });
  const init = {
    type: 'init', backend: fallback ? 'wasm' : $('backend').value, modelJson: choice.text,
    batch: Number(params.get('batch')) || 0, threads: Number(params.get('threads')) || 0, tta: $('tta').checked,
    // ?fill=MS: how long a run may wait for a fuller batch (inference_worker.js), 0: not at all (for the benchmark)
    fill: params.has('fill') ? Number(params.get('fill')) : null,
    fault: fallback ? '' : params.get('webgpu-fault') ?? '',
  };
  const transfer = [];
  if (choice.memberBytes) {
    // A folder from disk: every member's bytes, copied (the choice keeps its own for the next worker).
    init.memberBytes = Object.fromEntries(Object.entries(choice.memberBytes).map(([file, b]) => [file, b.slice(0)]));
    transfer.push(...Object.values(init.memberBytes));
  } else if (choice.bytes) {
    init.modelBytes = choice.bytes.slice(0);
    transfer.push(init.modelBytes);
  } else {
    init.modelBase = new URL(choice.base, location.href).href;
  }
  worker.postMessage(init, transfer);
  return engine.ready;
}

// The worker that runs now lost WebGPU (or one replaced for that hands back an image sent to it meanwhile):
// its images go to the WASM worker once it is ready, under the same ids, so their rows get their answers.
function onWebgpuFailed(generation, m) {
  if (generation === engine.generation) startEngine({ fallback: m.message });
  engine.ready.then((info) => {
    if (!info.ok) return;  // the WASM worker failed too: failPending gave those rows their error
    for (const item of m.items) if (engine.pending.has(item.id)) engine.worker.postMessage({ type: 'classify', ...item });
  });
}

// more: how many images of this run the page will send after this one (the worker waits for them a little
// to run fuller batches; 0: none, run what it has); first: the run's first image (no waiting for it).
export function classifyInEngine(row, decoded, more = 0, first = false) {
  return new Promise((resolve) => {
    engine.pending.set(row.id, (result) => {
      // The backend that answered: after a fallback to WASM not the one the row was sent to.
      if (result.ok && result.backend) {
        row.backend = result.backend;
        if (row.settings) row.settings.backendLabel = result.backendLabel;
      }
      resolve(result);
    });
    // The view's pixels stay here: the worker needs only its size (to draw the heatmap at it).
    row.view = decoded.thumbnail;
    const view = { width: decoded.thumbnail.width, height: decoded.thumbnail.height };
    const msg = { type: 'classify', id: row.id, tensor: decoded.tensor, view, source: decoded.source, heat: { ...state.heat }, more, first };
    const transfer = [decoded.tensor.buffer];
    if (decoded.views) {
      msg.views = decoded.views;  // made by the decode worker (test-time augmentation)
      transfer.push(decoded.views.buffer);
    }
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

// The heatmap of a class for a row, drawn by the shared renderer in the inference worker with the page's
// method and scale (heatOf).
export async function renderInEngine(row, cls) {
  const info = await engine.ready;  // after a backend switch, the new worker draws
  return new Promise((resolve) => {
    if (!info || !info.ok) {
      resolve({ ok: false, message: 'the model is not loaded' });
      return;
    }
    const reqId = engine.nextReq++;
    engine.renders.set(reqId, resolve);
    const plane = row.result.camWidth * row.result.camHeight;
    const heat = heatOf(row);
    const maps = heat.method === 'hirescam' ? row.result.hiresCams : row.result.cams;
    const cam = maps.slice(cls * plane, (cls + 1) * plane);
    engine.worker.postMessage({
      type: 'render', reqId, cam, camWidth: row.result.camWidth, camHeight: row.result.camHeight,
      stitched: row.result.stitched, view: { width: row.view.width, height: row.view.height },
      scale: heat.scale, probability: row.result.probs[cls],
    });
  });
}

// The inference worker's counters (runs, images, batch-fill waits), for the tests and the benchmark.
export async function engineStats() {
  const info = await engine.ready;
  if (!info || !info.ok) return null;
  return new Promise((resolve) => {
    const reqId = engine.nextReq++;
    engine.renders.set(reqId, resolve);
    engine.worker.postMessage({ type: 'stats', reqId });
  });
}
