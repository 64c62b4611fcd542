// cli_parity.test.mjs — the page against the CLI on the same files through the shipped models: the page's
// own classification code (web/js/classify.js over the wasm Model, run here with onnxruntime-node instead
// of ONNX Runtime Web) against `cellcam predict` (LibTorch): per row the class, the probabilities (max abs
// difference <= 1e-5), the refer-for-review flag, the tile count of a large image and the error rows; for
// a single model, with test-time augmentation, for a multiclass model and for the ensemble. The stitched
// heatmap of the large image is compared with `cellcam gradcam`'s (<= 1e-4 after normalisation), for one
// model, with TTA, and for the ensemble (members' maps combined, then stitched).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, test } from 'node:test';
import * as ort from 'onnxruntime-node';

import { cliPath, dataDir, loadSite, root, siteDir } from './site.mjs';

const { cellcam, UTIF, pipeline } = await loadSite();
const { checkSession, createClassifier } = await import(pathToFileURL(join(siteDir, 'js', 'classify.js')).href);
const tmp = mkdtempSync(join(tmpdir(), 'cellcam-cli-parity-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
const haveCli = existsSync(cliPath);
const PROB_BOUND = 1e-5;
const MAP_BOUND = 1e-4;
const VIEW_MAX = 1024;  // the page's view size (app.js)

const files = (dir) => readdirSync(join(dataDir, dir)).sort().map((f) => join(dataDir, dir, f));
const large = join(dataDir, 'formats', 'large_2048x1536.jpg');
const broken = join(dataDir, 'malformed', 'truncated.tif');

function parseCsv(text) {
  const [head, ...lines] = text.trim().split('\n');
  const keys = head.split(',');
  return lines.map((line) => {
    const cells = line.match(/("([^"]|"")*"|[^,]*)(,|$)/g).map((c) => c.replace(/,$/, '').replace(/^"|"$/g, '').replace(/""/g, '"'));
    return Object.fromEntries(keys.map((k, i) => [k, cells[i] ?? '']));
  });
}

// The page's path for a model folder: one wasm Model, one ONNX session per member, classify.js.
async function pageClassifier(folder, tta) {
  const dir = join(root, 'models', folder);
  const opened = cellcam.openModel(readFileSync(join(dir, 'model.json'), 'utf8'));
  assert.ok(opened.ok, opened.message);
  const info = opened.info;
  const sessions = [];
  for (const m of info.members) sessions.push(await ort.InferenceSession.create(readFileSync(join(dir, m.file))));
  const [c, h, w] = info.inputShape;
  const runMember = async (m, input, count) => {
    const out = await sessions[m].run({ input: new ort.Tensor('float32', input, [count, c, h, w]) });
    return { probs: Float32Array.from(out.probs.data), cam: out.cam ? Float32Array.from(out.cam.data) : null,
      hirescam: out.hirescam ? Float32Array.from(out.hirescam.data) : null,
      camWidth: out.cam ? out.cam.dims[3] : 0, camHeight: out.cam ? out.cam.dims[2] : 0,
      ood: out.ood ? Float32Array.from(out.ood.data) : null };
  };
  const classifier = createClassifier({ rules: opened.model, model: info, members: sessions.length, batchSize: 32, runMember });
  const ts = info.tileSettings;
  const options = { thumbnailSize: VIEW_MAX, tile: ts.tile, stride: ts.tile, tileAbove: ts.above, maxTiles: ts.maxTiles };
  const classify = async (path) => {
    const pre = pipeline.preprocessFile(cellcam, UTIF, new Uint8Array(readFileSync(path)), opened.model, options);
    if (!pre.ok) return pre;
    if (pre.tiles) return classifier.classifyTiled({ tiles: pre.tiles, source: pre.source, view: pre.thumbnail }, tta);
    return (await classifier.classifyBatch([{ tensor: pre.tensor, view: pre.thumbnail }], tta))[0];
  };
  const release = async () => {
    for (const s of sessions) await s.release();
    opened.model.delete();
  };
  return { info, classify, release };
}

// A (h,w) float32 map as `cellcam gradcam` writes it (<name>.<class>.stitched.npy, npy format 1.0).
function readMapNpy(path) {
  const npy = readFileSync(path);
  const header = npy.readUInt16LE(8);
  const shape = npy.subarray(10, 10 + header).toString().match(/'shape': \((\d+), (\d+)\)/);
  assert.ok(shape, `${path}: no 2-D shape in the header`);
  return { shape: [Number(shape[1]), Number(shape[2])], data: new Float32Array(npy.buffer.slice(npy.byteOffset + 10 + header, npy.byteOffset + npy.length)) };
}

function cliRows(folder, inputs, extra = []) {
  const out = join(tmp, `${folder}-${extra.join('')}.csv`);
  const run = spawnSync(cliPath, ['predict', join(root, 'models', folder), ...inputs, '--out', out, ...extra], { encoding: 'utf8' });
  assert.ok(run.status === 0 || run.status === 2, `cellcam predict exited ${run.status}: ${run.stderr}`);
  return new Map(parseCsv(readFileSync(out, 'utf8')).map((r) => [r.file, r]));
}

// Each model also gets images of other kinds (the other datasets' fixtures, a blank and a noise image), so
// the out-of-distribution flag is compared on rows where it is raised as well as where it is not.
const foreign = (...dirs) => [...dirs.flatMap(files), ...files('ood')];
const CASES = [
  { name: 'malaria', folder: 'malaria', inputs: [...files('malaria'), large, broken, ...foreign('pcam', 'blood')] },
  { name: 'malaria with TTA', folder: 'malaria', inputs: [...files('malaria'), large, ...foreign('pcam')], tta: true },
  { name: 'blood (multiclass)', folder: 'blood', inputs: [...files('blood'), broken, ...foreign('pcam', 'malaria')] },
  { name: 'pcam', folder: 'pcam', inputs: [...files('pcam'), ...foreign('malaria', 'blood')] },
  { name: 'malaria ensemble', folder: 'malaria-ensemble', inputs: [...files('malaria'), large, broken, ...foreign('pcam', 'blood')] },
];

for (const c of CASES) {
  test(`page and cellcam predict give the same rows: ${c.name}`, { skip: !haveCli && `${cliPath} not built`, timeout: 300000 }, async () => {
    const native = cliRows(c.folder, c.inputs, c.tta ? ['--tta'] : []);
    const page = await pageClassifier(c.folder, Boolean(c.tta));
    let worst = 0;
    let tiled = 0;
    let referred = 0;
    let worstOod = 0;
    const flagged = { in: 0, out: 0, foreign: 0 };
    try {
      for (const path of c.inputs) {
        const n = native.get(path);
        assert.ok(n, `${path}: no row from cellcam predict`);
        const p = await page.classify(path);
        if (!p.ok) {
          assert.notEqual(n.error, '', `${path}: the page refused it (${p.message}), the CLI did not`);
          assert.equal(n.error, p.message, `${path}: the same error`);
          continue;
        }
        assert.equal(n.error, '', `${path}: the CLI refused it: ${n.error}`);
        assert.equal(n.predicted, p.label, `${path}: class`);
        page.info.classes.forEach((k, i) => { worst = Math.max(worst, Math.abs(Number(n[`p_${k}`]) - p.probs[i])); });
        assert.equal(n.review, String(p.review), `${path}: refer-for-review flag`);
        assert.equal(Number(n.tiles), p.tiles ? p.tiles.count : 0, `${path}: tiles`);
        tiled += p.tiles ? 1 : 0;
        referred += p.review ? 1 : 0;
        // out of distribution: the flag equal, the score within float32 rounding of the graph
        if (page.info.ood) {
          assert.equal(n.ood, String(p.ood), `${path}: "not the kind of image this model was trained on" flag (score: CLI ${n.ood_score}, page ${p.oodScore})`);
          worstOod = Math.max(worstOod, Math.abs(Number(n.ood_score) - p.oodScore) / Math.max(1, p.oodScore));
          if (p.ood) flagged.out++;
          else flagged.in++;
          if (p.ood && !path.includes(`${join(dataDir, c.folder.replace('-ensemble', ''))}/`)) flagged.foreign++;
        } else {
          assert.equal(n.ood, undefined, `${path}: the CLI wrote an ood column for a model without one`);
        }
      }
    } finally {
      await page.release();
    }
    console.log(`${c.name}: page vs cellcam predict over ${c.inputs.length} files: max abs diff ${worst.toExponential(2)}, ${tiled} tiled, ${referred} referred`);
    assert.ok(worst <= PROB_BOUND, `probabilities differ by ${worst}`);
    if (c.inputs.includes(large)) assert.equal(tiled, 1, 'the large image is classified tile by tile in both');
    if (page.info.ood) {
      console.log(`${c.name}: out of distribution: ${flagged.out} flagged (${flagged.foreign} of other kinds), ${flagged.in} not; score max rel diff ${worstOod.toExponential(2)}`);
      assert.ok(worstOod <= 1e-3, `out-of-distribution scores differ by ${worstOod} (relative)`);
      assert.ok(flagged.foreign > 0 && flagged.in > 0, 'the comparison covers flagged and unflagged rows');
    }
  });
}

for (const [folder, tta] of [['malaria', false], ['malaria', true], ['malaria-ensemble', false]]) {
  test(`the stitched heatmap of a large image (${folder}${tta ? ', TTA' : ''}): page equals cellcam gradcam`, { skip: !haveCli && `${cliPath} not built`, timeout: 300000 }, async () => {
  const out = join(tmp, `gradcam-${folder}-${tta}`);
  const run = spawnSync(cliPath, ['gradcam', join(root, 'models', folder), large, '--out', out, ...(tta ? ['--tta'] : [])], { encoding: 'utf8' });
  assert.equal(run.status, 0, run.stderr);
  const page = await pageClassifier(folder, tta);
  try {
    const p = await page.classify(large);
    assert.ok(p.ok && p.stitched && p.tiles, 'the page tiles and stitches it');
    const plane = p.camWidth * p.camHeight;
    const mine = cellcam.rules.normalizeCam(p.cams.subarray(p.index * plane, (p.index + 1) * plane));
    const { shape, data: theirs } = readMapNpy(join(out, `large_2048x1536.${p.label}.stitched.npy`));
    assert.deepEqual(shape, [p.camHeight, p.camWidth], 'map size');
    let worst = 0;
    for (let i = 0; i < plane; i++) worst = Math.max(worst, Math.abs(theirs[i] - mine[i]));
    console.log(`${folder}${tta ? ' (TTA)' : ''}: stitched map ${p.camWidth}x${p.camHeight} of ${p.tiles.count} tiles: max abs diff ${worst.toExponential(2)} after normalisation`);
    assert.ok(worst <= MAP_BOUND, `stitched maps differ by ${worst}`);
  } finally {
    await page.release();
  }
});
}

// HiResCAM on the absolute scale (issue 17), the page's two new heatmap choices at once: the stitched map
// of the large image (tiles, and an ensemble's members combined) and a whole cell's heatmap, each class,
// against `cellcam gradcam --method hirescam --scale absolute --class all`. A confident answer's other class
// stays in the cold end (its map times its small probability).
for (const folder of ['malaria', 'malaria-ensemble']) {
  test(`HiResCAM on the absolute scale (${folder}): page equals cellcam gradcam, and a ruled-out class stays cold`, { skip: !haveCli && `${cliPath} not built`, timeout: 300000 }, async () => {
    const cell = join(dataDir, 'malaria', 'parasitized_P61_cell_164.png');
    const out = join(tmp, `hires-${folder}`);
    const run = spawnSync(cliPath, ['gradcam', join(root, 'models', folder), large, cell, '--method', 'hirescam', '--scale', 'absolute',
      '--class', 'all', '--out', out], { encoding: 'utf8' });
    assert.equal(run.status, 0, run.stderr);
    const page = await pageClassifier(folder, false);
    try {
      // the large image: the stitched HiResCAM of each class, scaled by its probability
      const p = await page.classify(large);
      assert.ok(p.ok && p.stitched && p.hiresCams, 'the page stitches HiResCAM maps too');
      const plane = p.camWidth * p.camHeight;
      let worst = 0;
      for (const [k, label] of page.info.classes.entries()) {
        const mine = cellcam.rules.scaleCam(p.hiresCams.subarray(k * plane, (k + 1) * plane), { scale: 'absolute', probability: p.probs[k] });
        assert.ok(mine instanceof Float32Array, mine.message);
        const { shape, data: theirs } = readMapNpy(join(out, `large_2048x1536.${label}.stitched.npy`));
        assert.deepEqual(shape, [p.camHeight, p.camWidth], 'map size');
        assert.equal(theirs.length, plane);
        for (let i = 0; i < plane; i++) worst = Math.max(worst, Math.abs(theirs[i] - mine[i]));
        assert.ok(Math.max(...mine) <= p.probs[k] + 1e-6, `${label}: no value above its probability`);
      }
      console.log(`${folder}: stitched HiResCAM, absolute scale, both classes: max abs diff ${worst.toExponential(2)}`);
      assert.ok(worst <= MAP_BOUND, `stitched HiResCAM maps differ by ${worst}`);

      // a whole cell: the heatmap the page draws for each class, against the CLI's heatmap PNG
      const modelText = readFileSync(join(root, 'models', folder, 'model.json'), 'utf8');
      const c = await page.classify(cell);
      assert.ok(c.ok && c.hiresCams, c.message);
      const cellPlane = c.camWidth * c.camHeight;
      let differing = 0;
      let samples = 0;
      let maxRed = 0;  // in the heatmaps of the classes not predicted
      for (const [k, label] of page.info.classes.entries()) {
        const png = cellcam.preprocess(new Uint8Array(readFileSync(join(out, `parasitized_P61_cell_164.${label}.heatmap.png`))), modelText, { thumbnailSize: 25000 });
        assert.equal(png.ok, true, png.message);
        const mineOpened = cellcam.openModel(modelText);
        const r = mineOpened.model.heatmap({ cam: c.hiresCams.slice(k * cellPlane, (k + 1) * cellPlane), camWidth: c.camWidth, camHeight: c.camHeight,
          width: png.thumbnail.width, height: png.thumbnail.height, scale: 'absolute', probability: c.probs[k] });
        mineOpened.model.delete();
        assert.equal(r.ok, true, r.message);
        for (let i = 0; i < r.heatmap.data.length; i++) {
          if (i % 4 === 3) continue;
          samples++;
          if (r.heatmap.data[i] !== png.thumbnail.data[i]) differing++;
        }
        if (k !== c.index) for (let i = 0; i < r.heatmap.data.length; i += 4) maxRed = Math.max(maxRed, r.heatmap.data[i]);
      }
      console.log(`${folder}: a cell's HiResCAM heatmaps (absolute) vs cellcam gradcam: ${differing} of ${samples} samples differ; P(predicted) ${c.probs[c.index].toFixed(4)}`);
      assert.ok(differing / samples < 0.01, `${differing} samples differ`);
      // jet has no red below 0.35: a class given under 0.05 is drawn in blues only
      if (c.probs[c.index] > 0.95) assert.equal(maxRed, 0, 'the ruled-out class has no red in its absolute-scale heatmap');
    } finally {
      await page.release();
    }
  });
}

// A model folder whose model.json is of an unknown version, lacks a field, or lists classes the ONNX file
// does not give: a clear error, the same words in the CLI and in the page (its reader and its session check).
test('a bad model.json: the CLI and the page refuse it with the same reason', { skip: !haveCli && `${cliPath} not built`, timeout: 120000 }, async () => {
  const src = join(root, 'models', 'malaria');
  const good = JSON.parse(readFileSync(join(src, 'model.json'), 'utf8'));
  const cases = [
    { name: 'unknown version', patch: { schema_version: 9 }, pattern: /schema_version 9 is not one this cellcam reads/ },
    { name: 'missing field', patch: { preprocess: undefined }, pattern: /no "preprocess" block/ },
    { name: 'classes that do not match the ONNX file', patch: { head: 'multiclass', classes: ['a', 'b', 'c'], display_names: undefined },
      pattern: /model\.onnx gives 2 class probabilities but model\.json lists 3 classes/ },
  ];
  const session = await ort.InferenceSession.create(readFileSync(join(src, 'model.onnx')));
  try {
    for (const c of cases) {
      const dir = join(tmp, `bad-${c.name.replace(/\W+/g, '-')}`);
      mkdirSync(dir, { recursive: true });
      for (const f of ['model.onnx', 'weights.pt']) copyFileSync(join(src, f), join(dir, f));
      const text = JSON.stringify({ ...good, ...c.patch });
      writeFileSync(join(dir, 'model.json'), text);
      const run = spawnSync(cliPath, ['predict', dir, join(dataDir, 'malaria'), '--out', join(dir, 'p.csv')], { encoding: 'utf8' });
      assert.equal(run.status, 1, `${c.name}: cellcam predict exit ${run.status}`);
      assert.match(run.stderr, c.pattern, `${c.name}: the CLI's reason`);
      assert.ok(!existsSync(join(dir, 'p.csv')), `${c.name}: no predictions written`);
      // The page: its reader refuses the first two; the third reads, and its session check refuses it.
      const opened = cellcam.openModel(text);
      const pageError = opened.ok ? checkSession(session, opened.model, opened.info) : opened;
      if (opened.ok) opened.model.delete();
      assert.equal(pageError.ok, false, `${c.name}: the page accepted it`);
      assert.match(pageError.message, c.pattern, `${c.name}: the page's reason`);
    }
  } finally {
    await session.release();
  }
});
