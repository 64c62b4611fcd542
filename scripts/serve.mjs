#!/usr/bin/env node
// serve.mjs — serve build/web/ on http://127.0.0.1:8080 with the headers that make the page
// cross-origin isolated (COOP/COEP, so ONNX Runtime Web and wasm may use threads) and a
// Content-Security-Policy that allows nothing outside the page's own origin. Loopback only.
//   node scripts/serve.mjs [DIR]            PORT=8081 to change the port
//   node scripts/serve.mjs --plain [DIR]    as a bare static host would: no COOP/COEP, no CSP header (the
//                                           page's own <meta> CSP still applies); ONNX Runtime runs single-threaded
import { createReadStream, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { extname, join, resolve, sep } from 'node:path';

const args = process.argv.slice(2);
const plain = args.includes('--plain');
const root = resolve(args.find((a) => !a.startsWith('--')) ?? 'build/web');
const port = Number(process.env.PORT ?? 8080);
const host = process.env.HOST ?? '127.0.0.1';

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
  '.onnx': 'application/octet-stream',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.webmanifest': 'application/manifest+json; charset=utf-8',
  '.md': 'text/plain; charset=utf-8',     // shown in the tab (text/markdown would be downloaded)
  '.txt': 'text/plain; charset=utf-8',
};

export const SECURITY_HEADERS = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'Content-Security-Policy':
    "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self'; connect-src 'self'; " +
    "img-src 'self' blob: data:; style-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Cache-Control': 'no-cache',
};

const PLAIN_HEADERS = { 'Cache-Control': 'no-cache' };
const headers = plain ? PLAIN_HEADERS : SECURITY_HEADERS;

const server = createServer((req, res) => {
  let path;
  try {
    path = decodeURIComponent(new URL(req.url, 'http://localhost').pathname);
  } catch {
    res.writeHead(400).end('bad request');
    return;
  }
  let file = resolve(join(root, path));
  if (file !== root && !file.startsWith(root + sep)) {
    res.writeHead(403).end('forbidden');
    return;
  }
  try {
    if (statSync(file).isDirectory()) file = join(file, 'index.html');
    const size = statSync(file).size;
    res.writeHead(200, { ...headers, 'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream', 'Content-Length': size });
    if (req.method === 'HEAD') return res.end();
    createReadStream(file).pipe(res);
  } catch {
    res.writeHead(404, headers).end('not found');
  }
});
server.listen(port, host, () =>
  console.log(`cellcam: serving ${root} on http://${host}:${port}/${plain ? ' without COOP/COEP (single-threaded)' : ''} (Ctrl-C to stop)`));
