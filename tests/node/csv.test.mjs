// csv.test.mjs — the page's CSV cells (web/js/csv.js, used by the CSV export and the reviewed-set
// manifest): RFC 4180 quoting, and formula neutralisation (a text beginning with =, +, -, @, tab or CR gets
// a leading '; numbers, negative ones included, stay numbers).
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { csvField, csvQuote, neutralise } from '../../web/js/csv.js';

test('texts a spreadsheet would run as formulas get a leading quote', () => {
  for (const s of ['=SUM(A1:A9)', '+cmd|calc', '-2+3', '@SUM(1)', '\tx', '\rx', '=1', '-', '+', '@', '-foo.png', '+1+1', '-1e', '--1'])
    assert.equal(neutralise(s), `'${s}`, JSON.stringify(s));
});

test('numbers stay numbers', () => {
  for (const v of [-0.5, 0, 1e-7, -1e-7, 0.999999, -3, Infinity])
    assert.equal(neutralise(v), String(v));
  for (const s of ['-0.5', '-3', '+1', '-1e-7', '-.5', '1.5E+3', '0', '-12.'])
    assert.equal(neutralise(s), s, s);
  assert.equal(neutralise(true), 'true');
});

test('other texts are untouched', () => {
  for (const s of ['', 'cell.png', 'a=b', 'x-1', ' =x', "'=x", 'Parasitized', 'é=ü'])
    assert.equal(neutralise(s), s, s);
  assert.equal(neutralise(null), '');
  assert.equal(neutralise(undefined), '');
});

test('RFC 4180 quoting, after neutralisation', () => {
  assert.equal(csvQuote('a,b'), '"a,b"');
  assert.equal(csvQuote('say "hi"'), '"say ""hi"""');
  assert.equal(csvQuote('two\nlines'), '"two\nlines"');
  assert.equal(csvQuote('=x'), '=x', 'csvQuote quotes only');
  assert.equal(csvField('=HYPERLINK("http://x","y")'), '"\'=HYPERLINK(""http://x"",""y"")"');
  assert.equal(csvField('\rx'), '"\'\rx"');
  assert.equal(csvField(-0.25), '-0.25');
  assert.equal(csvField('plain'), 'plain');
});
