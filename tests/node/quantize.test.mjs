// quantize.test.mjs — `cellcam export --quantize fp16|int8` on the shipped models, run by onnxruntime-node
// as the page runs them, against the shipped float32 graphs on the project's fixtures (tests/data/<set>,
// preprocessed by the page's own wasm pipeline). The bounds (the Grad-CAM parity bounds restated for
// quantised graphs: tests/node/onnx_parity.test.mjs holds float32 graphs to LibTorch within 1e-4):
//
//                                                      fp16       int8
//   probs, max abs diff (every class)                  1e-2       0.1
//   the decision (model.json's threshold, or top class) the same   the same
//   Grad-CAM and HiResCAM of the predicted class, normalised to [0,1] (the page's relative scale):
//     max abs diff                                     0.075      0.15
//     Pearson correlation                              >= 0.998   >= 0.99
//   every class's map on the absolute scale (P(class) x map / its max, cellcam/cam.h):
//     max abs diff                                     0.05       0.1
//
// Measured on the whole test parts (1,350 malaria, 1,200 PCam, 388 blood images) with
// bench/quantize_bench.mjs --split, the worst of the three models: fp16 probs 3.6e-3, maps 0.037 /
// 0.9993 / 0.036; int8 probs 0.042, maps 0.090 / 0.9972 / 0.063 (BENCHMARKS.md, "Quantised export").
// Maps of a class the model rules out are near flat, and stretching them to [0,1] magnifies rounding
// (int8: up to 1.0 on blood's fixtures), which is why the relative bound is on the predicted class only.
// Each folder must also be one the page accepts: model.json's onnx.sha256 and bytes are model.onnx's, the
// quantization block names the mode, and the graph is smaller than the float32 one.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import * as ort from 'onnxruntime-node';

import { cliPath, dataDir, loadSite, root } from './site.mjs';
import { normalise, pearson } from './cam_compare.mjs';

export const BOUNDS = {
  fp16: { probs: 1e-2, camMax: 0.075, camCorr: 0.998, absMax: 0.05 },
  int8: { probs: 0.1, camMax: 0.15, camCorr: 0.99, absMax: 0.1 },
};
const MODELS = { malaria: 'malaria', pcam: 'pcam', blood: 'blood' };  // model -> tests/data folder

const work = mkdtempSync(join(tmpdir(), 'cellcam-quantize-'));
after(() => rmSync(work, { recursive: true, force: true }));
const site = await loadSite();

function exportQuantized(model, mode) {
  const out = join(work, `${model}-${mode}`);
  const r = spawnSync(cliPath, ['export', join(root, 'models', model), '--out', out, '--quantize', mode], { encoding: 'utf8', timeout: 300_000 });
  assert.equal(r.status, 0, `cellcam export ${model} --quantize ${mode}: ${r.stderr}`);
  return out;
}

function inputs(model, spec) {
  const dir = join(dataDir, MODELS[model]);
  const specText = JSON.stringify({ preprocess: spec.preprocess });
  const tensors = readdirSync(dir).sort().map((f) => {
    const r = site.pipeline.preprocessFile(site.cellcam, site.UTIF, new Uint8Array(readFileSync(join(dir, f))), specText, {});
    assert.ok(r.ok, `${f}: ${r.error}`);
    return r.tensor;
  });
  const [C, H, W] = spec.input.shape.slice(1);
  const data = new Float32Array(tensors.length * C * H * W);
  tensors.forEach((t, i) => data.set(t, i * C * H * W));
  return new ort.Tensor('float32', data, [tensors.length, C, H, W]);
}

async function run(dir, input) {
  const session = await ort.InferenceSession.create(join(dir, 'model.onnx'), { graphOptimizationLevel: 'all' });
  return session.run({ input });
}

// The worst map of a (N,C,h,w) output, for each image's predicted class (`classes[n]`) on the page's
// relative scale (normalised to [0,1]): its largest max abs diff and lowest correlation, and where.
function mapDiff(got, want, classes) {
  const [, c, h, w] = got.dims;
  const worst = { max: 0, corr: 1, whereMax: '', whereCorr: '' };
  classes.forEach((k, n) => {
    const i = n * c + k;
    const g = normalise(Array.from(got.data.subarray(i * h * w, (i + 1) * h * w)));
    const e = normalise(Array.from(want.data.subarray(i * h * w, (i + 1) * h * w)));
    const at = `image ${n} class ${k}`;
    for (let j = 0; j < g.length; j++) if (!(Math.abs(g[j] - e[j]) <= worst.max)) { worst.max = Math.abs(g[j] - e[j]); worst.whereMax = at; }
    const r = pearson(g, e);
    if (!(r >= worst.corr)) { worst.corr = r; worst.whereCorr = at; }
  });
  return worst;
}

// Every class's map on the page's absolute scale (cellcam/cam.h scale_cam: P(class) x map / its maximum):
// the largest abs diff, and where.
function absoluteDiff(got, want, gotProbs, wantProbs) {
  const [n, c, h, w] = got.dims;
  const scaled = (m, p) => { const max = Math.max(...m); return m.map((v) => (max > 0 ? (p * v) / max : 0)); };
  let worst = { max: 0, where: '' };
  for (let i = 0; i < n * c; i++) {
    const g = scaled(Array.from(got.data.subarray(i * h * w, (i + 1) * h * w)), gotProbs.data[i]);
    const e = scaled(Array.from(want.data.subarray(i * h * w, (i + 1) * h * w)), wantProbs.data[i]);
    for (let j = 0; j < g.length; j++)
      if (!(Math.abs(g[j] - e[j]) <= worst.max)) worst = { max: Math.abs(g[j] - e[j]), where: `image ${Math.floor(i / c)} class ${i % c}` };
  }
  return worst;
}

// The decision per image: P(positive) >= threshold for a binary model, else the top class.
function decisions(probs, threshold) {
  const [n, c] = probs.dims;
  return Array.from({ length: n }, (_, i) => {
    const row = Array.from(probs.data.subarray(i * c, (i + 1) * c));
    return threshold === undefined ? row.indexOf(Math.max(...row)) : Number(row[1] >= threshold);
  });
}

for (const model of Object.keys(MODELS)) {
  const shipped = join(root, 'models', model);
  const spec = JSON.parse(readFileSync(join(shipped, 'model.json'), 'utf8'));
  const input = inputs(model, spec);
  const reference = await run(shipped, input);
  for (const mode of ['fp16', 'int8']) {
    test(`${model} --quantize ${mode}: within its bounds of the float32 graph, and a folder the page accepts`, async () => {
      const dir = exportQuantized(model, mode);
      const card = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8'));
      const bytes = readFileSync(join(dir, 'model.onnx'));
      assert.equal(card.onnx.sha256, createHash('sha256').update(bytes).digest('hex'));
      assert.equal(card.onnx.bytes, bytes.length);
      assert.equal(card.quantization.mode, mode);
      assert.ok(bytes.length < (mode === 'int8' ? 0.35 : 0.6) * statSync(join(shipped, 'model.onnx')).size, `${bytes.length} bytes`);

      const got = await run(dir, input);
      const b = BOUNDS[mode];
      let probs = 0;
      for (let i = 0; i < got.probs.data.length; i++) probs = Math.max(probs, Math.abs(got.probs.data[i] - reference.probs.data[i]));
      assert.ok(probs <= b.probs, `probs max abs diff ${probs.toExponential(2)} > ${b.probs}`);
      const predicted = decisions(reference.probs, spec.threshold);
      assert.deepEqual(decisions(got.probs, spec.threshold), predicted);
      for (const output of ['cam', 'hirescam']) {
        const d = mapDiff(got[output], reference[output], predicted);
        assert.ok(d.max <= b.camMax, `${output}: max abs diff ${d.max.toFixed(4)} > ${b.camMax} (${d.whereMax})`);
        assert.ok(d.corr >= b.camCorr, `${output}: correlation ${d.corr.toFixed(5)} < ${b.camCorr} (${d.whereCorr})`);
        const a = absoluteDiff(got[output], reference[output], got.probs, reference.probs);
        assert.ok(a.max <= b.absMax, `${output}: absolute scale max abs diff ${a.max.toFixed(4)} > ${b.absMax} (${a.where})`);
      }
    });
  }
}
