// offline.js — the service worker (sw.js) from the page's side: registers it once the first model is
// ready (keeping the site's copy then does not compete with the page's own start), shows whether the
// page works offline, reloads once when the worker's isolation headers are needed for threads, offers a
// new build, and turns it all off with `?nosw`.
//
//   first visit   sw.js installs (keeps every file of this build), takes over the page; on a static host
//                 that sends no COOP/COEP the page reloads once (only while it holds no results) and is
//                 then cross-origin isolated through the worker's headers: threads.
//   later visits  everything comes from the kept copy, network or not.
//   a new build   the new worker keeps its copy, then takes over at once when the page holds no results,
//                 else when "Reload" in the note is clicked (a page half on one build, half on another
//                 would mix files).
//   ?nosw         unregisters the worker, deletes its copies, and reloads once from the network if the
//                 page came from the worker.
// body[data-offline]: 'installing' | 'ready' | 'failed' | 'off' | 'unavailable' (the tests wait on it).
import { engine } from './engines.js';
import { $, errorText, params, state } from './page.js';

const sw = navigator.serviceWorker;  // absent outside a secure context (https or localhost)
const ISOLATION_RELOAD = 'cellcam.isolation-reload';
const NOSW_RELOAD = 'cellcam.nosw-reload';
let updating = false;

function setOffline(kind, text, title) {
  document.body.dataset.offline = kind;
  const el = $('offline-status');
  el.hidden = false;
  el.textContent = text;
  el.dataset.kind = kind === 'ready' ? 'ok' : kind === 'failed' ? 'bad' : '';
  el.title = title;
}

// No results on the page and no batch: reloading loses nothing.
const idle = () => state.rows.length === 0 && state.queue.length === 0 && !state.running;

export function startOffline() {
  if (!sw) {
    setOffline('unavailable', 'online only', 'This browser offers no service worker for this address (it needs https or localhost): the page needs the network.');
    return;
  }
  if (params.has('nosw')) {
    turnOff().catch((e) => setOffline('failed', 'offline copy: error', `?nosw: ${errorText(e)}`));
    return;
  }
  sessionStorage.removeItem(NOSW_RELOAD);
  if (self.crossOriginIsolated) sessionStorage.removeItem(ISOLATION_RELOAD);
  Promise.resolve(engine.ready).catch(() => {}).then(register);
}

async function register() {
  sw.addEventListener('controllerchange', onControllerChange);
  sw.addEventListener('message', (e) => { if (e.data && e.data.type === 'status') showStatus(e.data); });
  sw.startMessages();
  setOffline('installing', 'keeping an offline copy…', 'Copying the page, ONNX Runtime and the models into this browser so it works without the network.');
  let reg;
  try {
    reg = await sw.register('sw.js', { scope: './', updateViaCache: 'none' });
  } catch (e) {
    // Offline, the browser cannot fetch sw.js to check for a new build: the worker already in charge serves on.
    if (sw.controller) askStatus();
    else setOffline('failed', 'online only', `The service worker did not start: ${errorText(e)}`);
    return;
  }
  const follow = (worker) => {
    if (!worker) return;
    worker.addEventListener('statechange', () => {
      if (worker.state === 'installed' && sw.controller) offerUpdate(reg);
      else if (worker.state === 'redundant' && !reg.active) setOffline('failed', 'online only', 'The offline copy could not be kept (a file failed to load); the next visit tries again.');
    });
  };
  reg.addEventListener('updatefound', () => follow(reg.installing));
  follow(reg.installing);
  if (reg.waiting && sw.controller) offerUpdate(reg);
  if (sw.controller) askStatus();
}

function askStatus() {
  if (sw.controller) sw.controller.postMessage({ type: 'status' });
}

function showStatus({ build, files, kept }) {
  if (!build) {
    setOffline('failed', 'online only', 'This site was not built with scripts/build_site.mjs: the service worker keeps no copy.');
  } else if (kept >= files) {
    setOffline('ready', '✓ works offline', `A copy of this page, ONNX Runtime Web and the shipped models (${files} files, build ${build}) is kept in this browser: ` +
      'it works without the network and can be installed as an app. Open with ?nosw to turn this off.');
  } else {
    setOffline('installing', 'keeping an offline copy…', `${kept} of ${files} files kept`);
  }
}

function onControllerChange() {
  if (updating) {
    location.reload();
    return;
  }
  // Taken over by the worker for the first time: its headers make the page cross-origin isolated only
  // from the next load on. Reload once, if nothing on the page would be lost.
  if (!self.crossOriginIsolated && idle() && !sessionStorage.getItem(ISOLATION_RELOAD)) {
    sessionStorage.setItem(ISOLATION_RELOAD, '1');
    location.reload();
    return;
  }
  askStatus();
}

// A new build's worker is installed and waiting.
function offerUpdate(reg) {
  const waiting = reg.waiting;
  if (!waiting) return;
  const apply = () => {
    updating = true;
    waiting.postMessage({ type: 'skip-waiting' });
  };
  if (idle()) {
    apply();
    return;
  }
  $('update-note').hidden = false;
  $('update-reload').onclick = apply;
}

async function turnOff() {
  const regs = await sw.getRegistrations();
  await Promise.all(regs.map((r) => r.unregister()));
  for (const key of await caches.keys()) if (key.startsWith('cellcam-')) await caches.delete(key);
  setOffline('off', 'offline copy off', 'Opened with ?nosw: no service worker, nothing kept for offline use (and no isolation headers but the server\u2019s).');
  // This page came from the worker's copy: load it once more from the network.
  if (!sw.controller) sessionStorage.removeItem(NOSW_RELOAD);
  if (sw.controller && idle() && !sessionStorage.getItem(NOSW_RELOAD)) {
    sessionStorage.setItem(NOSW_RELOAD, '1');
    location.reload();
  }
}
