/**
 * Runs inside the phone's page (loaded by test/browser/support/pageModule.ts as window.probe):
 * reads what the browser keeps for the origin, as an attacker with the phone's profile on disk
 * would: every IndexedDB database, store and record, localStorage, sessionStorage and every
 * Cache Storage entry with its body. Bytes come back as hex and as Latin-1 text, so a scan finds
 * a secret in either form.
 */

export interface StoredItem {
  readonly where: string;
  readonly text: string;
}

const hex = (bytes: Uint8Array) => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');

function describe(value: unknown): string {
  if (value instanceof Uint8Array) return `${hex(value)} ${new TextDecoder('latin1').decode(value)}`;
  if (value instanceof ArrayBuffer) return describe(new Uint8Array(value));
  if (value instanceof CryptoKey) return `CryptoKey ${JSON.stringify({ extractable: value.extractable, algorithm: value.algorithm, usages: value.usages })}`;
  if (Array.isArray(value)) return value.map(describe).join(' ');
  if (value && typeof value === 'object') return Object.entries(value).map(([k, v]) => `${k}=${describe(v)}`).join(' ');
  return String(value);
}

function request<T>(req: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

export function openDatabase(name: string): Promise<IDBDatabase> {
  return request(indexedDB.open(name));
}

export async function readRecord(database: string, store: string, key: string): Promise<unknown> {
  const db = await openDatabase(database);
  try {
    return await request(db.transaction(store).objectStore(store).get(key));
  } finally {
    db.close();
  }
}

export async function writeRecord(database: string, store: string, key: string, value: unknown): Promise<void> {
  const db = await openDatabase(database);
  try {
    await request(db.transaction(store, 'readwrite').objectStore(store).put(value, key));
  } finally {
    db.close();
  }
}

export async function everythingStored(): Promise<StoredItem[]> {
  const items: StoredItem[] = [];
  for (const info of await indexedDB.databases()) {
    if (!info.name) continue;
    const db = await openDatabase(info.name);
    for (const store of Array.from(db.objectStoreNames)) {
      const tx = db.transaction(store);
      const [keys, values] = await Promise.all([request(tx.objectStore(store).getAllKeys()), request(tx.objectStore(store).getAll())]);
      keys.forEach((key, i) => items.push({ where: `IndexedDB ${info.name}/${store}/${String(key)}`, text: describe(values[i]) }));
    }
    db.close();
  }
  for (const [name, storage] of [
    ['localStorage', localStorage],
    ['sessionStorage', sessionStorage],
  ] as const) {
    for (let i = 0; i < storage.length; i++) {
      const key = storage.key(i) ?? '';
      items.push({ where: `${name} ${key}`, text: storage.getItem(key) ?? '' });
    }
  }
  for (const name of await caches.keys()) {
    const cache = await caches.open(name);
    for (const req of await cache.keys()) {
      const body = await (await cache.match(req))?.arrayBuffer();
      items.push({ where: `Cache Storage ${name} ${req.url}`, text: body ? describe(body) : '' });
    }
  }
  return items;
}
