// contrast.test.mjs — the page's text colours reach WCAG 2.1 AA (4.5:1 for normal-size text; the badges and
// chips are .78-.9rem, so the large-text 3:1 does not apply). Reads web/css/app.css itself, so a colour
// changed there is checked here: white on every class badge (binary pos/neg, classes c0..c7), each class
// colour as chip text on white and on a flagged row, the flag, error, reviewed and corrected chips, muted
// text on the page, the panels and a flagged row.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

import { root } from './site.mjs';

const css = readFileSync(join(root, 'web', 'css', 'app.css'), 'utf8');

function luminance(hex) {
  const c = hex.replace('#', '');
  const full = c.length === 3 ? [...c].map((x) => x + x).join('') : c;
  const [r, g, b] = [0, 2, 4].map((i) => parseInt(full.slice(i, i + 2), 16) / 255)
    .map((x) => (x <= 0.04045 ? x / 12.92 : ((x + 0.055) / 1.055) ** 2.4));
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}
export function contrast(a, b) {
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x);
  return (hi + 0.05) / (lo + 0.05);
}

const variable = (name) => {
  const m = css.match(new RegExp(`--${name}:\\s*(#[0-9a-fA-F]{3,6})\\b`));
  assert.ok(m, `--${name} is a hex colour in app.css`);
  return m[1];
};
const rule = (selector, property) => {
  const m = css.match(new RegExp(`${selector.replace(/\./g, '\\.')}\\s*\\{[^}]*?${property}:\\s*(#[0-9a-fA-F]{3,6})\\b`));
  assert.ok(m, `${selector} { ${property} } is a hex colour in app.css`);
  return m[1];
};
const classColours = () => {
  const out = { pos: variable('pos'), neg: variable('neg') };
  for (let k = 0; k < 8; k++) {
    const m = css.match(new RegExp(`\\.c${k}\\s*\\{\\s*--cls:\\s*(#[0-9a-fA-F]{6})`));
    assert.ok(m, `.c${k} has a class colour`);
    out[`c${k}`] = m[1];
  }
  return out;
};

test('the contrast formula is WCAG\'s (black on white 21:1, #767676 on white just passes 4.5:1)', () => {
  assert.equal(contrast('#000000', '#ffffff').toFixed(2), '21.00');
  assert.ok(contrast('#767676', '#ffffff') >= 4.5 && contrast('#777777', '#ffffff') < 4.5);
});

test('every badge, chip and flag colour reaches WCAG AA (4.5:1) on its background', () => {
  const white = '#ffffff';
  const flaggedRow = rule('.row.review', 'background');
  const failures = [];
  const check = (what, fg, bg) => {
    const r = contrast(fg, bg);
    if (r < 4.5) failures.push(`${what}: ${fg} on ${bg} is ${r.toFixed(2)}:1`);
  };
  for (const [name, colour] of Object.entries(classColours())) {
    check(`badge .${name} (white text)`, white, colour);
    check(`chip .${name} on white`, colour, white);
    check(`chip .${name} on a flagged row`, colour, flaggedRow);
  }
  check('flag', variable('warn'), variable('warn-bg'));
  check('errors chip', variable('bad'), variable('bad-bg'));
  check('reviewed chip', variable('ok'), rule('.chip.reviewed', 'background'));
  check('corrected chip', variable('accent'), variable('accent-bg'));
  for (const [where, bg] of [['page', variable('bg')], ['panel', variable('panel')], ['flagged row', flaggedRow]]) {
    check(`muted text on the ${where}`, variable('muted'), bg);
    check(`text on the ${where}`, variable('ink'), bg);
  }
  assert.deepEqual(failures, []);
});
