// classify.js — images through a model as the page runs them, shared by the inference worker (inference_worker.js,
// with ONNX Runtime Web) and the node tests (with onnxruntime-node): the same code path on both, so the
// tests that compare the page with `cellcam predict` test what the page does.
//
// It only moves tensors: every rule after the network (TTA views, combining views and members, the
// decision and the review flag, tile aggregation, the stitched map, the heatmap) is a call on `rules`, the
// wasm Model made from model.json (shared C++). runMember(m, input, count) runs ONNX member m on `count`
// stacked (C,H,W) inputs -> { probs (count,K), cam (count,K,h,w) | null, hirescam (count,K,h,w) | null, camWidth,
// camHeight, ood (count) | null }.
// Results: { ok: true, probs, index, label, displayName, score, review, ood, oodScore, disagreement,
//   viewDisagreement, cams, hiresCams (HiResCAM, same layout) | null, camWidth, camHeight, stitched, camClass, heatmap,
//   heat (the method and scale it was drawn with), camError, inferMs, camMs, batch, tiles? } or
//   { ok: false, code, message }. Nothing throws out.
// An ONNX Runtime session against the model's description, before any image: its input and output names,
// then the shapes through the shared C++ (model_card.h check_onnx_outputs, as `cellcam predict` checks the
// file). -> { ok, cam: whether it gives maps } or { ok: false, code, message }.
export function checkSession(session, rules, model) {
  const fail = (message) => ({ ok: false, code: 'invalid_model', message });
  if (!session.inputNames.includes('input')) return fail(`model.onnx has no input named "input" (it has ${session.inputNames.join(', ')})`);
  if (!session.outputNames.includes('probs')) return fail('model.onnx has no "probs" output');
  const cam = Boolean(model.cam) && session.outputNames.includes('cam');
  const ood = session.outputNames.includes('ood');
  const dims = (list, name) => {
    const d = (list ?? []).find?.((x) => x.name === name);
    return d && Array.isArray(d.shape) ? d.shape.map((v) => (typeof v === 'number' ? v : -1)) : null;
  };
  const checked = rules.checkGraph(dims(session.inputMetadata, 'input'), dims(session.outputMetadata, 'probs'),
    cam ? dims(session.outputMetadata, 'cam') : null, ood ? (dims(session.outputMetadata, 'ood') ?? [-1]) : null);
  return checked.ok ? { ok: true, cam, ood } : checked;
}

const message = (e) => (e && e.message ? e.message : String(e));
const now = () => (globalThis.performance ? performance.now() : Date.now());

export function createClassifier({ rules, model, runMember, members, batchSize }) {
  const K = model.classes.length;
  const size = model.inputShape.reduce((a, b) => a * b, 1);

  // n stacked (C,H,W) tensors through every member (and every view with tta), combined. views: the n images'
  // views already made by rules.makeInput (image after image, as one call on all n makes them), or null.
  async function run(stacked, n, tta, views = null) {
    const input = views ? { ok: true, input: views, views: views.length / (n * size) } : rules.makeInput(stacked, n, tta);
    if (!input.ok) throw new Error(input.message);
    const t0 = now();
    const outputs = [];
    for (let m = 0; m < members; m++) outputs.push(await runMember(m, input.input, n * input.views));
    const ms = now() - t0;
    const c = rules.combine(outputs, n, tta);
    if (!c.ok) throw new Error(c.message);
    const cams = c.cams ? { data: c.cams, h: c.camHeight, w: c.camWidth } : null;
    // HiResCAM, when every member gives it: combined by the same rules as Grad-CAM (views turned back and
    // averaged, members resampled and weighted), so the page can switch between the two without a rerun.
    let hires = null;
    if (cams && outputs.every((o) => o.hirescam)) {
      const hc = rules.combine(outputs.map((o) => ({ ...o, cam: o.hirescam })), n, tta);
      if (!hc.ok) throw new Error(hc.message);
      hires = { data: hc.cams, h: hc.camHeight, w: hc.camWidth };
    }
    return { probs: c.probs, cams, hires, disagreement: c.disagreement, viewDisagreement: c.viewDisagreement, ood: c.ood, ms };
  }

  // One image's answer: decided, and its heatmap drawn at the page's view size (item.view).
  // item.heat: { method: 'gradcam'|'hirescam', scale: 'relative'|'absolute' }, how the page shows maps now.
  function finish(item, probs, cams, hiresCams, camWidth, camHeight, stitched, inferMs, extra, disagreement, oodScore) {
    const d = rules.decide(probs, disagreement, oodScore);
    if (!d.ok) return d;
    const t0 = now();
    let heatmap = null;
    let camError = '';
    const heat = { method: item.heat?.method === 'hirescam' && hiresCams ? 'hirescam' : 'gradcam', scale: item.heat?.scale === 'absolute' ? 'absolute' : 'relative' };
    if (cams && item.view) {
      const plane = camWidth * camHeight;
      const maps = heat.method === 'hirescam' ? hiresCams : cams;
      const r = rules.heatmap({ cam: maps.subarray(d.index * plane, (d.index + 1) * plane), camWidth, camHeight,
        width: item.view.width, height: item.view.height, stitched, scale: heat.scale, probability: probs[d.index] });
      if (r.ok) heatmap = r.heatmap;
      else camError = r.message;
    }
    return {
      ok: true, probs: Array.from(probs), index: d.index, label: d.label, displayName: d.displayName, score: d.score,
      review: d.review, ood: d.ood, oodScore: d.oodScore, disagreement, cams, hiresCams, camWidth, camHeight, stitched, camClass: d.index,
      heatmap, heat, camError, inferMs, camMs: now() - t0, ...extra,
    };
  }

  // items: [{ tensor (C,H,W), view, views? }] -> one result each. views: with tta, the image's views made
  // beforehand by rules.makeInput (the page's decode worker); used when every item has them.
  async function classifyBatch(items, tta) {
    const n = items.length;
    const stacked = new Float32Array(n * size);
    for (let i = 0; i < n; i++) {
      if (items[i].tensor.length !== size) return items.map(() => ({ ok: false, code: 'internal', message: 'a tensor of the wrong size' }));
      stacked.set(items[i].tensor, i * size);
    }
    const V = model.viewCount;
    let views = null;
    if (tta && V > 1 && items.every((it) => it.views && it.views.length === V * size)) {
      views = new Float32Array(n * V * size);
      items.forEach((it, i) => views.set(it.views, i * V * size));
    }
    let out;
    try {
      out = await run(stacked, n, tta, views);
    } catch (e) {
      return items.map(() => ({ ok: false, code: 'inference', message: `inference failed: ${message(e)}` }));
    }
    return items.map((item, i) => {
      try {
        let cams = null;
        let hiresCams = null;
        if (out.cams) {
          const plane = K * out.cams.h * out.cams.w;
          cams = out.cams.data.slice(i * plane, (i + 1) * plane);
          if (out.hires) hiresCams = out.hires.data.slice(i * plane, (i + 1) * plane);
        }
        return finish(item, out.probs.subarray(i * K, (i + 1) * K), cams, hiresCams, out.cams?.w ?? 0, out.cams?.h ?? 0, false, out.ms / n,
          { batch: n, viewDisagreement: out.viewDisagreement ? out.viewDisagreement[i] : null }, out.disagreement ? out.disagreement[i] : null,
          out.ood ? out.ood[i] : null);
      } catch (e) {
        return { ok: false, code: 'internal', message: `internal error: ${message(e)}` };
      }
    });
  }

  // item: { tiles: {items, tensor (T,C,H,W), columns, rows, tile, stride}, source: {width, height}, view }.
  async function classifyTiled(item, tta) {
    try {
      const tiles = item.tiles;
      const T = tiles.items.length;
      const tileProbs = new Float32Array(T * K);
      let tileCams = null;
      let tileHires = null;
      let tileOod = null;
      let camW = 0;
      let camH = 0;
      let inferMs = 0;
      for (let start = 0; start < T; start += batchSize) {
        const n = Math.min(batchSize, T - start);
        const out = await run(tiles.tensor.subarray(start * size, (start + n) * size), n, tta);
        inferMs += out.ms;
        tileProbs.set(out.probs, start * K);
        if (out.ood) {
          if (!tileOod) tileOod = new Float64Array(T);
          tileOod.set(out.ood, start);
        }
        if (out.cams) {
          if (!tileCams) {
            camW = out.cams.w;
            camH = out.cams.h;
            tileCams = new Float32Array(T * K * camW * camH);
            if (out.hires) tileHires = new Float32Array(T * K * camW * camH);
          }
          tileCams.set(out.cams.data, start * K * camW * camH);
          if (tileHires && out.hires) tileHires.set(out.hires.data, start * K * camW * camH);
        }
      }
      const agg = rules.aggregateTiles(tileProbs, tileCams, camW, camH, tiles, item.source.width, item.source.height, tileOod);
      if (!agg.ok) return agg;
      let hiresMaps = null;  // the tiles' HiResCAM maps stitched as their Grad-CAM maps are
      if (tileHires) {
        const hAgg = rules.aggregateTiles(tileProbs, tileHires, camW, camH, tiles, item.source.width, item.source.height, null);
        if (!hAgg.ok) return hAgg;
        hiresMaps = hAgg.maps;
      }
      const tileInfo = {
        count: T, columns: tiles.columns, rows: tiles.rows, tile: tiles.tile, stride: tiles.stride,
        positive: agg.positiveTiles, best: agg.best,
      };
      return finish(item, agg.probs, agg.maps, hiresMaps, agg.mapWidth, agg.mapHeight, true, inferMs, { tiles: tileInfo, batch: Math.min(batchSize, T) }, null,
        agg.ood);
    } catch (e) {
      return { ok: false, code: 'inference', message: `inference failed: ${message(e)}` };
    }
  }

  return { run, classifyBatch, classifyTiled };
}
