// parity.test.mjs — every fixture, through the native CLI (g++, libtiff) and through the page's
// pipeline in node (em++ wasm, utif2): the preprocessed tensors must be identical to the bit, and
// every malformed file must get the same error code and message in both builds.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

import { cliPath, dataDir, loadSite, root } from './site.mjs';

const { cellcam, UTIF, pipeline } = await loadSite();
const specDir = join(root, 'tests', 'specs');
const specs = readdirSync(specDir).filter((f) => f.endsWith('.json')).sort();

// .npy v1: magic(6) version(2) header_len(2, LE) header; float32 payload follows.
function npyPayload(path) {
  const bytes = readFileSync(path);
  const headerLen = bytes.readUInt16LE(8);
  return bytes.subarray(10 + headerLen);
}

for (const specName of specs) {
  test(`native and wasm agree bit for bit: ${specName}`, () => {
    const specPath = join(specDir, specName);
    const specJson = readFileSync(specPath, 'utf8');
    const out = mkdtempSync(join(tmpdir(), 'cellcam-parity-'));
    try {
      const run = spawnSync(cliPath, ['preprocess', dataDir, '--spec', specPath, '--out', out], { encoding: 'utf8' });
      assert.equal(run.status, 2, `cellcam preprocess should report the malformed fixtures (exit 2), got ${run.status}: ${run.stderr}`);
      const manifest = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8'));
      assert.ok(manifest.items.length >= 50, `only ${manifest.items.length} fixtures`);
      const problems = [];
      let identical = 0;
      let errorsMatched = 0;
      for (const item of manifest.items) {
        const name = item.file.slice(dataDir.length + 1);
        const result = pipeline.preprocessFile(cellcam, UTIF, new Uint8Array(readFileSync(item.file)), specJson);
        if (!item.ok) {
          if (result.ok) problems.push(`${name}: native refused (${item.error.message}), wasm accepted`);
          else if (result.code !== item.error.code || result.message !== item.error.message)
            problems.push(`${name}: native "${item.error.code}: ${item.error.message}" vs wasm "${result.code}: ${result.message}"`);
          else errorsMatched++;
          continue;
        }
        if (!result.ok) {
          problems.push(`${name}: wasm refused: ${result.code}: ${result.message}`);
          continue;
        }
        const native = npyPayload(join(out, item.tensor));
        const wasm = Buffer.from(result.tensor.buffer, result.tensor.byteOffset, result.tensor.byteLength);
        if (native.length !== wasm.length) {
          problems.push(`${name}: ${native.length / 4} native floats vs ${wasm.length / 4} wasm floats`);
        } else if (!native.equals(wasm)) {
          const a = new Float32Array(native.buffer.slice(native.byteOffset, native.byteOffset + native.length));
          let maxdiff = 0;
          let where = -1;
          let count = 0;
          for (let i = 0; i < a.length; i++) {
            const d = Math.abs(a[i] - result.tensor[i]);
            if (a[i] !== result.tensor[i]) count++;
            if (d > maxdiff || (where < 0 && a[i] !== result.tensor[i])) [maxdiff, where] = [Math.max(d, maxdiff), i];
          }
          problems.push(`${name}: ${count} of ${a.length} floats differ, maxdiff ${maxdiff} (first at index ${where})`);
        } else {
          identical++;
        }
      }
      console.log(`${specName}: ${identical} tensors bit-identical, ${errorsMatched} errors identical`);
      assert.deepEqual(problems, [], `parity failures:\n${problems.join('\n')}`);
      assert.ok(identical >= 40 && errorsMatched >= 13);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
}
