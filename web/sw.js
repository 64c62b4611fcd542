// sw.js — the page's service worker: it keeps a copy of the whole site (page, wasm module, ONNX Runtime
// Web's files, the shipped models and their cards) so the page works with the network gone after the
// first visit, and it adds the cross-origin isolation headers (COOP/COEP) to every response it gives,
// so ONNX Runtime and the wasm module get threads (SharedArrayBuffer) on any static host.
//
// BUILD and FILES are written by scripts/build_site.mjs: BUILD is a hash of every file of the built site,
// FILES the files to keep (paths relative to this file). One cache per build ("cellcam-<BUILD>"): a new
// build changes this file's bytes, so the browser installs the new worker, which fills its own cache;
// when it takes over (at once when no page holds results, else when the page's "Reload" note is clicked,
// see web/js/offline.js) it deletes the caches of older builds. Unbuilt (BUILD null) it keeps nothing and
// only adds the headers.
//
// Requests: same-origin GETs are answered from the cache (the request's query string ignored: `/?nosw`
// is `/`), then from the network; both with the isolation headers added. Nothing else is touched (the
// page's Content-Security-Policy allows no other origin). `?nosw` on the page unregisters this worker.
const BUILD = /*build*/null/*end*/;
const FILES = /*files*/[]/*end*/;
const CACHE = `cellcam-${BUILD}`;

const ISOLATION = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'same-origin',
};

self.addEventListener('install', (event) => {
  event.waitUntil((async () => {
    if (!BUILD) return;
    const cache = await caches.open(CACHE);
    // Straight from the server, not from the HTTP cache (which may hold an older build's file). All or
    // nothing: one failed file fails the install, and the next visit tries again.
    await cache.addAll(FILES.map((f) => new Request(f, { cache: 'reload' })));
  })());
});

self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    for (const key of await caches.keys()) if (key.startsWith('cellcam-') && key !== CACHE) await caches.delete(key);
    await self.clients.claim();
  })());
});

self.addEventListener('message', (event) => {
  const m = event.data ?? {};
  if (m.type === 'skip-waiting') {
    self.skipWaiting();
  } else if (m.type === 'status') {
    // How much of this build is kept: the page says "works offline" only when all of it is.
    event.waitUntil((async () => {
      const kept = BUILD ? (await (await caches.open(CACHE)).keys()).length : 0;
      event.source?.postMessage({ type: 'status', build: BUILD, files: FILES.length, kept });
    })());
  }
});

self.addEventListener('fetch', (event) => {
  const request = event.request;
  if (request.method !== 'GET') return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  event.respondWith(respond(request, url));
});

async function respond(request, url) {
  if (BUILD) {
    const cache = await caches.open(CACHE);
    // A page's address ending in "/" is its index.html.
    const key = request.mode === 'navigate' && url.pathname.endsWith('/') ? new URL('index.html', url).href : request;
    const kept = await cache.match(key, { ignoreSearch: true });
    if (kept) return isolated(kept);
  }
  return isolated(await fetch(request));
}

// The same response with the isolation headers (opaque and error responses cannot be rebuilt; there are
// none from the page's own origin).
function isolated(response) {
  if (response.type === 'opaque' || response.type === 'error' || response.status === 0) return response;
  const headers = new Headers(response.headers);
  for (const [k, v] of Object.entries(ISOLATION)) headers.set(k, v);
  return new Response(response.body, { status: response.status, statusText: response.statusText, headers });
}
