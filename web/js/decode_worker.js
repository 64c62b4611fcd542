// decode_worker.js — decoding and preprocessing off the main thread, one file per message, so the page stays
// responsive and a file that hangs a decoder can be abandoned (the page terminates this worker).
//   in:  { id, bytes: ArrayBuffer, modelJson, options }   the model's preprocessing and tile plan come from
//        its model.json, read once per model by the shared C++ (a wasm Model); options: decode limits,
//        thumbnailSize (the page asks for its view size: the image itself when not larger), and
//        {tile, stride, tileAbove, maxTiles} to cut large images into tiles (see wasm/bindings.cpp)
//   out: { id, ok, ... } (see pipeline.js) + ms; pixel arrays are transferred, not copied.
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

self.onmessage = async (event) => {
  const { id, bytes, modelJson, options } = event.data;
  const cellcam = await ready;
  const t0 = performance.now();
  const opened = cellcam ? modelFor(cellcam, modelJson) : null;
  const result = !cellcam
    ? { ok: false, code: 'internal', message: 'the wasm module is not available' }
    : !opened.ok ? opened : preprocessFile(cellcam, UTIF, new Uint8Array(bytes), opened.model, options ?? {});
  result.ms = performance.now() - t0;
  const transfer = result.ok ? [result.tensor.buffer, result.preview.data.buffer, result.thumbnail.data.buffer] : [];
  if (result.ok && result.tiles) transfer.push(result.tiles.tensor.buffer);
  self.postMessage({ type: 'result', id, result }, transfer);
};
