// rows.js — files in (drops, pickers, folders) and one row per file out: thumbnail, class, probability
// bars, the refer-for-review flag, the Grad-CAM overlay at its opacity and the review (review.js).
import { renderInEngine } from './engines.js';
import { $, cellcamMain, fmt, h, heatKey, heatOf, IMAGE_EXTENSIONS, showAlert, shownName, state, THUMB_CSS } from './page.js';
import { reviewCell } from './review.js';
import { drawViewer, openViewer } from './views_panel.js';

// ---------------------------------------------------------------- collecting files
export async function filesFromDataTransfer(dt) {
  const entries = [...dt.items].map((it) => (it.webkitGetAsEntry ? it.webkitGetAsEntry() : null));
  if (entries.every((e) => e === null)) return [...dt.files].map((file) => ({ file, path: file.name }));
  const out = [];
  const walk = async (entry, prefix, fromFolder) => {
    if (!entry) return;
    if (entry.isFile) {
      const file = await new Promise((res, rej) => entry.file(res, rej)).catch(() => null);
      // Files inside folders are filtered by extension; files dropped by name are always tried.
      if (file && (!fromFolder || IMAGE_EXTENSIONS.test(file.name))) out.push({ file, path: prefix + file.name });
      else if (file) state.skipped++;
    } else if (entry.isDirectory) {
      const reader = entry.createReader();
      for (;;) {
        const batch = await new Promise((res) => reader.readEntries(res, () => res([])));
        if (batch.length === 0) break;
        for (const child of batch) await walk(child, `${prefix}${entry.name}/`, true);
      }
    }
  };
  for (const entry of entries) await walk(entry, '', false);
  return out;
}

export function filesFromInput(input, fromFolder) {
  const all = [...input.files];
  const kept = all.filter((f) => !fromFolder || IMAGE_EXTENSIONS.test(f.name));
  state.skipped += all.length - kept.length;
  return kept.map((file) => ({ file, path: file.webkitRelativePath || file.name }));
}

// ---------------------------------------------------------------- rows
export function makeRow(item) {
  const row = {
    id: state.total++, file: item.file, path: item.path, status: 'waiting', decoded: null, result: null, error: null,
    view: null, heat: new Map(), cam: { ...state.cam }, el: {},
  };
  const canvas = h('canvas', { class: 'thumb', width: 1, height: 1 });
  // The context is made before the canvas is in the document: made later, it forces a style and
  // layout pass of the page for every row.
  const ctx = canvas.getContext('2d');
  const thumbButton = h('button', { type: 'button', class: 'thumb-button', disabled: true, 'aria-label': `Open ${item.path} larger`, onclick: () => openViewer(row) }, canvas);
  row.el = {
    tr: h('div', { 'data-id': String(row.id), class: 'row pending', role: 'row' }),
    num: h('div', { class: 'num', role: 'cell', text: String(row.id + 1) }),
    thumb: h('div', { class: 'thumb-cell', role: 'cell' }, thumbButton),
    thumbButton,
    canvas,
    ctx,
    file: h('div', { class: 'file', role: 'cell' }, h('div', { class: 'name', text: item.path }), h('div', { class: 'meta muted', text: 'waiting' })),
    result: h('div', { class: 'result', role: 'cell' }),
    probs: h('div', { class: 'probs', role: 'cell' }),
    camCell: h('div', { class: 'cam', role: 'cell' }),
  };
  row.el.tr.append(row.el.num, row.el.thumb, row.el.file, row.el.result, row.el.probs, row.el.camCell);
  $('results').append(row.el.tr);
  state.rows.push(row);
  $('empty').hidden = true;
  return row;
}

export function setMeta(row, text) {
  row.el.file.querySelector('.meta').textContent = text;
}

export function describeSource(row) {
  const d = row.decoded;
  if (!d) return '';
  const s = d.source;
  let text = `${d.format} ${s.width}×${s.height}, ${s.channels === 1 ? 'gray' : s.channels === 2 ? 'gray+alpha' : s.channels === 3 ? 'RGB' : 'RGBA'} ${s.bits}-bit`;
  const t = row.result && row.result.tiles;
  if (t) text += ` · ${t.count} tiles of ${t.tile} px`;
  return text;
}

export function classColour(model, index) {
  if (model.head === 'binary') return index === 1 ? 'pos' : 'neg';
  return `c${index % 8}`;
}

export function fillError(row, code, message) {
  row.status = 'error';
  row.error = { code, message };
  const { tr, thumb, file, result, probs, camCell } = row.el;
  tr.className = 'row error';
  thumb.textContent = '';
  thumb.append(h('span', { class: 'no-thumb', 'aria-hidden': 'true', text: '—' }));
  setMeta(row, row.decoded ? describeSource(row) : '');
  result.textContent = '';
  result.append(h('div', { class: 'err', text: message }), h('div', { class: 'code', text: code }));
  probs.remove();
  camCell.remove();
  file.title = row.path;
}

export function probabilityBars(model, probs, predicted) {
  return h('div', { class: 'pbars' }, model.classes.map((c, k) => {
    const fill = h('span', { class: `fill ${classColour(model, k)}` });
    fill.style.width = `${Math.max(0, Math.min(1, probs[k])) * 100}%`;
    return h('div', { class: `pbar${k === predicted ? ' predicted' : ''}` },
      h('span', { class: 'cls', text: shownName(model, k), title: c }),
      h('span', { class: 'track', 'aria-hidden': 'true' }, fill),
      h('span', { class: 'val', text: fmt(probs[k]) }));
  }));
}

export function resultBadges(model, r) {
  const score = model.head === 'binary' ? `P(${shownName(model, 1)}) = ${fmt(r.score, 4)}` : `top-1 ${fmt(r.score, 4)}`;
  return [
    h('span', { class: `badge ${classColour(model, r.index)}`, text: shownName(model, r.index) }),
    r.review ? h('span', { class: 'flag', title: r.ood ? 'Referred: not the kind of image this model was trained on'
      : model.ensemble && model.ensemble.review && r.disagreement !== null
        ? `The members disagree by ${fmt(r.disagreement)} (refer at ≥ ${fmt(model.ensemble.review.cutoff)})`
        : `In the uncertainty band ${model.reviewBand.map((v) => fmt(v)).join('–')}`, text: '⚑ Refer for review' }) : null,
    r.ood ? h('div', { class: 'flag ood', title: `${model.rules.ood} (score ${fmt(r.oodScore, 4)})`,
      text: 'not the kind of image this model was trained on' }) : null,
    Number.isFinite(r.disagreement) ? h('div', { class: 'muted', title: 'how far the ensemble\u2019s members are from their mean (0: they agree)', text: `members disagree ${fmt(r.disagreement)}` }) : null,
    Number.isFinite(r.viewDisagreement) ? h('div', { class: 'muted', title: 'test-time augmentation: how far the 8 flipped/rotated views\u2019 probabilities are from their mean (0: they agree, at most 1); a second uncertainty score beside the probability', text: `views disagree ${fmt(r.viewDisagreement)}` }) : null,
    h('div', { class: 'score muted', text: score }),
    r.tiles ? h('div', { class: 'score muted', text: model.head === 'binary' ? `${r.tiles.positive} of ${r.tiles.count} tiles positive` : `${r.tiles.count} tiles, mean` }) : null,
  ];
}

export function fillResult(row) {
  const r = row.result;
  const model = row.model;
  row.status = 'done';
  const { tr, result, probs, camCell, thumbButton } = row.el;
  tr.className = r.review ? 'row review' : 'row';
  setMeta(row, describeSource(row));
  result.textContent = '';
  result.append(...resultBadges(model, r).filter(Boolean));
  probs.textContent = '';
  probs.append(probabilityBars(model, r.probs, r.index));
  thumbButton.disabled = false;
  camCell.textContent = '';
  if (r.cams) {
    const toggle = h('input', { type: 'checkbox', checked: row.cam.on, 'aria-label': `Grad-CAM overlay for ${row.path}` });
    const select = h('select', { 'aria-label': `Grad-CAM class for ${row.path}` },
      model.classes.map((c, i) => h('option', { value: String(i), text: shownName(model, i) })));
    const alpha = h('input', { type: 'range', min: '0', max: '1', step: '0.05', value: String(row.cam.alpha), 'aria-label': `Overlay opacity for ${row.path}` });
    select.value = String(camClassOf(row));
    toggle.addEventListener('change', () => { row.cam.on = toggle.checked; drawRow(row); });
    select.addEventListener('change', () => { row.cam.cls = Number(select.value); drawRow(row); });
    alpha.addEventListener('input', () => { row.cam.alpha = Number(alpha.value); drawRow(row); });
    row.el.camToggle = toggle;
    row.el.camSelect = select;
    row.el.camAlpha = alpha;
    camCell.append(h('label', { class: 'check' }, toggle, ' overlay'), select, alpha);
    if (r.camError) camCell.append(h('div', { class: 'err small', text: r.camError }));
  } else {
    camCell.append(h('span', { class: 'muted', text: 'no CAM output' }));
  }
  if (row.el.review) row.el.review.remove();
  row.el.review = reviewCell(row);  // confirm or correct, note (review.js)
  tr.append(row.el.review);
  drawRow(row);
}

export function camClassOf(row) {
  const c = row.cam.cls;
  return c === 'predicted' || !(Number(c) < row.model.classes.length) ? row.result.index : Number(c);
}

// The pixels to show for a row: the image, or the overlay at its opacity (re-blended here exactly as
// the shared renderer blends; the heatmap itself comes from the wasm module).
export async function composed(row) {
  const view = row.view;
  if (!row.cam.on || !row.result.cams) return view.data;
  const cls = camClassOf(row);
  const key = heatKey(heatOf(row), cls);
  let heat = row.heat.get(key);
  if (!heat) {
    const r = await renderInEngine(row, cls);
    if (!r.ok) {
      showAlert(`Heatmap for ${row.path}: ${r.message}`);
      return view.data;
    }
    heat = r.heatmap.data;
    row.heat.set(key, heat);
  }
  const blended = cellcamMain ? cellcamMain.blendOverlay(view.data, heat, row.cam.alpha) : null;
  if (!blended || blended.ok === false) return view.data;
  return blended;
}

export const scratch = document.createElement('canvas');

export async function drawRow(row) {
  const token = (row.drawToken = (row.drawToken ?? 0) + 1);
  const pixels = await composed(row);
  if (token !== row.drawToken) return;
  const { width, height } = row.view;
  const canvas = row.el.canvas;
  const image = new ImageData(pixels, width, height);
  if (Math.max(width, height) <= 2 * THUMB_CSS) {
    // Cell crops and patches: the pixels themselves; CSS scales the canvas into the box.
    if (canvas.width !== width || canvas.height !== height) {
      canvas.width = width;
      canvas.height = height;
    }
    row.el.ctx.putImageData(image, 0, 0);
  } else {
    // Large images: a reduced copy (the large view shows every pixel).
    scratch.width = width;
    scratch.height = height;
    scratch.getContext('2d').putImageData(image, 0, 0);
    const scale = (2 * THUMB_CSS) / Math.max(width, height);
    canvas.width = Math.max(1, Math.round(width * scale));
    canvas.height = Math.max(1, Math.round(height * scale));
    const ctx = row.el.ctx;
    ctx.imageSmoothingQuality = 'medium';
    ctx.drawImage(scratch, 0, 0, canvas.width, canvas.height);
    scratch.width = 1;
    scratch.height = 1;
  }
  canvas.dataset.drawn = row.cam.on && row.result.cams ? `overlay:${camClassOf(row)}` : 'image';
  if (state.viewer === row) drawViewer(row, pixels);
}
