// finetune.test.mjs — the CLI half of issue 17's loop: a reviewed-set ZIP as the page exports it
// (manifest.csv with every column, images/, review.json; built here with python3's zipfile) goes into
// `cellcam train` and `cellcam finetune models/malaria`, which reports before/after on the original
// test split (tests/data/train_smoke split as `cellcam train` splits it, seed 42) and on the reviewed
// set's held-out part; `cellcam export` of the result names the base model and the reviewed set, and
// the exported folder runs (`cellcam predict`). Also: --mix takes only original training images, a
// fine-tuning that wrecks the model is warned about and its export refused without --accept-drop, and
// unsafe or damaged ZIPs and foreign classes are one line each. About 30 s here (2 cores).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { after, test } from 'node:test';

import { cliPath, dataDir, root } from './site.mjs';

const haveCli = existsSync(cliPath);
const tmp = mkdtempSync(join(tmpdir(), 'cellcam-finetune-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const smoke = join(dataDir, 'train_smoke');
const model = join(root, 'models', 'malaria');
const BACKTRACE = /frame #\d|Exception raised from|terminate called|c10::|what\(\):|Aborted|core dumped/;

function cli(args) {
  const r = spawnSync(cliPath, args, { encoding: 'utf8', timeout: 300_000 });
  return { code: r.status, signal: r.signal, stderr: r.stderr, stdout: r.stdout };
}

// One error line, exit 1, nothing of LibTorch's.
function assertOneLineError(r, pattern) {
  assert.equal(r.code, 1, r.stderr);
  assert.equal(r.signal, null);
  assert.doesNotMatch(r.stderr, BACKTRACE);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.match(r.stderr, pattern);
}

// A reviewed-set ZIP as the page writes it: `rows` are [file, label, group]; `extra` are raw entries.
function makeZip(name, rows, { extra = [], review = {} } = {}) {
  const zip = join(tmp, name);
  const spec = {
    zip,
    rows: rows.map(([file, label, group], i) => [file, `images/${String(i + 1).padStart(5, '0')}_${basename(file)}`, label, group]),
    review: {
      format: 'cellcam-reviewed-set/1', model: { name: 'malaria', version: '0.4.0', sha256: 'c7c2f05b' },
      classes: ['Uninfected', 'Parasitized'], exported_at: '2026-12-05T09:00:00Z', images: rows.length, confirmed: rows.length - 2,
      corrected: 2, ...review,
    },
    extra,
  };
  const py = `
import csv, io, json, sys, zipfile
s = json.load(sys.stdin)
buf = io.StringIO()
w = csv.writer(buf, lineterminator='\\n')
w.writerow(['path', 'label', 'group', 'predicted', 'probability', 'model', 'reviewed_at', 'note'])
for src, path, label, group in s['rows']:
    w.writerow([path, label, group, label, '0.91', 'malaria@0.4.0', '2026-12-05T09:00:00Z', 'a note, with a comma'])
with zipfile.ZipFile(s['zip'], 'w', zipfile.ZIP_DEFLATED) as z:
    z.writestr('manifest.csv', buf.getvalue())
    for src, path, label, group in s['rows']:
        z.write(src, path)
    z.writestr('review.json', json.dumps(s['review']))
    for name, text in s['extra']:
        z.writestr(name, text)
`;
  const r = spawnSync('python3', ['-c', py], { input: JSON.stringify(spec), encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return zip;
}

// 12 cells of each class from the smoke set; a third of them in two "slides" (groups), the rest without.
function reviewedRows(classes = ['Parasitized', 'Uninfected']) {
  const rows = [];
  for (const cls of classes) {
    const files = readdirSync(join(smoke, cls)).filter((f) => f.endsWith('.png')).sort().slice(0, 12);
    files.forEach((f, i) => rows.push([join(smoke, cls, f), cls, i % 3 === 0 ? `slide${i % 2}` : '']));
  }
  return rows;
}

const quick = ['--epochs', '1', '--threads', '2', '--workers', '1'];

test('finetune models/malaria on a reviewed ZIP: before/after, export names the base model and the set', { skip: !haveCli && 'build/cellcam not built' }, () => {
  const zip = makeZip('reviewed.zip', reviewedRows());
  const out = join(tmp, 'ft');
  const t0 = Date.now();
  const r = cli(['finetune', model, zip, '--out', out, '--original', smoke, ...quick]);
  assert.equal(r.code, 0, r.stderr);
  assert.doesNotMatch(r.stderr, BACKTRACE);
  assert.match(r.stderr, /initialised 34 of 34 tensors/);
  assert.match(r.stderr, /before \/ after/);
  assert.match(r.stderr, /original test split\s+12\s/);
  assert.match(r.stderr, /reviewed set, held out\s+\d+\s/);
  assert.ok(existsSync(join(tmp, 'reviewed.unpacked', 'manifest.csv')), 'unpacked next to the ZIP');

  const report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8'));
  const table = report.finetune.before_after;
  assert.deepEqual(table.map((row) => row.images), ['original test split', 'reviewed set, held out']);
  for (const row of table) {
    assert.ok(row.n > 0, JSON.stringify(row));
    for (const side of ['before', 'after']) assert.equal(typeof row[side].accuracy, 'number', `${row.images} ${side}`);
  }
  assert.match(report.finetune.original_test.split, /seed 42/);
  assert.match(report.finetune.held_out, /by group/);
  assert.equal(report.finetune.degraded, false);
  const md = readFileSync(join(out, 'report.md'), 'utf8');
  assert.match(md, /## Fine-tuning: before \/ after/);
  assert.match(md, /\| original test split \| 12 \|/);
  // The model's own spec, classes and lower learning rate.
  const config = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
  assert.deepEqual(config.model.classes, ['Uninfected', 'Parasitized']);
  assert.equal(config.settings.lr, 1e-4);
  assert.equal(config.settings.base_model, model);

  const exported = join(tmp, 'model-ft');
  const e = cli(['export', out, '--out', exported]);
  assert.equal(e.code, 0, e.stderr);
  const card = JSON.parse(readFileSync(join(exported, 'model.json'), 'utf8'));
  const base = JSON.parse(readFileSync(join(model, 'model.json'), 'utf8'));
  assert.equal(card.finetuned.base_model.name, 'malaria');
  assert.equal(card.finetuned.base_model.version, base.version);
  assert.equal(card.finetuned.base_model.weights_sha256, base.weights.sha256);
  assert.equal(card.finetuned.base_model.onnx_sha256, base.onnx.sha256);
  assert.equal(card.finetuned.reviewed_set.data, 'reviewed.zip');
  assert.equal(card.finetuned.reviewed_set.images, 24);
  assert.equal(card.finetuned.reviewed_set.review.corrected, 2);
  assert.equal(card.finetuned.reviewed_set.review.model.name, 'malaria');
  assert.equal(card.finetuned.before_after.length, 2);
  assert.deepEqual(card.classes, base.classes);
  assert.deepEqual(card.preprocess.stain, base.preprocess.stain);
  assert.match(readFileSync(join(exported, 'README.md'), 'utf8'), /## Fine-tuned\n\nFrom `malaria@0\.4\.0`/);
  // The exported folder runs as any model folder.
  const p = cli(['predict', exported, join(dataDir, 'malaria'), '--out', join(tmp, 'pred.csv')]);
  assert.equal(p.code, 0, p.stderr);
  assert.equal(readFileSync(join(tmp, 'pred.csv'), 'utf8').trim().split('\n').length, 5);
  console.log(`# finetune + export + predict: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
});

test('cellcam train reads the reviewed ZIP as a dataset (groups kept, extra columns ignored)', { skip: !haveCli && 'build/cellcam not built' }, () => {
  const zip = makeZip('train.zip', reviewedRows());
  const out = join(tmp, 'train-zip');
  const r = cli(['train', zip, '--out', out, '--image-size', '16', '--batch-size', '8', '--augment', 'none', '--val-fraction', '0.25',
    '--test-fraction', '0.25', ...quick]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /24 images, 2 classes; split \d+ \/ \d+ \/ \d+ \(train\/val\/test\) by group/);
  const split = readFileSync(join(out, 'split.csv'), 'utf8').trim().split('\n').slice(1).map((l) => l.split(','));
  assert.equal(split.length, 24);
  const partOf = new Map();
  for (const [, , group, part] of split) if (group) {
    if (partOf.has(group)) assert.equal(partOf.get(group), part, `group ${group} in two parts`);
    partOf.set(group, part);
  }
  assert.equal(partOf.size, 2);
});

test('--mix takes original training images only', { skip: !haveCli && 'build/cellcam not built' }, () => {
  const zip = makeZip('mix.zip', reviewedRows());
  const out = join(tmp, 'ft-mix');
  const r = cli(['finetune', model, zip, '--out', out, '--mix', smoke, '--mix-ratio', '1', ...quick]);
  assert.equal(r.code, 0, r.stderr);
  const s = cli(['split', smoke, '--out', join(tmp, 'orig-split.csv')]);
  assert.equal(s.code, 0, s.stderr);
  const notTrain = new Set(readFileSync(join(tmp, 'orig-split.csv'), 'utf8').trim().split('\n').slice(1)
    .map((l) => l.split(',')).filter((f) => f[3] !== 'train').map((f) => basename(f[0])));
  const rows = readFileSync(join(out, 'finetune_data.csv'), 'utf8').trim().split('\n').slice(1).map((l) => l.split(','));
  const mixed = rows.filter((f) => f[3] === 'original');
  assert.equal(mixed.length, 24);
  for (const f of mixed) assert.ok(!notTrain.has(basename(f[0])), `${f[0]} is not in the original training part`);
  assert.ok(mixed.every((f) => f[2] === '' || f[2].startsWith('original/')));
  const info = JSON.parse(readFileSync(join(out, 'finetune.json'), 'utf8'));
  assert.equal(info.mix.images, 24);
  assert.equal(info.before_after[0].images, 'original test split');  // --mix is also the original data
});

test('a fine-tuning that loses original test accuracy is warned about; export refuses it without --accept-drop', { skip: !haveCli && 'build/cellcam not built' }, () => {
  const zip = makeZip('wreck.zip', reviewedRows());
  const out = join(tmp, 'ft-wreck');
  const r = cli(['finetune', model, zip, '--out', out, '--original', smoke, '--lr', '0.05', '--epochs', '2', '--threads', '2']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /warning: the original test accuracy fell by [\d.]+ points \(more than --max-drop 2\.00\)/);
  assert.equal(JSON.parse(readFileSync(join(out, 'finetune.json'), 'utf8')).degraded, true);
  assertOneLineError(cli(['export', out, '--out', join(tmp, 'wrecked')]), /--accept-drop/);
  assert.ok(!existsSync(join(tmp, 'wrecked')));
  assert.equal(cli(['export', out, '--out', join(tmp, 'wrecked'), '--accept-drop']).code, 0);
});

test('unsafe, damaged and foreign reviewed sets are one line each', { skip: !haveCli && 'build/cellcam not built' }, () => {
  const rows = reviewedRows().slice(0, 6);
  const traversal = makeZip('traversal.zip', rows, { extra: [['../cellcam-finetune-escape.txt', 'x']] });
  assertOneLineError(cli(['train', traversal, '--out', join(tmp, 'r1')]), /"\.\." component/);
  assert.ok(!existsSync(join(tmp, '..', 'cellcam-finetune-escape.txt')));
  assert.ok(!existsSync(join(tmp, 'traversal.unpacked')));
  assertOneLineError(cli(['finetune', model, traversal, '--out', join(tmp, 'r2')]), /"\.\." component/);

  const good = readFileSync(makeZip('whole.zip', rows));
  for (const [name, bytes] of [['cut.zip', good.subarray(0, Math.floor(good.length / 2))], ['noise.zip', Buffer.from('PK\x03\x04' + 'x'.repeat(300))],
    ['empty.zip', Buffer.alloc(0)]]) {
    writeFileSync(join(tmp, name), bytes);
    assertOneLineError(cli(['finetune', model, join(tmp, name), '--out', join(tmp, `r-${name}`)]), /zip|ZIP|archive/);
    assert.ok(!existsSync(join(tmp, `r-${name}`)), 'no run folder for a damaged ZIP');
  }
  const foreign = makeZip('foreign.zip', [...rows, [join(dataDir, 'malaria', 'uninfected_P61_cell_144.png'), 'Lymphocyte', '']]);
  assertOneLineError(cli(['finetune', model, foreign, '--out', join(tmp, 'r3')]), /class "Lymphocyte" is not one of the model's classes \(Uninfected, Parasitized\)/);
  assertOneLineError(cli(['finetune', join(tmp, 'no-such-model'), foreign, '--out', join(tmp, 'r4')]), /no-such-model/);
});
