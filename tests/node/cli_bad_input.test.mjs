// cli_bad_input.test.mjs — every subcommand of `cellcam` against a table of bad options and bad files, as a
// new user tries them. Each row must end with its documented exit code (1: usage or setup error, 2: some
// inputs failed, each with its own error row), one clear line on stderr (no LibTorch backtrace, no
// "terminate called", no signal, no core dump), and leave every file that existed before byte for byte as
// it was. After the table, what a table cannot show: writes that fail halfway (a file-size limit makes
// write() fail as a full disk does), a training killed before its first checkpoint, --force, and the
// images a training could not use.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { cliPath, dataDir, root } from './site.mjs';

const haveCli = existsSync(cliPath);
const tmp = mkdtempSync(join(tmpdir(), 'cellcam-bad-input-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const smoke = join(dataDir, 'train_smoke');
const cell = join(dataDir, 'malaria', readdirSync(join(dataDir, 'malaria')).filter((f) => f.endsWith('.png')).sort()[0]);
const large = join(dataDir, 'formats', 'large_2048x1536.jpg');
const broken = join(dataDir, 'malformed', 'truncated.png');
const tiny = ['--image-size', '16', '--batch-size', '8', '--augment', 'none', '--val-fraction', '0.25', '--test-fraction', '0.25',
  '--threads', '2', '--positive-class', 'Parasitized'];

const at = (...p) => join(tmp, ...p);
let fresh = 0;
const newPath = (name) => at(`${name}-${++fresh}`);  // a path that does not exist yet

function cellcam(args, { fileLimitKb } = {}) {
  const r = fileLimitKb
    ? spawnSync('bash', ['-c', `ulimit -f ${fileLimitKb}; exec "$0" "$@"`, cliPath, ...args], { encoding: 'utf8' })
    : spawnSync(cliPath, args, { encoding: 'utf8' });
  return { code: r.status, signal: r.signal, stderr: r.stderr, lines: r.stderr.split('\n').filter((l) => l.trim() !== '') };
}

// Every file under `dir` with its SHA-256.
function snapshot(dir, into = new Map()) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) snapshot(p, into);
    else into.set(p, createHash('sha256').update(readFileSync(p)).digest('hex'));
  }
  return into;
}

function assertUnchanged(before, what) {
  for (const [p, digest] of before) {
    assert.ok(existsSync(p), `${what}: ${p} was removed`);
    assert.equal(createHash('sha256').update(readFileSync(p)).digest('hex'), digest, `${what}: ${p} was changed`);
  }
}

const BACKTRACE = /frame #\d|Exception raised from|terminate called|c10::|what\(\):|Aborted|core dumped/;

function assertClean(r, what) {
  assert.equal(r.signal, null, `${what}: killed by ${r.signal}`);
  for (const l of r.lines) assert.doesNotMatch(l, BACKTRACE, `${what}: a backtrace on stderr:\n${r.stderr}`);
}

// The fixtures: a small run, its export, and damaged copies of both.
const run = at('run');
const model = at('model');
const bad = {};

before(() => {
  if (!haveCli) return;
  const trained = cellcam(['train', smoke, '--out', run, '--epochs', '2', ...tiny]);
  assert.equal(trained.code, 0, trained.stderr);
  const exported = cellcam(['export', run, '--out', model]);
  assert.equal(exported.code, 0, exported.stderr);
  const card = JSON.parse(readFileSync(join(model, 'model.json'), 'utf8'));
  const variant = (name, edit) => {
    const dir = at(name);
    cpSync(model, dir, { recursive: true });
    edit(dir);
    return dir;
  };
  const writeCard = (dir, c) => writeFileSync(join(dir, 'model.json'), JSON.stringify(c, null, 2));
  const flipByte = (file) => {
    const b = readFileSync(file);
    b[b.length >> 1] ^= 1;
    writeFileSync(file, b);
  };
  bad.noPreprocess = variant('model-no-preprocess', (d) => { const c = structuredClone(card); delete c.preprocess; writeCard(d, c); });
  bad.threeClasses = variant('model-three-classes', (d) => {
    const c = structuredClone(card);
    c.classes = ['Uninfected', 'Parasitized', 'Other'];
    c.display_names = c.classes;
    c.head = 'multiclass';
    writeCard(d, c);
  });
  bad.flippedWeights = variant('model-flipped-weights', (d) => flipByte(join(d, 'weights.pt')));
  bad.flippedOnnx = variant('model-flipped-onnx', (d) => flipByte(join(d, 'model.onnx')));
  bad.checkpoint = at('corrupt.pt');
  writeFileSync(bad.checkpoint, Buffer.from('PK\u0003\u0004 not really a checkpoint'.repeat(40)));
  bad.notRun = at('not-a-run');
  mkdirSync(bad.notRun);
  writeFileSync(join(bad.notRun, 'notes.txt'), 'a folder of someone\'s files\n');
});

// [subcommand and arguments, exit code, what the one stderr line says]. `lines: 'last'`: the command
// prints progress first (a training decodes its images before it can fail); its last line is the error.
const table = () => [
  [['train', smoke, '--out', newPath('r'), '--batch-size', '0'], 1, /--batch-size: 0 is outside \[1, 65536\]/],
  [['train', smoke, '--out', newPath('r'), '--epochs', '0'], 1, /--epochs: 0 is outside \[1, 100000\]/],
  [['train', smoke, '--out', newPath('r'), '--lr', '1e6'], 1, /--lr: 1e6 is outside \(0, 10\]/],
  [['train', smoke, '--out', newPath('r'), '--lr', '-1'], 1, /--lr: -1 is outside \(0, 10\]/],
  [['train', smoke, '--out', newPath('r'), '--val-fraction', '0'], 1, /--val-fraction: 0 is outside \(0, 1\)/],
  [['train', smoke, '--out', newPath('r'), '--threads', '-1'], 1, /--threads: -1 is outside/],
  [['train', smoke, '--out', newPath('r'), '--cache-gb', '-1'], 1, /--cache-gb: -1 is outside/],
  [['train', smoke, '--out', newPath('r'), '--ema', '2'], 1, /--ema: 2 is outside \[0, 1\)/],
  [['train', smoke, '--out', newPath('r'), '--lr', 'fast'], 1, /--lr: "fast" is not a number/],
  [['train', smoke, '--out', newPath('r'), '--optimizer', 'bogus'], 1, /--optimizer "bogus" is not one of: adam, adamw, sgd, rmsprop/],
  [['train', smoke, '--out', newPath('r'), '--val-fraction', '0.6', '--test-fraction', '0.4'], 1, /must leave at least 5% of the images for training/],
  [['train', smoke, '--out', newPath('r'), '--folds', '1'], 1, /--folds 1 is not cross-validation/],
  [['train', smoke, '--out', run, ...tiny], 1, /already holds a training run: continue it with `cellcam train --resume/],
  [['train', smoke, '--out', bad.notRun, '--force'], 1, /is not empty and is not a training run/],
  [['train', '--resume', bad.notRun], 1, /has no config.json: the run stopped before its settings were written/],
  [['train', '--resume', at('nowhere')], 1, /--resume .* no such run folder/],
  [['train', at('no-such-data'), '--out', newPath('r')], 1, /no-such-data/],
  [['train', smoke, '--out', newPath('r'), '--init-from', bad.checkpoint, ...tiny], 1, /cannot read --init-from .*corrupt\.pt/, 'last'],
  [['train', smoke, '--out', newPath('r'), '--preset', 'blog_cnn_bn', '--optimizer', 'sgd', '--lr', '10', '--schedule', 'constant', ...tiny],
    1, /training diverged: the training loss in epoch 1, batch \d+ is nan .* lower --lr/, 'last'],
  [['predict', bad.noPreprocess, cell, '--out', newPath('p.csv')], 1, /model\.json: no "preprocess" block/],
  [['predict', bad.threeClasses, cell, '--out', newPath('p.csv')], 1, /model\.onnx gives 2 class probabilities but model\.json lists 3 classes/],
  [['predict', bad.flippedWeights, cell, '--out', newPath('p.csv')], 1, /weights\.pt does not match model\.json: its SHA-256 is/],
  [['predict', bad.flippedOnnx, cell, '--out', newPath('p.csv')], 1, /model\.onnx does not match model\.json: its SHA-256 is/],
  [['predict', run, cell, '--checkpoint', bad.checkpoint, '--out', newPath('p.csv')], 1, /cannot read checkpoint .*corrupt\.pt/],
  [['predict', model, cell, '--batch-size', '0'], 1, /--batch-size/],
  [['predict', at('nowhere'), cell], 1, /nowhere/],
  [['predict', model, cell, broken, '--out', newPath('p.csv')], 2, /truncated\.png: error: truncated PNG/],
  [['preprocess', large, '--spec', join(model, 'model.json'), '--out', newPath('pre'), '--tile', '8', '--stride', '1'], 2,
    /large_2048x1536\.jpg: error: 2048x1536 image would be cut into 3120689 tiles of 8 px \(at most 4096\)/],
  [['preprocess', large, '--spec', join(model, 'model.json'), '--out', newPath('pre'), '--tile', '1'], 1, /--tile: 1 is outside 0 or 8 to 4096/],
  [['predict', model, large, '--tile', '3'], 1, /--tile: 3 is outside 0 or 8 to 4096/],
  [['preprocess', cell, '--spec', at('missing.json'), '--out', newPath('pre')], 1, /missing\.json/],
  [['preprocess', cell, '--spec', join(model, 'model.json'), '--out', newPath('pre'), '--tile', '-1'], 1, /--tile/],
  [['export', run, '--out', model], 1, /already holds a model folder: give --force/],
  [['export', run, '--out', bad.notRun, '--force'], 1, /is not empty and is not a model folder/],
  [['export', at('nowhere'), '--out', newPath('m')], 1, /nowhere/],
  [['export', run, '--out', newPath('m'), '--checkpoint', bad.checkpoint], 1, /cannot read checkpoint .*corrupt\.pt/],
  [['eval', run, '--checkpoint', bad.checkpoint, '--out', newPath('e')], 1, /cannot read checkpoint .*corrupt\.pt/],
  [['eval', at('nowhere')], 1, /nowhere/],
  [['eval', run, '--batch-size', '0'], 1, /--batch-size/],
  [['calibrate', at('nowhere')], 1, /nowhere/],
  [['calibrate', run, '--batch-size', '0'], 1, /--batch-size/],
  [['gradcam', model, cell, '--alpha', '2', '--out', newPath('g')], 1, /--alpha/],
  [['gradcam', bad.flippedWeights, cell, '--out', newPath('g')], 1, /weights\.pt does not match model\.json/],
  [['gradcam', model, cell, '--class', 'bogus', '--out', newPath('g')], 1, /--class bogus is not one of the model's classes/],
  [['ensemble', model, bad.flippedWeights, '--out', newPath('ens')], 1, /weights\.pt does not match model\.json/],
  [['ensemble', model, '--out', newPath('ens')], 1, /members: At least 2 required/],
  [['split', at('missing.csv')], 1, /missing\.csv/],
  [['split', smoke, '--val-fraction', '2'], 1, /--val-fraction/],
  [['bogus'], 1, /unknown command "bogus" \(commands: preprocess, train, /],
  [[], 1, /subcommand/],
];

test('every subcommand: bad options and bad files end with one clear line, the exit code, and nothing changed', { skip: !haveCli && 'no CLI' }, () => {
  const rows = table();
  const failures = [];
  for (const [args, code, message, lines] of rows) {
    const what = `cellcam ${args.map((a) => a.replace(tmp, '$TMP').replace(root, '')).join(' ')}`;
    const before = snapshot(tmp);
    const r = cellcam(args);
    try {
      assertClean(r, what);
      assert.equal(r.code, code, `${what}: exit code\n${r.stderr}`);
      if (lines !== 'last') assert.equal(r.lines.length, 1, `${what}: one line on stderr, got\n${r.stderr}`);
      assert.match(r.lines.at(-1) ?? '', message, `${what}: the error line`);
      assertUnchanged(before, what);
    } catch (e) {
      failures.push(e.message);
    }
  }
  assert.deepEqual(failures, [], `${failures.length} of ${rows.length} rows failed:\n\n${failures.join('\n\n')}`);
});

test('an 8-pixel tile at stride 1 on a large image is one error row, not millions of files', { skip: !haveCli && 'no CLI' }, () => {
  const out = newPath('tiles');
  const r = cellcam(['preprocess', large, cell, '--spec', join(model, 'model.json'), '--out', out, '--tile', '8', '--stride', '1']);
  assertClean(r, 'preprocess --tile 8 --stride 1');
  assert.equal(r.code, 2, r.stderr);
  assert.ok(readdirSync(out).length < 10, `${readdirSync(out).length} files written`);
  const manifest = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8'));
  assert.match(JSON.stringify(manifest), /tiles of 8 px \(at most 4096\)/);
});

test('a write that fails (file-size limit, as a full disk) is one line and leaves the previous files intact', { skip: !haveCli && 'no CLI' }, () => {
  // export: nothing half-written, no temporary folder left
  const target = newPath('m');
  let r = cellcam(['export', run, '--out', target], { fileLimitKb: 64 });
  assertClean(r, 'export under ulimit -f 64');
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.lines.at(-1), /cannot write .*File too large/);
  assert.ok(!existsSync(target) && !existsSync(`${target}.partial`), 'export left a folder behind');

  // export --force over an existing folder: the old folder stays whole
  const shipped = newPath('m');
  assert.equal(cellcam(['export', run, '--out', shipped]).code, 0);
  const before = snapshot(shipped);
  r = cellcam(['export', run, '--out', shipped, '--force'], { fileLimitKb: 64 });
  assertClean(r, 'export --force under ulimit -f 64');
  assert.equal(r.code, 1, r.stderr);
  assertUnchanged(before, 'export --force under ulimit');
  assert.deepEqual(readdirSync(tmp).filter((f) => f.endsWith('.partial') || f.endsWith('.old')), []);

  // training: a checkpoint that cannot be written stops the run; the previous checkpoint is kept, and
  // the run resumes from it once there is room again
  const r2 = newPath('r');
  assert.equal(cellcam(['train', smoke, '--out', r2, '--epochs', '3', '--max-epochs-this-run', '1', ...tiny]).code, 0);
  const kept = snapshot(r2);
  r = cellcam(['train', '--resume', r2, '--max-epochs-this-run', '1'], { fileLimitKb: 8 });
  assertClean(r, 'train --resume under ulimit -f 8');
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.lines.at(-1), /cannot write .*(best|last)\.pt\.tmp: File too large/);
  assertUnchanged(kept, 'train --resume under ulimit');
  assert.deepEqual(readdirSync(join(r2, 'checkpoints')).filter((f) => f.endsWith('.tmp')), []);
  r = cellcam(['train', '--resume', r2]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(readFileSync(join(r2, 'metrics.csv'), 'utf8').trim().split('\n').length, 1 + 3);
});

test('a training killed before its first checkpoint resumes by starting over', { skip: !haveCli && 'no CLI' }, () => {
  const killed = newPath('r');
  assert.equal(cellcam(['train', smoke, '--out', killed, '--epochs', '1', '--max-epochs-this-run', '1', ...tiny]).code, 0);
  rmSync(join(killed, 'checkpoints'), { recursive: true });  // as if killed during epoch 1
  rmSync(join(killed, 'metrics.csv'));
  const r = cellcam(['train', '--resume', killed]);
  assertClean(r, 'resume without last.pt');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /has no checkpoint yet .* starting it over from epoch 1/);
  assert.ok(existsSync(join(killed, 'report.json')));
});

test('--force replaces a run or a model folder whole', { skip: !haveCli && 'no CLI' }, () => {
  const dir = newPath('m');
  assert.equal(cellcam(['export', run, '--out', dir]).code, 0);
  writeFileSync(join(dir, 'README.md'), 'the card of another model\n');
  writeFileSync(join(dir, 'old_plot.png'), 'not a plot');
  const r = cellcam(['export', run, '--out', dir, '--force']);
  assert.equal(r.code, 0, r.stderr);
  assert.doesNotMatch(readFileSync(join(dir, 'README.md'), 'utf8'), /another model/);
  assert.ok(!existsSync(join(dir, 'old_plot.png')), 'a file of the old folder survived --force');

  const again = newPath('r');
  assert.equal(cellcam(['train', smoke, '--out', again, '--epochs', '1', ...tiny]).code, 0);
  writeFileSync(join(again, 'stale.txt'), 'from before');
  assert.equal(cellcam(['train', smoke, '--out', again, '--epochs', '1', '--force', ...tiny]).code, 0);
  assert.ok(!existsSync(join(again, 'stale.txt')));
});

test('every image a training could not use is in skipped.csv; a class too small to split is warned about', { skip: !haveCli && 'no CLI' }, () => {
  // train_smoke plus unreadable files in every class, and a third class of two images
  const manifest = readFileSync(join(smoke, 'manifest.csv'), 'utf8').trim().split('\n');
  const rows = [manifest[0], ...manifest.slice(1).map((l) => `${join(smoke, l.split(',')[0])},${l.split(',').slice(1).join(',')}`)];
  const brokenDir = at('broken');
  mkdirSync(brokenDir, { recursive: true });
  for (let i = 0; i < 12; ++i) {
    const f = join(brokenDir, `broken_${i}.png`);
    copyFileSync(broken, f);
    rows.push(`${f},${i % 2 ? 'Parasitized' : 'Uninfected'},B${i}`);
  }
  const cells = readdirSync(join(dataDir, 'malaria')).filter((f) => f.endsWith('.png')).sort();
  for (let i = 0; i < 2; ++i) rows.push(`${join(dataDir, 'malaria', cells[i])},Rare,R${i}`);
  const csv = at('with_broken.csv');
  writeFileSync(csv, `${rows.join('\n')}\n`);
  const out = newPath('r');
  const r = cellcam(['train', csv, '--out', out, '--epochs', '1', ...tiny.filter((a, i, all) => a !== '--positive-class' && all[i - 1] !== '--positive-class')]);
  assertClean(r, 'train with broken files');
  assert.equal(r.code, 0, r.stderr);
  const skipped = readFileSync(join(out, 'skipped.csv'), 'utf8').trim().split('\n').slice(1);
  const report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8'));
  assert.equal(skipped.length, 12, `skipped.csv:\n${skipped.join('\n')}`);
  assert.equal(report.skipped, 12);
  const split = readFileSync(join(out, 'split.csv'), 'utf8');
  assert.ok(split.split('\n').some((l) => l.includes('broken_') && l.endsWith(',test')), 'no broken file fell in the test part: pick another seed');
  assert.match(readFileSync(join(out, 'report.md'), 'utf8'), /12 skipped \(see skipped\.csv\)/);
  assert.ok(report.warnings.some((w) => /class "Rare" has only 2 image/.test(w)), JSON.stringify(report.warnings));
  assert.match(r.stderr, /warning: class "Rare"/);
});
