// worker.js — decoding and preprocessing off the main thread, one file per message, so the page stays
// responsive and a file that hangs a decoder can be abandoned (the page terminates this worker).
//   in:  { id, name, bytes: ArrayBuffer, specJson }
//   out: { id, ok, ... } (see pipeline.js); pixel arrays are transferred, not copied.
import { loadCellcam } from './cellcam.js';
import { preprocessFile } from './pipeline.js';
import UTIF from '../vendor/utif.mjs';

const ready = loadCellcam().then((cellcam) => {
  self.postMessage({ type: 'ready', version: cellcam.version() });
  return cellcam;
}, (e) => {
  self.postMessage({ type: 'failed', message: `the wasm module did not load: ${e && e.message ? e.message : e}` });
});

self.onmessage = async (event) => {
  const { id, bytes, specJson } = event.data;
  const cellcam = await ready;
  const t0 = performance.now();
  const result = cellcam
    ? preprocessFile(cellcam, UTIF, new Uint8Array(bytes), specJson)
    : { ok: false, code: 'internal', message: 'the wasm module is not available' };
  result.ms = performance.now() - t0;
  const transfer = result.ok ? [result.tensor.buffer, result.preview.data.buffer, result.thumbnail.data.buffer] : [];
  self.postMessage({ type: 'result', id, result }, transfer);
};
