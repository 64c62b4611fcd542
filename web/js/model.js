// model.js — what a model folder written by `cellcam export` means to the page, as pure functions shared
// by the page, its inference worker and the node tests (no DOM, no ONNX Runtime, nothing throws out):
//
//   parseModelJson(text)                 model.json -> a checked description, or { ok: false, code, message }
//   decide(probs, model)                 one image's probabilities -> class, score, refer-for-review flag
//   aggregateTiles(tileProbs, T, model)  a large image's per-tile probabilities -> the image's
//   stitchTileCams(...)                  per-tile raw Grad-CAM maps -> one raw map over the whole image
//   blendOverlay(rgba, heatmap, alpha)   the shared renderer's overlay() blend, bit for bit, at any opacity
//
// The rules, in one place (the page shows them in its model card):
//   - binary head: predicted = classes[1] iff probs[1] >= model.json "threshold" (classes[1] is the
//     positive class in the export contract); multiclass: argmax (first of equal maxima).
//   - refer for review: the model's uncertainty band, model.json "review_band": [lo, hi] (closed), on
//     P(positive) for a binary head and on the top-1 probability for a multiclass one. Without it the page
//     uses a default: binary [threshold - 0.15, threshold + 0.15] (clipped to [0, 1]); multiclass
//     [0, 0.6] (top-1 probability at most 0.6).
//   - tiles (large images): binary P(positive) = the MAXIMUM over tiles (a screen: one positive region
//     makes the image positive), P(other) = 1 - that; multiclass = the MEAN of the tile probability
//     vectors. The same decide() then applies to the aggregate.
//   - stitched Grad-CAM: each tile's raw map (before normalisation) is carried back through the tile's
//     placement on the model canvas onto a whole-image grid with the maps' own resolution (one cell per
//     tile/cam pixels), averaged where tiles overlap; the shared renderer then normalises the whole map
//     once, so tiles are comparable (per-tile normalisation would light up every empty tile).

export const DEFAULT_BINARY_HALF_BAND = 0.15;
export const DEFAULT_MULTICLASS_TOP1 = 0.6;

function fail(code, message) {
  return { ok: false, code, message };
}

const isNumber = (v) => typeof v === 'number' && Number.isFinite(v);

// model.json text -> { ok: true, ...description } or { ok: false, code: 'invalid_model', message }.
// Checks what the page relies on; the preprocess block itself is checked by the wasm module's parseSpec.
export function parseModelJson(text) {
  let j;
  try {
    j = JSON.parse(text);
  } catch (e) {
    return fail('invalid_model', `model.json is not valid JSON (${e && e.message ? e.message : e})`);
  }
  if (!j || typeof j !== 'object' || Array.isArray(j)) return fail('invalid_model', 'model.json must be a JSON object');
  const bad = (what) => fail('invalid_model', `model.json: ${what}`);
  const classes = j.classes;
  if (!Array.isArray(classes) || classes.length < 2 || !classes.every((c) => typeof c === 'string' && c.length > 0))
    return bad('"classes" must list at least two class names');
  if (new Set(classes).size !== classes.length) return bad('"classes" has a name twice');
  const head = j.head ?? (classes.length === 2 ? 'binary' : 'multiclass');
  if (head !== 'binary' && head !== 'multiclass') return bad(`"head" is "${head}" (binary or multiclass)`);
  if (head === 'binary' && classes.length !== 2) return bad(`a binary head needs two classes, not ${classes.length}`);
  if (!j.preprocess || typeof j.preprocess !== 'object') return bad('no "preprocess" block');
  const pre = j.preprocess;
  if (!Number.isInteger(pre.width) || !Number.isInteger(pre.height)) return bad('preprocess needs integer width and height');
  const channels = pre.color === 'gray' ? 1 : 3;
  const isSha = (v) => typeof v === 'string' && /^[0-9a-f]{64}$/i.test(v);
  // One model (model.json "onnx") or an ensemble of several ("ensemble.members[].onnx", `cellcam ensemble`).
  let members;
  let ensemble = null;
  if (j.ensemble !== undefined && j.ensemble !== null) {
    const e = j.ensemble;
    if (!Array.isArray(e.members) || e.members.length < 2) return bad('"ensemble.members" must list at least two members');
    members = [];
    for (const [i, m] of e.members.entries()) {
      if (!m || !m.onnx || !isSha(m.onnx.sha256) || typeof m.onnx.file !== 'string' || m.onnx.file.includes('..'))
        return bad(`ensemble member ${i} needs "onnx": {"file", "sha256"} inside the folder`);
      if (m.weight !== undefined && (!isNumber(m.weight) || m.weight < 0)) return bad(`ensemble member ${i}: "weight" must be >= 0`);
      members.push({ name: typeof m.name === 'string' ? m.name : `member ${i}`, file: m.onnx.file, sha256: m.onnx.sha256.toLowerCase(),
        bytes: isNumber(m.onnx.bytes) ? m.onnx.bytes : null, weight: isNumber(m.weight) ? m.weight : 1,
        temperature: isNumber(m.temperature) ? m.temperature : 1 });
    }
    const method = e.method ?? 'soft';
    if (method !== 'soft' && method !== 'stacking') return bad(`"ensemble.method" is "${method}" (soft or stacking)`);
    let stacking = null;
    if (method === 'stacking') {
      const st = e.stacking ?? {};
      const outputs = head === 'binary' ? 1 : classes.length;
      const features = head === 'binary' ? members.length : members.length * classes.length;
      if (!Array.isArray(st.weights) || st.weights.length !== outputs || !st.weights.every((r) => Array.isArray(r) && r.length === features && r.every(isNumber)) ||
          !Array.isArray(st.intercepts) || st.intercepts.length !== outputs || !st.intercepts.every(isNumber))
        return bad(`"ensemble.stacking" needs weights (${outputs} x ${features}) and ${outputs} intercepts`);
      stacking = { weights: st.weights, intercepts: st.intercepts, features: head === 'binary' ? 'logit' : 'log', clamp: isNumber(st.clamp) ? st.clamp : 1e-6 };
    }
    let review = null;
    if (e.review && e.review.score === 'disagreement') {
      if (!isNumber(e.review.cutoff)) return bad('"ensemble.review.cutoff" must be a number');
      review = { score: 'disagreement', cutoff: e.review.cutoff };
    }
    ensemble = { method, weights: members.map((m) => m.weight), stacking, review, tta: Boolean(e.tta) };
  } else {
    const onnx = j.onnx ?? {};
    if (!isSha(onnx.sha256)) return bad('"onnx.sha256" is missing or not 64 hex digits (cellcam export writes it)');
    members = [{ name: typeof j.name === 'string' ? j.name : 'model', file: typeof onnx.file === 'string' ? onnx.file : 'model.onnx',
      sha256: onnx.sha256.toLowerCase(), bytes: isNumber(onnx.bytes) ? onnx.bytes : null, weight: 1 }];
  }
  // Test-time augmentation: model.json "tta": {"default": true|false, ...} says whether the page averages
  // the 8 flips/rotations unless the user switches it (cellcam measured whether it helps this model).
  const tta = { available: true, default: Boolean(j.tta && j.tta.default), note: j.tta && typeof j.tta.note === 'string' ? j.tta.note : '' };
  let threshold = 0.5;
  let thresholdSource = 'default 0.5';
  if (head === 'binary' && j.threshold !== undefined) {
    if (!isNumber(j.threshold) || j.threshold < 0 || j.threshold > 1) return bad('"threshold" must be a number in [0, 1]');
    threshold = j.threshold;
    thresholdSource = 'model.json';
  }
  let reviewBand;
  let reviewSource;
  if (j.review_band !== undefined && j.review_band !== null) {
    const b = j.review_band;
    if (!Array.isArray(b) || b.length !== 2 || !isNumber(b[0]) || !isNumber(b[1]) || b[0] < 0 || b[1] > 1 || b[0] > b[1])
      return bad('"review_band" must be [lo, hi] with 0 <= lo <= hi <= 1');
    reviewBand = [b[0], b[1]];
    reviewSource = 'model.json';
  } else if (head === 'binary') {
    reviewBand = [Math.max(0, threshold - DEFAULT_BINARY_HALF_BAND), Math.min(1, threshold + DEFAULT_BINARY_HALF_BAND)];
    reviewSource = `default: threshold ± ${DEFAULT_BINARY_HALF_BAND}`;
  } else {
    reviewBand = [0, DEFAULT_MULTICLASS_TOP1];
    reviewSource = `default: top-1 probability ≤ ${DEFAULT_MULTICLASS_TOP1}`;
  }
  // The CAM block is optional: a model without it is still classified, just without overlays.
  let cam = null;
  if (j.cam && Number.isInteger(j.cam.width) && Number.isInteger(j.cam.height) && j.cam.width > 0 && j.cam.height > 0)
    cam = { width: j.cam.width, height: j.cam.height, layer: j.cam.layer ?? '', method: j.cam.method ?? 'gradcam' };
  // An ensemble's maps have its first member's layout (the page combines them onto the finest member grid).
  const firstCam = j.ensemble && Array.isArray(j.ensemble.members) && j.ensemble.members[0] ? j.ensemble.members[0].cam : null;
  if (!cam && firstCam && Number.isInteger(firstCam.width) && Number.isInteger(firstCam.height) && firstCam.width > 0 && firstCam.height > 0)
    cam = { width: firstCam.width, height: firstCam.height, layer: firstCam.layer ?? '', method: firstCam.method ?? 'gradcam' };
  let tiling = null;
  if (j.tiling && Number.isInteger(j.tiling.tile) && j.tiling.tile > 0)
    tiling = { tile: j.tiling.tile, stride: Number.isInteger(j.tiling.stride) && j.tiling.stride > 0 ? j.tiling.stride : j.tiling.tile };
  // Temperature scaling is inside model.onnx's probs already (cellcam export); shown, never applied twice.
  let temperature = 1;
  if (j.temperature !== undefined && j.temperature !== null) {
    if (!isNumber(j.temperature) || j.temperature <= 0) return bad('"temperature" must be a positive number');
    temperature = j.temperature;
  }
  const positiveIndex = head === 'binary' ? 1 : -1;
  return {
    ok: true,
    name: typeof j.name === 'string' ? j.name : 'model',
    version: typeof j.version === 'string' ? j.version : '',
    classes: [...classes],
    head,
    threshold,
    thresholdSource,
    positiveIndex,
    positiveClass: head === 'binary' ? classes[1] : (typeof j.positive_class === 'string' ? j.positive_class : ''),
    reviewBand,
    reviewSource,
    temperature,
    preprocess: pre,
    inputShape: [channels, pre.height, pre.width],
    cam,
    tiling,
    sha256: members[0].sha256,
    onnxBytes: members[0].bytes,
    onnxFile: members[0].file,
    members,
    ensemble,
    tta,
    metrics: j.metrics && typeof j.metrics === 'object' ? j.metrics : null,
    text,
    // What the wasm module is handed as specJson: the preprocess block alone (the whole model.json
    // would be parsed again on every image; the numbers are the same doubles, so the same floats).
    specJson: JSON.stringify({ preprocess: pre }),
  };
}

// A sentence for the model card: how the class and the review flag are decided.
export function describeRules(model) {
  const [lo, hi] = model.reviewBand.map((v) => v.toFixed(3));
  if (model.head === 'binary') {
    const p = `P(${model.classes[1]})`;
    return {
      decision: `${model.classes[1]} when ${p} ≥ ${model.threshold.toFixed(3)} (${model.thresholdSource}), else ${model.classes[0]}`,
      review: `refer for review when ${p} is in [${lo}, ${hi}] (${model.reviewSource})`,
      tiles: `large images: ${p} of the image = the highest tile's`,
    };
  }
  return {
    decision: 'the most probable class',
    review: `refer for review when the top probability is in [${lo}, ${hi}] (${model.reviewSource})`,
    tiles: 'large images: the mean of the tiles\u2019 probabilities',
  };
}

// probs: K numbers (array or typed array) -> { index, label, score, review }.
//   score: P(positive) for binary, the top-1 probability for multiclass (what the review band is on).
//   disagreement: for an ensemble whose review rule is on the members' disagreement (model.json
//   "ensemble.review"), the image's disagreement (ensemble.js memberDisagreement); refer when >= cutoff.
export function decide(probs, model, disagreement = null) {
  let index;
  let score;
  if (model.head === 'binary') {
    score = probs[1];
    index = score >= model.threshold ? 1 : 0;
  } else {
    index = 0;
    for (let k = 1; k < probs.length; k++) if (probs[k] > probs[index]) index = k;
    score = probs[index];
  }
  const rule = model.ensemble && model.ensemble.review;
  const review = rule && rule.score === 'disagreement' && disagreement !== null
    ? disagreement >= rule.cutoff
    : score >= model.reviewBand[0] && score <= model.reviewBand[1];
  return { index, label: model.classes[index], score, review };
}

// tileProbs: (T,K) row-major -> { probs: Float64Array(K), positiveTiles, bestTile } (see the rules above).
export function aggregateTiles(tileProbs, T, model) {
  const K = model.classes.length;
  const probs = new Float64Array(K);
  let bestTile = 0;
  let positiveTiles = 0;
  if (model.head === 'binary') {
    let p = -Infinity;
    for (let t = 0; t < T; t++) {
      const q = tileProbs[t * K + 1];
      if (q > p) { p = q; bestTile = t; }
      if (q >= model.threshold) positiveTiles++;
    }
    probs[1] = p;
    probs[0] = 1 - p;
  } else {
    for (let t = 0; t < T; t++) for (let k = 0; k < K; k++) probs[k] += tileProbs[t * K + k];
    for (let k = 0; k < K; k++) probs[k] /= T;
    let best = -Infinity;
    for (let t = 0; t < T; t++) {
      let top = 0;
      for (let k = 1; k < K; k++) if (tileProbs[t * K + k] > tileProbs[t * K + top]) top = k;
      if (tileProbs[t * K + top] > best) { best = tileProbs[t * K + top]; bestTile = t; }
    }
  }
  return { probs, positiveTiles, bestTile };
}

// Bilinear sample of a (h,w) map at continuous map coordinates (u, v), torch align_corners=False with
// edge clamping (the same rule the shared upsample_cam uses).
export function sample(map, offset, w, h, u, v) {
  const fu = Math.floor(u);
  const fv = Math.floor(v);
  const du = u - fu;
  const dv = v - fv;
  const x0 = Math.min(Math.max(fu, 0), w - 1);
  const x1 = Math.min(Math.max(fu + 1, 0), w - 1);
  const y0 = Math.min(Math.max(fv, 0), h - 1);
  const y1 = Math.min(Math.max(fv + 1, 0), h - 1);
  const a = map[offset + y0 * w + x0];
  const b = map[offset + y0 * w + x1];
  const c = map[offset + y1 * w + x0];
  const d = map[offset + y1 * w + x1];
  return (a * (1 - du) + b * du) * (1 - dv) + (c * (1 - du) + d * du) * dv;
}

// Per-tile raw CAM maps -> one raw map per class over the whole image.
//   cams: (T,K,camH,camW) as the model's "cam" output, one row per tile; tiles: [{x,y,width,height}] in
//   image pixels; width x height: the image; placement: canvasPlacement(tileW, tileH, spec) (tiles are all
//   one size); canvasW x canvasH: the spec's input size.
// -> { maps: Float32Array (K,mapH,mapW), mapW, mapH }: one cell per tileW/camW x tileH/camH image pixels.
export function stitchTileCams({ cams, K, camW, camH, tiles, width, height, placement, canvasW, canvasH }) {
  const T = tiles.length;
  const tileW = tiles[0].width;
  const tileH = tiles[0].height;
  const mapW = Math.max(1, Math.min(4096, Math.round((width * camW) / tileW)));
  const mapH = Math.max(1, Math.min(4096, Math.round((height * camH) / tileH)));
  const cellW = width / mapW;
  const cellH = height / mapH;
  const sums = new Float64Array(K * mapW * mapH);
  const counts = new Uint16Array(mapW * mapH);
  const plane = camW * camH;
  for (let t = 0; t < T; t++) {
    const r = tiles[t];
    const i0 = Math.max(0, Math.ceil(r.x / cellW - 0.5));
    const i1 = Math.min(mapW - 1, Math.ceil((r.x + r.width) / cellW - 0.5) - 1);
    const j0 = Math.max(0, Math.ceil(r.y / cellH - 0.5));
    const j1 = Math.min(mapH - 1, Math.ceil((r.y + r.height) / cellH - 0.5) - 1);
    for (let j = j0; j <= j1; j++) {
      const cy = placement.y0 + ((j + 0.5) * cellH - r.y) * placement.scaleY;
      if (cy < 0 || cy >= canvasH) continue;
      const v = (cy * camH) / canvasH - 0.5;
      for (let i = i0; i <= i1; i++) {
        const cx = placement.x0 + ((i + 0.5) * cellW - r.x) * placement.scaleX;
        if (cx < 0 || cx >= canvasW) continue;
        const u = (cx * camW) / canvasW - 0.5;
        const cell = j * mapW + i;
        counts[cell]++;
        for (let k = 0; k < K; k++) sums[k * mapW * mapH + cell] += sample(cams, (t * K + k) * plane, camW, camH, u, v);
      }
    }
  }
  const maps = new Float32Array(K * mapW * mapH);
  for (let k = 0; k < K; k++)
    for (let c = 0; c < mapW * mapH; c++) maps[k * mapW * mapH + c] = counts[c] > 0 ? sums[k * mapW * mapH + c] / counts[c] : 0;
  return { maps, mapW, mapH };
}

// The preprocess spec renderCam needs for a stitched map: the map covers the whole (view) image, so the
// "canvas" is the image itself and the placement is the identity.
export function stitchedSpecJson(width, height) {
  return JSON.stringify({ width, height, aspect: 'stretch' });
}

// The shared overlay() blend (shared/src/cam.cpp): per colour channel
//   out = floor((1 - a) * pixel + a * colour + 0.5), in double, a = the float32 value of alpha;
// alpha channel copied from the image. rgba, heatmap: (H,W,4) bytes. Same pixels as renderCam's overlay
// at every alpha (tests/node/cam.test.mjs checks it), so the opacity slider re-blends here instead of
// calling the wasm module again.
export function blendOverlay(rgba, heatmap, alpha, out = new Uint8ClampedArray(rgba.length)) {
  const a = Math.fround(alpha);
  const b = 1 - a;
  for (let i = 0; i < rgba.length; i += 4) {
    out[i] = Math.floor(b * rgba[i] + a * heatmap[i] + 0.5);
    out[i + 1] = Math.floor(b * rgba[i + 1] + a * heatmap[i + 1] + 0.5);
    out[i + 2] = Math.floor(b * rgba[i + 2] + a * heatmap[i + 2] + 0.5);
    out[i + 3] = rgba[i + 3];
  }
  return out;
}
