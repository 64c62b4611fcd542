// module.test.mjs — the wasm module's JavaScript API: values, never exceptions.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

import { dataDir, loadSite } from './site.mjs';

const { cellcam, UTIF, pipeline } = await loadSite();
const fixture = (p) => new Uint8Array(readFileSync(join(dataDir, p)));
const spec = JSON.stringify({ preprocess: { width: 32, height: 24, color: 'gray', mean: 0.5, std: 0.5 } });

test('version is the project version', () => {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url)));
  assert.equal(cellcam.version(), pkg.version);
});

test('limits are the shared ones (cellcam/limits.h): the page checks file size with the CLI\'s words', () => {
  const l = cellcam.limits();
  assert.deepEqual(l, { maxFileBytes: 512 * 1024 * 1024, maxSide: 25000, maxMegapixels: 100, minTile: 8, maxTile: 4096,
    maxTileAbove: 100000, defaultTileAbove: 512, maxTiles: 4096 });
  assert.deepEqual(cellcam.checkFileSize(l.maxFileBytes), { ok: true });
  assert.deepEqual(cellcam.checkFileSize(600 * 1024 * 1024),
    { ok: false, code: 'too_large', message: 'file is 600 MB; cellcam reads files up to 512 MB' });
});

test('probe reads dimensions without decoding', () => {
  const r = cellcam.probe(fixture('formats/large_2048x1536.jpg'));
  assert.deepEqual({ ...r }, { ok: true, format: 'JPEG', width: 2048, height: 1536, channels: 3, bits: 8 });
  const small = cellcam.probe(fixture('formats/large_2048x1536.jpg'), { maxSide: 1000 });
  assert.equal(small.ok, false);
  assert.equal(small.code, 'too_large');
  assert.equal(small.message, 'image 2048x1536 exceeds the 1000 px limit');
});

test('preprocess returns the tensor, its shape, a preview and a thumbnail', () => {
  const r = cellcam.preprocess(fixture('malaria/parasitized_P61_cell_164.png'), spec);
  assert.equal(r.ok, true, r.message);
  assert.equal(r.format, 'PNG');
  assert.deepEqual(r.shape, [1, 24, 32]);
  assert.ok(r.tensor instanceof Float32Array);
  assert.equal(r.tensor.length, 24 * 32);
  assert.deepEqual({ ...r.source }, { width: 139, height: 151, channels: 3, bits: 8 });
  assert.equal(r.preview.width, 32);
  assert.ok(r.preview.data instanceof Uint8ClampedArray);
  assert.equal(r.preview.data.length, 32 * 24 * 4);
  assert.equal(r.thumbnail.height, 151);
  const big = cellcam.preprocess(fixture('formats/large_2048x1536.jpg'), spec, { thumbnailSize: 128 });
  assert.equal(big.thumbnail.width, 128);
  assert.equal(big.thumbnail.height, 96);
});

test('errors are values with a code and a message, never exceptions', () => {
  const cases = [
    [() => cellcam.preprocess(new Uint8Array(0), spec), 'empty_input'],
    [() => cellcam.preprocess(fixture('malformed/truncated.png'), spec), 'truncated'],
    [() => cellcam.preprocess(fixture('malaria/parasitized_P61_cell_164.png'), '{"color": "cmyk"}'), 'invalid_spec'],
    [() => cellcam.preprocess(fixture('malaria/parasitized_P61_cell_164.png'), 'not json'), 'invalid_spec'],
    [() => cellcam.preprocess(undefined, spec), 'invalid_argument'],
    [() => cellcam.preprocess('a string', spec), 'invalid_argument'],
    [() => cellcam.probe({}), 'invalid_argument'],
    [() => cellcam.preprocessPixels({ width: '2', height: 2, channels: 3, bits: 8, data: new Uint8Array(12) }, spec), 'invalid_argument'],
    [() => cellcam.preprocessPixels({ width: 2, height: 2, channels: 3, bits: 8, data: new Uint8Array(5) }, spec), 'invalid_argument'],
    [() => cellcam.preprocessPixels({ width: 2, height: 2, channels: 3, bits: 8, data: new Uint8Array(12), layout: 'cmyk' }, spec), 'invalid_argument'],
    [() => cellcam.preprocessPixels({ width: 1, height: 1, channels: 1, bits: 8, data: new Uint8Array(1), layout: 'palette' }, spec), 'invalid_argument'],
    [() => cellcam.preprocessPixels(null, spec), 'invalid_argument'],
    [() => cellcam.tileGrid(100, 100, 64, 0), 'invalid_argument'],
    [() => cellcam.probeTiff(fixture('malformed/compression_zstd.tif')), 'unsupported_compression'],
  ];
  for (const [call, code] of cases) {
    let r;
    assert.doesNotThrow(() => (r = call()));
    assert.equal(r.ok, false);
    assert.equal(r.code, code, r.message);
    assert.ok(r.message.length > 5);
  }
});

test('pixels from a caller: 16-bit, palette, min-is-white', () => {
  const g16 = cellcam.preprocessPixels({ width: 2, height: 1, channels: 1, bits: 16, data: new Uint16Array([0, 65535]) },
    JSON.stringify({ width: 2, height: 1, color: 'gray', resize_filter: 'box' }));
  assert.equal(g16.ok, true, g16.message);
  assert.deepEqual([...g16.tensor], [0, 1]);
  const inverted = cellcam.preprocessPixels({ width: 2, height: 1, channels: 1, bits: 8, data: new Uint8Array([0, 255]), layout: 'min-is-white' },
    JSON.stringify({ width: 2, height: 1, color: 'gray', resize_filter: 'box' }));
  assert.deepEqual([...inverted.tensor], [1, 0]);
  const colormap = new Uint16Array(3 * 2);
  colormap[1] = 0xffff; // entry 1 is red
  const palette = cellcam.preprocessPixels({ width: 1, height: 1, channels: 1, bits: 8, data: new Uint8Array([1]), layout: 'palette', colormap },
    JSON.stringify({ width: 1, height: 1 }));
  assert.deepEqual([...palette.tensor], [1, 0, 0]);
});

test('tile grid for a 2048x1536 photo', () => {
  const g = cellcam.tileGrid(2048, 1536, 512, 384);
  assert.equal(g.ok, true);
  assert.equal(g.columns, 5);
  assert.equal(g.rows, 4);
  assert.equal(g.tiles.length, 20);
  assert.deepEqual({ ...g.tiles[19] }, { x: 1536, y: 1024, width: 512, height: 512 });
});

test('parseSpec validates and canonicalises', () => {
  const ok = cellcam.parseSpec('{"preprocess": {"width": 50, "height": 50, "color": "hsv", "blur": {}}}');
  assert.equal(ok.ok, true);
  assert.equal(JSON.parse(ok.spec).blur.kernel, 5);
  const bad = cellcam.parseSpec('{"widht": 50}');
  assert.equal(bad.message, "preprocess spec: unknown key 'widht'");
});

test('TIFF through utif2: every supported variant decodes; what utif2 cannot read is refused by name', () => {
  for (const f of ['rgb8_lzw.tif', 'rgb8_planar_lzw.tif', 'rgb8_tiled_deflate.tif', 'rgb16_bigendian_deflate.tif',
    'gray16_tiled_lzw.tif', 'palette8_lzw.tif', 'miniswhite8_none.tif', 'rgba8_lzw.tif', 'rgb8_jpeg_ycbcr.tif']) {
    const r = pipeline.preprocessFile(cellcam, UTIF, fixture(`tiff/${f}`), spec);
    assert.equal(r.ok, true, `${f}: ${r.message}`);
    assert.equal(r.format, 'TIFF');
  }
  const zstd = pipeline.preprocessFile(cellcam, UTIF, fixture('malformed/compression_zstd.tif'), spec);
  assert.equal(zstd.message, 'TIFF compression ZSTD is not supported (none, LZW, Deflate, PackBits and JPEG are)');
});

test('a batch with broken files: each gets its error, the rest are processed', () => {
  const files = ['malaria/parasitized_P61_cell_164.png', 'malformed/empty.png', 'pcam/tumour_c0318a09.jpg',
    'malformed/random_bytes.png', 'malformed/huge_dims.png', 'tiff/rgb8_lzw.tif', 'malformed/truncated.tif'];
  const results = files.map((f) => pipeline.preprocessFile(cellcam, UTIF, fixture(f), spec));
  assert.deepEqual(results.map((r) => r.ok), [true, false, true, false, false, true, false]);
});
