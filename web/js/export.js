// export.js — the results as CSV and JSON (the same columns as `cellcam predict` first), downloaded locally.
import { engine } from './engines.js';
import { $, h, state } from './page.js';

// ---------------------------------------------------------------- export
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
        tiles: r.result.tiles ? r.result.tiles.count : 0, ...source,
        model: `${r.model.name}${r.model.version ? `@${r.model.version}` : ''}`, backend: r.backend,
      };
    }
    return {
      ...base, probabilities: {}, predicted: '', review: '', error: r.error ? r.error.message : 'not processed',
      error_code: r.error ? r.error.code : 'pending', tiles: '', ...source, model: '', backend: '',
    };
  });
}

export function csvField(v) {
  const s = String(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

// file, p_<class>... (as `cellcam predict` writes them), predicted, review, error, then details.
export function toCsv(records) {
  const classes = [];
  for (const r of state.rows) if (r.model) for (const c of r.model.classes) if (!classes.includes(c)) classes.push(c);
  if (classes.length === 0 && state.choice) classes.push(...state.choice.parsed.classes);
  const header = ['file', ...classes.map((c) => `p_${c}`), 'predicted', 'review', 'error', 'error_code', 'tiles', 'format', 'width', 'height', 'model', 'backend'];
  const lines = [header.map(csvField).join(',')];
  for (const r of records) {
    const row = [r.file, ...classes.map((c) => (c in r.probabilities ? r.probabilities[c] : '')), r.predicted, r.review, r.error,
      r.error_code, r.tiles, r.format, r.width, r.height, r.model, r.backend];
    lines.push(row.map(csvField).join(','));
  }
  return `${lines.join('\n')}\n`;
}

export function toJson(records) {
  const m = state.choice.parsed;
  const rules = m.rules;
  return JSON.stringify({
    tool: 'cellcam', version: $('version').textContent.replace(/^v/, ''), exported: new Date().toISOString(),
    model: { name: m.name, version: m.version, sha256: m.sha256, classes: m.classes, head: m.head, threshold: m.threshold,
      review_band: m.reviewBand, rules, temperature: m.temperature, tta: $('tta').checked,
      members: m.ensemble ? m.members.map((x) => ({ name: x.name, sha256: x.sha256, weight: x.weight })) : undefined,
      ensemble_method: m.ensemble ? m.ensemble.method : undefined },
    backend: engine.info && engine.info.ok ? engine.info.label : '',
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
