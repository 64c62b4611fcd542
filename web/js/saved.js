// saved.js — results that survive a reload, and a warning before closing a page whose results would be lost.
//
// "Keep results in this browser" (off by default; the choice is remembered in localStorage): every row,
// once finished, is written to IndexedDB on this computer (nothing is uploaded): file name, result or
// error, the settings it was computed with, its model's description, the view-size image, the Grad-CAM
// maps and the person's review and note, so a reload shows the same rows, overlays, reviews and exports.
// Not the file itself (so a restored row cannot go into the reviewed-set ZIP). Unticking it, "Clear
// saved results" or the page's "Clear" deletes what was kept.
//
// Closing or reloading the page asks first while it holds results that would be lost: rows neither
// exported (CSV or JSON) since they were classified nor kept in the browser, or a batch still running.
import { updateProgress } from './batch.js';
import { buildClassSelects } from './model_panel.js';
import { $, errorText, showAlert, state } from './page.js';
import { fillError, fillResult, makeRow } from './rows.js';
import { scheduleView } from './views_panel.js';

const DB_NAME = 'cellcam';
const STORE = 'rows';
const KEEP = 'cellcam.keep-results';
const SESSION = Date.now();  // key [SESSION, row id]: rows come back in the order they were added
const FLUSH_MS = 250;        // finished rows are written together, one transaction per quarter second

const pending = new Set();
let flushTimer = 0;
let generation = 0;          // bumped by every deletion: a write started before it is not counted as kept
let dbPromise = null;

const keeping = () => localStorage.getItem(KEEP) === '1';

function openDb() {
  if (!dbPromise) {
    dbPromise = new Promise((resolve, reject) => {
      const req = indexedDB.open(DB_NAME, 1);
      req.onupgradeneeded = () => req.result.createObjectStore(STORE, { keyPath: 'key' });
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => reject(req.error);
    });
    dbPromise.catch(() => { dbPromise = null; });
  }
  return dbPromise;
}

async function transact(mode, work) {
  const db = await openDb();
  return new Promise((resolve, reject) => {
    const tx = db.transaction(STORE, mode);
    const out = work(tx.objectStore(STORE));
    tx.oncomplete = () => resolve(out && 'result' in out ? out.result : undefined);
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error ?? new Error('the write was aborted (storage full?)'));
  });
}

// What a row needs to be shown and exported again (the heatmap travels in row.heat).
function record(row) {
  const done = row.status === 'done';
  let result = null;
  if (done) {
    const { heatmap, ...rest } = row.result;
    result = rest;
  }
  return {
    key: row.savedKey ?? [SESSION, row.id], path: row.path, status: row.status, error: row.error, decoded: row.decoded,
    settings: row.settings ?? null, backend: row.backend ?? '', model: done ? row.model : null, result,
    view: done && row.view ? { width: row.view.width, height: row.view.height, data: row.view.data } : null,
    heat: done ? [...row.heat] : [],
    reviewed: done ? row.reviewed ?? null : null, note: row.note ?? '',
  };
}

// batch.js calls this for every finished row (done or error), review.js for every review or note.
export function rowFinished(row) {
  row.exported = false;
  if (!keeping()) return;
  pending.add(row);
  if (!flushTimer) flushTimer = setTimeout(flush, FLUSH_MS);
}

async function flush() {
  flushTimer = 0;
  const rows = [...pending];
  pending.clear();
  if (rows.length === 0 || !keeping()) return;
  const g = generation;
  try {
    await transact('readwrite', (store) => { for (const row of rows) store.put(record(row)); });
    if (g !== generation) return;
    for (const row of rows) {
      row.savedKey = row.savedKey ?? [SESSION, row.id];
      row.saved = true;
    }
  } catch (e) {
    showAlert(`Results could not be kept in this browser: ${errorText(e)}`);
  }
  showKept();
}

async function forget() {
  generation++;
  pending.clear();
  for (const row of state.rows) row.saved = false;
  try {
    await transact('readwrite', (store) => store.clear());
  } catch (e) {
    showAlert(`The saved results could not be deleted: ${errorText(e)}`);
  }
  showKept();
}

function showKept() {
  const kept = state.rows.filter((r) => r.saved).length;
  $('keep-results').checked = keeping();
  $('keep-note').textContent = keeping()
    ? `${kept} result${kept === 1 ? '' : 's'} kept in this browser (on this computer only)`
    : 'results are lost when the page is closed unless exported';
  $('forget-results').disabled = !keeping() && kept === 0;
}

// Rows kept by an earlier visit, shown again (after the first model, so the class lists exist).
export async function restoreSaved() {
  wire();
  if (!keeping()) {
    showKept();
    document.body.dataset.restored = '0';
    return 0;
  }
  let records = [];
  try {
    records = await transact('readonly', (store) => store.getAll());
  } catch (e) {
    showAlert(`The results kept in this browser could not be read: ${errorText(e)}`);
  }
  for (const rec of records) {
    try {
      const row = makeRow({ file: null, path: rec.path });
      Object.assign(row, { savedKey: rec.key, saved: true, exported: false, decoded: rec.decoded, settings: rec.settings, backend: rec.backend });
      if (rec.status === 'done') {
        Object.assign(row, { model: rec.model, result: rec.result, view: rec.view, reviewed: rec.reviewed ?? null, note: rec.note ?? '' });
        for (const [cls, data] of rec.heat) row.heat.set(cls, data);
        fillResult(row);
      } else {
        fillError(row, rec.error ? rec.error.code : 'unknown', rec.error ? rec.error.message : 'unknown error');
      }
    } catch (e) {
      showAlert(`A kept result could not be shown: ${errorText(e)}`);
    }
  }
  if (records.length > 0) {
    if (state.choice) buildClassSelects();
    updateProgress();
    scheduleView(0);
  }
  showKept();
  document.body.dataset.restored = String(records.length);
  return records.length;
}

// Results that closing the page would lose.
export function unsaved() {
  const lost = state.rows.filter((r) => (r.status === 'done' || r.status === 'error') && !r.exported && !r.saved).length;
  return lost + (state.running ? state.queue.length + 1 : 0);
}

let wired = false;
function wire() {
  if (wired) return;
  wired = true;
  $('keep-results').addEventListener('change', (e) => {
    if (e.target.checked) {
      localStorage.setItem(KEEP, '1');
      for (const row of state.rows) if (row.status === 'done' || row.status === 'error') pending.add(row);
      flush();
    } else {
      localStorage.removeItem(KEEP);
      forget();
    }
    showKept();
  });
  $('forget-results').addEventListener('click', () => forget());
  $('clear').addEventListener('click', () => { if (keeping()) forget(); });
  const exported = () => { for (const row of state.rows) if (row.status === 'done' || row.status === 'error') row.exported = true; };
  $('export-csv').addEventListener('click', exported);
  $('export-json').addEventListener('click', exported);
  window.addEventListener('beforeunload', (e) => {
    if (unsaved() === 0) return;
    e.preventDefault();
    e.returnValue = '';  // older browsers ask only when returnValue is set
  });
}
