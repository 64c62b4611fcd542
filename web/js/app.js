// app.js — the page: pick a model (shipped, or the user's own model.onnx + model.json, verified against
// its SHA-256), collect dropped or picked files (folders too), decode them in one worker (decode_worker.js),
// classify them in another (inference_worker.js, ONNX Runtime Web), and stream rows with a thumbnail, the class,
// a probability bar per class, the refer-for-review flag and a Grad-CAM overlay. Sort, filter, export.
// Nothing is uploaded: files are read with the File API and processed in this tab; the only requests
// are for the page's own files (its Content-Security-Policy allows nothing else).
//
// No exception escapes into the page: a failure for one file becomes its error row, a failure of the
// model or a worker becomes a visible message (#alert) and the status pill; window-level handlers catch
// anything else and show it the same way.
//
// URL parameters (for testing and benchmarking): ?backend=auto|webgpu|wasm  ?batch=N  ?threads=N  ?model=ID
// ?nosw (no service worker: no offline copy, offline.js)  ?webgpu-fault=create|lose (a WebGPU failure, for the
// test of the fallback to WASM, inference_worker.js)
//
// The page is split by job: page.js (shared state and helpers), engines.js (the workers), model_panel.js,
// rows.js, batch.js, views_panel.js, export.js; this file wires the controls and starts it.
import { enqueue, updateProgress } from './batch.js';
import { engine, engineStats, startDecoder, startEngine } from './engines.js';
import { download, exportRecords, toCsv, toJson } from './export.js';
import { buildClassSelects, chooseOwn, chooseShipped, choosing, loadModelIndex, renderModelCard } from './model_panel.js';
import { startOffline } from './offline.js';
import { $, cellcamReady, errorText, params, setStatus, showAlert, state } from './page.js';
import { camClassOf, drawRow, filesFromDataTransfer, filesFromInput } from './rows.js';
import { resetReviews, reviewCounts, wireReview } from './review.js';
import { restoreSaved } from './saved.js';
import { scheduleView, syncRowControls, viewerStep } from './views_panel.js';

// ---------------------------------------------------------------- wiring
function wire() {
  wireReview();
  $('alert-close').addEventListener('click', () => { $('alert').hidden = true; });
  const drop = $('drop');
  drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', async (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    enqueue(await filesFromDataTransfer(e.dataTransfer));
  });
  // A drop outside the zone would make the browser open the file in place of the page.
  window.addEventListener('dragover', (e) => e.preventDefault());
  window.addEventListener('drop', (e) => e.preventDefault());
  drop.addEventListener('keydown', (e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); $('pick-files').click(); } });
  $('pick-files').addEventListener('change', (e) => { enqueue(filesFromInput(e.target, false)); e.target.value = ''; });
  $('pick-folder').addEventListener('change', (e) => { enqueue(filesFromInput(e.target, true)); e.target.value = ''; });

  $('model').addEventListener('change', async (e) => {
    const id = e.target.value;
    $('own-model-box').hidden = id !== '__own__';
    if (id === '__own__') {
      $('own-model').click();
      return;
    }
    const entry = state.models.find((m) => m.id === id);
    try {
      await chooseShipped(entry);
    } catch (err) {
      showAlert(`Model ${entry.id}: ${errorText(err)}`);
    }
  });
  for (const id of ['own-model', 'own-folder']) {
    $(id).addEventListener('change', async (e) => {
      const files = [...e.target.files];
      e.target.value = '';
      if (files.length === 0) return;
      try {
        await chooseOwn(files);
      } catch (err) {
        showAlert(`Your model: ${errorText(err)}`);
      }
    });
  }
  // Picking "your own model" and then cancelling the file dialog keeps the model that runs.
  $('own-model').addEventListener('cancel', () => {
    if (state.choice && state.choice.source === 'shipped') {
      $('model').value = state.choice.id;
      $('own-model-box').hidden = true;
    }
  });
  $('backend').addEventListener('change', () => { if (state.choice) startEngine(); });
  $('tta').addEventListener('change', () => { if (state.choice) { renderModelCard(); startEngine(); } });
  $('stop').addEventListener('click', () => { state.stopRequested = true; $('stop').disabled = true; });

  $('filter').addEventListener('change', () => scheduleView(0));
  $('sort').addEventListener('change', () => scheduleView(0));
  $('search').addEventListener('input', () => scheduleView(0));

  const applyCamAll = () => {
    for (const row of state.rows) {
      row.cam = { ...state.cam };
      if (row.status === 'done') {
        syncRowControls(row);
        drawRow(row);
      }
    }
  };
  $('cam-all').addEventListener('change', (e) => { state.cam.on = e.target.checked; applyCamAll(); });
  $('cam-class-all').addEventListener('change', (e) => {
    state.cam.cls = e.target.value === 'predicted' ? 'predicted' : Number(e.target.value);
    applyCamAll();
  });
  // Method and scale for every map: the drawn heatmaps are kept per method/scale/class (row.heat), so
  // switching back is instant; the new ones are drawn by the shared renderer as rows come into view.
  const applyHeat = () => {
    state.heat = { method: $('cam-method').value, scale: $('cam-scale').value };
    for (const row of state.rows) if (row.status === 'done') drawRow(row);
  };
  $('cam-method').addEventListener('change', applyHeat);
  $('cam-scale').addEventListener('change', applyHeat);
  $('alpha-all').addEventListener('input', (e) => {
    state.cam.alpha = Number(e.target.value);
    $('alpha-all-value').textContent = state.cam.alpha.toFixed(2);
    applyCamAll();
  });

  $('viewer-close').addEventListener('click', () => $('viewer').close());
  $('viewer').addEventListener('close', () => {
    const row = state.viewer;
    state.viewer = null;
    if (row) row.el.thumbButton.focus();
  });
  $('viewer').addEventListener('keydown', (e) => {
    if (e.target.tagName === 'INPUT' || e.target.tagName === 'SELECT') return;
    if (e.key === 'ArrowLeft') viewerStep(-1);
    if (e.key === 'ArrowRight') viewerStep(1);
  });
  $('viewer-prev').addEventListener('click', () => viewerStep(-1));
  $('viewer-next').addEventListener('click', () => viewerStep(1));
  const viewerChanged = () => {
    const row = state.viewer;
    if (!row) return;
    row.cam = { on: $('viewer-cam').checked, cls: Number($('viewer-class').value), alpha: Number($('viewer-alpha').value) };
    syncRowControls(row);
    drawRow(row);
  };
  $('viewer-cam').addEventListener('change', viewerChanged);
  $('viewer-class').addEventListener('change', viewerChanged);
  $('viewer-alpha').addEventListener('input', viewerChanged);
  $('viewer-save').addEventListener('click', () => {
    const row = state.viewer;
    if (!row) return;
    const stem = row.path.replace(/^.*\//, '').replace(/\.[^.]+$/, '');
    const suffix = row.cam.on && row.result.cams ? `${row.model.classes[camClassOf(row)]}.overlay` : 'image';
    $('viewer-canvas').toBlob((blob) => { if (blob) download(`${stem}.${suffix}.png`, 'image/png', blob); }, 'image/png');
  });

  $('export-csv').addEventListener('click', () => download('cellcam-results.csv', 'text/csv', toCsv(exportRecords())));
  $('export-json').addEventListener('click', () => download('cellcam-results.json', 'application/json', toJson(exportRecords())));
  $('clear').addEventListener('click', () => {
    state.rows = [];
    resetReviews();
    state.total = 0;
    state.batchStart = 0;
    $('results').textContent = '';
    $('empty').hidden = false;
    buildClassSelects();
    updateProgress();
  });
}

// The tile inputs' ranges are the shared limits (cellcam/limits.h), as `cellcam predict --tile` checks them.
async function applyLimits() {
  const limits = (await cellcamReady).limits();
  Object.assign($('tile'), { min: limits.minTile, max: limits.maxTile });
  Object.assign($('tile-above'), { min: 0, max: limits.maxTileAbove });
}

async function main() {
  wire();
  applyLimits().catch(() => {});  // the module's own failure is reported below
  const backend = params.get('backend');
  if (backend && [...$('backend').options].some((o) => o.value === backend)) $('backend').value = backend;
  const decoderReady = startDecoder();
  try {
    // Files dropped before the first model is read wait for it (a batch waits on state.choosing).
    await choosing(loadModelIndex().then((initial) => chooseShipped(initial)));
  } catch (e) {
    setStatus('no model', 'bad');
    showAlert(`No model could be loaded: ${errorText(e)}`);
  }
  // Results kept in this browser by an earlier visit (saved.js), once the module can draw their overlays.
  await cellcamReady.catch(() => {});
  await restoreSaved();
  const d = await decoderReady;
  if (d.type !== 'ready') {
    setStatus('wasm module failed', 'bad');
    showAlert(d.message);
  }
  startOffline();
}

// For tests and the benchmark: read-only views of what the page holds.
window.cellcam = {
  records: () => exportRecords(),
  reviews: () => reviewCounts(),
  timings: () => state.rows.filter((r) => r.status === 'done').map((r) => ({
    file: r.path, decodeMs: r.decoded.ms, inferMs: r.result.inferMs, camMs: r.result.camMs, batch: r.result.batch, tiles: r.result.tiles ? r.result.tiles.count : 0,
  })),
  // The raw model outputs of row i (0-based, order added): probabilities and every class's CAM map.
  result: (i) => {
    const r = state.rows[i];
    if (!r || r.status !== 'done') return null;
    return { probs: [...r.result.probs], index: r.result.index, cams: r.result.cams ? Array.from(r.result.cams) : null,
      hiresCams: r.result.hiresCams ? Array.from(r.result.hiresCams) : null,
      camWidth: r.result.camWidth, camHeight: r.result.camHeight, tiles: r.result.tiles ?? null, disagreement: r.result.disagreement ?? null,
      viewDisagreement: r.result.viewDisagreement ?? null };
  },
  engine: () => (engine.info ? { ...engine.info } : null),
  // The inference worker's counters: { runs, images, waits, waitMs } (ORT runs, images in them, batch-fill waits).
  engineStats: () => engineStats(),
  batch: () => ({ started: state.started, finishedAt: state.finishedAt ?? null, running: state.running }),
};

main();
