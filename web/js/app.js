// app.js — the page: collect dropped or picked files (folders too), send them one by one to the worker,
// draw each decoded image and the model input it becomes, stream results into the table, export them.
// Nothing is uploaded: files are read with the File API and processed in this tab.

const IMAGE_EXTENSIONS = /\.(png|jpe?g|tiff?|bmp|gif|tga)$/i;
const FILE_TIMEOUT_MS = 20000;

const $ = (id) => document.getElementById(id);
const state = { specJson: null, specLabel: '', queue: [], results: [], running: false, started: 0, done: 0, total: 0 };
let worker = null;
let workerReady = null;

// ---------------------------------------------------------------- worker lifecycle
function startWorker() {
  worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
  workerReady = new Promise((resolve) => {
    worker.addEventListener('message', function onReady(e) {
      if (e.data.type === 'ready' || e.data.type === 'failed') {
        worker.removeEventListener('message', onReady);
        resolve(e.data);
      }
    });
  });
  return workerReady;
}

function runInWorker(item) {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      // A decoder that never returns: abandon this worker, report, carry on with a fresh one.
      worker.terminate();
      startWorker();
      resolve({ ok: false, code: 'timeout', message: `gave up after ${FILE_TIMEOUT_MS / 1000} s decoding this file` });
    }, FILE_TIMEOUT_MS);
    const onMessage = (e) => {
      if (e.data.type !== 'result' || e.data.id !== item.id) return;
      clearTimeout(timer);
      worker.removeEventListener('message', onMessage);
      resolve(e.data.result);
    };
    worker.addEventListener('message', onMessage);
    item.file.arrayBuffer().then(
      (bytes) => worker.postMessage({ id: item.id, bytes, specJson: state.specJson }, [bytes]),
      (err) => {
        clearTimeout(timer);
        worker.removeEventListener('message', onMessage);
        resolve({ ok: false, code: 'io', message: `could not read the file: ${err.message}` });
      },
    );
  });
}

// ---------------------------------------------------------------- collecting files
async function filesFromDataTransfer(dt) {
  const entries = [...dt.items].map((it) => (it.webkitGetAsEntry ? it.webkitGetAsEntry() : null));
  if (entries.every((e) => e === null)) return [...dt.files].map((file) => ({ file, path: file.name }));
  const out = [];
  const walk = async (entry, prefix, fromFolder) => {
    if (!entry) return;
    if (entry.isFile) {
      const file = await new Promise((res, rej) => entry.file(res, rej)).catch(() => null);
      // Files inside folders are filtered by extension; files dropped by name are always tried.
      if (file && (!fromFolder || IMAGE_EXTENSIONS.test(file.name))) out.push({ file, path: prefix + file.name });
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

function filesFromInput(input, fromFolder) {
  return [...input.files]
    .filter((f) => !fromFolder || IMAGE_EXTENSIONS.test(f.name))
    .map((file) => ({ file, path: file.webkitRelativePath || file.name }));
}

// ---------------------------------------------------------------- running a batch
function enqueue(items) {
  if (items.length === 0) return;
  for (const it of items) {
    it.id = state.total++;
    it.row = addPendingRow(it);
    state.queue.push(it);
  }
  if (!state.running) runQueue();
  updateProgress();
}

async function runQueue() {
  state.running = true;
  state.started = performance.now();
  state.batchStart = state.done;
  await workerReady;
  while (state.queue.length > 0) {
    const item = state.queue.shift();
    const result = await runInWorker(item);
    const record = {
      index: item.id + 1,
      file: item.path,
      ok: result.ok,
      format: result.format ?? '',
      width: result.source?.width ?? '',
      height: result.source?.height ?? '',
      channels: result.source?.channels ?? '',
      bits: result.source?.bits ?? '',
      shape: result.shape ? result.shape.join('x') : '',
      spec: state.specLabel,
      error_code: result.ok ? '' : result.code,
      error: result.ok ? '' : result.message,
      ms: result.ms ? Math.round(result.ms * 10) / 10 : '',
    };
    state.results.push(record);
    state.done++;
    fillRow(item.row, record, result);
    updateProgress();
  }
  state.running = false;
  updateProgress();
}

// ---------------------------------------------------------------- drawing
function canvasFrom(rgba, className) {
  const canvas = document.createElement('canvas');
  canvas.width = rgba.width;
  canvas.height = rgba.height;
  canvas.className = className;
  canvas.getContext('2d').putImageData(new ImageData(new Uint8ClampedArray(rgba.data.buffer), rgba.width, rgba.height), 0, 0);
  return canvas;
}

function cell(text, className) {
  const td = document.createElement('td');
  if (className) td.className = className;
  if (text !== undefined) td.textContent = text;
  return td;
}

function addPendingRow(item) {
  const tr = document.createElement('tr');
  tr.append(cell(String(item.id + 1)), cell(item.path, 'file'), cell('…', 'muted'), cell(''), cell('waiting', 'muted details'));
  $('results').append(tr);
  return tr;
}

function fillRow(tr, record, result) {
  const [, , imageTd, inputTd, detailsTd] = tr.children;
  imageTd.textContent = '';
  imageTd.className = '';
  detailsTd.className = 'details';
  if (!result.ok) {
    tr.className = 'error';
    imageTd.textContent = '—';
    detailsTd.innerHTML = '';
    const msg = document.createElement('div');
    msg.className = 'err';
    msg.textContent = result.message;
    const code = document.createElement('div');
    code.className = 'code';
    code.textContent = result.code;
    detailsTd.append(msg, code);
    return;
  }
  imageTd.append(canvasFrom(result.thumbnail, 'thumb'));
  const input = canvasFrom(result.preview, 'input');
  input.title = `model input ${record.shape} (C×H×W)`;
  inputTd.append(input);
  detailsTd.textContent =
    `${record.format} ${record.width}×${record.height}, ${record.channels} channel${record.channels > 1 ? 's' : ''}, ${record.bits}-bit` +
    ` → ${record.shape} in ${record.ms} ms`;
}

function updateProgress() {
  const total = state.total;
  const done = state.done;
  $('progress').max = Math.max(total, 1);
  $('progress').value = done;
  const batchDone = done - (state.batchStart ?? 0);
  const elapsed = (performance.now() - state.started) / 1000;
  const rate = batchDone > 0 && elapsed > 0 ? batchDone / elapsed : 0;
  const left = rate > 0 ? (total - done) / rate : 0;
  $('progress-text').textContent = total === 0 ? 'No images yet.'
    : state.running ? `${done} / ${total} · ${rate.toFixed(1)} images/s · ${Math.ceil(left)} s left`
      : `${done} / ${total} done`;
  const errors = state.results.filter((r) => !r.ok).length;
  $('summary').innerHTML = '';
  if (done > 0) {
    const ok = document.createElement('span');
    ok.textContent = `${done - errors} processed`;
    $('summary').append(ok);
    if (errors > 0) {
      const bad = document.createElement('span');
      bad.className = 'bad';
      bad.textContent = ` · ${errors} error${errors > 1 ? 's' : ''}`;
      $('summary').append(bad);
    }
  }
  for (const id of ['export-csv', 'export-json', 'clear']) $(id).disabled = done === 0 || state.running;
}

// ---------------------------------------------------------------- export
const COLUMNS = ['index', 'file', 'ok', 'format', 'width', 'height', 'channels', 'bits', 'shape', 'spec', 'error_code', 'error', 'ms'];

function csvField(v) {
  const s = String(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

function download(name, type, text) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

// ---------------------------------------------------------------- settings
async function loadPresets() {
  const response = await fetch('presets.json');
  const { presets } = await response.json();
  const select = $('preset');
  for (const p of presets) {
    const option = document.createElement('option');
    option.value = JSON.stringify({ preprocess: p.preprocess });
    option.textContent = p.label;
    select.append(option);
  }
  setSpec(select.value, select.selectedOptions[0].textContent);
}

function setSpec(json, label) {
  state.specJson = json;
  state.specLabel = label;
  const block = JSON.parse(json).preprocess ?? JSON.parse(json);
  $('spec-summary').textContent = JSON.stringify(block);
}

// ---------------------------------------------------------------- wiring
function wire() {
  const drop = $('drop');
  drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', async (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    enqueue(await filesFromDataTransfer(e.dataTransfer));
  });
  drop.addEventListener('keydown', (e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); $('pick-files').click(); } });
  $('pick-files').addEventListener('change', (e) => { enqueue(filesFromInput(e.target, false)); e.target.value = ''; });
  $('pick-folder').addEventListener('change', (e) => { enqueue(filesFromInput(e.target, true)); e.target.value = ''; });
  $('preset').addEventListener('change', (e) => setSpec(e.target.value, e.target.selectedOptions[0].textContent));
  $('spec-file').addEventListener('change', async (e) => {
    const file = e.target.files[0];
    if (!file) return;
    const text = await file.text();
    let parsed = null;
    try { parsed = JSON.parse(text); } catch { /* reported below */ }
    if (!parsed) { $('spec-summary').textContent = `${file.name}: not valid JSON`; return; }
    const option = document.createElement('option');
    option.value = text;
    option.textContent = `${parsed.name ?? file.name} (from ${file.name})`;
    $('preset').append(option);
    $('preset').value = text;
    setSpec(text, option.textContent);
  });
  $('export-csv').addEventListener('click', () => {
    const lines = [COLUMNS.join(','), ...state.results.map((r) => COLUMNS.map((c) => csvField(r[c])).join(','))];
    download('cellcam-results.csv', 'text/csv', `${lines.join('\n')}\n`);
  });
  $('export-json').addEventListener('click', () => {
    download('cellcam-results.json', 'application/json', JSON.stringify({ version: $('version').textContent, results: state.results }, null, 2));
  });
  $('clear').addEventListener('click', () => {
    state.results = [];
    state.total = state.done = 0;
    $('results').textContent = '';
    updateProgress();
  });
}

async function main() {
  wire();
  const [ready] = await Promise.all([startWorker(), loadPresets()]);
  const isolated = self.crossOriginIsolated ? 'cross-origin isolated' : 'not isolated (single-threaded)';
  if (ready.type === 'ready') {
    $('version').textContent = `v${ready.version}`;
    $('engine-status').textContent = `wasm ready · ${isolated}`;
  } else {
    $('engine-status').textContent = ready.message;
  }
}

main();
