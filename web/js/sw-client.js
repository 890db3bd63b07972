// Registers the service worker and tells the page when an update is waiting.
// A new worker never takes over by itself: applyUpdate() activates it, and only while no
// rest is playing (the worker asks every page before it does, whichever page asks).
//
// Events on the object registerServiceWorker() returns:
//   'update-ready'    a new version is installed and waiting (again after a rest ends);
//   'update-deferred' the worker refused to switch because a rest is playing somewhere.

class WorkerStatus extends EventTarget {
  registration = null;
  updateReady = false;
  // Resolves with the registration once a worker is active (the shell is then offline).
  ready = 'serviceWorker' in navigator ? navigator.serviceWorker.ready : new Promise(() => {});
}

const status = new WorkerStatus();
const HOUR_MS = 60 * 60 * 1000;
let registering = null;
let restPlaying = false;
let reloadOnSwap = false;

function announce() {
  // Only an update if a worker already controls this page; the first install is not one.
  if (!status.registration?.waiting || !navigator.serviceWorker.controller) return;
  status.updateReady = true;
  status.dispatchEvent(new Event('update-ready'));
}

function watch(worker) {
  if (!worker) return;
  worker.addEventListener('statechange', () => {
    if (worker.state === 'installed') announce();
  });
}

function onMessage(event) {
  if (event.data?.type === 'IS_REST_PLAYING') {
    event.ports[0]?.postMessage({ playing: restPlaying }); // the worker asks before a swap
  } else if (event.data?.type === 'UPDATE_DEFERRED') {
    reloadOnSwap = false;
    status.dispatchEvent(new Event('update-deferred'));
  }
}

function onControllerChange() {
  if (!reloadOnSwap) return; // another tab switched versions: do not reload under its user
  reloadOnSwap = false;
  location.reload();
}

async function register() {
  const container = navigator.serviceWorker;
  container.addEventListener('message', onMessage);
  container.addEventListener('controllerchange', onControllerChange);
  const reg = await container.register('/sw.js', { scope: '/', updateViaCache: 'none' });
  status.registration = reg;
  watch(reg.installing);
  if (reg.waiting) {
    watch(reg.waiting);
    announce();
  }
  reg.addEventListener('updatefound', () => watch(reg.installing));
  // Browsers look for a new worker on navigation; this app stays open on one screen for
  // a long time, so look again when it comes back to the foreground, and hourly.
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible') checkForUpdate();
  });
  setInterval(checkForUpdate, HOUR_MS);
  return reg;
}

export function registerServiceWorker() {
  if ('serviceWorker' in navigator && !registering) {
    registering = register().catch((error) => {
      status.dispatchEvent(new CustomEvent('error', { detail: error }));
    });
  }
  return status;
}

export function checkForUpdate() {
  return status.registration?.update().catch(() => {}); // offline: try again later
}

// The player calls this when a rest starts, pauses for good or ends.
export function setRestPlaying(playing) {
  restPlaying = Boolean(playing);
  if (!restPlaying && status.registration?.waiting) announce(); // offer it again now
}

export const isRestPlaying = () => restPlaying;

// Activates the waiting worker and reloads once it controls the page. Returns false
// (and does nothing) while a rest is playing or when no update waits.
export function applyUpdate() {
  const waiting = status.registration?.waiting;
  if (!waiting || restPlaying) return false;
  reloadOnSwap = true;
  waiting.postMessage({ type: 'SKIP_WAITING' });
  return true;
}
