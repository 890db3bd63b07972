// A small promise wrapper over IndexedDB: the device's own copy of everything.
// Stores: rests (key: id), outbox (key: seq), downloads (key: version), kv (key: key).

const DB_NAME = 'crg';
const DB_VERSION = 1;
let opening;

function request(req) {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

export function openDb() {
  opening ??= new Promise((resolve, reject) => {
    const req = indexedDB.open(DB_NAME, DB_VERSION);
    req.onupgradeneeded = () => {
      const db = req.result;
      if (!db.objectStoreNames.contains('rests')) {
        db.createObjectStore('rests', { keyPath: 'id' }).createIndex('started_at', 'started_at');
      }
      if (!db.objectStoreNames.contains('outbox')) db.createObjectStore('outbox', { keyPath: 'seq' });
      if (!db.objectStoreNames.contains('downloads')) db.createObjectStore('downloads', { keyPath: 'version' });
      if (!db.objectStoreNames.contains('kv')) db.createObjectStore('kv', { keyPath: 'key' });
    };
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
  return opening;
}

// Runs work(stores) in one transaction and resolves once it is durably committed.
// 'strict' durability: a rest saved just before the phone dies is still there.
export async function transaction(storeNames, mode, work) {
  const db = await openDb();
  const names = [].concat(storeNames);
  const tx = db.transaction(names, mode, { durability: 'strict' });
  const stores = Object.fromEntries(names.map((name) => [name, tx.objectStore(name)]));
  const done = new Promise((resolve, reject) => {
    tx.oncomplete = resolve;
    tx.onabort = tx.onerror = () => reject(tx.error);
  });
  let result;
  try {
    result = await work(stores, request);
  } catch (error) {
    // Nothing half-written: without abort, the writes made before the throw would commit.
    try { tx.abort(); } catch { /* already finished */ }
    done.catch(() => {});
    throw error;
  }
  await done;
  return result;
}

export const get = (store, key) => transaction(store, 'readonly', (s) => request(s[store].get(key)));
export const all = (store) => transaction(store, 'readonly', (s) => request(s[store].getAll()));
export const put = (store, value) => transaction(store, 'readwrite', (s) => request(s[store].put(value)));
export const remove = (store, key) => transaction(store, 'readwrite', (s) => request(s[store].delete(key)));

export async function getSetting(key, fallback = undefined) {
  const row = await get('kv', key);
  return row === undefined ? fallback : row.value;
}

export const setSetting = (key, value) => put('kv', { key, value });
