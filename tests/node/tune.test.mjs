// tune.test.mjs — `cellcam tune` with the real trainer, kept small for CI on 2 cores: a tiny network on
// tests/data/train_smoke, two epochs a trial.
//   - a 3-trial Bayesian search finishes: trials.jsonl, report.md, best.toml and the plots, every trial's run
//     folder (with validation metrics and without test metrics: trials run with --no-test); best.toml is a config `cellcam train --config` reads back (its lr is the best trial's);
//   - the same command with --trials 4 resumes: one more trial, the first three are not rerun;
//   - Ctrl-C (SIGINT) mid-trial: exit 1 with "interrupted", the finished trials kept, and the same command
//     completes the search;
//   - bad space files (an option train lacks, a value train refuses, a broken distribution) fail before any
//     trial with one clear line naming the key.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';

import { cliPath, dataDir } from './site.mjs';

const haveCli = existsSync(cliPath);
const tmp = mkdtempSync(join(tmpdir(), 'cellcam-tune-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const smoke = join(dataDir, 'train_smoke');
const spec = join(tmp, 'tiny.json');
writeFileSync(spec, JSON.stringify({
  name: 'tiny',
  architecture: { layers: [
    { type: 'conv', out: 8, kernel: 3, stride: 1, padding: 1, bias: true }, { type: 'relu' },
    { type: 'max_pool', kernel: 2, stride: 2 },
    { type: 'conv', out: 16, kernel: 3, stride: 1, padding: 1, bias: true }, { type: 'relu' },
    { type: 'global_avg_pool' },
  ] },
  preprocess: { width: 24, height: 24, color: 'rgb', aspect: 'pad', resize_filter: 'triangle', mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] },
}));
const space = join(tmp, 'space.json');
writeFileSync(space, JSON.stringify({
  lr: { log_uniform: [0.001, 0.03] },
  'batch-size': { choice: [8, 16] },
  'label-smoothing': { uniform: [0, 0.1] },
  'class-weights': { choice: [false, true] },
  spec, epochs: 2, 'val-fraction': 0.25, 'test-fraction': 0.25, workers: 1, 'positive-class': 'Parasitized',
  patience: 0, 'warmup-epochs': 0,
}));

function run(args) {
  const r = spawnSync(cliPath, args, { encoding: 'utf8', timeout: 600_000 });
  return { code: r.status, stderr: r.stderr, stdout: r.stdout };
}
const lines = (path) => readFileSync(path, 'utf8').split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l));

test('a bayes search runs, reports, and resumes without rerunning trials', { skip: !haveCli && 'build/cellcam not built' }, () => {
  const out = join(tmp, 'search');
  const args = ['tune', smoke, '--space', space, '--out', out, '--startup', '2', '--threads', '1'];
  const first = run([...args, '--method', 'bayes', '--trials', '3']);
  assert.equal(first.code, 0, first.stderr);
  const trials = lines(join(out, 'trials.jsonl'));
  assert.equal(trials.length, 3);
  for (const t of trials) {
    assert.ok(['complete', 'pruned'].includes(t.status), JSON.stringify(t));
    assert.ok(t.objective >= 0 && t.objective <= 1, JSON.stringify(t));
    assert.ok(t.params.lr >= 0.001 && t.params.lr <= 0.03);
    assert.ok([8, 16].includes(t.params['batch-size']));
    assert.ok([false, true].includes(t.params['class-weights']));
    const log = readFileSync(join(out, 'trials', `trial-${t.number}.log`), 'utf8');
    assert.doesNotMatch(log, /error/i, `trial ${t.number}: ${log}`);
    assert.equal(t.params.epochs, 2);
    assert.ok(existsSync(join(out, 'trials', `trial-${t.number}`, 'metrics.csv')), `trial ${t.number} has its run folder`);
    // --no-test: a trial's run never evaluates the test part, so the search cannot be chosen on it.
    const report = JSON.parse(readFileSync(join(out, 'trials', `trial-${t.number}`, 'report.json'), 'utf8'));
    assert.ok(report.validation, `trial ${t.number} has validation metrics`);
    assert.equal(report.test, undefined, `trial ${t.number} has no test metrics`);
  }
  for (const f of ['report.md', 'best.toml', 'objective.png', 'param-lr.png', 'param-batch-size.png', 'tune.json'])
    assert.ok(existsSync(join(out, f)), f);
  const report = readFileSync(join(out, 'report.md'), 'utf8');
  assert.match(report, /## Best: trial \d/);

  // best.toml is a recipe train reads: --print-config shows the best trial's values, and the same seed.
  const bestToml = readFileSync(join(out, 'best.toml'), 'utf8');
  const bestLr = Number(/^lr = (.+)$/m.exec(bestToml)[1]);
  const complete = trials.filter((t) => t.status === 'complete');
  const best = complete.reduce((a, b) => (b.objective > a.objective ? b : a));
  assert.equal(bestLr, best.params.lr);
  const printed = run(['train', smoke, '--config', join(out, 'best.toml'), '--print-config']);
  assert.equal(printed.code, 0, printed.stderr);
  assert.match(printed.stdout, /^seed = 42$/m);
  assert.match(printed.stdout, new RegExp(`^lr = ${bestLr}`, 'm'));

  const second = run([...args, '--trials', '4']);  // bayes is the default
  assert.equal(second.code, 0, second.stderr);
  assert.match(second.stderr, /resuming .* after 3 finished trials/);
  const after4 = lines(join(out, 'trials.jsonl'));
  assert.equal(after4.length, 4);
  assert.deepEqual(after4.slice(0, 3), trials);

  const otherMethod = run([...args, '--trials', '5', '--method', 'random']);
  assert.equal(otherMethod.code, 1);
  assert.match(otherMethod.stderr, /another method/);
});

test('Ctrl-C loses at most the running trial; the same command finishes the search', { skip: !haveCli && 'build/cellcam not built' }, async () => {
  const out = join(tmp, 'interrupted');
  const args = ['tune', smoke, '--space', space, '--out', out, '--method', 'random', '--trials', '3', '--threads', '1'];
  const child = spawn(cliPath, args);
  let stderr = '';
  const done = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
  child.stdout.on('data', () => {});
  // Interrupt as soon as trial 2 has started (trial 1 is then on file).
  await new Promise((resolve) => child.stderr.on('data', (d) => {
    stderr += d;
    if (/trial 2\/3/.test(stderr)) resolve();
  }));
  child.kill('SIGINT');
  const code = await done;
  assert.equal(code, 1, stderr);
  assert.match(stderr, /interrupted: trial 2 is lost; run the same command to resume/);
  assert.equal(lines(join(out, 'trials.jsonl')).length, 1);
  const again = run(args);
  assert.equal(again.code, 0, again.stderr);
  assert.equal(lines(join(out, 'trials.jsonl')).length, 3);
  assert.deepEqual(lines(join(out, 'trials.jsonl')).map((t) => t.number), [1, 2, 3]);
});

test('bad search spaces are refused before any trial, naming the key', { skip: !haveCli && 'build/cellcam not built' }, () => {
  const cases = [
    [{ 'learning-rate': { log_uniform: [0.001, 0.1] } }, /has no option --learning-rate/],
    [{ lr: { log_uniform: [0, 0.1] } }, /"lr": log_uniform needs low > 0/],
    [{ optimizer: { choice: ['adam', 'lion'] } }, /"optimizer" = "lion"/],
    [{ lr: { normal: [0.01, 0.1] } }, /unknown distribution "normal"/],
    [{ lr: 0.01 }, /nothing to search/],
    [{ 'class-weights': { choice: [0, 1] } }, /"class-weights" is a flag of train: its values are true\/false/],
    ['{"lr": ', /not valid JSON/],
  ];
  cases.forEach(([doc, message], i) => {
    const file = join(tmp, `bad-${i}.json`);
    writeFileSync(file, typeof doc === 'string' ? doc : JSON.stringify(doc));
    const out = join(tmp, `bad-${i}`);
    const r = run(['tune', smoke, '--space', file, '--out', out]);
    assert.equal(r.code, 1, `case ${i}: ${r.stderr}`);
    assert.match(r.stderr, message, `case ${i}`);
    assert.equal(r.stderr.trim().split('\n').length, 1, `case ${i}: one line: ${r.stderr}`);
    assert.ok(!existsSync(join(out, 'trials.jsonl')), `case ${i}: no trial ran`);
  });
});
