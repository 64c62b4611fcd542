// cam_compare.mjs — comparing two Grad-CAM maps the way the tests and benchmarks report it: each map on
// the page's relative scale, and the Pearson correlation of two maps.

// grad-cam's scale_cam_image: m - min, then / (max + 1e-7); shared/cam.cpp does the same.
export function normalise(map) {
  let min = Infinity;
  for (const v of map) min = Math.min(min, v);
  const shifted = map.map((v) => v - min);
  let max = 0;
  for (const v of shifted) max = Math.max(max, v);
  return shifted.map((v) => v / (max + 1e-7));
}

// 1 for two flat maps, 0 when only one is flat.
export function pearson(a, b) {
  const n = a.length, ma = a.reduce((s, v) => s + v, 0) / n, mb = b.reduce((s, v) => s + v, 0) / n;
  let ab = 0, aa = 0, bb = 0;
  for (let i = 0; i < n; i++) { ab += (a[i] - ma) * (b[i] - mb); aa += (a[i] - ma) ** 2; bb += (b[i] - mb) ** 2; }
  return aa === 0 || bb === 0 ? (aa === bb ? 1 : 0) : ab / Math.sqrt(aa * bb);
}
