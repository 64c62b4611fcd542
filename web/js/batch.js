// batch.js — the queue: decode ahead, classify, fill rows, and the progress and summary above them.
import { DECODE_AHEAD, classifyInEngine, decodeInWorker, decoder, engine } from './engines.js';
import { buildClassSelects } from './model_panel.js';
import { $, errorText, h, MAX_AHEAD, MAX_FILE_BYTES, showAlert, shownName, state, VIEW_MAX } from './page.js';
import { classColour, fillError, fillResult, makeRow, setMeta } from './rows.js';
import { scheduleView } from './views_panel.js';

// ---------------------------------------------------------------- the batch
// The user's tile settings as typed; whether and how an image is tiled is the shared C++'s plan
// (tiling.h plan_tiles: 0 above = never, the tile-count limit, the errors).
export function decodeOptions() {
  const tile = Math.max(8, Number($('tile').value) || 0);  // the input's own minimum
  const above = Math.max(0, Number($('tile-above').value) || 0);
  return { thumbnailSize: VIEW_MAX, tile, stride: tile, tileAbove: above };
}

export function enqueue(items) {
  if (state.skipped > 0) {
    showAlert(`${state.skipped} file${state.skipped > 1 ? 's' : ''} in the folder skipped: not an image by its extension (png, jpg, tif, bmp, gif, tga).`);
    state.skipped = 0;
  }
  if (items.length === 0) return;
  for (const it of items) state.queue.push(makeRow(it));
  if (!state.running) runQueue().catch((e) => showAlert(`The batch stopped: ${errorText(e)}`));
  updateProgress();
  scheduleView();
}

export async function runQueue() {
  state.running = true;
  state.stopRequested = false;
  state.started = performance.now();
  state.batchStart = state.rows.filter((r) => r.status === 'done' || r.status === 'error').length;
  setControlsBusy(true);
  updateProgress();
  const inflight = new Set();
  const ahead = [];  // [{ row, decoding: Promise }] handed to the decode worker, in order
  const startDecode = (row) => {
    row.status = 'decoding';
    setMeta(row, 'decoding…');
    if (!state.choice) return Promise.resolve({ ok: false, code: 'no_model', message: 'not classified: no model is loaded' });
    if (row.file.size > MAX_FILE_BYTES)
      return Promise.resolve({ ok: false, code: 'too_large', message: `file is ${(row.file.size / 1048576).toFixed(0)} MB; the page reads files up to ${MAX_FILE_BYTES / 1048576} MB` });
    return decodeInWorker(row, state.choice.text, decodeOptions());
  };
  try {
    await decoder.ready;
    while ((state.queue.length > 0 || ahead.length > 0) && !state.stopRequested) {
      while (ahead.length < DECODE_AHEAD && state.queue.length > 0) {
        const next = state.queue.shift();
        ahead.push({ row: next, decoding: startDecode(next) });
      }
      const { row, decoding } = ahead.shift();
      const decoded = await decoding;
      if (!decoded.ok) {
        fillError(row, decoded.code, decoded.message);
        finished(row);
        continue;
      }
      row.decoded = { format: decoded.format, source: decoded.source, preview: decoded.preview, shape: decoded.shape, ms: decoded.ms };
      const info = await engine.ready;
      if (!info.ok) {
        fillError(row, 'no_model', `not classified: ${info.message}`);
        finished(row);
        continue;
      }
      row.status = 'classifying';
      row.model = state.choice.parsed;
      row.backend = info.backend;
      setMeta(row, 'classifying…');
      const job = classifyInEngine(row, decoded).then((result) => {
        inflight.delete(job);
        onClassified(row, result);
      });
      inflight.add(job);
      while (inflight.size >= MAX_AHEAD) await Promise.race(inflight);
    }
    await Promise.all(inflight);
  } finally {
    // Stopped (or failed): what was already handed to the decoder is not classified either.
    state.queue.unshift(...ahead.splice(0).map((a) => a.row));
    for (const row of state.queue.splice(0)) {
      fillError(row, 'stopped', 'not classified: the batch was stopped');
      finished(row);
    }
    state.running = false;
    state.finishedAt = performance.now();
    setControlsBusy(false);
    updateProgress();
    scheduleView();
  }
}

export function onClassified(row, result) {
  try {
    if (!result.ok) {
      fillError(row, result.code, result.message);
    } else {
      row.result = result;
      if (result.heatmap) row.heat.set(result.camClass, result.heatmap.data);
      fillResult(row);
    }
  } catch (e) {
    fillError(row, 'internal', `internal error: ${errorText(e)}`);
  }
  finished(row);
}

export function finished() {
  scheduleProgress();
  scheduleView();
}

// Progress and summary at most ten times a second: a batch of hundreds finishes many images a frame.
export function scheduleProgress() {
  if (state.progressTimer) return;
  state.progressTimer = setTimeout(() => {
    state.progressTimer = 0;
    updateProgress();
  }, 100);
}

export function setControlsBusy(busy) {
  $('stop').disabled = !busy;
  for (const id of ['model', 'backend', 'own-model', 'tile', 'tile-above']) $(id).disabled = busy;
}

export function counts() {
  const c = { done: 0, errors: 0, review: 0, perClass: new Map() };
  for (const r of state.rows) {
    if (r.status === 'done') {
      c.done++;
      if (r.result.review) c.review++;
      c.perClass.set(r.result.label, (c.perClass.get(r.result.label) ?? 0) + 1);
    } else if (r.status === 'error') {
      c.errors++;
    }
  }
  return c;
}

export function updateProgress() {
  const total = state.rows.length;
  const c = counts();
  const done = c.done + c.errors;
  $('progress').max = Math.max(total, 1);
  $('progress').value = done;
  const batchDone = done - state.batchStart;
  const end = state.running ? performance.now() : state.finishedAt ?? performance.now();
  const elapsed = (end - state.started) / 1000;
  const rate = batchDone > 0 && elapsed > 0 ? batchDone / elapsed : 0;
  const left = rate > 0 ? (total - done) / rate : 0;
  $('progress-text').textContent = total === 0 ? 'No images yet.'
    : state.running ? `${done} / ${total} · ${rate.toFixed(1)} images/s · ${rate > 0 ? `${Math.ceil(left)} s left` : 'starting…'}`
      : `${done} / ${total} done${batchDone > 0 ? ` · last batch ${batchDone} in ${elapsed.toFixed(1)} s (${rate.toFixed(1)} images/s)` : ''}`;
  const summary = $('summary');
  summary.textContent = '';
  if (done > 0) {
    const model = state.choice && state.choice.parsed;
    const order = model ? model.classes.filter((k) => c.perClass.has(k)) : [];
    for (const k of c.perClass.keys()) if (!order.includes(k)) order.push(k);
    const chip = (text, filter, cls) => h('button', { type: 'button', class: `chip ${cls}`, onclick: () => { $('filter').value = filter; scheduleView(0); } }, text);
    summary.append(h('span', { class: 'total', text: `${c.done} classified` }));
    for (const k of order) {
      const i = model ? model.classes.indexOf(k) : -1;
      summary.append(chip(`${i >= 0 ? shownName(model, i) : k}: ${c.perClass.get(k)}`, `class:${k}`, i >= 0 ? `cls ${classColour(model, i)}` : ''));
    }
    summary.append(chip(`⚑ ${c.review} to review`, 'review', c.review > 0 ? 'flagged' : 'quiet'));
    if (c.errors > 0) summary.append(chip(`${c.errors} error${c.errors > 1 ? 's' : ''}`, 'errors', 'errors'));
    if (![...$('filter').options].some((o) => o.value === `class:${[...c.perClass.keys()].at(-1)}`)) buildClassSelects();
  }
  const any = done > 0;
  for (const id of ['export-csv', 'export-json']) $(id).disabled = !any || state.running;
  $('clear').disabled = total === 0 || state.running;
}
