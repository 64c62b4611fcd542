// cam.test.mjs — the wasm API the page's classifier uses, on fixtures and the shipped model:
//   - renderCam (web/js/cellcam.js) on the "cam" output of models/malaria/model.onnx (onnxruntime-node):
//     sizes, errors as values, and the overlay `cellcam gradcam` writes for the same file (same shared
//     renderer; the maps differ only by LibTorch autograd vs the in-graph VJP, ~1e-6);
//   - blendOverlay (cellcam/cam.h blend_rgba), the page's opacity slider, equals renderCam's overlay bit for bit
//     at every opacity;
//   - preprocess's tile options equal `cellcam preprocess --tile --stride` tensors byte for byte;
//   - model.js: model.json parsing, the class / review / tile-aggregation rules, the stitched CAM;
//   - sha256.js against node's crypto.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, test } from 'node:test';
import * as ort from 'onnxruntime-node';

import { pageRules } from './rules.mjs';
import { cliPath, dataDir, loadSite, root, siteDir } from './site.mjs';

const { cellcam, UTIF, pipeline } = await loadSite();
const model = pageRules(cellcam);
const { sha256Hex, sha256HexSync } = await import(pathToFileURL(join(siteDir, 'js', 'sha256.js')).href);

const modelDir = join(root, 'models', 'malaria');
const modelText = readFileSync(join(modelDir, 'model.json'), 'utf8');
const malaria = model.parseModelJson(modelText);
const session = await ort.InferenceSession.create(join(modelDir, 'model.onnx'));
const tmp = mkdtempSync(join(tmpdir(), 'cellcam-cam-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

// .npy v1, little-endian float32 (what `cellcam preprocess` writes).
function readNpy(path) {
  const bytes = readFileSync(path);
  const headerLen = bytes.readUInt16LE(8);
  const payload = bytes.subarray(10 + headerLen);
  return { data: new Float32Array(payload.buffer.slice(payload.byteOffset, payload.byteOffset + payload.byteLength)) };
}

const fixture = (p) => new Uint8Array(readFileSync(join(dataDir, p)));
const FULL = { thumbnailSize: 25000 };  // the page asks for its view size; here always the whole image

// file -> { pre (preprocess result), probs, cams (K,h,w), h, w } through the page's pipeline + ORT node.
async function classify(path) {
  const pre = pipeline.preprocessFile(cellcam, UTIF, fixture(path), modelText, FULL);
  assert.equal(pre.ok, true, `${path}: ${pre.message}`);
  const out = await session.run({ input: new ort.Tensor('float32', pre.tensor, [1, ...pre.shape]) });
  const [, , h, w] = out.cam.dims;
  return { pre, probs: out.probs.data, cams: out.cam.data, h, w };
}

function decodePng(path) {
  const r = cellcam.preprocess(new Uint8Array(readFileSync(path)), modelText, FULL);
  assert.equal(r.ok, true, `${path}: ${r.message}`);
  return r.thumbnail;  // RGBA, the file's own pixels (8-bit RGB, alpha 255)
}

const has = existsSync(cliPath);

test('renderCam draws the overlay `cellcam gradcam` draws (same shared renderer)', { skip: !has && `${cliPath} not built` }, async () => {
  const files = ['malaria/parasitized_P61_cell_164.png', 'malaria/uninfected_P97_cell_57.png', 'formats/cell_gray8.png', 'formats/cell_rgb16.png'];
  execFileSync(cliPath, ['gradcam', modelDir, ...files.map((f) => join(dataDir, f)), '--out', tmp], { stdio: 'pipe' });
  for (const f of files) {
    const { pre, probs, cams, h, w } = await classify(f);
    const d = model.decide(probs, malaria);
    const plane = h * w;
    const r = cellcam.renderCam({
      cam: cams.slice(d.index * plane, (d.index + 1) * plane), camWidth: w, camHeight: h,
      width: pre.thumbnail.width, height: pre.thumbnail.height, rgba: pre.thumbnail.data,
    }, modelText);
    assert.equal(r.ok, true, r.message);
    assert.equal(r.overlay.width, pre.source.width);
    assert.equal(r.overlay.height, pre.source.height);
    assert.equal(r.heatmap.data.length, pre.source.width * pre.source.height * 4);
    const stem = f.replace(/^.*\//, '').replace(/\.png$/, '');
    const native = decodePng(join(tmp, `${stem}.${d.label}.overlay.png`));
    assert.equal(native.width, r.overlay.width);
    let differing = 0;
    let worst = 0;
    for (let i = 0; i < native.data.length; i++) {
      if (i % 4 === 3) continue;
      const diff = Math.abs(native.data[i] - r.overlay.data[i]);
      if (diff > 0) differing++;
      worst = Math.max(worst, diff);
    }
    const share = differing / (native.data.length * 0.75);
    console.log(`${f}: overlay vs cellcam gradcam: ${(100 * share).toFixed(3)} % of samples differ, max ${worst} level(s)`);
    // The ONNX map and LibTorch's differ by ~1e-6, which can move a pixel across a colour-table step.
    assert.ok(worst <= 2 && share < 0.01, `${f}: ${differing} samples differ, max ${worst}`);
  }
});

test('blendOverlay (the opacity slider) equals renderCam\u2019s overlay bit for bit at every opacity', async () => {
  const { pre, cams, h, w } = await classify('malaria/parasitized_P139_cell_157.png');
  const args = { cam: cams.slice(h * w, 2 * h * w), camWidth: w, camHeight: h, width: pre.thumbnail.width, height: pre.thumbnail.height, rgba: pre.thumbnail.data };
  const base = cellcam.renderCam(args, modelText);
  assert.equal(base.ok, true, base.message);
  for (const alpha of [0, 0.05, 0.3, 0.5, 0.55, 0.7, 0.95, 1]) {
    const r = cellcam.renderCam({ ...args, alpha }, modelText);
    assert.deepEqual(r.heatmap.data, base.heatmap.data, 'the heatmap does not depend on alpha');
    const mine = model.blendOverlay(pre.thumbnail.data, r.heatmap.data, alpha);
    assert.deepEqual(mine, r.overlay.data, `alpha ${alpha}`);
  }
  // heatmapOnly (what the page calls): the same heatmap, without the image.
  const only = cellcam.renderCam({ ...args, rgba: undefined, heatmapOnly: true }, modelText);
  assert.equal(only.ok, true, only.message);
  assert.deepEqual(Object.keys(only).sort(), ['heatmap', 'ok']);
  assert.deepEqual(only.heatmap.data, base.heatmap.data);
  const viridis = cellcam.renderCam({ ...args, colormap: 'viridis' }, modelText);
  assert.equal(viridis.ok, true);
  assert.notDeepEqual(viridis.heatmap.data, base.heatmap.data);
});

test('renderCam and canvasPlacement return errors as values', () => {
  const rgba = new Uint8Array(4 * 4 * 4);
  const cam = new Float32Array(4);
  const ok = { cam, camWidth: 2, camHeight: 2, width: 4, height: 4, rgba };
  assert.equal(cellcam.renderCam(ok, modelText).ok, true);
  const cases = [
    [{ ...ok, cam: new Float32Array(3) }, 'invalid_argument'],
    [{ ...ok, cam: [0, 0, 0, 0] }, 'invalid_argument'],
    [{ ...ok, rgba: new Uint8Array(10) }, 'invalid_argument'],
    [{ ...ok, camWidth: 0 }, 'invalid_argument'],
    [{ ...ok, alpha: 2 }, 'invalid_argument'],
    [{ ...ok, colormap: 'rainbow' }, 'invalid_argument'],
    [{ ...ok, cam: Float32Array.of(0, NaN, 0, 0) }, 'invalid_argument'],
    [{ ...ok, cam: Float32Array.of(0, NaN, 0, 0), heatmapOnly: true }, 'invalid_argument'],
    [{ ...ok, rgba: undefined }, 'invalid_argument'],
    [{ ...ok, heatmapOnly: true, colormap: 'rainbow' }, 'invalid_argument'],
    [null, 'invalid_argument'],
  ];
  for (const [args, code] of cases) {
    const r = cellcam.renderCam(args, modelText);
    assert.equal(r.ok, false, JSON.stringify(args));
    assert.equal(r.code, code, r.message);
    assert.ok(r.message.length > 0);
  }
  assert.equal(cellcam.renderCam(ok, '{"width": 0}').code, 'invalid_spec');
  assert.equal(cellcam.renderCam().ok, false);
  const p = cellcam.canvasPlacement(139, 151, modelText);
  assert.equal(p.ok, true, p.message);
  const pre = malaria.preprocess;
  if (pre.aspect === 'pad' && pre.width === pre.height) {  // pad: the longer side fills the canvas
    assert.equal(p.contentHeight, pre.height);
    assert.equal(p.contentWidth, Math.round((139 * pre.width) / 151));
  }
  assert.equal(cellcam.canvasPlacement(0, 10, modelText).ok, false);
});

test('tiles from preprocess equal `cellcam preprocess --tile --stride`, byte for byte', { skip: !has && `${cliPath} not built` }, () => {
  const file = join(dataDir, 'formats', 'large_2048x1536.jpg');
  const out = join(tmp, 'tiles');
  execFileSync(cliPath, ['preprocess', file, '--spec', join(modelDir, 'model.json'), '--out', out, '--tile', '512', '--stride', '384'], { stdio: 'pipe' });
  const r = cellcam.preprocess(fixture('formats/large_2048x1536.jpg'), modelText, { tile: 512, stride: 384, thumbnailSize: 64 });
  assert.equal(r.ok, true, r.message);
  const grid = cellcam.tileGrid(2048, 1536, 512, 384);
  assert.equal(r.tiles.columns, grid.columns);
  assert.equal(r.tiles.rows, grid.rows);
  assert.deepEqual(r.tiles.items.map((t) => ({ ...t })), grid.tiles.map((t) => ({ ...t })));
  const size = malaria.inputShape.reduce((a, b) => a * b, 1);
  assert.equal(r.tiles.tensor.length, grid.tiles.length * size);
  const npys = readdirSync(out).filter((f) => /\.tile\d+\.npy$/.test(f));
  assert.equal(npys.length, grid.tiles.length);
  for (let k = 0; k < grid.tiles.length; k++) {
    const want = readNpy(join(out, `large_2048x1536.tile${k}.npy`)).data;
    const got = r.tiles.tensor.subarray(k * size, (k + 1) * size);
    assert.ok(Buffer.from(got.buffer, got.byteOffset, got.byteLength).equals(Buffer.from(want.buffer)), `tile ${k} differs`);
  }
  // Only images with a side above tileAbove are cut; too many tiles is an error, not an allocation.
  assert.equal(cellcam.preprocess(fixture('formats/large_2048x1536.jpg'), modelText, { tile: 512, tileAbove: 4096, thumbnailSize: 64 }).tiles, undefined);
  assert.equal(cellcam.preprocess(fixture('malaria/parasitized_P61_cell_164.png'), modelText, { tile: 64, tileAbove: 512 }).tiles, undefined);
  const many = cellcam.preprocess(fixture('formats/large_2048x1536.jpg'), modelText, { tile: 16, thumbnailSize: 64 });
  assert.equal(many.ok, false);
  assert.equal(many.code, 'too_large');
  assert.match(many.message, /12288 tiles of 16 px \(at most 4096\)/);
  // TIFF pixels (utif2 -> preprocessPixels) are tiled the same way.
  const tif = pipeline.preprocessFile(cellcam, UTIF, fixture('tiff/rgb8_lzw.tif'), modelText, { tile: 64, stride: 48 });
  assert.equal(tif.ok, true, tif.message);
  assert.equal(tif.tiles.items.length, cellcam.tileGrid(tif.source.width, tif.source.height, 64, 48).tiles.length);
});

test('model.json: the shipped model parses; bad ones are refused with a reason', () => {
  assert.equal(malaria.ok, true, malaria.message);
  assert.equal(malaria.classes.length, 2);
  assert.equal(malaria.head, 'binary');
  const spec = JSON.parse(modelText);
  assert.deepEqual(malaria.inputShape, spec.input.shape.slice(1));
  assert.equal(malaria.sha256, createHash('sha256').update(readFileSync(join(modelDir, 'model.onnx'))).digest('hex'));
  const j = JSON.parse(modelText);
  const bad = (patch, pattern) => {
    const r = model.parseModelJson(JSON.stringify({ ...j, ...patch }));
    assert.equal(r.ok, false, JSON.stringify(patch));
    assert.match(r.message, pattern);
  };
  bad({ classes: ['only'] }, /at least two/);
  bad({ classes: ['a', 'a'] }, /twice/);
  bad({ head: 'regression' }, /binary or multiclass/);
  bad({ onnx: { file: 'model.onnx' } }, /sha256/);
  bad({ threshold: 1.5 }, /threshold/);
  bad({ review_band: [0.6, 0.4] }, /review_band/);
  bad({ preprocess: undefined }, /preprocess/);
  bad({ temperature: 0 }, /temperature/);
  bad({ temperature: 'hot' }, /temperature/);
  assert.equal(model.parseModelJson(JSON.stringify({ ...j, temperature: 1.7 })).temperature, 1.7);
  assert.equal(model.parseModelJson('not json').ok, false);
  assert.equal(model.parseModelJson('[]').ok, false);
});

test('decide: threshold, argmax and the refer-for-review band (model.json or the documented default)', () => {
  const j = JSON.parse(modelText);
  // The documented default band, on a copy of the shipped model.json without its own band.
  const m = model.parseModelJson(JSON.stringify({ ...j, threshold: 0.3, review_band: undefined }));
  assert.deepEqual(m.reviewBand.map((v) => +v.toFixed(9)), [0.15, 0.45]);
  assert.equal(model.decide([0.7, 0.3], m).label, m.classes[1]);
  assert.equal(model.decide([0.71, 0.29], m).label, m.classes[0]);
  assert.equal(model.decide([0.99, 0.01], m).review, false);
  assert.equal(model.decide([0.6, 0.4], m).review, true);
  assert.equal(model.decide([0.5, 0.5], m).review, false);
  if (j.review_band) assert.deepEqual(malaria.reviewBand, j.review_band);
  else assert.deepEqual(malaria.reviewBand, [Math.max(0, malaria.threshold - 0.15), Math.min(1, malaria.threshold + 0.15)]);
  const banded = model.parseModelJson(JSON.stringify({ ...j, review_band: [0.2, 0.8] }));
  assert.equal(model.decide([0.5, 0.5], banded).review, true);
  assert.equal(model.decide([0.15, 0.85], banded).review, false);
  const classes = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'];
  const multi = model.parseModelJson(JSON.stringify({ ...j, head: 'multiclass', classes, display_names: undefined, threshold: undefined, review_band: undefined }));
  assert.equal(multi.ok, true, multi.message);
  assert.deepEqual(multi.reviewBand, [0, 0.6]);
  const p = [0.05, 0.05, 0.7, 0.05, 0.05, 0.05, 0.03, 0.02];
  assert.deepEqual({ ...model.decide(p, multi) }, { index: 2, label: 'c', score: 0.7, review: false });
  assert.equal(model.decide([0.3, 0.25, 0.45, 0, 0, 0, 0, 0], multi).review, true);
});

test('aggregateTiles: binary takes the most positive tile, multiclass the mean', () => {
  const tiles = Float32Array.of(0.9, 0.1, 0.4, 0.6, 0.7, 0.3);  // (3,2)
  const j = JSON.parse(modelText);
  const binary = model.parseModelJson(JSON.stringify({ ...j, threshold: 0.25 }));
  const a = model.aggregateTiles(tiles, 3, binary);
  assert.ok(Math.abs(a.probs[1] - 0.6) < 1e-7);
  assert.ok(Math.abs(a.probs[0] - 0.4) < 1e-7);
  assert.equal(a.bestTile, 1);
  assert.equal(a.positiveTiles, 2);  // 0.6 and 0.3 are >= the threshold 0.25; 0.1 is not
  const multi = model.parseModelJson(JSON.stringify({ ...j, head: 'multiclass', classes: ['a', 'b', 'c'], display_names: undefined }));
  const m = model.aggregateTiles(Float32Array.of(0.6, 0.3, 0.1, 0.2, 0.2, 0.6), 2, multi);
  assert.deepEqual(Array.from(m.probs, (v) => +v.toFixed(6)), [0.4, 0.25, 0.35]);
});

test('stitchTileCams puts each tile\u2019s map where the tile lies, through the tile\u2019s placement', () => {
  // A 4x3 grid of 64 px tiles over 256x192, 8x8 maps over a 64x64 stretch canvas: one map cell = 8 px.
  const grid = cellcam.tileGrid(256, 192, 64, 64);
  const T = grid.tiles.length;
  const K = 2;
  const cams = new Float32Array(T * K * 64);
  const hot = 5;                                   // tile (1,1) is hot for class 1, uniformly
  cams.fill(1, (hot * K + 1) * 64, (hot * K + 2) * 64);
  for (let t = 0; t < T; t++) cams.fill(0.25, t * K * 64, (t * K + 1) * 64);  // class 0 flat everywhere
  const placement = cellcam.canvasPlacement(64, 64, JSON.stringify({ width: 64, height: 64, aspect: 'stretch' }));
  const s = model.stitchTileCams({ cams, K, camW: 8, camH: 8, tiles: grid.tiles, width: 256, height: 192, placement, canvasW: 64, canvasH: 64 });
  assert.equal(s.mapW, 32);
  assert.equal(s.mapH, 24);
  const at = (k, x, y) => s.maps[k * s.mapW * s.mapH + y * s.mapW + x];
  for (let y = 0; y < s.mapH; y++) {
    for (let x = 0; x < s.mapW; x++) {
      assert.ok(Math.abs(at(0, x, y) - 0.25) < 1e-6);
      const inside = x >= 8 && x < 16 && y >= 8 && y < 16;
      assert.equal(at(1, x, y), inside ? 1 : 0, `(${x},${y})`);
    }
  }
  // Overlapping tiles (stride < tile) average; the last column is moved back to the edge.
  const g2 = cellcam.tileGrid(100, 64, 64, 48);
  const c2 = new Float32Array(g2.tiles.length * 64).map((_, i) => Math.floor(i / 64) + 1);  // tile t's map = t + 1
  const s2 = model.stitchTileCams({ cams: c2, K: 1, camW: 8, camH: 8, tiles: g2.tiles, width: 100, height: 64, placement, canvasW: 64, canvasH: 64 });
  assert.equal(s2.maps[0], 1);                      // only tile 0 covers the left edge
  assert.equal(s2.maps[s2.mapW - 1], 2);            // only tile 1 covers the right edge
  assert.ok(s2.maps.some((v) => v === 1.5));        // both in the middle
});

test('renderCam of a stitched map covers the whole image', () => {
  const maps = new Float32Array(32 * 24);
  maps[10 * 32 + 20] = 1;
  const rgba = new Uint8Array(256 * 192 * 4).fill(128);
  const r = cellcam.renderCam({ cam: maps, camWidth: 32, camHeight: 24, width: 256, height: 192, rgba }, model.stitchedSpecJson(256, 192));
  assert.equal(r.ok, true, r.message);
  // The hot cell is at x 160..168, y 80..88: its centre is the map's maximum.
  let best = 0;
  for (let i = 1; i < r.cam.length; i++) if (r.cam[i] > r.cam[best]) best = i;
  assert.deepEqual([best % 256, Math.floor(best / 256)].map((v) => Math.floor(v / 8)), [20, 10]);
});

test('sha256: the JavaScript fallback equals node\u2019s crypto', async () => {
  for (const n of [0, 1, 55, 56, 63, 64, 65, 1000, 70000]) {
    const b = randomBytes(n);
    const want = createHash('sha256').update(b).digest('hex');
    assert.equal(sha256HexSync(new Uint8Array(b)), want, `${n} bytes`);
    assert.equal(await sha256Hex(b.buffer.slice(b.byteOffset, b.byteOffset + n)), want);
  }
});
