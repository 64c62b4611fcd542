// review.js — a person confirms or corrects each result, with an optional note, mostly from the keyboard,
// and exports the reviewed images as a ZIP that `cellcam train` / `cellcam finetune` read as a dataset.
//
// A row's review: row.reviewed = { index, at } (the class a person says it is, the model's class index;
// `at` ISO 8601 UTC) or null, and row.note (text, '' when none). Confirmed = the reviewed class is the
// predicted one; corrected = another class. Every change is pushed on one undo stack (u undoes the last).
//
// Keys (on a row of the list, or in the large view; never while typing in a field):
//   Enter (large view) or c   confirm the predicted class      1..9   the class shown with that digit
//   n   the note field (Enter there saves and comes back)       u      undo the last review
//   j / ↓ (→ in the large view)   next row of the list as filtered   k / ↑ (←)   previous row      ?   help
// In the large view a review moves on to the next row, so 200 flagged cells go by with one key each.
//
// The ZIP ("cellcam-reviewed-set/1", fixed: the CLI reads it):
//   manifest.csv   path,label,group,predicted,probability,model,reviewed_at,note   one row per reviewed image
//   images/NNNNN_<name>   the file's original bytes (not re-encoded; a tiled image whole)
//   review.json    {"format","model":{name,version,sha256},"classes","exported_at","images","confirmed","corrected"}
import { Zip, ZipPassThrough } from '../vendor/fflate.mjs';
import { scheduleProgress } from './batch.js';
import { csvField, csvQuote } from './csv.js';
import { download } from './export.js';
import { $, errorText, h, showAlert, shownName, state } from './page.js';
import { classColour } from './rows.js';
import { rowFinished } from './saved.js';
import { fillViewer, openViewer, scheduleView, visibleRows } from './views_panel.js';

const undoStack = [];   // [{ row, reviewed, note }] the state before each change, last change last
const UNDO_MAX = 2000;

export function resetReviews() {
  undoStack.length = 0;
}

export const isConfirmed = (row) => Boolean(row.reviewed) && row.reviewed.index === row.result.index;
export const isCorrected = (row) => Boolean(row.reviewed) && row.reviewed.index !== row.result.index;

// ---------------------------------------------------------------- changing a review
function remember(row) {
  undoStack.push({ row, reviewed: row.reviewed ?? null, note: row.note ?? '' });
  if (undoStack.length > UNDO_MAX) undoStack.shift();
}

function changed(row) {
  renderRowReview(row);
  if (state.viewer === row) renderViewerReview(row);
  rowFinished(row);     // kept in the browser (when asked) and counted as not exported
  scheduleProgress();
  scheduleView();
}

export function setReview(row, index) {
  if (!row || row.status !== 'done' || !(index >= 0 && index < row.model.classes.length)) return false;
  remember(row);
  row.reviewed = { index, at: new Date().toISOString() };
  row.note = row.note ?? '';
  changed(row);
  announce(`${row.path}: ${index === row.result.index ? 'confirmed' : 'corrected to'} ${shownName(row.model, index)}`);
  return true;
}

export function setNote(row, text) {
  if (!row || row.status !== 'done' || (row.note ?? '') === text) return;
  remember(row);
  row.note = text;
  changed(row);
}

// Undoes the last change; returns its row (the caller moves there).
export function undo() {
  const last = undoStack.pop();
  if (!last) return null;
  last.row.reviewed = last.reviewed;
  last.row.note = last.note;
  changed(last.row);
  announce(`${last.row.path}: review undone`);
  return last.row;
}

function announce(text) {
  const live = $('review-live');
  if (live) live.textContent = text;
}

// ---------------------------------------------------------------- the row's controls
function statusLine(row) {
  if (!row.reviewed) return h('span', { class: 'review-state muted', text: 'not reviewed' });
  const k = row.reviewed.index;
  const name = shownName(row.model, k);
  return isConfirmed(row)
    ? h('span', { class: 'review-state confirmed', title: `Confirmed at ${row.reviewed.at}` }, '✓ confirmed')
    : h('span', { class: 'review-state corrected', title: `Corrected at ${row.reviewed.at}` }, '✎ corrected to ',
      h('span', { class: `badge small ${classColour(row.model, k)}`, text: name }));
}

// Filled once a row has its result (rows.js fillResult); renderRowReview updates it after each change.
export function reviewCell(row) {
  const model = row.model;
  const confirm = h('button', { type: 'button', class: 'confirm', title: 'Confirm the predicted class (c)',
    'aria-label': `Confirm ${shownName(model, row.result.index)} for ${row.path}`, onclick: () => setReview(row, row.result.index) }, '✓ Confirm ', h('kbd', { text: 'c' }));
  const pick = h('select', { class: 'pick', 'aria-label': `The right class for ${row.path}` },
    h('option', { value: '', text: 'Correct to…' }),
    model.classes.map((c, k) => h('option', { value: String(k), text: `${k < 9 ? `${k + 1} · ` : ''}${shownName(model, k)}` })));
  pick.addEventListener('change', () => { if (pick.value !== '') setReview(row, Number(pick.value)); });
  const note = h('input', { type: 'text', class: 'note', placeholder: 'note (n)', maxlength: '500', 'aria-label': `Note for ${row.path}` });
  note.addEventListener('change', () => setNote(row, note.value));
  note.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' || e.key === 'Escape') {
      e.preventDefault();
      setNote(row, note.value);
      row.el.thumbButton.focus();
    }
  });
  const status = h('div', { class: 'review-status' });
  Object.assign(row.el, { reviewStatus: status, reviewPick: pick, reviewNote: note, reviewConfirm: confirm });
  const cell = h('div', { class: 'review-cell', role: 'cell' }, status, h('div', { class: 'review-buttons' }, confirm, pick), note);
  renderRowReview(row);
  return cell;
}

export function renderRowReview(row) {
  const { reviewStatus, reviewPick, reviewNote, tr } = row.el;
  if (!reviewStatus) return;
  reviewStatus.textContent = '';
  reviewStatus.append(statusLine(row));
  reviewPick.value = row.reviewed && isCorrected(row) ? String(row.reviewed.index) : '';
  if (document.activeElement !== reviewNote) reviewNote.value = row.note ?? '';
  tr.classList.toggle('reviewed', Boolean(row.reviewed));
}

// ---------------------------------------------------------------- the large view's controls
export function renderViewerReview(row) {
  const box = $('viewer-review');
  box.textContent = '';
  const model = row.model;
  const predicted = row.result.index;
  const buttons = model.classes.map((c, k) => h('button', {
    type: 'button', class: `pick-class${row.reviewed && row.reviewed.index === k ? ' chosen' : ''}`,
    'aria-pressed': row.reviewed && row.reviewed.index === k ? 'true' : 'false',
    title: c, onclick: () => reviewInViewer(k),
  }, k < 9 ? h('kbd', { text: String(k + 1) }) : null, ' ', h('span', { class: `badge small ${classColour(model, k)}`, text: shownName(model, k) }),
  k === predicted ? h('span', { class: 'muted small', text: ' predicted' }) : null));
  const note = h('input', { type: 'text', id: 'viewer-note', class: 'note', placeholder: 'optional note (n)', maxlength: '500', value: row.note ?? '', 'aria-label': 'Note for this image' });
  note.addEventListener('change', () => setNote(row, note.value));
  note.addEventListener('keydown', (e) => {
    if (e.key === 'Enter') {
      e.preventDefault();
      setNote(row, note.value);
      box.focus();
    }
  });
  box.append(
    h('div', { class: 'review-head' }, h('strong', { text: 'Review' }), ' ', statusLine(row)),
    h('button', { type: 'button', class: 'confirm', onclick: () => reviewInViewer(predicted) },
      '✓ Confirm ', h('span', { class: `badge small ${classColour(model, predicted)}`, text: shownName(model, predicted) }), ' ', h('kbd', { text: 'Enter' }), ' ', h('kbd', { text: 'c' })),
    h('div', { class: 'pick-classes', role: 'group', 'aria-label': 'The right class' }, h('span', { class: 'muted small', text: 'or the right class:' }), buttons),
    note,
    h('div', { class: 'review-row' },
      h('button', { type: 'button', class: 'small', disabled: undoStack.length === 0, onclick: () => undoInViewer() }, 'Undo ', h('kbd', { text: 'u' })),
      h('span', { class: 'muted small shortcuts' }, 'next ', h('kbd', { text: 'j' }), '/', h('kbd', { text: '→' }), ' · previous ', h('kbd', { text: 'k' }), '/', h('kbd', { text: '←' }), ' · ',
        h('button', { type: 'button', class: 'link', onclick: () => showHelp() }, 'all keys ', h('kbd', { text: '?' })))),
  );
}

// A review in the large view moves on to the next row of the list (as it was filtered before the review).
function reviewInViewer(index) {
  const row = state.viewer;
  if (!row) return;
  const list = visibleRows().filter((r) => r.status === 'done');
  const next = list[list.indexOf(row) + 1];
  if (!setReview(row, index)) return;
  if (next) openViewer(next);
  else fillViewer(row);
  $('viewer-review').focus();
}

function undoInViewer() {
  const row = undo();
  if (row) openViewer(row);
  $('viewer-review').focus();
}

// ---------------------------------------------------------------- keys
const typing = (t) => t && (t.tagName === 'INPUT' || t.tagName === 'SELECT' || t.tagName === 'TEXTAREA' || t.isContentEditable);
const plain = (e) => !e.ctrlKey && !e.metaKey && !e.altKey;

function rowOf(el) {
  const tr = el && el.closest ? el.closest('#results .row') : null;
  return tr ? state.rows.find((r) => r.el.tr === tr) ?? null : null;
}

function focusRow(row) {
  if (!row) return;
  row.el.thumbButton.focus();
  row.el.tr.scrollIntoView({ block: 'nearest' });
}

function stepList(from, delta) {
  const list = visibleRows().filter((r) => r.status === 'done');
  if (list.length === 0) return;
  const i = from ? list.indexOf(from) : -1;
  focusRow(list[Math.max(0, Math.min(list.length - 1, i < 0 ? 0 : i + delta))]);
}

function onListKey(e) {
  if (!plain(e) || typing(e.target)) return;
  const row = rowOf(e.target);
  const k = e.key;
  if (k === 'j' || k === 'ArrowDown') { e.preventDefault(); stepList(row, 1); return; }
  if (k === 'k' || k === 'ArrowUp') { e.preventDefault(); stepList(row, -1); return; }
  if (k === 'u') { e.preventDefault(); focusRow(undo()); return; }
  if (!row || row.status !== 'done') return;
  if (k === 'c') { e.preventDefault(); setReview(row, row.result.index); return; }
  if (/^[1-9]$/.test(k)) { e.preventDefault(); setReview(row, Number(k) - 1); return; }
  if (k === 'n') { e.preventDefault(); row.el.reviewNote.focus(); }
}

function onViewerKey(e) {
  const row = state.viewer;
  if (!row || !plain(e) || typing(e.target)) return;
  const k = e.key;
  const onButton = e.target.tagName === 'BUTTON';
  if ((k === 'Enter' && !onButton) || k === 'c') { e.preventDefault(); reviewInViewer(row.result.index); return; }
  if (/^[1-9]$/.test(k)) { e.preventDefault(); reviewInViewer(Number(k) - 1); return; }
  if (k === 'n') { e.preventDefault(); $('viewer-note').focus(); return; }
  if (k === 'u') { e.preventDefault(); undoInViewer(); return; }
  if (k === 'j' || k === 'ArrowDown') { e.preventDefault(); step(1); return; }
  if (k === 'k' || k === 'ArrowUp') { e.preventDefault(); step(-1); }
}

function step(delta) {
  const list = visibleRows().filter((r) => r.status === 'done');
  const next = list[list.indexOf(state.viewer) + delta];
  if (next) openViewer(next);
  $('viewer-review').focus();
}

export function showHelp() {
  const d = $('review-help');
  if (!d.open) d.showModal();
}

export function wireReview() {
  $('results').addEventListener('keydown', onListKey);
  $('viewer').addEventListener('keydown', onViewerKey);
  document.addEventListener('keydown', (e) => {
    if (e.key === '?' && !typing(e.target) && !e.ctrlKey && !e.metaKey) { e.preventDefault(); showHelp(); }
  });
  $('help-open').addEventListener('click', showHelp);
  $('help-close').addEventListener('click', () => $('review-help').close());
  $('export-zip').addEventListener('click', () => exportReviewedSet().catch((err) => showAlert(`The reviewed set could not be written: ${errorText(err)}`)));
}

// ---------------------------------------------------------------- counts and the ZIP
export function reviewCounts() {
  const c = { reviewed: 0, confirmed: 0, corrected: 0 };
  for (const r of state.rows) {
    if (r.status !== 'done' || !r.reviewed) continue;
    c.reviewed++;
    if (isConfirmed(r)) c.confirmed++;
    else c.corrected++;
  }
  return c;
}

export const zipName = (name) => name.replace(/[^A-Za-z0-9._-]/g, '_');
const pad = (n, w = 2) => String(n).padStart(w, '0');

export function zipFileName(d = new Date()) {
  return `cellcam-reviewed-${d.getUTCFullYear()}${pad(d.getUTCMonth() + 1)}${pad(d.getUTCDate())}-${pad(d.getUTCHours())}${pad(d.getUTCMinutes())}${pad(d.getUTCSeconds())}.zip`;
}

// Writes the ZIP one file at a time (stored, not deflated: images are compressed already); only the
// File handles are held until then, each read when its turn comes.
export async function exportReviewedSet() {
  const rows = state.rows.filter((r) => r.status === 'done' && r.reviewed);
  if (rows.length === 0) return null;
  const withFile = rows.filter((r) => r.file);
  const model = rows[0].model;
  const others = rows.filter((r) => r.model.sha256 !== model.sha256);
  if (others.length > 0) throw new Error(`the reviewed rows were classified with ${others.length === rows.length ? 'another' : 'more than one'} model: review one model's results at a time`);
  const parts = [];
  let failure = null;
  // One time for every entry: without it fflate reads the clock separately for an entry's local header and
  // its central-directory record, and when the (2-second) DOS time ticks between the two they differ, which
  // libzip's consistency check (cellcam train/finetune) rejects as 'Zip archive inconsistent'.
  const exportedAt = new Date();
  const zip = new Zip((err, chunk) => { if (err) failure = err; else parts.push(chunk); });
  const add = (path, bytes) => {
    const entry = new ZipPassThrough(path);
    entry.mtime = exportedAt;
    zip.add(entry);
    entry.push(bytes, true);
  };
  const enc = new TextEncoder();
  const lines = [['path', 'label', 'group', 'predicted', 'probability', 'model', 'reviewed_at', 'note'].join(',')];
  let n = 0;
  let confirmed = 0;
  for (const r of withFile) {
    n++;
    const name = r.path.replace(/^.*\//, '');
    const group = r.path.includes('/') ? r.path.replace(/\/[^/]*$/, '') : '';
    const path = `images/${pad(n, 5)}_${zipName(name)}`;
    add(path, new Uint8Array(await r.file.arrayBuffer()));
    if (isConfirmed(r)) confirmed++;
    // The note is what a person typed: neutralised as every CSV cell the page writes; the other fields are
    // data the CLI reads back (a folder named "-x" stays "-x"), quoted only.
    lines.push([...[path, r.model.classes[r.reviewed.index], group, r.model.classes[r.result.index],
      r.result.probs[r.result.index].toPrecision(6), `${r.model.name}@${r.model.version}`, r.reviewed.at].map(csvQuote), csvField(r.note ?? '')].join(','));
  }
  add('manifest.csv', enc.encode(`${lines.join('\r\n')}\r\n`));
  add('review.json', enc.encode(`${JSON.stringify({
    format: 'cellcam-reviewed-set/1', model: { name: model.name, version: model.version, sha256: model.sha256 },
    classes: [...model.classes], exported_at: exportedAt.toISOString(), images: n, confirmed, corrected: n - confirmed,
  }, null, 2)}\n`));
  zip.end();
  if (failure) throw failure;
  const name = zipFileName(exportedAt);
  download(name, 'application/zip', new Blob(parts, { type: 'application/zip' }));
  const missing = rows.length - withFile.length;
  if (missing > 0) showAlert(`${missing} reviewed row${missing > 1 ? 's were' : ' was'} restored from this browser without the file (only results are kept), so not in the ZIP: drop those files again to include them.`);
  return { name, images: n, confirmed, corrected: n - confirmed };
}
