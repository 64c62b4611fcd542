// csv.js — CSV cells as the page writes them (export.js, review.js); no DOM, so node tests import it as is.
//
// Formula neutralisation: a cell whose text begins with =, +, -, @, a tab or a carriage return would be run
// as a formula by a spreadsheet that opens the file (CSV injection), so it gets a leading ' . Numbers
// (-0.5, +1, 1e-7) are left as they are: they are values, not formulas, and must stay numbers.
// This rule is the page's own: `cellcam predict` writes its CSV in native/ (another part of the tree), and
// does not neutralise yet (see the README).

// RFC 4180: a field holding a quote, comma or line break is quoted, its quotes doubled.
export function csvQuote(v) {
  const s = String(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

// Every cell the page writes: a text that a spreadsheet would run as a formula (it begins with =, +, -, @,
// a tab or a carriage return) gets a leading ' ; a number (-0.5, 1e-7) stays a number.
const FORMULA_START = /^[=+\-@\t\r]/;
const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
export function neutralise(v) {
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  const s = String(v ?? '');
  return FORMULA_START.test(s) && !NUMBER.test(s) ? `'${s}` : s;
}

export function csvField(v) {
  return csvQuote(neutralise(v));
}
