// pipeline.js — one image file's bytes to a preprocessed tensor, the same way in the page, its
// worker and the node tests: TIFF through tiff.js, everything else straight into the wasm module.
// Never throws: every outcome is { ok: true, ... } or { ok: false, code, message }.
import { isTiff, readTiffPixels } from './tiff.js';

export function preprocessFile(cellcam, UTIF, bytes, specJson, options = {}) {
  try {
    if (isTiff(bytes)) {
      const tiff = readTiffPixels(cellcam, UTIF, bytes, options);
      if (!tiff.ok) return tiff;
      if (tiff.pixels === null) return withFormat(cellcam.preprocess(bytes, specJson, options), 'TIFF');
      return withFormat(cellcam.preprocessPixels(tiff.pixels, specJson, options), 'TIFF');
    }
    return cellcam.preprocess(bytes, specJson, options);
  } catch (e) {
    return { ok: false, code: 'internal', message: `internal error: ${e && e.message ? e.message : e}` };
  }
}

function withFormat(result, format) {
  if (result.ok) result.format = format;
  return result;
}
