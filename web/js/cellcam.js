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
    // Every limit on what cellcam accepts (cellcam/limits.h): file size, image size, tiles.
    limits: () => m.limits(),
    // One CSV cell (cellcam/csv.h), as `cellcam predict` writes it: csvCell neutralises a text a
    // spreadsheet would run as a formula (=, +, -, @, tab, CR first; numbers excepted) and quotes (RFC 4180);
    // csvQuote only quotes.
    csvCell: (text) => m.csvCell(String(text)),
    csvQuote: (text) => m.csvQuote(String(text)),
    // Before a file is read: { ok: true } or the CLI's own too_large error.
    checkFileSize: guard((bytes) => m.checkFileSize(Number(bytes))),
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
    //         rgba: (height,width,4) bytes of the original image, colormap?: 'jet'|'viridis', alpha?: 0.5,
    //         scale?: 'relative'|'absolute', probability?: the explained class's (absolute: P x map / max)}
    //   -> { ok, overlay, heatmap: {width, height, data: Uint8ClampedArray RGBA}, cam: Float32Array (H,W) in [0,1] }
    //   args.heatmapOnly: true -> { ok, heatmap } only (no rgba needed; what the page uses)
    renderCam: guard((args, specJson) => m.renderCam(args, String(specJson))),
    // The overlay at any opacity (cam.h blend_rgba): rgba and heatmap (H,W,4) bytes -> Uint8ClampedArray.
    blendOverlay: guard((rgba, heatmap, alpha) => m.blendOverlay(rgba, heatmap, Number(alpha))),
    // The colour table a map is drawn with (cam.h colormap_table): Uint8Array (256,3), for a legend.
    colormapTable: guard((name = 'jet') => m.colormapTable(String(name))),
    // A model: model.json parsed and checked once by the shared C++ (cellcam/model_card.h); every rule
    // after inference is a call on it. -> { ok, model, info } or the error. model.delete() frees it.
    openModel: guard((text) => openModel(m, String(text))),
    // The rules one by one (tests and tools without a model.json): cellcam/views.h, ensemble.h, tiling.h.
    rules: {
      normalizeCam: guard((map) => m.normalizeCam(map)),
      scaleCam: guard((map, options = {}) => m.scaleCam(map, options)),
      makeViews: guard((t, n, c, h, w) => m.makeViews(t, n, c, h, w)),
      averageViewProbs: guard((p, n, V, K) => m.averageViewProbs(p, n, V, K)),
      averageViewCams: guard((c, n, V, K, h, w) => m.averageViewCams(c, n, V, K, h, w)),
      viewDisagreement: guard((p, n, V, K) => m.viewDisagreement(p, n, V, K)),
      combineMembers: guard((probs, n, K, spec, head = 'binary') => m.combineMembers(probs, n, K, spec, head)),
      memberDisagreement: guard((probs, n, K, weights = null) => m.memberDisagreement(probs, n, K, weights)),
      combineMemberCams: guard((cams, K, weights = null) => m.combineMemberCams(cams, K, weights)),
      stitchTileCams: guard((cams, K, camW, camH, tiles, width, height, specJson) =>
        m.stitchTileCams(cams, K, camW, camH, tiles, width, height, String(specJson))),
    },
  };
}

// The Model handle with guarded methods, and its description (info) with the names the page uses.
function openModel(m, text) {
  const handle = new m.Model();
  const loaded = handle.load(text);
  if (!loaded.ok) {
    handle.delete();
    return loaded;
  }
  const call = (name) => guard((...args) => handle[name](...args));
  const model = {
    info: loaded,
    checkGraph: guard((input, probs, cam = null, ood = null) => handle.checkGraph(input, probs, cam, ood)),
    preprocess: guard((bytes, options = {}) => handle.preprocess(bytes, options)),
    preprocessPixels: guard((pixels, options = {}) => handle.preprocessPixels(pixels, options)),
    makeInput: call('makeInput'),
    combine: call('combine'),
    decide: guard((probs, disagreement = null, oodScore = null) => handle.decide(Array.from(probs), disagreement, oodScore)),
    aggregateTiles: guard((probs, cams, camW, camH, tiles, width, height, tileOod = null) =>
      handle.aggregateTiles(probs, cams, camW, camH, tiles, width, height, tileOod)),
    heatmap: call('heatmap'),
    delete: () => handle.delete(),
  };
  return { ok: true, model, info: describe(loaded, text) };
}

// Field names only (nothing decided here): what the page shows and sends to its workers.
function describe(i, text) {
  let extra = {};
  try {
    extra = JSON.parse(i.extraJson);
  } catch {
    extra = {};
  }
  return {
    ok: true, name: i.name, version: i.version, classes: i.classes, displayNames: i.displayNames, head: i.head,
    threshold: i.threshold, thresholdSource: i.thresholdSource, reviewBand: i.reviewBand, reviewSource: i.reviewSource,
    temperature: i.temperature, inputShape: i.inputShape, preprocess: JSON.parse(i.preprocessJson), cam: i.cam, tileSettings: i.tileSettings, viewCount: i.viewCount,
    members: i.members, sha256: i.members[0].sha256, onnxBytes: i.members[0].bytes || null, onnxFile: i.members[0].file,
    ensemble: i.ensemble, tta: { available: true, default: i.tta.default, note: i.tta.note }, rules: i.rules, ood: i.ood,
    metrics: extra.metrics && typeof extra.metrics === 'object' ? extra.metrics : null, text,
  };
}
