// csv.test.mjs — the page's CSV cells (web/js/csv.js, used by the CSV export and the reviewed-set
// manifest) go through the shared C++ rule in the wasm module (cellcam/csv.h, tested natively and in wasm
// by test_csv): formula neutralisation (a text beginning with =, +, -, @, tab or CR gets a leading ';
// numbers, negative ones included, stay numbers) and RFC 4180 quoting.
import assert from 'node:assert/strict';
import { before, test } from 'node:test';

import { csvField, csvQuote, useCsvRules } from '../../web/js/csv.js';
import { loadSite } from './site.mjs';

before(async () => {
  const { cellcam } = await loadSite();
  useCsvRules(cellcam);
});

test('texts a spreadsheet would run as formulas get a leading quote', () => {
  for (const s of ['=SUM(A1:A9)', '+cmd|calc', '-2+3', '@SUM(1)', '=1', '-', '+', '@', '-foo.png', '+1+1', '-1e', '--1'])
    assert.equal(csvField(s), `'${s}`, JSON.stringify(s));
  assert.equal(csvField('\tx'), "'\tx");
  assert.equal(csvField('\rx'), '"\'\rx"');
});

test('numbers stay numbers', () => {
  for (const v of [-0.5, 0, 1e-7, -1e-7, 0.999999, -3]) assert.equal(csvField(v), String(v));
  for (const s of ['-0.5', '-3', '+1', '-1e-7', '-.5', '1.5E+3', '0', '-12.']) assert.equal(csvField(s), s, s);
  assert.equal(csvField(true), 'true');
});

test('other texts are untouched; UTF-8 round-trips', () => {
  for (const s of ['', 'cell.png', 'a=b', 'x-1', ' =x', "'=x", 'Parasitized', 'é=ü', '細胞.png']) assert.equal(csvField(s), s, s);
  assert.equal(csvField(null), '');
  assert.equal(csvField(undefined), '');
});

test('RFC 4180 quoting, after neutralisation', () => {
  assert.equal(csvQuote('a,b'), '"a,b"');
  assert.equal(csvQuote('say "hi"'), '"say ""hi"""');
  assert.equal(csvQuote('two\nlines'), '"two\nlines"');
  assert.equal(csvQuote('=x'), '=x', 'csvQuote quotes only');
  assert.equal(csvQuote('-folder'), '-folder');
  assert.equal(csvField('=HYPERLINK("http://x","y")'), '"\'=HYPERLINK(""http://x"",""y"")"');
  assert.equal(csvField('plain'), 'plain');
});
