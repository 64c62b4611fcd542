// csv.js — CSV cells as the page writes them (export.js, review.js), by the shared C++ rule
// (shared/include/cellcam/csv.h through the wasm module: csvCell, csvQuote), the one `cellcam predict` uses,
// so the page and the CLI cannot disagree:
//   - a text beginning with =, +, -, @, a tab or a carriage return gets a leading ' (a spreadsheet would run
//     it as a formula); a number (-0.5, 1e-7) stays a number;
//   - RFC 4180 quoting.
// No DOM: page.js hands the module over once loaded (useCsvRules); node tests hand over their own copy.
let rules = null;

export function useCsvRules(cellcam) {
  rules = cellcam;
}

function module() {
  if (!rules) throw new Error('the wasm module is not loaded: no CSV can be written');
  return rules;
}

// RFC 4180 quoting only: fields that cellcam reads back as data (the reviewed-set manifest's paths, labels
// and folders: a folder named "-x" must stay "-x").
export function csvQuote(v) {
  return module().csvQuote(String(v ?? ''));
}

// Every cell a person may open in a spreadsheet. Numbers are written as they are.
export function csvField(v) {
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return module().csvCell(String(v ?? ''));
}
