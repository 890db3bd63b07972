// The device's half of history sync (protocol and invariants: docs/sync.md).
//
// API
//   recordChange(op, rest)   op 'upsert' (alias 'put') with the full rest, or 'delete'. Writes
//                            the rest (a delete leaves a local tombstone {id, deleted: true})
//                            and a numbered outbox mutation in ONE strict transaction.
//                            Resolves {seq}. Schedules a sync when auto sync is running.
//   syncNow()                push the outbox, then pull; resolves a summary, or
//                            {skipped: 'offline'|'signed-out'|'busy'|'other-account'}. Throws http.js's ApiError
//                            ({code, status, offline, retryAfter, message}) on other failures.
//   pendingCount()           how many rests have changes not yet acknowledged by the server.
//   lastSyncedAt()           ISO time of the last complete sync, or null.
//   startAutoSync(options)   sync on start, on 'online', when the page becomes visible, after
//                            each recordChange, and every options.intervalMs (default 5 min)
//                            while visible; failures back off; idle with no account
//                            remembered. Returns stop().
//   historyOnDevice()        {owner, rests, unsynced}: the account this device's history was
//                            last merged with (null: made without one), how many live rests
//                            it holds, and how many of those that account does not have yet.
//   holdSyncs()              before a sign-in: no sync runs until mergeAfterSignIn.
//   mergeAfterSignIn(email)  after a sign-in: this device's history and the account's become
//                            their union (nothing overwritten), then syncs; the history is
//                            from then on that account's (its owner).
//   forgetAccount({clearHistory})  after sign-out or account deletion: forget the sync
//                            state; with clearHistory also the device's rests, outbox and owner.
//   SYNC_EVENT               window event 'crg-sync' with detail {state, pending, lastSyncedAt}.
// Pulled changes are announced with the window event 'rests-changed'.
import { requestJson } from './http.js';
import { getSetting, transaction } from './store.js';

export const SYNC_EVENT = 'crg-sync';
export const ACCOUNT_KEY = 'accountEmail'; // kept by ui/account.js while signed in
const RESTS_CHANGED = 'rests-changed';
const PUSH_BATCH = 200; // the server takes up to 500 per push
// The rest record's fields, as the server stores them (docs/sync.md).
export const REST_FIELDS = ['id', 'routine_id', 'title', 'minutes', 'cue_density', 'prep_s', 'version',
  'started_at', 'ended_at', 'time_zone', 'planned_s', 'actual_s', 'completed',
  'before_rating', 'after_rating', 'note', 'updated_at'];
const DEFAULTS = { before_rating: null, after_rating: null, note: '' };
const K = { client: 'sync.clientId', seq: 'sync.nextSeq', cookie: 'sync.cookie',
  last: 'sync.lastSyncedAt', merge: 'sync.mergePending', owner: 'sync.historyOwner' };


// The server's record shape only: local-only fields never leave the device.
const wire = (rest) => Object.fromEntries(REST_FIELDS.map((k) => [k, k in DEFAULTS ? (rest[k] ?? DEFAULTS[k]) : rest[k]]));
const kvGet = async (kv, request, key, fallback) => (await request(kv.get(key)))?.value ?? fallback;
const kvPut = (kv, key, value) => kv.put({ key, value });

async function clientId(kv, request) {
  let id = await kvGet(kv, request, K.client, null);
  if (!id) {
    id = crypto.randomUUID();
    kvPut(kv, K.client, id);
  }
  return id;
}

export async function recordChange(op, rest) {
  if (!['upsert', 'put', 'delete'].includes(op)) throw new TypeError(`unknown op ${op}`);
  const result = await transaction(['rests', 'outbox', 'kv'], 'readwrite', async (s, request) => {
    await clientId(s.kv, request);
    const seq = await kvGet(s.kv, request, K.seq, 1);
    const mutation = op === 'delete'
      ? { seq, op: 'delete', id: rest.id }
      : { seq, op: 'put', id: rest.id, rest: wire(rest) };
    // A change queued anew is no longer the one the server refused (markRejected).
    const { sync_error: _refused, ...changed } = rest;
    s.rests.put(op === 'delete' ? { id: rest.id, deleted: true, updated_at: new Date().toISOString() } : changed);
    s.outbox.put(mutation);
    kvPut(s.kv, K.seq, seq + 1);
    return { seq };
  });
  scheduleSoon();
  announce('queued');
  return result;
}

export async function pendingCount() {
  const entries = await transaction('outbox', 'readonly', (s, request) => request(s.outbox.getAll()));
  return new Set(entries.map((m) => m.id)).size;
}

// Refused rests (sync_error) never reached the account either.
export const historyOnDevice = () => transaction(['rests', 'outbox', 'kv'], 'readonly', async (s, request) => {
  const live = (await request(s.rests.getAll())).filter((rest) => !rest.deleted);
  const waiting = new Set((await request(s.outbox.getAll())).map((m) => m.id));
  return { owner: await kvGet(s.kv, request, K.owner, null), rests: live.length,
    unsynced: live.filter((rest) => rest.sync_error || waiting.has(rest.id)).length };
});

export const lastSyncedAt = () => transaction('kv', 'readonly', (s, request) => kvGet(s.kv, request, K.last, null));

// ---- the network --------------------------------------------------------------------------
const api = (method, url, body) => requestJson(url, { method, body });

// ---- push -----------------------------------------------------------------------------------
const dropAcknowledged = (outbox, last) => last > 0 && outbox.delete(IDBKeyRange.upperBound(last));

// An answer acknowledges numbers of the client id it was sent with; if the outbox was
// renumbered meanwhile (another tab signed in), those numbers mean other mutations now.
async function sameClient(kv, request, id) {
  return (await kvGet(kv, request, K.client, null)) === id;
}

// Give the outbox a new client id, numbered from 1 again, one mutation per rest (the last).
// Only safe once everything the old id applied is acknowledged (or belongs to another account).
async function renumberOutbox({ lastApplied = 0, resetCookie = false } = {}) {
  await transaction(['outbox', 'kv'], 'readwrite', async (s, request) => {
    if (lastApplied) dropAcknowledged(s.outbox, lastApplied);
    const entries = (await request(s.outbox.getAll())).filter((m) => m.seq > lastApplied);
    const lastPerRest = new Map(entries.map((m) => [m.id, m]));
    s.outbox.clear();
    let seq = 1;
    for (const m of lastPerRest.values()) s.outbox.put({ ...m, seq: seq++ });
    kvPut(s.kv, K.client, crypto.randomUUID());
    kvPut(s.kv, K.seq, seq);
    if (resetCookie) kvPut(s.kv, K.cookie, 0);
  });
}

async function markRejected(results) {
  const rejected = results.filter((r) => r.status === 'rejected');
  if (!rejected.length) return;
  // The server keeps its own copy; this device's record stays, flagged, for the person to fix.
  await transaction(['rests'], 'readwrite', async (s, request) => {
    for (const r of rejected) {
      const entry = r.rest_id && await request(s.rests.get(r.rest_id));
      if (entry) s.rests.put({ ...entry, sync_error: r.detail });
    }
  });
}

async function pushAll() {
  let pushed = 0;
  let batch = PUSH_BATCH;
  for (let round = 0; round < 1000; round += 1) {
    const { id, entries } = await transaction(['outbox', 'kv'], 'readonly', async (s, request) => ({
      id: await kvGet(s.kv, request, K.client, null),
      entries: await request(s.outbox.getAll(null, batch)),
    }));
    if (!entries.length || !id) return pushed;
    let answer;
    try {
      answer = await api('POST', '/api/sync/push', { client_id: id, mutations: entries.map(({ seq, op, id: restId, rest }) => (rest ? { seq, op, id: restId, rest } : { seq, op, id: restId })) });
    } catch (error) {
      if (error.status === 413 && batch > 1) { batch = Math.max(1, Math.floor(batch / 2)); continue; }
      if (error.status === 422 && batch > 1) { batch = 1; continue; } // find the malformed one
      if (error.status === 422) { await dropMalformed(id, entries[0]); continue; }
      throw error;
    }
    const byId = new Map(entries.map((m) => [m.seq, m.id]));
    await markRejected(answer.results.map((r) => ({ ...r, rest_id: byId.get(r.seq) })));
    const current = await transaction(['outbox', 'kv'], 'readwrite', async (s, request) => {
      if (!(await sameClient(s.kv, request, id))) return false;
      dropAcknowledged(s.outbox, answer.last_applied_seq);
      return true;
    });
    if (!current) return pushed;
    pushed += answer.results.filter((r) => r.status === 'applied').length;
    if (answer.last_applied_seq < entries[0].seq - 1) {
      // The server has never seen this device's earlier numbers (a new account, a restored
      // database): nothing here was applied, so start a fresh numbering.
      await renumberOutbox({ lastApplied: answer.last_applied_seq });
    }
  }
  return pushed;
}

// A mutation the server cannot even parse would block the queue forever: learn what the
// server has applied, drop that one mutation, renumber the rest under a fresh client id.
async function dropMalformed(id, head) {
  const answer = await api('GET', `/api/sync/pull?since=0&client_id=${id}&limit=1`);
  if (answer.last_applied_seq >= head.seq) return; // it was applied after all
  await transaction(['outbox', 'rests'], 'readwrite', async (s, request) => {
    s.outbox.delete(head.seq);
    const rest = await request(s.rests.get(head.id));
    if (rest) s.rests.put({ ...rest, sync_error: 'This change could not be sent.' });
  });
  await renumberOutbox({ lastApplied: answer.last_applied_seq });
}

// ---- pull -----------------------------------------------------------------------------------
async function applyPage(page, id, seen) {
  return transaction(['rests', 'outbox', 'kv'], 'readwrite', async (s, request) => {
    if (!(await sameClient(s.kv, request, id))) return -1;
    // Acknowledge first: what is still pending has no effect in this snapshot, and its
    // local version must stay (it will win, being written later). Tombstones always win.
    dropAcknowledged(s.outbox, page.last_applied_seq);
    const pending = new Set((await request(s.outbox.getAll())).filter((m) => m.seq > page.last_applied_seq).map((m) => m.id));
    for (const change of page.changes) {
      seen?.add(change.id);
      if (change.deleted) s.rests.put({ id: change.id, deleted: true });
      else if (!pending.has(change.id)) s.rests.put(change.rest);
    }
    if (page.reset) {
      // A whole snapshot after tombstones were purged: a synced rest missing from it was
      // deleted elsewhere. Rests with changes still pending are this device's to keep.
      const present = new Set(page.changes.map((change) => change.id));
      for (const rest of await request(s.rests.getAll())) {
        if (!rest.deleted && !present.has(rest.id) && !pending.has(rest.id)) {
          s.rests.put({ id: rest.id, deleted: true });
        }
      }
    }
    kvPut(s.kv, K.cookie, page.cookie);
    return page.changes.length;
  });
}

async function pullAll(merging) {
  const seen = merging ? new Set() : null;
  // A merge must see the whole account, even when an interrupted merge saved a cookie.
  if (merging) await transaction('kv', 'readwrite', (s) => kvPut(s.kv, K.cookie, 0));
  let pulled = 0;
  for (let round = 0; round < 100000; round += 1) {
    const { id, cookie } = await transaction('kv', 'readonly', async (s, request) => ({
      id: await kvGet(s.kv, request, K.client, null), cookie: await kvGet(s.kv, request, K.cookie, 0) }));
    const query = new URLSearchParams({ since: String(cookie), ...(id ? { client_id: id } : {}) });
    const page = await api('GET', `/api/sync/pull?${query}`);
    const applied = await applyPage(page, id, seen);
    if (applied < 0) return pulled; // renumbered meanwhile: the next sync starts over
    pulled += applied;
    if (!page.has_more) break;
  }
  if (merging) await queueUnseen(seen);
  return pulled;
}

// The union after a sign-in: every local rest the account does not know yet is queued.
async function queueUnseen(seen) {
  await transaction(['rests', 'outbox', 'kv'], 'readwrite', async (s, request) => {
    const pending = new Set((await request(s.outbox.getAll())).map((m) => m.id));
    let seq = await kvGet(s.kv, request, K.seq, 1);
    for (const rest of await request(s.rests.getAll())) {
      if (seen.has(rest.id) || pending.has(rest.id)) continue;
      s.outbox.put(rest.deleted ? { seq, op: 'delete', id: rest.id } : { seq, op: 'put', id: rest.id, rest: wire(rest) });
      seq += 1;
    }
    kvPut(s.kv, K.seq, seq);
    kvPut(s.kv, K.merge, false);
  });
}

// ---- one sync at a time (per tab, and across tabs where Web Locks exist) ---------------------
let running = null;
let chain = Promise.resolve();

const withLock = (work) => (navigator.locks?.request ? navigator.locks.request('crg-sync', work) : work());

// Syncs and renumberings never overlap: an answer must be applied to the numbering it was for.
function exclusive(work) {
  const next = chain.then(() => withLock(work));
  chain = next.catch(() => {});
  return next;
}

export function syncNow() {
  if (typeof navigator !== 'undefined' && navigator.onLine === false) return Promise.resolve({ skipped: 'offline' });
  running ??= exclusive(runSync).finally(() => { running = null; });
  return running;
}

async function runSync() {
  announce('syncing');
  try {
    const { merging, otherAccount } = await transaction('kv', 'readwrite', async (s, request) => {
      const owner = await kvGet(s.kv, request, K.owner, null);
      const account = await kvGet(s.kv, request, ACCOUNT_KEY, null);
      if (!owner && account) kvPut(s.kv, K.owner, account); // merged before owners were recorded
      return { merging: await kvGet(s.kv, request, K.merge, false), otherAccount: owner && account && owner !== account };
    });
    // Signed in to an account this history does not belong to: nothing travels until the
    // person has chosen (ui/history-owner.js) and mergeAfterSignIn has made it theirs.
    if (otherAccount) {
      announce('idle');
      return { skipped: 'other-account' };
    }
    const pushed = await pushAll();
    const pulled = await pullAll(merging);
    const more = merging ? await pushAll() : 0;
    const at = new Date().toISOString();
    await transaction('kv', 'readwrite', (s) => kvPut(s.kv, K.last, at));
    if (pulled) dispatchEvent(new Event(RESTS_CHANGED));
    announce('idle');
    return { pushed: pushed + more, pulled, lastSyncedAt: at };
  } catch (error) {
    if (error.status === 401) {
      knownSignedOut = true;
      announce('signed-out');
      return { skipped: 'signed-out' };
    }
    announce(error.offline ? 'offline' : 'error');
    throw error;
  }
}

// A sync already running finishes first (under the old session, if any); later ones wait
// for mergeAfterSignIn, so the new session never carries history not yet settled.
export const holdSyncs = () => exclusive(async () => { knownSignedOut = true; });

export async function mergeAfterSignIn(email) {
  knownSignedOut = false;
  // A fresh numbering for this account; the full pull then tells which local rests it lacks.
  await exclusive(async () => {
    await renumberOutbox({ resetCookie: true });
    await transaction('kv', 'readwrite', (s) => {
      kvPut(s.kv, K.merge, true);
      if (email) kvPut(s.kv, K.owner, email); // kept after sign-out: the next account is asked
    });
  });
  return syncNow();
}

export async function forgetAccount({ clearHistory = false } = {}) {
  // The outbox and its numbering stay (unless cleared): the next sign-in merges them.
  await exclusive(() => transaction(['rests', 'outbox', 'kv'], 'readwrite', (s) => {
    for (const key of [K.client, K.cookie, K.last, K.merge]) s.kv.delete(key);
    if (clearHistory) { s.rests.clear(); s.outbox.clear(); s.kv.delete(K.owner); }
  }));
  knownSignedOut = true;
  announce('signed-out');
}

// ---- automatic sync ---------------------------------------------------------------------------
let auto = null;
// Set by a 401, a sign-out, or a start with no account remembered: automatic syncs stop
// asking until the next sign-in.
let knownSignedOut = false;

function scheduleSoon(delayMs = 1500) {
  if (!auto) return;
  clearTimeout(auto.soon);
  auto.soon = setTimeout(() => auto && autoSync(), delayMs);
}

async function autoSync() {
  if (!auto || knownSignedOut || document.visibilityState === 'hidden') return;
  try {
    await syncNow();
    auto.failures = 0;
  } catch (error) {
    // Back off: 5 s, 10 s, 20 s ... up to 5 minutes (or what Retry-After asks for).
    auto.failures += 1;
    const wait = error.retryAfter ? error.retryAfter * 1000 : Math.min(300000, 5000 * 2 ** (auto.failures - 1));
    scheduleSoon(wait);
  }
}

export function startAutoSync({ intervalMs = 5 * 60 * 1000 } = {}) {
  if (auto) return auto.stop;
  const onVisible = () => { if (document.visibilityState === 'visible') autoSync(); };
  const onOnline = () => autoSync();
  auto = { failures: 0, soon: null, timer: setInterval(autoSync, intervalMs) };
  addEventListener('online', onOnline);
  document.addEventListener('visibilitychange', onVisible);
  auto.stop = () => {
    clearInterval(auto.timer);
    clearTimeout(auto.soon);
    removeEventListener('online', onOnline);
    document.removeEventListener('visibilitychange', onVisible);
    auto = null;
  };
  getSetting(ACCOUNT_KEY, null).catch(() => null)
    .then((email) => { if (!email) knownSignedOut = true; })
    .then(autoSync);
  return auto.stop;
}

async function announce(state) {
  const [pending, last] = await Promise.all([pendingCount(), lastSyncedAt()]).catch(() => [null, null]);
  dispatchEvent(new CustomEvent(SYNC_EVENT, { detail: { state, pending, lastSyncedAt: last } }));
}
