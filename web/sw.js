// The service worker. The server prepends `self.PRECACHE` = {version, revision, routes,
// entries: [{url, sha256}]}, so every change to the shell yields a new worker.
//
// Strategies:
// - navigations to app routes: cache-first from this worker's precache (the shell is
//   revisioned; updates arrive as a new worker), network if the shell is somehow missing;
// - shell files: cache-first from the precache;
// - /api/: network-only (never touched here);
// - /media/: from the `crg-audio` cache when saved (answering Range with 206), else network.
// It also shows the daily reminders the server sends by Web Push, and keeps them coming
// when the browser renews its push subscription.

const PREFIX = 'crg-';
const SHELL_CACHE = `${PREFIX}shell-${self.PRECACHE.revision}`;
const AUDIO_CACHE = `${PREFIX}audio`; // saved sessions: never purged by an update
const KEEP = new Set([SHELL_CACHE, AUDIO_CACHE]);

const entriesByUrl = new Map(self.PRECACHE.entries.map((entry) => [entry.url, entry]));
const appRoutes = new Set(self.PRECACHE.routes);

// The cache key carries the revision, so an unchanged file is copied between versions
// instead of downloaded again (as Workbox's __WB_REVISION__ does).
const keyFor = (entry) => `${entry.url}${entry.url.includes('?') ? '&' : '?'}__rev=${entry.sha256}`;

async function sha256Hex(buffer) {
  const digest = await crypto.subtle.digest('SHA-256', buffer);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

async function fetchVerified(entry) {
  const response = await fetch(entry.url, { cache: 'reload', credentials: 'same-origin' });
  if (!response.ok) throw new Error(`precache: ${entry.url} answered ${response.status}`);
  const body = await response.arrayBuffer();
  if ((await sha256Hex(body)) !== entry.sha256) {
    // The server changed between writing this worker and now: fail; a newer worker follows.
    throw new Error(`precache: ${entry.url} does not match its revision`);
  }
  const headers = new Headers(response.headers); // keeps the CSP for the cached shell page
  headers.delete('Content-Encoding');
  headers.delete('Content-Length');
  return new Response(body, { status: 200, headers });
}

async function precacheOne(cache, entry) {
  const key = keyFor(entry);
  const previous = await caches.match(key); // same revision in an older shell cache?
  await cache.put(key, previous ?? (await fetchVerified(entry)));
}

// Atomic: every file or nothing. A failed install deletes its half-filled cache, and the
// worker already active keeps serving its own complete cache.
async function install() {
  const cache = await caches.open(SHELL_CACHE);
  try {
    await Promise.all(self.PRECACHE.entries.map((entry) => precacheOne(cache, entry)));
  } catch (error) {
    await caches.delete(SHELL_CACHE);
    throw error;
  }
}

self.addEventListener('install', (event) => {
  // No skipWaiting here: a new worker waits until the page says no rest is playing.
  event.waitUntil(install());
});

self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    const names = await caches.keys();
    // Only this app's outdated caches; anything not prefixed is not ours to delete.
    await Promise.all(names
      .filter((name) => name.startsWith(PREFIX) && !KEEP.has(name))
      .map((name) => caches.delete(name)));
    await self.clients.claim();
  })());
});

async function fromPrecache(url) {
  const entry = entriesByUrl.get(url);
  const cache = await caches.open(SHELL_CACHE);
  return entry ? cache.match(keyFor(entry)) : undefined;
}

async function navigation(request) {
  const cached = await fromPrecache('/');
  return cached ?? fetch(request);
}

async function shellFile(request, url) {
  return (await fromPrecache(url)) ?? fetch(request);
}

// A 206 slice of a cached full response (Workbox's createPartialResponse): Safari will
// not play media whose Range requests get a plain 200.
async function partialResponse(rangeHeader, full) {
  const blob = await full.blob();
  const size = blob.size;
  const match = /^bytes=(\d*)-(\d*)$/.exec(rangeHeader.trim());
  let start;
  let end; // inclusive
  if (match && match[1] !== '') {
    start = Number(match[1]);
    end = match[2] === '' ? size - 1 : Math.min(Number(match[2]), size - 1);
  } else if (match && match[2] !== '') {
    start = Math.max(size - Number(match[2]), 0); // suffix: the last N bytes
    end = size - 1;
  }
  if (start === undefined || start > end || start >= size) {
    return new Response('', { status: 416, headers: { 'Content-Range': `bytes */${size}` } });
  }
  const headers = new Headers(full.headers);
  headers.set('Content-Range', `bytes ${start}-${end}/${size}`);
  headers.set('Content-Length', String(end - start + 1));
  headers.set('Accept-Ranges', 'bytes');
  return new Response(blob.slice(start, end + 1), { status: 206, statusText: 'Partial Content', headers });
}

async function media(request, url) {
  const cache = await caches.open(AUDIO_CACHE);
  const cached = await cache.match(url); // keyed by path: the name is the content hash
  if (!cached) return fetch(request);
  const range = request.headers.get('Range');
  return range ? partialResponse(range, cached) : cached;
}

self.addEventListener('fetch', (event) => {
  const { request } = event;
  const url = new URL(request.url);
  if (request.method !== 'GET' || url.origin !== self.location.origin) return;
  if (url.pathname.startsWith('/api/')) return; // network-only
  if (request.mode === 'navigate') {
    // A typed or bookmarked /history/ too: the page reads paths without the slash.
    if (appRoutes.has(url.pathname.replace(/\/+$/, '') || '/')) event.respondWith(navigation(request));
    return;
  }
  if (url.pathname.startsWith('/media/')) {
    event.respondWith(media(request, url.pathname));
    return;
  }
  if (entriesByUrl.has(url.pathname) && url.search === '') {
    event.respondWith(shellFile(request, url.pathname));
  }
});

// Each page is asked when it matters, not remembered: the browser stops an idle worker
// (Chromium after 30 s) and a restarted one would have forgotten what pages told it.
// A page that does not answer in time is not playing (a page playing audio is awake).
function isPlaying(client) {
  return new Promise((resolve) => {
    const channel = new MessageChannel();
    const timer = setTimeout(() => resolve(false), 1000);
    channel.port1.onmessage = (event) => {
      clearTimeout(timer);
      resolve(event.data?.playing === true);
    };
    client.postMessage({ type: 'IS_REST_PLAYING' }, [channel.port2]);
  });
}

async function anyRestPlaying() {
  const pages = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
  return (await Promise.all(pages.map(isPlaying))).some(Boolean);
}

self.addEventListener('message', (event) => {
  const { data, source } = event;
  if (!data || !source) return;
  if (data.type === 'SKIP_WAITING') {
    // Guard in the worker too: never swap versions under a playing rest, whoever asks.
    event.waitUntil((async () => {
      if (await anyRestPlaying()) source.postMessage({ type: 'UPDATE_DEFERRED' });
      else await self.skipWaiting();
    })());
  } else if (data.type === 'VERSION') {
    source.postMessage({ type: 'VERSION', version: self.PRECACHE.version, revision: self.PRECACHE.revision });
  }
});

// A reminder arrives by Web Push, already decrypted by the browser. Every push must show a
// notification (userVisibleOnly), so a message that is not ours still gets the default.
self.addEventListener('push', (event) => {
  let message = {};
  try {
    message = event.data?.json() ?? {};
  } catch {
    // not JSON: the default reminder below
  }
  event.waitUntil(self.registration.showNotification(message.title || 'Time for a constructive rest', {
    body: message.body || '',
    tag: message.tag || 'crg-reminder', // a newer reminder replaces an unread one...
    renotify: true, // ...and still sounds, as a new one does
    icon: '/icons/icon-192.png',
    data: { url: message.url || '/' },
  }));
});

// Opens the app, or brings an open window forward (left where it is: a rest may be playing).
self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  const url = new URL(event.notification.data?.url || '/', self.location.origin);
  if (url.origin !== self.location.origin) return;
  event.waitUntil((async () => {
    const windows = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
    const open = windows.find((client) => new URL(client.url).origin === self.location.origin);
    if (open) await open.focus();
    else await self.clients.openWindow(url.href);
  })());
});

// The browser renewed or dropped this device's push subscription (Firefox, for one, may
// do so): save the reminder again under a fresh one now. Otherwise reminders would stop
// until the app is next opened, and someone who has not opened it for days is exactly
// whom a reminder is for. Should this fail (offline, or the server busy), the app's next
// start puts it right (keepReminderCurrent in js/reminders.js).
self.addEventListener('pushsubscriptionchange', (event) => {
  event.waitUntil(renewReminder(event.oldSubscription, event.newSubscription));
});

// The page's own key-value store (js/store.js): the reminder as last saved lives there.
const SETTINGS_DB = 'crg';
const REMINDER_KEY = 'reminder';

// Runs work(kv) in one transaction of the page's settings store; resolves with the result
// of the request work returns, or undefined when the page never made the store.
function settings(mode, work) {
  return new Promise((resolve, reject) => {
    const opening = indexedDB.open(SETTINGS_DB); // no version: never upgrades the page's
    opening.onupgradeneeded = () => opening.transaction.abort(); // none yet: the page makes it
    opening.onerror = () => resolve(undefined);
    opening.onsuccess = () => {
      const db = opening.result;
      try {
        if (!db.objectStoreNames.contains('kv')) {
          db.close();
          resolve(undefined);
          return;
        }
        const tx = db.transaction('kv', mode, { durability: 'strict' }); // as js/store.js
        const request = work(tx.objectStore('kv'));
        tx.oncomplete = () => { db.close(); resolve(request?.result); };
        tx.onerror = tx.onabort = () => { db.close(); reject(tx.error ?? new Error('aborted')); };
      } catch (error) {
        db.close();
        reject(error);
      }
    };
  });
}

// The subscribe key arrives base64url-encoded (as js/reminders.js reads it).
function keyBytes(base64url) {
  const text = atob(base64url.replace(/-/g, '+').replace(/_/g, '/'));
  return Uint8Array.from(text, (c) => c.charCodeAt(0));
}

const sameKey = (buffer, base64url) => buffer !== null && buffer !== undefined
  && keyBytes(base64url).join() === new Uint8Array(buffer).join();

// The API as js/http.js calls it, CSRF header included (a worker cannot import that module).
async function askServer(url, method = 'GET', body = undefined) {
  const write = method !== 'GET';
  const response = await fetch(url, {
    method,
    credentials: 'same-origin',
    headers: {
      Accept: 'application/json',
      ...(write ? { 'Content-Type': 'application/json', 'X-Requested-With': 'rest-guide' } : {}),
    },
    body: write ? JSON.stringify(body) : undefined,
  });
  if (!response.ok) throw new Error(`${method} ${url} answered ${response.status}`);
  return response.status === 204 ? null : response.json();
}

// A subscription this server's pushes reach: the one given if it was made for the server's
// current key, else a new one (a subscription keeps the key it was made with).
async function subscriptionForServer(given) {
  const { public_key: key } = await askServer('/api/reminders/key');
  const current = given ?? await self.registration.pushManager.getSubscription();
  if (current && sameKey(current.options?.applicationServerKey, key)) return current;
  await current?.unsubscribe();
  return self.registration.pushManager.subscribe({
    userVisibleOnly: true, applicationServerKey: keyBytes(key),
  });
}

async function renewReminder(oldSubscription, newSubscription) {
  const saved = (await settings('readonly', (kv) => kv.get(REMINDER_KEY)))?.value;
  if (!saved) return; // no reminder on this device: nothing to carry over
  const renewed = await subscriptionForServer(newSubscription);
  const reminder = await askServer('/api/reminders', 'PUT', {
    subscription: renewed.toJSON(),
    time: saved.time,
    weekdays: saved.weekdays,
    time_zone: Intl.DateTimeFormat().resolvedOptions().timeZone,
  });
  // Written only if the page changed nothing meanwhile: what the person did last wins.
  let turnedOff = false;
  await settings('readwrite', (kv) => {
    const reading = kv.get(REMINDER_KEY);
    reading.onsuccess = () => {
      const now = reading.result?.value;
      if (JSON.stringify(now) === JSON.stringify(saved)) {
        kv.put({ key: REMINDER_KEY, value: { ...reminder, endpoint: renewed.endpoint } });
      } else {
        turnedOff = !now;
      }
    };
    return reading;
  });
  const stale = new Set([oldSubscription?.endpoint, saved.endpoint]);
  if (turnedOff) stale.add(renewed.endpoint); // turned off while this was saved: undone
  else stale.delete(renewed.endpoint);
  for (const endpoint of stale) {
    // Its push service would refuse it from now on anyway; gone now, it is never tried.
    if (endpoint) await askServer('/api/reminders', 'DELETE', { endpoint }).catch(() => {});
  }
}
