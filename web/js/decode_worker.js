// decode_worker.js — decoding and preprocessing off the main thread, one file per message, so the page stays
// responsive and a file that hangs a decoder can be abandoned (the page terminates this worker).
//   in:  { id, file: File | Blob, modelJson, options }   the file is checked against the shared size limit
//        (limits.h) before it is read, and read here (its bytes start loading as the message arrives; the files
//        are decoded one at a time, in order); the model's preprocessing and tile plan come from
//        its model.json, read once per model by the shared C++ (a wasm Model); options: decode limits,
//        thumbnailSize (the page asks for its view size: the image itself when not larger), and
//        {tile, stride, tileAbove, maxTiles} to cut large images into tiles (see wasm/bindings.cpp)
//        options.views (the page runs test-time augmentation): also the image's views, made by the shared
//        C++ (Model.makeInput, cellcam/views.h), as the inference worker would make them
//   out: { id, ok, ... } (see pipeline.js) + ms, + views: Float32Array (V,C,H,W) when asked for and not tiled;
//        pixel arrays are transferred, not copied.
// Inference runs in a second worker (inference_worker.js), so decoding the next image overlaps the model.
import { loadCellcam } from './cellcam.js';
import { preprocessFile } from './pipeline.js';
import UTIF from '../vendor/utif.mjs';

const ready = loadCellcam().then((cellcam) => {
  self.postMessage({ type: 'ready', version: cellcam.version() });
  return cellcam;
}, (e) => {
  self.postMessage({ type: 'failed', message: `the wasm module did not load: ${e && e.message ? e.message : e}` });
});

// One Model per model.json text, kept while the page uses that model.
let model = { text: null, opened: null };
function modelFor(cellcam, text) {
  if (model.text !== text) {
    if (model.opened && model.opened.ok) model.opened.model.delete();
    model = { text, opened: cellcam.openModel(text) };
  }
  return model.opened;
}

// Files are decoded one after the other, in the order they came; the next file's bytes load while one decodes.
const queue = [];
let running = false;
self.onmessage = (event) => {
  queue.push(...(event.data.items ?? [event.data]));
  run();
};

async function run() {
  if (running) return;
  running = true;
  while (queue.length > 0) {
    const item = queue.shift();
    item.read ??= read(item.file);
    if (queue.length > 0) queue[0].read ??= read(queue[0].file);
    try {
      await handle(item.id, item.read, item.modelJson, item.options);
    } catch (e) {
      self.postMessage({ type: 'result', id: item.id, result: { ok: false, code: 'internal', message: `internal error: ${e && e.message ? e.message : e}` } });
    }
  }
  running = false;
}

// -> { bytes } or { error: the result to answer with }
async function read(file) {
  const cellcam = await ready;
  if (!cellcam) return { error: null };
  const fits = cellcam.checkFileSize(file.size);  // the shared limit (limits.h), before reading
  if (!fits.ok) return { error: fits };
  try {
    return { bytes: await file.arrayBuffer() };
  } catch (e) {
    return { error: { ok: false, code: 'io', message: `could not read the file: ${e && e.message ? e.message : e}` } };
  }
}

async function handle(id, bytesPromise, modelJson, options) {
  const cellcam = await ready;
  const read = await bytesPromise;
  const t0 = performance.now();
  const opened = cellcam ? modelFor(cellcam, modelJson) : null;
  const { views: wantViews = false, ...decodeOptions } = options ?? {};
  const result = !cellcam
    ? { ok: false, code: 'internal', message: 'the wasm module is not available' }
    : read.error ? read.error
      : !opened.ok ? opened : preprocessFile(cellcam, UTIF, new Uint8Array(read.bytes), opened.model, decodeOptions);
  if (wantViews && result.ok && !result.tiles) {
    const made = opened.model.makeInput(result.tensor, 1, true);
    if (made.ok) result.views = made.input;  // else the inference worker makes them (and reports what failed)
  }
  result.ms = performance.now() - t0;
  const transfer = result.ok ? [result.tensor.buffer, result.preview.data.buffer, result.thumbnail.data.buffer] : [];
  if (result.ok && result.tiles) transfer.push(result.tiles.tensor.buffer);
  if (result.ok && result.views) transfer.push(result.views.buffer);
  self.postMessage({ type: 'result', id, result }, transfer);
}
