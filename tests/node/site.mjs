// site.mjs — load what the page loads (build/web: the wasm module, utif2 bundle, pipeline.js) into node.
// The same ES module serves the browser; node hands it the wasm bytes itself (Emscripten 3.1.6's
// loader would otherwise fetch() a file path).
import { readFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { join } from 'node:path';

export const root = fileURLToPath(new URL('../../', import.meta.url));
export const siteDir = process.env.CELLCAM_WEB_DIR ?? join(root, 'build', 'web');
export const cliPath = process.env.CELLCAM_CLI ?? join(root, 'build', 'cellcam');
export const dataDir = join(root, 'tests', 'data');

export async function loadSite() {
  const { loadCellcam } = await import(pathToFileURL(join(siteDir, 'js', 'cellcam.js')).href);
  const cellcam = await loadCellcam({ wasmBinary: readFileSync(join(siteDir, 'cellcam.wasm')) });
  const { default: UTIF } = await import(pathToFileURL(join(siteDir, 'vendor', 'utif.mjs')).href);
  const pipeline = await import(pathToFileURL(join(siteDir, 'js', 'pipeline.js')).href);
  return { cellcam, UTIF, pipeline };
}
