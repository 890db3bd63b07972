// A rest is one session lain through (completed) or ended early (partial).
// The record's shape is what history sync sends to the server; keep its fields stable.
import { all, transaction } from './store.js';

const nowIso = () => new Date().toISOString();

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

export function finishRest(rest, { actual_s, completed }) {
  const at = nowIso();
  return { ...rest, ended_at: at, actual_s: Math.max(0, Math.round(actual_s)), completed, updated_at: at };
}

export function withCheckIn(rest, { before_rating, after_rating, note }) {
  return { ...rest, before_rating, after_rating, note: note.trim(), updated_at: nowIso() };
}

// One transaction per save: the history-sync issue adds its outbox entry to this same transaction.
export function saveRest(rest) {
  return transaction(['rests'], 'readwrite', (stores, request) => request(stores.rests.put(rest)));
}

export async function listRests() {
  const rests = await all('rests');
  return rests.sort((a, b) => b.started_at.localeCompare(a.started_at));
}
