// A rest is one session lain through (completed) or ended early (partial).
// The record's shape is what history sync sends to the server; keep its fields stable.
// Every local change goes through sync.js's recordChange: the rest and its numbered outbox
// mutation are written in one strict transaction, so nothing is changed without being queued.
import { all, get } from './store.js';
import { recordChange } from './sync.js';

const nowIso = () => new Date().toISOString();
const EDITABLE = ['before_rating', 'after_rating', 'note'];

// Screens listen here to redraw when rests change, on this page or from another device.
const changes = new EventTarget();
export const REST_CHANGE_EVENT = 'rests-changed';
export function notifyRestsChanged() {
  changes.dispatchEvent(new Event('change'));
}
export function onRestsChanged(listener) {
  changes.addEventListener('change', listener);
  addEventListener(REST_CHANGE_EVENT, listener); // sync.js announces pulled changes on window
  return () => {
    changes.removeEventListener('change', listener);
    removeEventListener(REST_CHANGE_EVENT, listener);
  };
}

export function newRest(script, { before_rating = null } = {}) {
  const startedAt = nowIso();
  return {
    id: crypto.randomUUID(),
    routine_id: script.routine_id,
    title: script.title,
    minutes: script.minutes,
    cue_density: script.cue_density,
    prep_s: script.prep_s,
    version: script.version,
    started_at: startedAt,
    ended_at: startedAt,
    time_zone: Intl.DateTimeFormat().resolvedOptions().timeZone,
    planned_s: Math.round(script.duration_s),
    actual_s: 0,
    completed: false,
    before_rating,
    after_rating: null,
    note: '',
    updated_at: startedAt,
  };
}

// The server refuses an end over 6 h after the start (docs/sync.md); actual_s stays as played.
const LONGEST_REST_MS = 6 * 3600 * 1000;

export function finishRest(rest, { actual_s, completed }) {
  const at = nowIso();
  const latest = new Date(Date.parse(rest.started_at) + LONGEST_REST_MS).toISOString();
  return { ...rest, ended_at: at < latest ? at : latest, actual_s: Math.max(0, Math.round(actual_s)), completed, updated_at: at };
}

export function withCheckIn(rest, { before_rating, after_rating, note }) {
  return { ...rest, before_rating, after_rating, note: note.trim(), updated_at: nowIso() };
}

const visible = (rest) => rest && !rest.deleted;

// A player opened and left without a second of audio (a reload of /play, say) is not a
// rest: nothing goes to history or to the other devices.
export const worthKeeping = (rest) => rest.completed || rest.actual_s >= 1;

// A rest that ends because the page goes away (a reload, say) may be gone before its
// IndexedDB write is: a copy kept synchronously until then is saved on the next start.
const LEFT_OVER_KEY = 'crg-rest-being-saved';

function keepLeftOver(rest) {
  try { localStorage.setItem(LEFT_OVER_KEY, JSON.stringify(rest)); } catch { /* storage full or blocked: IndexedDB alone */ }
}

function readLeftOver() {
  try { return JSON.parse(localStorage.getItem(LEFT_OVER_KEY)); } catch { return null; }
}

// Save the rest a player has just finished, surviving the page going away meanwhile.
export async function saveEndedRest(rest) {
  keepLeftOver(rest);
  await saveRest(rest);
  if (readLeftOver()?.id === rest.id) localStorage.removeItem(LEFT_OVER_KEY);
}

// On start: a rest whose save the last page did not live to finish is saved now (unless
// it reached the store after all).
export async function saveLeftOverRest() {
  const rest = readLeftOver();
  if (typeof rest?.id !== 'string') return;
  if (!(await get('rests', rest.id))) await saveRest(rest);
  localStorage.removeItem(LEFT_OVER_KEY);
}

// Create or replace a rest, with its outbox mutation, in one transaction.
export async function saveRest(rest) {
  const result = await recordChange('upsert', rest);
  notifyRestsChanged();
  return result;
}

// Change the check-in of a saved rest (ratings 0-10 or null, note).
export async function updateRest(id, fields) {
  const rest = await get('rests', id);
  if (!visible(rest)) throw new Error('This rest no longer exists.');
  const changed = Object.fromEntries(EDITABLE.filter((k) => k in fields).map((k) => [k, fields[k]]));
  const updated = { ...rest, ...changed, updated_at: nowIso() };
  await saveRest(updated);
  return updated;
}

// Deleted for good: sync turns it into a tombstone that wins over edits on every device.
export async function deleteRest(id) {
  const rest = await get('rests', id);
  if (!visible(rest)) return;
  await recordChange('delete', rest);
  notifyRestsChanged();
}

export async function listRests() {
  const rests = (await all('rests')).filter(visible);
  return rests.sort((a, b) => b.started_at.localeCompare(a.started_at));
}
