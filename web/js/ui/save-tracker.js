// Saves sessions for offline once per choice and lets any screen follow the progress.
import { getSessionScript } from '../api.js';
import { saveForOffline } from '../offline.js';

// Events: 'change' {key, fraction (null while the server prepares the session)},
// 'saved' {key, record}, 'failed' {key, error}.
export const saving = new EventTarget();
const jobs = new Map();
const fractions = new Map();

export const sessionKey = (s) => `${s.routine_id}|${s.minutes}|${s.cue_density}|${s.prep_s}`;
export const isSaving = (choice) => jobs.has(sessionKey(choice));
export const progressOf = (choice) => fractions.get(sessionKey(choice)) ?? null;

export function saveChoiceForOffline(choice) {
  const key = sessionKey(choice);
  if (jobs.has(key)) return jobs.get(key);
  const emit = (type, detail = {}) => saving.dispatchEvent(new CustomEvent(type, { detail: { key, ...detail } }));
  const setFraction = (fraction) => { fractions.set(key, fraction); emit('change', { fraction }); };
  const settle = () => { jobs.delete(key); fractions.delete(key); };
  const job = (async () => {
    await null; // registered in jobs before the first event fires
    setFraction(null); // the server may take a few seconds to prepare a new session
    const script = await getSessionScript(choice, { preferSaved: false });
    setFraction(0);
    return saveForOffline(script, { onProgress: (fraction) => setFraction(Math.min(1, fraction)) });
  })().then((record) => {
    settle();
    emit('saved', { record });
    return record;
  }, (error) => {
    settle();
    emit('failed', { error });
    throw error;
  });
  jobs.set(key, job);
  return job;
}
