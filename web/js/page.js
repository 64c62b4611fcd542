// page.js — what every part of the page shares: its constants, URL parameters, state, the wasm module on
// the main thread (model.json through the shared C++, the overlay blend), messages and a small DOM helper.
import { loadCellcam } from './cellcam.js';
import { useCsvRules } from './csv.js';

export const IMAGE_EXTENSIONS = /\.(png|jpe?g|tiff?|bmp|gif|tga)$/i;
export const FILE_TIMEOUT_MS = 20000;               // a decoder that takes longer is abandoned (worker restarted)
export const VIEW_MAX = 1024;                       // longer side of the image kept for overlays and the large view
export const THUMB_CSS = 104;                       // row thumbnail box, CSS pixels
export const MAX_AHEAD = 48;                        // decoded images waiting for the model, at most
export const DEFAULT_ALPHA = 0.5;                   // the shared renderer's default (cellcam gradcam --alpha)

export const params = new URLSearchParams(location.search);
export const $ = (id) => document.getElementById(id);

export const state = {
  models: [],          // [{ id, folder, title, default }] from models/index.json, + the user's own
  choice: null,        // the chosen model: { id, title, source, text, parsed, url | bytes, readme }
  choosing: null,      // a model still being read (model_panel.js), or null
  queue: [],
  rows: [],
  total: 0,
  running: false,
  stopRequested: false,
  started: 0,
  batchStart: 0,
  cam: { on: true, cls: 'predicted', alpha: DEFAULT_ALPHA },
  heat: { method: 'gradcam', scale: 'relative' },  // how every map is drawn (cellcam/cam.h scale_cam)
  viewTimer: 0,
  viewer: null,        // the row open in the large view
  skipped: 0,
};

// ---------------------------------------------------------------- heatmaps
// The method and scale a row's maps are drawn with now (the page-wide choice): HiResCAM only where the
// model gave it; the cache key of a drawn heatmap (row.heat).
export function heatOf(row) {
  return { method: state.heat.method === 'hirescam' && row.result?.hiresCams ? 'hirescam' : 'gradcam', scale: state.heat.scale };
}
export const heatKey = (heat, cls) => `${heat.method}/${heat.scale}/${cls}`;

// ---------------------------------------------------------------- messages
// The wasm module on the main thread too: it reads model.json (the shared C++ model card) and blends the
// overlay at the slider's opacity; the workers hold their own copies for decoding and for the rules.
export const cellcamReady = loadCellcam();
export let cellcamMain = null;
cellcamReady.then((c) => { cellcamMain = c; useCsvRules(c); }, () => {});

// model.json text -> the model's description, read by the shared C++ (cellcam/model_card.h), or the error.
export async function readModelJson(text) {
  const cellcam = await cellcamReady;
  const opened = cellcam.openModel(text);
  if (!opened.ok) return opened;
  opened.model.delete();  // the page keeps the description; the workers hold the rules
  return opened.info;
}

export function showAlert(text) {
  $('alert-text').textContent = text;
  $('alert').hidden = false;
}
window.addEventListener('error', (e) => {
  showAlert(`Unexpected error: ${e.message || e.error || 'unknown'}`);
  e.preventDefault();
});
window.addEventListener('unhandledrejection', (e) => {
  const r = e.reason;
  showAlert(`Unexpected error: ${r && r.message ? r.message : r}`);
  e.preventDefault();
});
export const errorText = (e) => (e && e.message ? e.message : String(e));

export function setStatus(text, kind = '') {
  $('engine-status').textContent = text;
  $('engine-status').dataset.kind = kind;
}

// ---------------------------------------------------------------- small DOM helper
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = v;
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k in el && typeof v !== 'string') el[k] = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) el.append(c);
  return el;
}
// The name a person is shown for class k of a model (model.json display_names; the class id otherwise).
export const shownName = (model, k) => (model.displayNames && model.displayNames[k]) || model.classes[k];

export const fmt = (p, digits = 3) => (Number.isFinite(p) ? p.toFixed(digits) : '');
