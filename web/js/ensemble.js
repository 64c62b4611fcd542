// ensemble.js — an ensemble folder written by `cellcam ensemble` (model.json "ensemble" block) applied in
// the page: the members' probabilities combined by soft voting or by the stacking meta-model, the members'
// disagreement, and the ensemble's Grad-CAM as the weighted mean of the members' maps.
//
// The formulas are native/train/ensemble.cpp's (soft_vote, stacking_features + the logistic model,
// disagreement), so the page and `cellcam ensemble` agree; tests/node/ensemble.test.mjs checks them by hand.
// Pure functions over typed arrays: no DOM, no ONNX Runtime.
import { sample } from './model.js';

const clamp = (p, eps) => Math.min(1 - eps, Math.max(eps, p));

// memberProbs: M arrays (n, K) -> Float32Array (n, K).
export function combineMembers(memberProbs, n, K, ensemble) {
  const M = memberProbs.length;
  const out = new Float32Array(n * K);
  if (ensemble.method === 'stacking') {
    const { weights, intercepts, features, clamp: eps } = ensemble.stacking;
    const binary = features === 'logit';
    const x = [];
    for (let i = 0; i < n; i++) {
      x.length = 0;
      for (let m = 0; m < M; m++) {
        if (binary) {
          const p = clamp(memberProbs[m][i * K + 1], eps);
          x.push(Math.log(p / (1 - p)));
        } else {
          for (let k = 0; k < K; k++) x.push(Math.log(clamp(memberProbs[m][i * K + k], eps)));
        }
      }
      const z = weights.map((w, o) => w.reduce((s, wf, f) => s + wf * x[f], intercepts[o]));
      if (binary) {
        const p = 1 / (1 + Math.exp(-z[0]));
        out[i * K] = 1 - p;
        out[i * K + 1] = p;
      } else {
        const top = Math.max(...z);
        const e = z.map((v) => Math.exp(v - top));
        const sum = e.reduce((a, b) => a + b, 0);
        for (let k = 0; k < K; k++) out[i * K + k] = e[k] / sum;
      }
    }
    return out;
  }
  const w = normalisedWeights(ensemble.weights, M);
  for (let i = 0; i < n * K; i++) {
    let s = 0;
    for (let m = 0; m < M; m++) s += w[m] * memberProbs[m][i];
    out[i] = s;
  }
  return out;
}

export function normalisedWeights(weights, M) {
  if (!weights || weights.length !== M) return new Array(M).fill(1 / M);
  const sum = weights.reduce((a, b) => a + b, 0);
  return weights.map((v) => v / sum);
}

// The weighted mean total-variation distance of each member's probabilities from the soft vote
// (native disagreement()): 0 when they agree, at most 1. -> Float64Array(n).
export function memberDisagreement(memberProbs, n, K, weights) {
  const M = memberProbs.length;
  const w = normalisedWeights(weights, M);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    for (let m = 0; m < M; m++) {
      let tv = 0;
      for (let k = 0; k < K; k++) {
        let mean = 0;
        for (let q = 0; q < M; q++) mean += w[q] * memberProbs[q][i * K + k];
        tv += Math.abs(memberProbs[m][i * K + k] - mean);
      }
      out[i] += w[m] * 0.5 * tv;
    }
  }
  return out;
}

// One image's member maps -> the ensemble's: cams[m] = { data: (K,h,w), h, w }. Each member's map of each
// class is clipped at 0 and scaled to a maximum of 1 (members' raw Grad-CAM scales differ by orders of
// magnitude), resampled bilinearly (align_corners = false, as the shared renderer) onto the finest member
// grid, and averaged with the soft-voting weights. -> { data: Float32Array (K,H,W), h: H, w: W }.
export function combineMemberCams(cams, K, weights) {
  const w = normalisedWeights(weights, cams.length);
  let best = cams[0];
  for (const c of cams) if (c.h * c.w > best.h * best.w) best = c;
  const H = best.h;
  const W = best.w;
  const out = new Float32Array(K * H * W);
  cams.forEach((c, m) => {
    for (let k = 0; k < K; k++) {
      const offset = k * c.h * c.w;
      let top = 0;
      for (let i = 0; i < c.h * c.w; i++) top = Math.max(top, c.data[offset + i]);
      if (!(top > 0)) continue;
      for (let y = 0; y < H; y++)
        for (let x = 0; x < W; x++) {
          const u = ((x + 0.5) * c.w) / W - 0.5;
          const v = ((y + 0.5) * c.h) / H - 0.5;
          const value = c.h === H && c.w === W ? c.data[offset + y * W + x] : sample(c.data, offset, c.w, c.h, u, v);
          out[k * H * W + y * W + x] += (w[m] * Math.max(0, value)) / top;
        }
    }
  });
  return { data: out, h: H, w: W };
}
