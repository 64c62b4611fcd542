// pipeline.js — one image file's bytes to a preprocessed tensor, the same way in the page, its
// worker and the node tests: TIFF through tiff.js, everything else straight into the wasm module.
// Never throws: every outcome is { ok: true, ... } or { ok: false, code, message }.
import { isTiff, readTiffPixels } from './tiff.js';

// spec: a preprocess spec's JSON text, or a Model (cellcam.openModel(...).model: its model.json's spec and
// tile plan, parsed once).
export function preprocessFile(cellcam, UTIF, bytes, spec, options = {}) {
  try {
    const target = typeof spec === 'string'
      ? { preprocess: (b, o) => cellcam.preprocess(b, spec, o), preprocessPixels: (p, o) => cellcam.preprocessPixels(p, spec, o) }
      : spec;
    if (isTiff(bytes)) {
      const tiff = readTiffPixels(cellcam, UTIF, bytes, options);
      if (!tiff.ok) return tiff;
      if (tiff.pixels === null) return withFormat(target.preprocess(bytes, options), 'TIFF');
      return withFormat(target.preprocessPixels(tiff.pixels, options), 'TIFF');
    }
    return target.preprocess(bytes, options);
  } catch (e) {
    return { ok: false, code: 'internal', message: `internal error: ${e && e.message ? e.message : e}` };
  }
}

function withFormat(result, format) {
  if (result.ok) result.format = format;
  return result;
}
