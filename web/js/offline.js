// Sessions saved for offline: the audio and captions in the `crg-audio` cache (which app
// updates never purge), verified against their sha256 and size, and a download record
// in IndexedDB `downloads` that holds the whole session script.

import { all, get, put, remove } from './store.js';

export const AUDIO_CACHE = 'crg-audio';
const saving = new Map(); // version -> promise, so a double tap saves once

async function sha256Hex(buffer) {
  const digest = await crypto.subtle.digest('SHA-256', buffer);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

// Media names are the sha256 of their bytes: /media/<sha256>.<ext>.
const hashFromUrl = (url) => /\/([0-9a-f]{64})\.[a-z0-9]+$/.exec(url)?.[1];

// The rendition to play: AAC (every phone, iOS included) unless this browser cannot.
// The smallest rendition this browser is sure it plays (Opus in Chromium and Firefox),
// else the first one it might play; the server lists AAC, which every phone plays, first.
export function pickAudio(script) {
  const audio = script.audio ?? [];
  const probe = typeof document !== 'undefined' ? document.createElement('audio') : null;
  if (!probe) return audio[0];
  const sure = audio.filter((entry) => probe.canPlayType(entry.mime) === 'probably');
  if (sure.length) return sure.reduce((a, b) => (b.bytes < a.bytes ? b : a));
  return audio.find((entry) => probe.canPlayType(entry.mime) !== '') ?? audio[0];
}

const mediaUrls = (record) => [record.audio_url, record.captions_url].filter(Boolean);

async function download(url, { sha256, bytes, mime }, onChunk) {
  const response = await fetch(url, { cache: 'no-store' });
  if (!response.ok) throw new Error(`Download failed: ${url} answered ${response.status}`);
  const reader = response.body.getReader();
  const chunks = [];
  let received = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    received += value.length;
    onChunk(value.length);
  }
  const body = await new Blob(chunks).arrayBuffer();
  if (bytes !== undefined && body.byteLength !== bytes) {
    throw new Error(`Download of ${url} is ${body.byteLength} bytes, expected ${bytes}`);
  }
  if ((await sha256Hex(body)) !== sha256) throw new Error(`Download of ${url} is corrupt`);
  const type = mime ?? response.headers.get('Content-Type') ?? 'application/octet-stream';
  return new Response(body, {
    headers: { 'Content-Type': type, 'Content-Length': String(body.byteLength), 'Accept-Ranges': 'bytes' },
  });
}

async function save(script, onProgress) {
  const audio = pickAudio(script);
  if (!audio) throw new Error('This session has no audio to save.');
  const captionsSha = hashFromUrl(script.captions_url);
  const total = audio.bytes || 1;
  let done = 0;
  const tick = (n) => {
    done += n;
    onProgress?.(Math.min(done / total, 0.99));
  };
  const cache = await caches.open(AUDIO_CACHE);
  const wasEmpty = (await all('downloads')).length === 0;
  const responses = await Promise.all([
    download(audio.url, audio, tick),
    script.captions_url ? download(script.captions_url, { sha256: captionsSha, mime: 'text/vtt' }, () => {}) : null,
  ]);
  // Only verified bytes reach the cache, and the record is written last: a session is
  // "saved" only once everything it needs is in place.
  await cache.put(audio.url, responses[0]);
  if (responses[1]) await cache.put(script.captions_url, responses[1]);
  const record = {
    version: script.version,
    routine_id: script.routine_id,
    title: script.title,
    minutes: script.minutes,
    cue_density: script.cue_density,
    prep_s: script.prep_s,
    duration_s: script.duration_s,
    bytes: audio.bytes + (responses[1] ? Number(responses[1].headers.get('Content-Length')) : 0),
    saved_at: new Date().toISOString(),
    audio_url: audio.url,
    captions_url: script.captions_url ?? null,
    script,
  };
  await put('downloads', record);
  if (wasEmpty) await requestPersistence();
  onProgress?.(1);
  return record;
}

// Asked once, when the first session is saved: keeps the browser from evicting it.
async function requestPersistence() {
  try {
    if (navigator.storage?.persist && !(await navigator.storage.persisted())) {
      await navigator.storage.persist();
    }
  } catch {
    // Not granted or not supported: the session is saved all the same.
  }
}

// onProgress(fraction) may be passed directly or as {onProgress}.
export function saveForOffline(script, options = {}) {
  const onProgress = typeof options === 'function' ? options : options?.onProgress;
  let pending = saving.get(script.version);
  if (!pending) {
    pending = save(script, onProgress).finally(() => saving.delete(script.version));
    saving.set(script.version, pending);
  }
  return pending;
}

export const getSaved = (version) => get('downloads', version);

export async function listSaved() {
  const records = await all('downloads');
  return records.sort((a, b) => b.saved_at.localeCompare(a.saved_at));
}

// Saved means the record exists and its audio is still in the cache.
export async function isSaved(version) {
  const record = await getSaved(version);
  if (!record) return false;
  const cache = await caches.open(AUDIO_CACHE);
  return Boolean(await cache.match(record.audio_url));
}

export async function removeSaved(version) {
  const record = await getSaved(version);
  if (!record) return false;
  await remove('downloads', version);
  // Two sessions may share a file (the same captions): keep what another one still uses.
  const stillUsed = new Set((await all('downloads')).flatMap(mediaUrls));
  const cache = await caches.open(AUDIO_CACHE);
  await Promise.all(mediaUrls(record).filter((url) => !stillUsed.has(url)).map((url) => cache.delete(url)));
  return true;
}

export async function storageEstimate() {
  if (!navigator.storage?.estimate) return { usage: null, quota: null };
  const { usage, quota } = await navigator.storage.estimate();
  return { usage, quota };
}
