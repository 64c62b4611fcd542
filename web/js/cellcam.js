// cellcam.js — the wasm module with a JavaScript-shaped API: optional arguments, and a guarantee that
// nothing throws (embind raises BindingError on a wrong argument count, and a JS error inside a
// marshalled value would unwind through C++): every call returns { ok: true, ... } or
// { ok: false, code, message }.
import createCellcam from '../cellcam.mjs';

function guard(fn) {
  return (...args) => {
    try {
      return fn(...args);
    } catch (e) {
      return { ok: false, code: 'internal', message: `internal error: ${e && e.message ? e.message : e}` };
    }
  };
}

// moduleOptions: passed to Emscripten (node passes { wasmBinary }).
export async function loadCellcam(moduleOptions = {}) {
  const m = await createCellcam(moduleOptions);
  return {
    version: () => m.version(),
    probe: guard((bytes, options = {}) => m.probe(bytes, options)),
    probeTiff: guard((bytes, options = {}) => m.probeTiff(bytes, options)),
    preprocess: guard((bytes, specJson, options = {}) => m.preprocess(bytes, String(specJson), options)),
    preprocessPixels: guard((pixels, specJson, options = {}) => m.preprocessPixels(pixels, String(specJson), options)),
    parseSpec: guard((specJson) => m.parseSpec(String(specJson))),
    tileGrid: guard((width, height, tile, stride = tile) => m.tileGrid(width, height, tile, stride)),
  };
}
