// model_panel.js — choosing a model (shipped, or the user's model.onnx + model.json) and showing its card:
// the rules in words come from the shared C++ (the wasm Model's info), never from here.
import { engine, startEngine } from './engines.js';
import { $, h, params, readModelJson, showAlert, shownName, state } from './page.js';

// ---------------------------------------------------------------- models
export async function loadModelIndex() {
  const response = await fetch('models/index.json');
  if (!response.ok) throw new Error(`models/index.json: HTTP ${response.status}`);
  const { models } = await response.json();
  if (!Array.isArray(models) || models.length === 0) throw new Error('models/index.json lists no model');
  state.models = models.map((m) => ({ ...m, source: 'shipped' }));
  const select = $('model');
  select.textContent = '';
  for (const m of state.models) select.append(h('option', { value: m.id, text: m.title || m.id }));
  select.append(h('option', { value: '__own__', text: 'Your own model (files or a folder)…' }));
  const wanted = params.get('model');
  const initial = state.models.find((m) => m.id === wanted) ?? state.models.find((m) => m.default) ?? state.models[0];
  select.value = initial.id;
  return initial;
}

// A model being read (fetched, checked by the shared C++): state.choosing until it is chosen or refused.
// A batch that starts meanwhile waits for it (batch.js), so the batch runs whole on the model just picked.
export function choosing(work) {
  const settled = work.then(() => {}, () => {});
  state.choosing = settled;
  settled.then(() => { if (state.choosing === settled) state.choosing = null; });
  return work;
}

export function chooseShipped(entry) {
  return choosing(readShipped(entry));
}

export function chooseOwn(files) {
  return choosing(readOwn(files));
}

async function readShipped(entry) {
  const base = `models/${entry.folder}/`;
  const response = await fetch(`${base}model.json`);
  if (!response.ok) throw new Error(`${base}model.json: HTTP ${response.status}`);
  const text = await response.text();
  const parsed = await readModelJson(text);
  if (!parsed.ok) throw new Error(parsed.message);
  setChoice({ id: entry.id, title: entry.title, source: 'shipped', text, parsed, base, readme: `${base}README.md` });
}

// A folder (`cellcam export` or `cellcam ensemble` output) picked whole: its top model.json, and every ONNX
// file that model.json names (an ensemble's members under members/N/), found by path inside the folder.
// The worker checks each file's SHA-256 against model.json before any of them runs, as for shipped models.
async function readOwnFolder(files) {
  const inside = (f) => f.webkitRelativePath.split('/').slice(1).join('/');  // the path below the picked folder
  const json = files.find((f) => inside(f) === 'model.json');
  if (!json) {
    showAlert('This folder has no model.json at its top: choose the folder `cellcam export` or `cellcam ensemble` wrote.');
    return false;
  }
  const text = await json.text();
  const parsed = await readModelJson(text);
  if (!parsed.ok) {
    showAlert(`model.json: ${parsed.message}`);
    return false;
  }
  const memberBytes = {};
  const missing = [];
  for (const member of parsed.members) {
    const file = files.find((f) => inside(f) === member.file);
    if (file) memberBytes[member.file] = await file.arrayBuffer();
    else missing.push(member.file);
  }
  if (missing.length > 0) {
    showAlert(`The folder lacks ${missing.join(', ')}, which its model.json names: choose the whole folder.`);
    return false;
  }
  const folder = json.webkitRelativePath.split('/')[0];
  const what = parsed.members.length > 1 ? `${parsed.members.length}-member ensemble` : 'model';
  // Its card, when the folder has one, opens from memory (a blob: URL; nothing is fetched).
  const readmeFile = files.find((f) => inside(f) === 'README.md');
  const readme = readmeFile ? URL.createObjectURL(new Blob([await readmeFile.arrayBuffer()], { type: 'text/plain;charset=utf-8' })) : null;
  setChoice({ id: '__own__', title: `${parsed.name} (your folder)`, source: 'own', text, parsed, memberBytes, fileName: `${folder}/`, readme });
  const option = [...$('model').options].find((o) => o.value === '__own__');
  option.textContent = `Your ${what}: ${parsed.name} (${folder}/) — choose another…`;
  $('model').value = '__own__';
  $('own-model-box').hidden = false;
  return true;
}

async function readOwn(files) {
  if (files.some((f) => f.webkitRelativePath && f.webkitRelativePath.includes('/'))) return readOwnFolder(files);
  const onnx = files.filter((f) => /\.onnx$/i.test(f.name));
  const json = files.filter((f) => /\.json$/i.test(f.name));
  if (onnx.length !== 1 || json.length !== 1) {
    showAlert(`Choose exactly one .onnx and one .json file (the folder \`cellcam export\` writes); got ${onnx.length} and ${json.length}.`);
    return false;
  }
  const text = await json[0].text();
  const parsed = await readModelJson(text);
  if (!parsed.ok) {
    showAlert(`${json[0].name}: ${parsed.message}`);
    return false;
  }
  const bytes = await onnx[0].arrayBuffer();
  setChoice({ id: '__own__', title: `${parsed.name} (your files)`, source: 'own', text, parsed, bytes, fileName: onnx[0].name });
  const option = [...$('model').options].find((o) => o.value === '__own__');
  option.textContent = `Your model: ${parsed.name} (${onnx[0].name}) — choose another…`;
  $('model').value = '__own__';
  $('own-model-box').hidden = false;
  return true;
}

export function setChoice(choice) {
  state.choice = choice;
  const m = choice.parsed;
  $('tile').value = m.tileSettings.tile;
  if (!$('tile-above').value) $('tile-above').value = m.tileSettings.above;
  // TTA as the model's folder recommends (model.json "tta"; `?tta=1|0` overrides, for tests and links).
  $('tta').checked = params.has('tta') ? params.get('tta') === '1' : m.tta.default;
  buildClassSelects();
  renderModelCard();
  startEngine();
}

export function renderModelCard() {
  const card = $('model-card');
  card.textContent = '';
  const choice = state.choice;
  if (!choice) return;
  const m = choice.parsed;
  const rules = m.rules;
  const metrics = [];
  if (m.metrics) {
    if (Number.isFinite(m.metrics.accuracy)) metrics.push(`accuracy ${(100 * m.metrics.accuracy).toFixed(1)} %`);
    if (Number.isFinite(m.metrics.roc_auc)) metrics.push(`ROC AUC ${m.metrics.roc_auc.toFixed(3)}`);
    if (m.metrics.macro && Number.isFinite(m.metrics.macro.f1)) metrics.push(`macro F1 ${m.metrics.macro.f1.toFixed(3)}`);
  }
  const info = engine.info;
  const verified = info && info.ok
    ? h('span', { class: 'ok', text: `✓ SHA-256 ${m.sha256.slice(0, 12)}… verified` })
    : info && !info.ok ? h('span', { class: 'bad', text: `✗ ${info.message}` }) : h('span', { class: 'muted', text: `SHA-256 ${m.sha256.slice(0, 12)}… checking…` });
  card.append(
    h('div', {},
      h('strong', { text: m.name }), m.version ? ` v${m.version}` : '',
      ` · ${m.head} · ${m.classes.map((c, i) => (shownName(m, i) === c ? c : `${shownName(m, i)} (${c})`)).join(', ')} · input ${m.inputShape.join('×')}`,
      metrics.length ? ` · held-out ${metrics.join(', ')}` : '',
      choice.readme ? [' · ', h('a', { href: choice.readme, target: '_blank', rel: 'noopener', text: 'model card (intended use, limits)' })] : '',
      choice.source === 'own' ? ` · from ${choice.fileName}` : '',
      ' · ', verified),
    h('div', { class: 'muted' }, `Class: ${rules.decision}. Review: ${rules.review}. ${rules.tiles[0].toUpperCase()}${rules.tiles.slice(1)}.` +
      (m.temperature !== 1 ? ` Probabilities calibrated by temperature scaling (T = ${m.temperature.toFixed(2)}, fitted on validation).` : '') +
      (m.ensemble ? ` An ensemble of ${m.members.length} models (${m.ensemble.method === 'stacking' ? 'stacking: a logistic regression on their probabilities' : 'soft voting'}; ` +
        `Grad-CAM: the weighted mean of their maps)${m.ensemble.review ? `, referred when the members disagree by ≥ ${m.ensemble.review.cutoff.toFixed(3)}` : ''}.` : '') +
      ` Test-time augmentation: ${$('tta').checked ? 'on, each image also seen as its 8 flips/rotations (8× the inference time)' : 'off'}` +
      `${m.tta.note ? ` (${m.tta.note})` : ''}.`),
  );
}

export function buildClassSelects() {
  const classes = state.choice.parsed.classes;
  const all = $('cam-class-all');
  all.textContent = '';
  all.append(h('option', { value: 'predicted', text: 'predicted class' }));
  classes.forEach((c, i) => all.append(h('option', { value: String(i), text: shownName(state.choice.parsed, i) })));
  all.value = state.cam.cls === 'predicted' || Number(state.cam.cls) >= classes.length ? 'predicted' : String(state.cam.cls);
  const filter = $('filter');
  const old = filter.value;
  filter.textContent = '';
  filter.append(h('option', { value: 'all', text: 'All images' }));
  const labels = new Set(classes);
  for (const r of state.rows) if (r.result) labels.add(r.result.label);
  for (const c of labels) {
    const i = classes.indexOf(c);
    filter.append(h('option', { value: `class:${c}`, text: `Predicted ${i >= 0 ? shownName(state.choice.parsed, i) : c}` }));
  }
  filter.append(h('option', { value: 'review', text: 'Refer for review' }));
  filter.append(h('option', { value: 'review-open', text: 'Refer for review, not yet reviewed' }));
  filter.append(h('option', { value: 'unreviewed', text: 'Not yet reviewed' }));
  filter.append(h('option', { value: 'reviewed', text: 'Reviewed' }));
  filter.append(h('option', { value: 'corrected', text: 'Reviewed: corrected' }));
  if (state.choice?.parsed?.ood || state.rows.some((r) => r.result && r.result.ood))
    filter.append(h('option', { value: 'ood', text: 'Not the kind of image the model was trained on' }));
  filter.append(h('option', { value: 'errors', text: 'Errors' }));
  filter.value = [...filter.options].some((o) => o.value === old) ? old : 'all';
}
