// rules.mjs — the page's decision rules as the node tests call them: each a call into the wasm module's
// shared C++ (cellcam/model_card.h, decision.h, views.h, ensemble.h, tiling.h, cam.h), under the names the
// page's JavaScript had before those rules moved there, so the tests assert what they asserted then.
export function pageRules(cellcam) {
  const unwrap = (r) => {
    if (r && r.ok === false) throw new Error(r.message);
    return r;
  };
  const r = cellcam.rules;
  return {
    parseModelJson(text) {
      const o = cellcam.openModel(text);
      if (!o.ok) return o;
      return { ...o.info, model: o.model };
    },
    decide(probs, m, disagreement = null) {
      const d = unwrap(m.model.decide(probs, disagreement));
      return { index: d.index, label: d.label, score: d.score, review: d.review };
    },
    aggregateTiles(tileProbs, T, m) {
      const items = Array.from({ length: T }, () => ({ x: 0, y: 0, width: 1, height: 1 }));
      const a = unwrap(m.model.aggregateTiles(Float32Array.from(tileProbs), null, 0, 0, { items }, 1, 1));
      return { probs: a.probs, positiveTiles: a.positiveTiles, bestTile: a.bestTile };
    },
    // spec: the model's preprocessing (where a tile lies on its canvas); canvasW x canvasH, stretched.
    stitchTileCams({ cams, K, camW, camH, tiles, width, height, canvasW, canvasH, specJson }) {
      const spec = specJson ?? JSON.stringify({ width: canvasW, height: canvasH, aspect: 'stretch' });
      return unwrap(r.stitchTileCams(Float32Array.from(cams), K, camW, camH, { items: tiles }, width, height, spec));
    },
    stitchedSpecJson: (width, height) => JSON.stringify({ width, height, aspect: 'stretch' }),
    blendOverlay: (rgba, heatmap, alpha) => unwrap(cellcam.blendOverlay(rgba, heatmap, alpha)),
    viewCount: (h, w) => (h === w ? 8 : 4),
    makeViews: (t, c, h, w) => unwrap(r.makeViews(Float32Array.from(t), 1, c, h, w)),
    averageViewProbs: (p, n, V, K) => unwrap(r.averageViewProbs(Float32Array.from(p), n, V, K)),
    averageViewCams: (c, n, V, K, h, w) => unwrap(r.averageViewCams(Float32Array.from(c), n, V, K, h, w)),
    viewDisagreement: (p, n, V, K) => unwrap(r.viewDisagreement(Float32Array.from(p), n, V, K)),
    combineMembers: (probs, n, K, e, head = 'binary') =>
      unwrap(r.combineMembers(probs.map((p) => Float32Array.from(p)), n, K, e, e.stacking && e.stacking.features === 'log' ? 'multiclass' : head)),
    memberDisagreement: (probs, n, K, weights = null) => unwrap(r.memberDisagreement(probs.map((p) => Float32Array.from(p)), n, K, weights)),
    combineMemberCams: (cams, K, weights = null) =>
      unwrap(r.combineMemberCams(cams.map((c) => ({ ...c, data: Float32Array.from(c.data) })), K, weights)),
  };
}
