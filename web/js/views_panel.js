// views_panel.js — which rows show and in what order (sort, filter), and the large view of one row.
import { $, cellcamMain, fmt, h, heatOf, shownName, state, VIEW_MAX } from './page.js';
import { renderViewerReview } from './review.js';
import { camClassOf, composed, describeSource, probabilityBars, resultBadges } from './rows.js';

// ---------------------------------------------------------------- sort and filter
// Sort and filter: at once when the user changes them, at most every 200 ms while results stream in.
export function scheduleView(delay = 200) {
  if (delay === 0) {
    clearTimeout(state.viewTimer);
    state.viewTimer = 0;
    applyView();
    return;
  }
  if (state.viewTimer) return;
  state.viewTimer = setTimeout(() => {
    state.viewTimer = 0;
    applyView();
  }, delay);
}

export function visibleRows() {
  const filter = $('filter').value;
  const needle = $('search').value.trim().toLowerCase();
  const keep = (r) => {
    if (needle && !r.path.toLowerCase().includes(needle)) return false;
    if (filter === 'all') return true;
    if (filter === 'errors') return r.status === 'error';
    if (filter === 'review') return r.status === 'done' && r.result.review;
    if (filter === 'ood') return r.status === 'done' && r.result.ood;
    if (filter === 'reviewed') return r.status === 'done' && Boolean(r.reviewed);
    if (filter === 'unreviewed') return r.status === 'done' && !r.reviewed;
    if (filter === 'review-open') return r.status === 'done' && r.result.review && !r.reviewed;
    if (filter === 'corrected') return r.status === 'done' && Boolean(r.reviewed) && r.reviewed.index !== r.result.index;
    if (filter.startsWith('class:')) return r.status === 'done' && r.result.label === filter.slice(6);
    return true;
  };
  const sort = $('sort').value;
  const score = (r) => (r.status === 'done' ? r.result.score : null);
  const byScore = (dir) => (a, b) => {
    const sa = score(a);
    const sb = score(b);
    if (sa === null || sb === null) return (sa === null) - (sb === null) || a.id - b.id;
    return dir * (sa - sb) || a.id - b.id;
  };
  const compare = {
    order: (a, b) => a.id - b.id,
    file: (a, b) => a.path.localeCompare(b.path, undefined, { numeric: true }) || a.id - b.id,
    'score-desc': byScore(-1),
    'score-asc': byScore(1),
    review: (a, b) => (b.status === 'done' && b.result.review) - (a.status === 'done' && a.result.review) || a.id - b.id,
    class: (a, b) => (a.result ? a.result.index : 1e9) - (b.result ? b.result.index : 1e9) || a.id - b.id,
  }[sort] ?? ((a, b) => a.id - b.id);
  return state.rows.filter(keep).sort(compare);
}

export function applyView() {
  const rows = visibleRows();
  const shown = new Set(rows);
  const list = $('results');
  for (const r of state.rows) r.el.tr.hidden = !shown.has(r);
  // Re-append in order only when it changed (moving nodes loses focus in them).
  const current = [...list.children].filter((el) => !el.hidden);
  if (current.length !== rows.length || current.some((el, i) => el !== rows[i].el.tr)) {
    const focused = document.activeElement;
    for (const r of rows) list.append(r.el.tr);
    if (focused && list.contains(focused)) focused.focus();
  }
  $('empty').hidden = rows.length > 0;
  $('empty').textContent = state.rows.length === 0 ? 'Results appear here as each image is classified.' : 'No image matches this filter.';
}

// ---------------------------------------------------------------- the large view
export function openViewer(row) {
  if (row.status !== 'done') return;
  state.viewer = row;
  const dialog = $('viewer');
  fillViewer(row);
  if (!dialog.open) {
    dialog.showModal();
    $('viewer-review').focus();  // the review keys work at once (Enter confirms; Tab reaches every control)
  }
}

export function fillViewer(row) {
  const model = row.model;
  const r = row.result;
  $('viewer-title').textContent = row.path;
  const result = $('viewer-result');
  result.textContent = '';
  result.append(h('div', { class: 'result' }, ...resultBadges(model, r).filter(Boolean)), probabilityBars(model, r.probs, r.index));
  renderViewerReview(row);
  const select = $('viewer-class');
  select.textContent = '';
  model.classes.forEach((c, i) => select.append(h('option', { value: String(i), text: shownName(model, i) })));
  select.value = String(camClassOf(row));
  $('viewer-cam').checked = row.cam.on;
  $('viewer-cam').disabled = !r.cams;
  select.disabled = !r.cams;
  $('viewer-alpha').value = String(row.cam.alpha);
  const d = row.decoded;
  const details = $('viewer-details');
  details.textContent = '';
  const dl = h('dl');
  const add = (k, v) => dl.append(h('dt', { text: k }), h('dd', { text: v }));
  add('Image', describeSource(row));
  if (r.tiles) {
    add('Tiles', `${r.tiles.columns}×${r.tiles.rows} grid, ${r.tiles.tile} px every ${r.tiles.stride} px; ${model.head === 'binary' ? `${r.tiles.positive} positive, image score = highest tile (${r.tiles.best.x},${r.tiles.best.y})` : 'image = mean of the tiles'}`);
    add('Heatmap', 'stitched from the tiles\u2019 raw Grad-CAM maps, normalised once over the whole image');
    add('Caution', `each ${r.tiles.tile} px tile was classified as if it were a whole image: check in the model card that the model was made for such tiles`);
  }
  add('Model', `${model.name}${model.version ? ` v${model.version}` : ''} on ${row.backend === 'webgpu' ? 'WebGPU' : 'WASM'} · test-time augmentation ${row.settings && row.settings.tta ? 'on' : 'off'}`);
  add('Time', `decode + preprocess ${fmt(d.ms, 1)} ms · inference ${fmt(r.inferMs, 1)} ms${r.tiles ? '' : ` (batch of ${r.batch})`} · Grad-CAM ${fmt(r.camMs, 1)} ms`);
  if (row.view.width !== d.source.width) add('Shown at', `${row.view.width}×${row.view.height} (longer side capped at ${VIEW_MAX} px)`);
  details.append(dl);
  const input = $('viewer-input');
  input.width = d.preview.width;
  input.height = d.preview.height;
  input.getContext('2d').putImageData(new ImageData(d.preview.data, d.preview.width, d.preview.height), 0, 0);
  const visible = visibleRows();
  const i = visible.indexOf(row);
  $('viewer-prev').disabled = i <= 0;
  $('viewer-next').disabled = i < 0 || i >= visible.length - 1;
  composed(row).then((pixels) => drawViewer(row, pixels));
}

export function drawViewer(row, pixels) {
  if (state.viewer !== row) return;
  const canvas = $('viewer-canvas');
  canvas.width = row.view.width;
  canvas.height = row.view.height;
  canvas.getContext('2d').putImageData(new ImageData(pixels, row.view.width, row.view.height), 0, 0);
  canvas.dataset.drawn = row.cam.on && row.result.cams ? `overlay:${camClassOf(row)}` : 'image';
  const shown = row.cam.on && row.result.cams;
  const explains = shown ? heatDescription(row) : null;
  canvas.setAttribute('aria-label', `${row.path}${explains ? `, ${explains.line}` : ''}`);
  canvas.setAttribute('role', 'img');
  drawLegend(explains);
}

const METHOD_NAMES = { gradcam: 'Grad-CAM', hirescam: 'HiResCAM' };

// What the drawn map is: the class it explains and with which probability, the method, and what its colours
// mean on the chosen scale (cellcam/cam.h scale_cam).
export function heatDescription(row) {
  const cls = camClassOf(row);
  const heat = heatOf(row);
  const name = shownName(row.model, cls);
  const p = row.result.probs[cls];
  const grid = row.result.stitched ? 'stitched from the tiles\u2019 maps' : `${row.result.camWidth}\u00d7${row.result.camHeight} map${row.model.cam?.layer ? ` at ${row.model.cam.layer}` : ''}`;
  const line = `${METHOD_NAMES[heat.method]} of ${name} (P = ${fmt(p)}), ${grid}`;
  const text = heat.scale === 'absolute'
    ? `Absolute scale: colour = P(${name}) \u00d7 the map \u00f7 its maximum. With P = ${fmt(p)} nothing is hotter than ${fmt(p)}; a class the model rules out stays blue.`
    : `Relative scale: each map is stretched from its own lowest (0) to its highest (1) value. It shows where the evidence for ${name} lies, not how strong it is: a weak or flat map looks as hot as a strong one (choose the absolute scale to compare).`;
  const note = heat.method !== 'hirescam' ? ''
    : sameMaps(row.result) ? ' For this model HiResCAM draws the same map as Grad-CAM: its CAM layer feeds global average pooling, so the gradient is the same at every position.'
      : ' HiResCAM multiplies gradient and activation at each position (no averaging of the gradient), so it follows the model more closely.';
  return { line, text: text + note, scale: heat.scale, probability: p };
}

// Whether a row's HiResCAM maps are its Grad-CAM maps to float precision (measured once per row).
function sameMaps(r) {
  if (r.hiresSame === undefined) {
    let diff = 0;
    let top = 0;
    for (let i = 0; i < r.cams.length; i++) {
      diff = Math.max(diff, Math.abs(r.cams[i] - r.hiresCams[i]));
      top = Math.max(top, Math.abs(r.cams[i]));
    }
    r.hiresSame = diff <= 1e-5 * top + 1e-7;
  }
  return r.hiresSame;
}

let legendTable = null;

// The colour bar under the large view (jet, the colours the heatmaps are drawn with) and what it means.
function drawLegend(explains) {
  const box = $('viewer-legend');
  box.hidden = !explains;
  if (!explains) return;
  $('viewer-explains').textContent = `Map explains: ${explains.line}`;
  $('viewer-legend-text').textContent = explains.text;
  const bar = $('viewer-legend-bar');
  if (!legendTable && cellcamMain) {
    const t = cellcamMain.colormapTable('jet');
    if (t && t.ok !== false) legendTable = t;
  }
  if (!legendTable) return;
  const img = new ImageData(256, 1);
  for (let i = 0; i < 256; i++) img.data.set([legendTable[3 * i], legendTable[3 * i + 1], legendTable[3 * i + 2], 255], 4 * i);
  bar.getContext('2d').putImageData(img, 0, 0);
  bar.dataset.drawn = 'jet';
}

export function viewerStep(delta) {
  const visible = visibleRows().filter((r) => r.status === 'done');
  const i = visible.indexOf(state.viewer);
  const next = visible[i + delta];
  if (next) openViewer(next);
}

export function syncRowControls(row) {
  if (row.el.camToggle) row.el.camToggle.checked = row.cam.on;
  if (row.el.camSelect) row.el.camSelect.value = String(camClassOf(row));
  if (row.el.camAlpha) row.el.camAlpha.value = String(row.cam.alpha);
}
