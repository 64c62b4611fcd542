// export.js — the results as CSV and JSON (the same columns as `cellcam predict` first), downloaded locally.
import { csvField } from './csv.js';
import { $, h, state } from './page.js';

// ---------------------------------------------------------------- export
// Each row carries the settings its result was computed with (a batch runs whole on one set, batch.js;
// the next batch may use others): the model (name@version, SHA-256 of its ONNX file), the backend that ran
// it, test-time augmentation, the tile settings it was decoded with, and the model's threshold and
// review band. A row without a result has only the tile settings it was decoded with.
function usedSettings(r) {
  const s = r.settings ?? {};
  const m = r.status === 'done' ? r.model : null;
  const review = m && m.ensemble && m.ensemble.review ? m.ensemble.review : null;
  return {
    model: m ? `${m.name}${m.version ? `@${m.version}` : ''}` : '', backend: m ? r.backend : '',
    model_sha256: m ? m.sha256 : '', tta: m ? Boolean(s.tta) : '', tile: s.tile ?? '', tile_above: s.tileAbove ?? '',
    threshold: m && m.head === 'binary' ? m.threshold : '', review_band: m ? [...m.reviewBand] : '',
    ...(review ? { review_cutoff: review.cutoff } : {}),
    ...(m && m.ood ? { ood_threshold: m.ood.threshold } : {}),
  };
}

// A person's review (review.js): the class name (model.json `classes`), when (ISO 8601 UTC), the note.
function reviewFields(r) {
  const rv = r.status === 'done' && r.reviewed ? r.reviewed : null;
  return { reviewed_label: rv ? r.model.classes[rv.index] : '', reviewed_at: rv ? rv.at : '', note: r.note ?? '' };
}

export function exportRecords() {
  return state.rows.map((r) => {
    const base = { index: r.id + 1, file: r.path };
    const d = r.decoded;
    const source = d ? { format: d.format, width: d.source.width, height: d.source.height } : { format: '', width: '', height: '' };
    if (r.status === 'done') {
      const probabilities = {};
      r.model.classes.forEach((c, k) => { probabilities[c] = Number(r.result.probs[k].toPrecision(9)); });
      return {
        ...base, probabilities, predicted: r.result.label, review: r.result.review, error: '', error_code: '',
        ...(Number.isFinite(r.result.disagreement) ? { disagreement: r.result.disagreement } : {}),
        ...(Number.isFinite(r.result.viewDisagreement) ? { view_disagreement: Number(r.result.viewDisagreement.toPrecision(9)) } : {}),
        ...(Number.isFinite(r.result.oodScore) ? { ood_score: Number(r.result.oodScore.toPrecision(6)), ood: r.result.ood } : {}),
        tiles: r.result.tiles ? r.result.tiles.count : 0, ...source, ...usedSettings(r), ...reviewFields(r),
      };
    }
    return {
      ...base, probabilities: {}, predicted: '', review: '', error: r.error ? r.error.message : 'not processed',
      error_code: r.error ? r.error.code : 'pending', tiles: '', ...source, ...usedSettings(r), ...reviewFields(r),
    };
  });
}

export { csvField, csvQuote } from './csv.js';

// file, p_<class>... (as `cellcam predict` writes them), predicted, review, error, then details, then the
// settings each row used (appended: the columns before them keep their places).
export function toCsv(records) {
  const classes = [];
  for (const r of state.rows) if (r.model) for (const c of r.model.classes) if (!classes.includes(c)) classes.push(c);
  if (classes.length === 0 && state.choice) classes.push(...state.choice.parsed.classes);
  const header = ['file', ...classes.map((c) => `p_${c}`), 'predicted', 'review', 'error', 'error_code', 'tiles', 'format', 'width', 'height', 'model', 'backend',
    'model_sha256', 'tta', 'tile', 'tile_above', 'threshold', 'review_low', 'review_high', 'review_cutoff', 'ood_score', 'ood', 'ood_threshold',
    'reviewed_label', 'reviewed_at', 'note'];
  const lines = [header.map(csvField).join(',')];
  for (const r of records) {
    const band = Array.isArray(r.review_band) ? r.review_band : ['', ''];
    const row = [r.file, ...classes.map((c) => (c in r.probabilities ? r.probabilities[c] : '')), r.predicted, r.review, r.error,
      r.error_code, r.tiles, r.format, r.width, r.height, r.model, r.backend,
      r.model_sha256, r.tta, r.tile, r.tile_above, r.threshold, band[0], band[1], r.review_cutoff ?? '', r.ood_score ?? '', r.ood ?? '',
      r.ood_threshold ?? '', r.reviewed_label, r.reviewed_at, r.note];
    lines.push(row.map(csvField).join(','));
  }
  return `${lines.join('\n')}\n`;
}

function describeModel(m) {
  return {
    name: m.name, version: m.version, sha256: m.sha256, classes: m.classes, head: m.head, threshold: m.threshold,
    review_band: m.reviewBand, rules: m.rules, temperature: m.temperature, ood: m.ood ?? null,
    members: m.ensemble ? m.members.map((x) => ({ name: x.name, sha256: x.sha256, weight: x.weight })) : undefined,
    ensemble_method: m.ensemble ? m.ensemble.method : undefined,
  };
}

// The top level says only what is true of every classified row: `model` when they all used one (else
// null, and `models` lists each), and for each setting that changes results the values the rows used,
// in the order first used (one value: the whole export ran with it). Each row carries its own.
export function toJson(records) {
  const done = state.rows.filter((r) => r.status === 'done');
  const models = new Map();
  for (const r of done) {
    const key = `${r.model.name}@${r.model.version}:${r.model.sha256}`;
    if (!models.has(key)) models.set(key, describeModel(r.model));
  }
  const classified = records.filter((r) => r.error_code === '');
  const values = (list) => [...new Set(list)];
  return JSON.stringify({
    tool: 'cellcam', version: $('version').textContent.replace(/^v/, ''), exported: new Date().toISOString(),
    model: models.size === 1 ? [...models.values()][0] : null,
    models: [...models.values()],
    settings: {
      tta: values(classified.map((r) => r.tta)), backend: values(classified.map((r) => r.backend)),
      backend_label: values(done.map((r) => r.settings.backendLabel)),
      tile: values(classified.map((r) => r.tile)), tile_above: values(classified.map((r) => r.tile_above)),
    },
    results: records,
  }, null, 2);
}

export function download(name, type, data) {
  const url = URL.createObjectURL(data instanceof Blob ? data : new Blob([data], { type }));
  const a = h('a', { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}
