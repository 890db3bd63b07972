// The server's routines and session scripts, with the device's copies as the offline fallback.
import { getSetting, setSetting } from './store.js';
import { isSaved, listSaved } from './offline.js';
import { ApiError, requestJson } from './http.js';

export { ApiError };

const fetchJson = (url) => requestJson(url);

// The last list seen online is kept, so Home still works in airplane mode.
export async function getRoutines() {
  try {
    const routines = await fetchJson('/api/routines');
    setSetting('routines', routines).catch(() => {});
    return routines;
  } catch (error) {
    const cached = await getSetting('routines');
    if (cached?.length) return cached;
    throw error;
  }
}

export const sameSession = (a, b) => a.routine_id === b.routine_id && a.minutes === b.minutes
  && a.cue_density === b.cue_density && a.prep_s === b.prep_s;

// The newest saved download that plays exactly this choice (its audio still cached), or undefined.
export async function findSaved(choice) {
  const saved = await listSaved().catch(() => []);
  for (const record of saved.filter((r) => sameSession(r, choice))) {
    if (await isSaved(record.version).catch(() => false)) return record;
  }
  return undefined;
}

// A saved script plays from the cache (and needs no render); otherwise ask the server.
export async function getSessionScript(choice, { preferSaved = true } = {}) {
  if (preferSaved) {
    const saved = await findSaved(choice);
    if (saved) return saved.script;
  }
  const query = new URLSearchParams({ minutes: choice.minutes, cues: choice.cue_density, prep: choice.prep_s });
  try {
    return await fetchJson(`/api/routines/${encodeURIComponent(choice.routine_id)}/session?${query}`);
  } catch (error) {
    const saved = error.offline && await findSaved(choice);
    if (saved) return saved.script;
    if (error.offline) {
      throw new ApiError('NOT_SAVED_OFFLINE', 'This session is not saved on this device. Connect to the internet, or choose a saved session.', { offline: true });
    }
    throw error;
  }
}
