// views.js — test-time augmentation in the page: the 8 dihedral views of a square input (4 rotations of
// the image and of its mirror), or the 4 flips of a non-square one, the mean of their probabilities, and
// their Grad-CAM maps carried back to the original orientation before they are averaged.
//
// The same views, in the same order, as the native trainer's tta_probabilities (native/train/inference.cpp):
//   square:     v = 4 f + k   -> flip left-right when f = 1, then rotate by k quarter turns (torch.rot90(x, k,
//                                {H, W}): one turn moves out[i][j] = in[j][W-1-i])
//   non-square: v = 0 identity, 1 flip left-right, 2 flip up-down, 3 both
// Pure functions over typed arrays: no DOM, no ONNX Runtime, nothing throws for well-formed input.
//
// Why here and not in the shared C++: the views only move values (no arithmetic, so nothing to keep bit
// identical between builds), and the maps are permuted after inference, which runs in JavaScript.

import { memberDisagreement } from './ensemble.js';

export function viewCount(height, width) {
  return height === width ? 8 : 4;
}

// Where view v's pixel (i, j) comes from in the original image: [y, x]. height x width: the original's.
export function sourceOf(v, i, j, height, width) {
  let y = i;
  let x = j;
  if (height === width) {
    const n = height;
    for (let t = 0; t < (v & 3); t++) {  // undo one quarter turn: out[i][j] = in[j][n-1-i]
      const yy = x;
      x = n - 1 - y;
      y = yy;
    }
    if (v >= 4) x = width - 1 - x;
  } else {
    if (v & 1) x = width - 1 - x;
    if (v & 2) y = height - 1 - y;
  }
  return [y, x];
}

// tensor: (C,H,W) -> (V,C,H,W), the views one after the other.
export function makeViews(tensor, channels, height, width) {
  const V = viewCount(height, width);
  const plane = height * width;
  const out = new Float32Array(V * channels * plane);
  for (let v = 0; v < V; v++) {
    for (let i = 0; i < height; i++)
      for (let j = 0; j < width; j++) {
        const [y, x] = sourceOf(v, i, j, height, width);
        const from = y * width + x;
        const to = i * width + j;
        for (let c = 0; c < channels; c++) out[(v * channels + c) * plane + to] = tensor[c * plane + from];
      }
  }
  return out;
}

// probs: (n*V, K), the V views of image 0 first -> (n, K): the mean over views, summed in view order in
// float32 as the native code sums its tensors.
export function averageViewProbs(probs, n, V, K) {
  const out = new Float32Array(n * K);
  for (let i = 0; i < n; i++)
    for (let k = 0; k < K; k++) {
      let s = Math.fround(0);
      for (let v = 0; v < V; v++) s = Math.fround(s + probs[(i * V + v) * K + k]);
      out[i * K + k] = Math.fround(s / V);
    }
  return out;
}

// cams: (n*V, K, h, w) maps of the views -> (n, K, h, w): each view's map moved back to the original
// orientation (the inverse of its view, at the map's resolution), then averaged.
export function averageViewCams(cams, n, V, K, h, w) {
  const plane = h * w;
  const out = new Float32Array(n * K * plane);
  for (let i = 0; i < n; i++)
    for (let v = 0; v < V; v++)
      for (let k = 0; k < K; k++) {
        const from = ((i * V + v) * K + k) * plane;
        const to = (i * K + k) * plane;
        for (let a = 0; a < h; a++)
          for (let b = 0; b < w; b++) {
            const [y, x] = sourceOf(v, a, b, h, w);
            out[to + y * w + x] += cams[from + a * w + b] / V;
          }
      }
  return out;
}

// How much the views disagree: the views taken as equally weighted members of an ensemble, scored by
// ensemble.js memberDisagreement (as native predict_store scores them with ensemble.h disagreement()).
// probs (n*V, K) -> Float64Array(n).
export function viewDisagreement(probs, n, V, K) {
  const perView = Array.from({ length: V }, () => new Float32Array(n * K));
  for (let i = 0; i < n; i++)
    for (let v = 0; v < V; v++)
      for (let k = 0; k < K; k++) perView[v][i * K + k] = probs[(i * V + v) * K + k];
  return memberDisagreement(perView, n, K);
}
