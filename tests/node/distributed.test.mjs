// distributed.test.mjs — `cellcam train` on several ranks (native/distributed/, LibTorch's c10d with Gloo
// on the loopback interface), kept small enough for CI on 2 cores:
//   - two ranks launched as two "machines" would be (RANK/WORLD_SIZE/MASTER_ADDR/MASTER_PORT, two
//     processes) train the same network as one process with the same global batch and seed: every step's
//     loss agrees within a tolerance, and so do the final metrics;
//   - a rank killed mid-training: the launcher and the other rank stop within the timeout naming it, the
//     run folder keeps its last completed epoch, and --resume (with --nproc 2) completes the run;
//   - --nproc 0, a port in use, a WORLD_SIZE the processes do not agree on, or that not enough of them
//     reach: one clear line each, no hang.
// The tolerance: the two runs add the same numbers in another order (each rank sums its half of the batch,
// then the halves are averaged; one process sums the whole batch), so float32 gradients differ in their
// last bits and Adam carries the difference on. Measured on this recipe: 1.7e-7 relative at most over its
// 20 steps; 1e-5 leaves ~60x headroom for another CPU's summation order.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';

import { cliPath, dataDir } from './site.mjs';

const haveCli = existsSync(cliPath);
const tmp = mkdtempSync(join(tmpdir(), 'cellcam-dist-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const smoke = join(dataDir, 'train_smoke');
// No batch norm and no dropout: per-rank batch statistics and per-rank dropout masks are different
// computations from one process's by design; everything else must match.
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
const recipe = (batch, epochs = 4) => ['--spec', spec, '--batch-size', String(batch), '--epochs', String(epochs), '--lr', '0.01', '--schedule', 'constant',
  '--warmup-epochs', '0', '--augment', 'hflip,rot90', '--val-fraction', '0.25', '--test-fraction', '0.25', '--seed', '7',
  '--patience', '0', '--workers', '1', '--positive-class', 'Parasitized'];

function run(args, env = {}) {
  const r = spawnSync(cliPath, args, { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 300_000 });
  return { code: r.status, signal: r.signal, stderr: r.stderr };
}

// Starts a process; resolves with its exit code and stderr.
function start(args, env = {}) {
  const child = spawn(cliPath, args, { env: { ...process.env, ...env } });
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; });
  child.stdout.on('data', () => {});
  const done = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal, stderr })));
  return { child, done };
}

function freePort() {
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => { const { port } = server.address(); server.close(() => resolve(port)); });
  });
}

const steps = (dir) => readFileSync(join(dir, 'steps.csv'), 'utf8').trim().split('\n').slice(1).map((l) => Number(l.split(',')[3]));
const report = (dir) => JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8'));
const seconds = (t0) => (Date.now() - t0) / 1000;

test('two ranks launched as two machines train as one process does with the same global batch', { skip: !haveCli && 'build/cellcam missing' }, async () => {
  const one = join(tmp, 'one');
  const single = run(['train', smoke, '--out', one, '--threads', '2', ...recipe(8)]);
  assert.equal(single.code, 0, single.stderr);
  const two = join(tmp, 'two');
  const port = await freePort();
  const env = (rank) => ({ RANK: String(rank), WORLD_SIZE: '2', MASTER_ADDR: '127.0.0.1', MASTER_PORT: String(port), LOCAL_WORLD_SIZE: '2' });
  const ranks = [0, 1].map((r) => start(['train', smoke, '--out', two, ...recipe(4)], env(r)));
  const [r0, r1] = await Promise.all(ranks.map((r) => r.done));
  assert.equal(r0.code, 0, r0.stderr);
  assert.equal(r1.code, 0, r1.stderr);
  assert.equal(r1.stderr.trim(), '', 'rank 1 is quiet when all goes well');
  assert.match(r0.stderr, /distributed: 2 ranks \(gloo\), 4 images a batch on each, 8 a step in all/);

  const trainImages = readFileSync(join(one, 'split.csv'), 'utf8').split('\n').filter((l) => l.endsWith(',train')).length;
  assert.equal(trainImages % 2, 0, 'an even number of training images: no padding, so the global batches are identical');
  const a = steps(one), b = steps(two);
  assert.equal(a.length, b.length, 'the same number of steps');
  assert.ok(a.length >= 16, `${a.length} steps`);
  for (let i = 0; i < a.length; ++i)
    assert.ok(Math.abs(a[i] - b[i]) <= 1e-5 * Math.abs(a[i]), `step ${i + 1}: one process ${a[i]}, two ranks ${b[i]}`);
  const [ra, rb] = [report(one), report(two)];
  assert.deepEqual(rb.distributed && [rb.distributed.world_size, rb.distributed.global_batch_size], [2, 8]);
  assert.ok(Math.abs(ra.test.accuracy - rb.test.accuracy) <= 0.05, `test accuracy ${ra.test.accuracy} vs ${rb.test.accuracy}`);
  assert.ok(Math.abs(ra.test.roc_auc - rb.test.roc_auc) <= 0.02, `test ROC-AUC ${ra.test.roc_auc} vs ${rb.test.roc_auc}`);
  assert.equal(ra.split.test, rb.split.test, 'the whole test split is scored, not one rank\'s share');
  assert.equal(rb.test.confusion.counts.reduce((x, y) => x + y, 0), ra.test.confusion.counts.reduce((x, y) => x + y, 0));
});

test('--sync-bn: two ranks with batch norm train as one process with the whole batch; per-rank batch norm does not', { skip: !haveCli && 'build/cellcam missing' }, async () => {
  const bnSpec = join(tmp, 'tiny_bn.json');
  const tiny = JSON.parse(readFileSync(spec, 'utf8'));
  tiny.name = 'tiny_bn';
  tiny.architecture.layers.splice(1, 0, { type: 'batch_norm' });
  tiny.architecture.layers.splice(5, 0, { type: 'batch_norm' });
  writeFileSync(bnSpec, JSON.stringify(tiny));
  const withBn = (batch) => recipe(batch, 2).map((x) => (x === spec ? bnSpec : x));
  const one = join(tmp, 'bn_one');
  const single = run(['train', smoke, '--out', one, '--threads', '2', ...withBn(8)]);
  assert.equal(single.code, 0, single.stderr);
  const a = steps(one);
  for (const [name, extra] of [['bn_sync', ['--sync-bn']], ['bn_local', []]]) {
    const r = run(['train', smoke, '--out', join(tmp, name), '--nproc', '2', ...withBn(4), ...extra]);
    assert.equal(r.code, 0, r.stderr);
  }
  const synced = steps(join(tmp, 'bn_sync')), local = steps(join(tmp, 'bn_local'));
  assert.equal(report(join(tmp, 'bn_sync')).distributed.batch_norm, 'synchronised');
  assert.equal(report(join(tmp, 'bn_local')).distributed.batch_norm, 'per rank');
  assert.equal(synced.length, a.length);
  for (let i = 0; i < a.length; ++i)
    assert.ok(Math.abs(a[i] - synced[i]) <= 1e-5 * Math.abs(a[i]), `step ${i + 1}: one process ${a[i]}, two synchronised ranks ${synced[i]}`);
  const worst = Math.max(...a.map((x, i) => Math.abs(x - local[i]) / Math.abs(x)));
  assert.ok(worst > 1e-4, `per-rank batch norm is a different computation (largest relative difference ${worst})`);
});

test('a rank killed mid-training stops the others with its name; --resume completes the run', { skip: !haveCli && 'build/cellcam missing' }, async () => {
  const dir = join(tmp, 'killed');
  const args = ['train', smoke, '--out', dir, '--nproc', '2', '--dist-timeout', '60', ...recipe(4, 40)];
  const launched = start(args);
  // Wait for the first completed epoch, then kill rank 1 (the launcher's second child).
  const t0 = Date.now();
  while (!existsSync(join(dir, 'metrics.csv')) && seconds(t0) < 120) await new Promise((r) => setTimeout(r, 100));
  assert.ok(existsSync(join(dir, 'metrics.csv')), 'the first epoch completed');
  const children = spawnSync('pgrep', ['-P', String(launched.child.pid)], { encoding: 'utf8' }).stdout.trim().split('\n').map(Number);
  assert.equal(children.length, 2, 'two ranks');
  const killedAt = Date.now();
  process.kill(children[1], 'SIGKILL');
  const r = await launched.done;
  assert.notEqual(r.code, 0);
  assert.ok(seconds(killedAt) < 60, `stopped ${seconds(killedAt)} s after the kill`);
  assert.match(r.stderr, /rank 1 (stopped responding|was killed)/, r.stderr);
  assert.doesNotMatch(r.stderr, /frame #\d|terminate called|c10::/);
  const epochs = readFileSync(join(dir, 'metrics.csv'), 'utf8').trim().split('\n').length - 1;
  assert.ok(epochs >= 1 && epochs < 40, `${epochs} epochs kept`);
  assert.ok(existsSync(join(dir, 'checkpoints', 'last.pt')) && existsSync(join(dir, 'checkpoints', 'last.pt.json')));
  assert.ok(!existsSync(join(dir, 'report.json')));

  const resumed = run(['train', '--resume', dir, '--nproc', '2', '--max-epochs-this-run', '2']);
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.match(resumed.stderr, new RegExp(`resuming .* at epoch ${epochs + 1}`));
  const after2 = readFileSync(join(dir, 'metrics.csv'), 'utf8').trim().split('\n').length - 1;
  assert.equal(after2, epochs + 2, 'two more epochs, from the last completed one');
});

test('--folds spread over ranks: each fold trained whole on one rank, one summary by rank 0', { skip: !haveCli && 'build/cellcam missing' }, () => {
  const dir = join(tmp, 'cv');
  const r = run(['train', smoke, '--out', dir, '--folds', '2', '--nproc', '2', '--spec', spec, '--epochs', '1', '--batch-size', '8',
    '--positive-class', 'Parasitized']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /fold 1 of 2 .*on rank 0/);
  const cv = JSON.parse(readFileSync(join(dir, 'cv_report.json'), 'utf8'));
  assert.equal(cv.folds.length, 2);
  for (const k of [1, 2]) assert.ok(existsSync(join(dir, `fold-${k}`, 'report.json')), `fold ${k}'s report`);
  // Together the folds' test parts are every image once.
  const tested = [1, 2].map((k) => report(join(dir, `fold-${k}`)).split.test).reduce((a, b) => a + b, 0);
  assert.equal(tested, readFileSync(join(dir, 'fold-1', 'split.csv'), 'utf8').trim().split('\n').length - 1);
});

test('bad launches end with one clear line', { skip: !haveCli && 'build/cellcam missing' }, async () => {
  const base = ['train', smoke, '--spec', spec, '--epochs', '1', '--dist-timeout', '5'];
  const zero = run([...base, '--out', join(tmp, 'n0'), '--nproc', '0']);
  assert.equal(zero.code, 1);
  assert.match(zero.stderr, /--nproc/);
  assert.equal(zero.stderr.trim().split('\n').length, 1, zero.stderr);

  // A port someone else holds: rank 0 cannot host the rendezvous.
  const server = createServer();
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const busy = server.address().port;
  let t0 = Date.now();
  const inUse = await start([...base, '--out', join(tmp, 'busy'), '--nproc', '2', '--master-port', String(busy)]).done;
  server.close();
  assert.notEqual(inUse.code, 0);
  assert.match(inUse.stderr, new RegExp(`rank 0 cannot host the rendezvous on 127\\.0\\.0\\.1:${busy}`), inUse.stderr);
  assert.ok(seconds(t0) < 30, `${seconds(t0)} s`);

  // WORLD_SIZE 3, two processes: rendezvous times out naming how many came.
  let port = await freePort();
  const env = (rank, world) => ({ RANK: String(rank), WORLD_SIZE: String(world), MASTER_PORT: String(port), MASTER_ADDR: '127.0.0.1' });
  t0 = Date.now();
  let results = await Promise.all([0, 1].map((r) => start([...base, '--out', join(tmp, 'w3')], env(r, 3)).done));
  for (const r of results) assert.equal(r.code, 1, r.stderr);
  assert.match(results[0].stderr, /2 of 3 ranks arrived/, results[0].stderr);
  assert.ok(seconds(t0) < 30, `${seconds(t0)} s`);

  // Ranks started with different WORLD_SIZEs.
  port = await freePort();
  results = await Promise.all([[0, 2], [1, 3]].map(([r, w]) => start([...base, '--out', join(tmp, 'wx')], env(r, w)).done));
  assert.match(results[1].stderr, /WORLD_SIZE differs between ranks: rank 0 has 2, rank 1 has 3/, results[1].stderr);
  for (const r of results) {
    assert.notEqual(r.code, 0);
    assert.doesNotMatch(r.stderr, /frame #\d|terminate called|c10::/);
  }
});
