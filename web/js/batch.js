// batch.js — the queue: decode ahead, classify, fill rows, and the progress and summary above them.
import { DECODE_AHEAD, classifyInEngine, decodeInWorker, decoder, engine } from './engines.js';
import { buildClassSelects } from './model_panel.js';
import { $, cellcamReady, errorText, h, heatKey, MAX_AHEAD, showAlert, shownName, state, VIEW_MAX } from './page.js';
import { reviewCounts } from './review.js';
import { classColour, fillError, fillResult, makeRow, setMeta } from './rows.js';
import { rowFinished } from './saved.js';
import { scheduleView } from './views_panel.js';

// ---------------------------------------------------------------- the batch
// The user's tile settings as typed; whether and how an image is tiled is the shared C++'s plan
// (tiling.h plan_tiles: 0 above = never, the tile size and count limits, the errors).
export function decodeOptions() {
  const tile = Number($('tile').value) || 0;
  const above = Number($('tile-above').value) || 0;
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
  state.announced = { at: performance.now(), quarter: 0 };
  $('results').setAttribute('aria-busy', 'true');
  const queued = state.queue.length;
  announceBatch(`Classifying ${queued} image${queued === 1 ? '' : 's'}.`);
  updateProgress();
  const inflight = new Set();
  let sent = 0;  // images handed to the inference worker in this run
  const ahead = [];  // [{ row, decoding: Promise }] handed to the decode worker, in order
  let batch = null;  // the batch's model and tile settings, read once (their controls are locked until it ends)
  // Rows to the decode worker, in one message. The shared size limit (limits.h) is checked there, before
  // it reads a file.
  const startDecodes = (rows) => {
    for (const row of rows) {
      row.status = 'decoding';
      setMeta(row, 'decoding…');
    }
    if (!batch.choice) return rows.map(() => Promise.resolve({ ok: false, code: 'no_model', message: 'not classified: no model is loaded' }));
    for (const row of rows) row.settings = { tile: batch.options.tile, tileAbove: batch.options.tileAbove };
    return decodeInWorker(rows, batch.choice.text, batch.options);
  };
  try {
    await decoder.ready;
    // A model chosen just before the drop and still being read: the whole batch runs on it.
    while (state.choosing) await state.choosing;
    batch = { choice: state.choice, options: decodeOptions(), cellcam: await cellcamReady };
    // With test-time augmentation the decode worker also makes each image's views (the shared C++'s
    // makeInput, cellcam/views.h), so the inference worker, the busier of the two, does not.
    const engineInfo = await engine.ready;
    if (engineInfo && engineInfo.ok && engineInfo.tta) batch.options = { ...batch.options, views: true };
    // Files added while the last images are still in the model join this batch (same settings).
    while (state.queue.length > 0 && !state.stopRequested) {
      while ((state.queue.length > 0 || ahead.length > 0) && !state.stopRequested) {
        // Topped up to DECODE_AHEAD when half of it is left, the new files in one message. At the start the
        // first file goes alone and three more after it, the rest once the first is back: posting a File costs
        // the page an IPC, and the first image's answer should not wait for the page to post sixteen.
        if (ahead.length <= DECODE_AHEAD / 2 && state.queue.length > 0) {
          for (const count of ahead.length === 0 ? [1, 3] : [DECODE_AHEAD - ahead.length]) {
            const rows = state.queue.splice(0, count);
            startDecodes(rows).forEach((decoding, i) => ahead.push({ row: rows[i], decoding }));
          }
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
        if (info.choice !== batch.choice) {
          // Cannot happen while the controls are locked; never classify with another model than decoded.
          fillError(row, 'internal', 'not classified: the model changed during the batch');
          finished(row);
          continue;
        }
        row.status = 'classifying';
        row.model = info.choice.parsed;
        row.backend = info.backend;
        // What this row runs with: the inference worker that takes it was started with these, and a
        // worker's settings never change (a change starts a new worker, which the locks prevent mid-batch).
        Object.assign(row.settings, { tta: info.tta, backendLabel: info.label });
        setMeta(row, 'classifying…');
        // With how many images still follow in this run: the worker waits for them to fill its batches
        // (but not for the first image of the run: its result comes at once).
        const job = classifyInEngine(row, decoded, state.queue.length + ahead.length, sent++ === 0).then((result) => {
          inflight.delete(job);
          onClassified(row, result);
        });
        inflight.add(job);
        while (inflight.size >= MAX_AHEAD) await Promise.race(inflight);
      }
      await Promise.all(inflight);
    }
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
    $('results').removeAttribute('aria-busy');
    updateProgress();
    announceBatch(batchSummary());
    scheduleView();
  }
}

// ---------------------------------------------------------------- what a screen reader hears
// One live region (#batch-live) says what the batch does in a few sentences: when it starts, at each
// quarter (and no more often than every 10 s), and a summary when it ends. The progress text and the
// summary chips change up to ten times a second and are not live regions: read, they would be one
// announcement per image.
const ANNOUNCE_EVERY_MS = 10000;

function announceBatch(text) {
  const live = $('batch-live');
  if (!live) return;
  live.textContent = text;
  live.dataset.count = String(Number(live.dataset.count ?? 0) + 1);
}

function announceProgress(done, total) {
  const a = state.announced;
  if (!a || !state.running || total === 0) return;
  const quarter = Math.floor((4 * (done - state.batchStart)) / Math.max(1, total - state.batchStart));
  const now = performance.now();
  if (quarter > a.quarter && quarter < 4 && now - a.at >= ANNOUNCE_EVERY_MS) {
    a.quarter = quarter;
    a.at = now;
    announceBatch(`${done} of ${total} images done.`);
  }
}

// "40 of 40 images done: 31 Uninfected, 9 Parasitized; 6 to review, 2 not the kind of image the model knows; 1 error."
export function batchSummary() {
  const c = counts();
  const total = state.rows.length;
  const model = state.choice && state.choice.parsed;
  const classes = [...c.perClass.entries()].map(([k, n]) => {
    const i = model ? model.classes.indexOf(k) : -1;
    return `${n} ${i >= 0 ? shownName(model, i) : k}`;
  });
  const ood = state.rows.filter((r) => r.status === 'done' && r.result.ood).length;
  const flags = [`${c.review} to review`, ...(ood > 0 ? [`${ood} not the kind of image the model knows`] : [])];
  const stopped = c.done + c.errors < total ? ' (stopped)' : '';
  return `${c.done + c.errors} of ${total} images done${stopped}: ${classes.join(', ') || 'none classified'}; ${flags.join(', ')}` +
    `${c.errors > 0 ? `; ${c.errors} error${c.errors > 1 ? 's' : ''}` : ''}.`;
}

export function onClassified(row, result) {
  try {
    if (!result.ok) {
      fillError(row, result.code, result.message);
    } else {
      row.result = result;
      if (result.heatmap) row.heat.set(heatKey(result.heat, result.camClass), result.heatmap.data);
      fillResult(row);
    }
  } catch (e) {
    fillError(row, 'internal', `internal error: ${errorText(e)}`);
  }
  finished(row);
}

export function finished(row) {
  if (row) rowFinished(row);  // kept in the browser when asked, and counted for the warning before closing
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

// Every control that changes results (the model, its backend, test-time augmentation, the tile settings)
// is locked while a batch runs: changing one restarts the inference worker or changes how images are
// cut, and a batch must run whole on one set of settings. Adding files stays open (they join the batch,
// same settings); Clear and export wait for the end. Sort, filter and overlays change no result.
export const RESULT_CONTROLS = ['model', 'backend', 'own-model', 'own-folder', 'tta', 'tile', 'tile-above'];
const LOCKED_TITLE = 'Locked while a batch runs: every image of a batch is classified with the same settings. Stop the batch or wait for it to end to change this.';

export function setControlsBusy(busy) {
  $('stop').disabled = !busy;
  for (const id of RESULT_CONTROLS) {
    const el = $(id);
    el.disabled = busy;
    // The reason on the control and on a label around it (the TTA box's text).
    for (const t of [el, el.closest('label')]) {
      if (!t) continue;
      if (busy && t.dataset.title === undefined) t.dataset.title = t.title;
      t.title = busy ? LOCKED_TITLE : t.dataset.title ?? '';
    }
  }
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
  announceProgress(done, total);
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
    const rv = reviewCounts();
    summary.append(h('span', { class: 'review-counts', id: 'review-counts', 'data-reviewed': String(rv.reviewed), 'data-confirmed': String(rv.confirmed), 'data-corrected': String(rv.corrected) },
      chip(`${rv.reviewed} reviewed`, 'reviewed', rv.reviewed > 0 ? 'reviewed' : 'quiet'),
      h('span', { class: 'muted small', text: `${rv.confirmed} confirmed · ` }),
      chip(`${rv.corrected} corrected`, 'corrected', rv.corrected > 0 ? 'corrected' : 'quiet')));
    if (![...$('filter').options].some((o) => o.value === `class:${[...c.perClass.keys()].at(-1)}`)) buildClassSelects();
  }
  const any = done > 0;
  for (const id of ['export-csv', 'export-json']) $(id).disabled = !any || state.running;
  $('export-zip').disabled = state.running || !state.rows.some((r) => r.status === 'done' && r.reviewed);
  $('clear').disabled = total === 0 || state.running;
}
