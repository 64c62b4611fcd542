// site_browser.mjs — what the browser tests share: the built site served by scripts/serve.mjs on a port of
// their own (COOP/COEP as `make serve` sends them) and Debian's Chromium, headless, without any of its
// background requests (so a test that records requests sees only the page's).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

import { root, siteDir } from '../node/site.mjs';

export const CHROMIUM = process.env.CELLCAM_CHROMIUM ?? '/usr/bin/chromium';
export const CHROMIUM_ARGS = ['--no-sandbox', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--disable-default-apps', '--metrics-recording-only', '--disable-gpu'];

// -> { origin, browser, close() }: the site on 127.0.0.1:port and a browser to open it in.
export async function startSiteAndBrowser(port) {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: scripts/setup.sh installs Debian's chromium`);
  const server = spawn(process.execPath, [join(root, 'scripts', 'serve.mjs'), siteDir],
    { env: { ...process.env, PORT: String(port) }, stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise((resolve, reject) => {
    server.stdout.on('data', (d) => { if (String(d).includes('serving')) resolve(); });
    server.on('exit', (code) => reject(new Error(`serve.mjs exited with ${code}`)));
  });
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
  return {
    origin: `http://127.0.0.1:${port}`,
    browser,
    close: async () => {
      await browser.close();
      server.kill();
    },
  };
}
