// views.test.mjs — test-time augmentation and ensembles as the page does them (web/js/views.js,
// web/js/ensemble.js), against hand-computed values and against the native CLI:
//   - the 8 views are torch.rot90 / flip's, distinct, and a map carried back from each view is the original;
//   - `cellcam predict MODEL --tta` and the page's TTA (wasm preprocessing, views.js, onnxruntime-node on
//     model.onnx) give the same probabilities (maxdiff printed, bound 1e-5);
//   - `cellcam gradcam --tta` draws the overlay the page draws from its averaged, turned-back maps;
//   - soft voting, stacking, disagreement and the combined map by hand (the numbers of test_ensemble.cpp).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, test } from 'node:test';
import * as ort from 'onnxruntime-node';

import { pageRules } from './rules.mjs';
import { cliPath, dataDir, loadSite, root, siteDir } from './site.mjs';

const { cellcam, UTIF, pipeline } = await loadSite();
const views = pageRules(cellcam);
const ens = views;
const model = views;

const modelDir = join(root, 'models', 'malaria');
const modelText = readFileSync(join(modelDir, 'model.json'), 'utf8');
const malaria = model.parseModelJson(modelText);
const session = await ort.InferenceSession.create(join(modelDir, 'model.onnx'));
const tmp = mkdtempSync(join(tmpdir(), 'cellcam-views-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
const has = existsSync(cliPath);
const FIXTURES = ['malaria/parasitized_P61_cell_164.png', 'malaria/uninfected_P97_cell_57.png', 'malaria/parasitized_P139_cell_157.png',
  'formats/cell_rgb16.png'];

test('the views are torch.rot90 and flip, all different, and each map turns back to the original', () => {
  const C = 2;
  const n = 3;
  const x = Float32Array.from({ length: C * n * n }, (_, i) => i);
  const v = views.makeViews(x, C, n, n);
  assert.equal(views.viewCount(n, n), 8);
  assert.equal(v.length, 8 * C * n * n);
  const at = (view, c, i, j) => v[((view * C) + c) * n * n + i * n + j];
  for (let c = 0; c < C; c++)
    for (let i = 0; i < n; i++)
      for (let j = 0; j < n; j++) {
        const orig = (y, xx) => x[c * n * n + y * n + xx];
        assert.equal(at(0, c, i, j), orig(i, j));
        assert.equal(at(1, c, i, j), orig(j, n - 1 - i));          // torch.rot90(x, 1, {H, W})
        assert.equal(at(2, c, i, j), orig(n - 1 - i, n - 1 - j));  // two quarter turns
        assert.equal(at(4, c, i, j), orig(i, n - 1 - j));          // flip left-right
        assert.equal(at(5, c, i, j), orig(j, i));                  // rot90 of the flip: flip[j][n-1-i] = x[j][i], the transpose
      }
  const planes = new Set();
  for (let k = 0; k < 8; k++) planes.add(Array.from(v.subarray(k * C * n * n, k * C * n * n + n * n)).join(','));
  assert.equal(planes.size, 8, 'two views are the same');
  // A map that follows the image (the view of a map is its map): carried back, every view gives the original.
  const K = 2;
  const maps = views.makeViews(x, K, n, n);  // (V, K, n, n) as a model's "cam" output for one image
  const back = views.averageViewCams(maps, 1, 8, K, n, n);
  for (let i = 0; i < back.length; i++) assert.ok(Math.abs(back[i] - x[i]) < 1e-5, `element ${i}: ${back[i]} vs ${x[i]}`);
  // Non-square: the 4 flips, each its own inverse.
  const r = Float32Array.from({ length: 2 * 3 }, (_, i) => i);
  assert.equal(views.viewCount(2, 3), 4);
  const rv = views.makeViews(r, 1, 2, 3);
  assert.deepEqual(Array.from(rv.subarray(6, 12)), [2, 1, 0, 5, 4, 3]);
  assert.deepEqual(Array.from(rv.subarray(12, 18)), [3, 4, 5, 0, 1, 2]);
  assert.deepEqual(Array.from(views.averageViewCams(rv, 1, 4, 1, 2, 3)), Array.from(r));
  // Mean of probabilities and the views' disagreement by hand.
  const probs = Float32Array.from([0.2, 0.8, 0.6, 0.4]);
  assert.deepEqual(Array.from(views.averageViewProbs(probs, 1, 2, 2)).map((p) => p.toFixed(6)), ['0.400000', '0.600000']);
  assert.ok(Math.abs(views.viewDisagreement(probs, 1, 2, 2)[0] - 0.2) < 1e-6);
});

// fixture -> the page's TTA: { probs (K), cams (K,h,w), h, w, pre }.
async function pageTta(path) {
  const pre = pipeline.preprocessFile(cellcam, UTIF, new Uint8Array(readFileSync(join(dataDir, path))), modelText, { thumbnailSize: 25000 });
  assert.equal(pre.ok, true, `${path}: ${pre.message}`);
  const [C, H, W] = pre.shape;
  const V = views.viewCount(H, W);
  const out = await session.run({ input: new ort.Tensor('float32', views.makeViews(pre.tensor, C, H, W), [V, C, H, W]) });
  const K = malaria.classes.length;
  const [, , h, w] = out.cam.dims;
  const single = await session.run({ input: new ort.Tensor('float32', pre.tensor, [1, C, H, W]) });
  return {
    pre, h, w, single: single.probs.data,
    probs: views.averageViewProbs(out.probs.data, 1, V, K), cams: views.averageViewCams(out.cam.data, 1, V, K, h, w),
  };
}

function csvRows(path) {
  const [header, ...rows] = readFileSync(path, 'utf8').trim().split('\n').map((l) => l.split(','));
  return rows.map((r) => Object.fromEntries(header.map((k, i) => [k, r[i]])));
}

test('the page\u2019s TTA probabilities equal `cellcam predict --tta`', { skip: !has && `${cliPath} not built` }, async () => {
  const csv = join(tmp, 'tta.csv');
  execFileSync(cliPath, ['predict', modelDir, ...FIXTURES.map((f) => join(dataDir, f)), '--tta', '--out', csv], { stdio: 'pipe' });
  const rows = csvRows(csv);
  let maxdiff = 0;
  let moved = 0;
  for (const f of FIXTURES) {
    const row = rows.find((r) => r.file.endsWith(f.replace(/^.*\//, '')));
    assert.ok(row && !row.error, `${f}: ${row ? row.error : 'no row'}`);
    const page = await pageTta(f);
    malaria.classes.forEach((c, k) => { maxdiff = Math.max(maxdiff, Math.abs(Number(row[`p_${c}`]) - page.probs[k])); });
    moved = Math.max(moved, Math.abs(page.probs[1] - page.single[1]));
  }
  console.log(`TTA probabilities, page vs cellcam predict --tta: maxdiff ${maxdiff.toExponential(2)}; TTA moved P by up to ${moved.toFixed(4)}`);
  assert.ok(maxdiff <= 1e-5, `maxdiff ${maxdiff}`);
  assert.ok(moved > 1e-3, 'TTA changed no probability: the views are not reaching the model');
});

test('`cellcam gradcam --tta` draws the overlay the page draws from its turned-back maps', { skip: !has && `${cliPath} not built` }, async () => {
  const out = join(tmp, 'cams');
  execFileSync(cliPath, ['gradcam', modelDir, ...FIXTURES.map((f) => join(dataDir, f)), '--tta', '--out', out], { stdio: 'pipe' });
  for (const f of FIXTURES) {
    const page = await pageTta(f);
    const d = model.decide(page.probs, malaria);
    const plane = page.h * page.w;
    const r = cellcam.renderCam({
      cam: page.cams.slice(d.index * plane, (d.index + 1) * plane), camWidth: page.w, camHeight: page.h,
      width: page.pre.thumbnail.width, height: page.pre.thumbnail.height, rgba: page.pre.thumbnail.data,
    }, modelText);
    assert.equal(r.ok, true, r.message);
    const stem = f.replace(/^.*\//, '').replace(/\.png$/, '');
    const png = cellcam.preprocess(new Uint8Array(readFileSync(join(out, `${stem}.${d.label}.overlay.png`))), modelText, { thumbnailSize: 25000 });
    assert.equal(png.ok, true);
    let differing = 0;
    let worst = 0;
    for (let i = 0; i < png.thumbnail.data.length; i++) {
      if (i % 4 === 3) continue;
      const diff = Math.abs(png.thumbnail.data[i] - r.overlay.data[i]);
      if (diff > 0) differing++;
      worst = Math.max(worst, diff);
    }
    const share = differing / (png.thumbnail.data.length * 0.75);
    console.log(`${f}: TTA overlay vs cellcam gradcam --tta: ${(100 * share).toFixed(3)} % of samples differ, max ${worst}`);
    assert.ok(worst <= 2 && share < 0.01, `${f}: ${differing} samples differ, max ${worst}`);
  }
});

test('ensemble.js: soft voting, stacking, disagreement and the combined map by hand', () => {
  const a = Float32Array.from([0.2, 0.8, 0.9, 0.1]);
  const b = Float32Array.from([0.6, 0.4, 0.5, 0.5]);
  const soft = ens.combineMembers([a, b], 2, 2, { method: 'soft', weights: [1, 1] });
  assert.ok(Math.abs(soft[1] - 0.6) < 1e-6 && Math.abs(soft[2] - 0.7) < 1e-6);
  const weighted = ens.combineMembers([a, b], 2, 2, { method: 'soft', weights: [3, 1] });
  assert.ok(Math.abs(weighted[1] - (0.75 * 0.8 + 0.25 * 0.4)) < 1e-6);
  // stacking, binary: z = 1 * logit(0.8) + 2 * logit(0.4) + 0.5
  const st = ens.combineMembers([a, b], 2, 2, { method: 'stacking', stacking: { weights: [[1, 2]], intercepts: [0.5], features: 'logit', clamp: 1e-6 } });
  const z = Math.log(0.8 / 0.2) + 2 * Math.log(0.4 / 0.6) + 0.5;
  assert.ok(Math.abs(st[1] - 1 / (1 + Math.exp(-z))) < 1e-6);
  assert.ok(Math.abs(st[0] + st[1] - 1) < 1e-6);
  // multiclass stacking: features log p, softmax
  const p3 = Float32Array.from([0.7, 0.2, 0.1]);
  const q3 = Float32Array.from([0.1, 0.1, 0.8]);
  const W = [[1, 0, 0, 0, 0, 0], [0, 1, 0, 0, 0, 0], [0, 0, 0, 0, 0, 1]];
  const m3 = ens.combineMembers([p3, q3], 1, 3, { method: 'stacking', stacking: { weights: W, intercepts: [0, 0, 0], features: 'log', clamp: 1e-6 } });
  const e = [0.7, 0.2, 0.8];
  const s = e.reduce((x, y) => x + y, 0);
  e.forEach((v, k) => assert.ok(Math.abs(m3[k] - v / s) < 1e-6, `class ${k}`));
  // disagreement: image 0, P(positive) 0.8 and 0.4 (mean 0.6) -> 0.2; image 1, 0.1 and 0.5 (mean 0.3) -> 0.2
  const d = ens.memberDisagreement([a, b], 2, 2, [1, 1]);
  assert.ok(Math.abs(d[0] - 0.2) < 1e-6 && Math.abs(d[1] - 0.2) < 1e-6, `${d[0]} ${d[1]}`);
  // maps: a 1x2 map and a 2x2 map, one class -> the 2x2 grid; each scaled to max 1 before the mean
  const cam = ens.combineMemberCams([{ data: Float32Array.from([2, 4]), h: 1, w: 2 }, { data: Float32Array.from([1, 0, 0, -3]), h: 2, w: 2 }], 1, [1, 1]);
  assert.equal(cam.h, 2);
  assert.equal(cam.w, 2);
  // member 0 upsampled: rows equal, columns 0.5 and 1 after scaling; member 1: [1, 0, 0, 0] (negative clipped)
  assert.deepEqual(Array.from(cam.data).map((v) => v.toFixed(4)), ['0.7500', '0.5000', '0.2500', '0.5000']);
});

test('model.json of an ensemble: parsed, and a review rule on disagreement flags by disagreement', () => {
  const j = JSON.parse(modelText);
  // A single model's ood block goes to each member; the ensemble's own combines theirs ("members").
  const member = { onnx: { file: 'members/0.onnx', sha256: j.onnx.sha256 }, weight: 1, cam: j.cam, ood: j.ood };
  const ood = j.ood && { score: 'members', threshold: 1, pass_rate: j.ood.pass_rate };
  const text = JSON.stringify({ ...j, onnx: undefined, cam: undefined, ood,
    ensemble: { method: 'soft', members: [member, { ...member, onnx: { ...member.onnx, file: 'members/1.onnx' } }], review: { score: 'disagreement', cutoff: 0.1 } } });
  const m = model.parseModelJson(text);
  assert.equal(m.ok, true, m.message);
  assert.equal(m.members.length, 2);
  assert.equal(m.members[1].file, 'members/1.onnx');
  assert.deepEqual(m.cam && [m.cam.width, m.cam.height], [j.cam.width, j.cam.height]);
  assert.equal(model.decide([0.99, 0.01], m, 0.15).review, true);
  assert.equal(model.decide([0.99, 0.01], m, 0.05).review, false);
  const bad = JSON.parse(text);
  bad.ensemble.members[1].onnx.file = '../../etc/passwd';
  assert.equal(model.parseModelJson(JSON.stringify(bad)).ok, false);
  bad.ensemble.members = [member];
  assert.equal(model.parseModelJson(JSON.stringify(bad)).ok, false);
  assert.equal(model.parseModelJson(JSON.stringify({ ...j, tta: { default: true } })).tta.default, true);
  assert.equal(malaria.tta.default, Boolean(j.tta && j.tta.default));
});
