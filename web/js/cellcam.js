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
    // Where a width x height image lies on the spec's input canvas (pad/crop/stretch geometry).
    canvasPlacement: guard((width, height, specJson) => m.canvasPlacement(width, height, String(specJson))),
    // The shared Grad-CAM renderer (cellcam/cam.h), the pixels `cellcam gradcam` draws:
    //   args {cam: Float32Array (camHeight,camWidth), camWidth, camHeight, width, height,
    //         rgba: (height,width,4) bytes of the original image, colormap?: 'jet'|'viridis', alpha?: 0.5}
    //   -> { ok, overlay, heatmap: {width, height, data: Uint8ClampedArray RGBA}, cam: Float32Array (H,W) in [0,1] }
    //   args.heatmapOnly: true -> { ok, heatmap } only (no rgba needed; what the page uses)
    renderCam: guard((args, specJson) => m.renderCam(args, String(specJson))),
  };
}
