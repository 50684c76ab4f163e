/**
 * The browser's secure element (D1; shared/client/secureElement.ts): a non-extractable AES-256-GCM
 * key made by WebCrypto and kept in IndexedDB as a CryptoKey object. The browser holds its bytes
 * out of reach of every script, this one included: the key encrypts and decrypts on this phone
 * and can never be read out, exported or sent. What the client keeps (its session keys, each
 * bound card's number and expiry, its state) is stored only sealed under that key:
 *
 *   sealed = IV (12 random bytes) || AES-GCM(K_element, IV, plain, AAD = "paypad-phone:" label)
 *
 * where the label is the client's purpose ("purpose:card", "purpose:phone-keys") or the name of a
 * record kept here ("record:phone-state"), so nothing sealed for one opens as another. GCM
 * (NIST SP 800-38D) with 96-bit random IVs, far below the 2^32 invocations per key of its §8.3.
 * Clearing the site's data erases the key and with it everything sealed: the phone then enrols
 * and binds its cards again.
 */
import type { Rng } from '../../../../shared/bytes';
import type { ElementPurpose, SecureElement } from '../../../../shared/client/secureElement';
import { PaypadError } from '../../../../shared/errors';

const DATABASE = 'paypad-phone';
const STORE = 'element';
const KEY_RECORD = 'element-key';
const IV_BYTES = 12;
const TAG_BYTES = 16;

const elementError = (message: string) => new PaypadError('PHONE_ELEMENT_INVALID', message);

function request<T>(req: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(elementError(`the phone's storage refused: ${req.error?.message ?? 'unknown error'}`));
  });
}

function openDatabase(): Promise<IDBDatabase> {
  if (typeof indexedDB === 'undefined') return Promise.reject(elementError('this browser has no IndexedDB (a private window may turn it off)'));
  const open = indexedDB.open(DATABASE, 1);
  open.onupgradeneeded = () => open.result.createObjectStore(STORE);
  return request(open);
}

const aad = (label: string) => new TextEncoder().encode(`paypad-phone:${label}`);

export class IndexedDbElement implements SecureElement {
  readonly #db: IDBDatabase;
  readonly #key: CryptoKey;
  readonly rng: Rng = (length) => crypto.getRandomValues(new Uint8Array(length));

  private constructor(db: IDBDatabase, key: CryptoKey) {
    this.#db = db;
    this.#key = key;
  }

  /** The element of this origin, its key made on first use. */
  static async open(): Promise<IndexedDbElement> {
    if (!globalThis.crypto?.subtle) throw elementError('WebCrypto needs a secure origin (https or this machine)');
    const db = await openDatabase();
    const stored = await request(db.transaction(STORE).objectStore(STORE).get(KEY_RECORD));
    if (stored instanceof CryptoKey) return new IndexedDbElement(db, stored);
    const key = await crypto.subtle.generateKey({ name: 'AES-GCM', length: 256 }, false, ['encrypt', 'decrypt']);
    // Another tab may have made one meanwhile: `add` keeps the first, and every tab uses it.
    const tx = db.transaction(STORE, 'readwrite');
    tx.objectStore(STORE).add(key, KEY_RECORD);
    await new Promise<void>((resolve) => {
      tx.oncomplete = tx.onabort = () => resolve();
    });
    const kept = await request(db.transaction(STORE).objectStore(STORE).get(KEY_RECORD));
    if (!(kept instanceof CryptoKey)) throw elementError('the phone could not keep its element key');
    return new IndexedDbElement(db, kept);
  }

  seal(purpose: ElementPurpose, data: Uint8Array): Promise<Uint8Array> {
    return this.#seal(`purpose:${purpose}`, data);
  }

  open(purpose: ElementPurpose, sealed: Uint8Array): Promise<Uint8Array> {
    return this.#open(`purpose:${purpose}`, sealed);
  }

  /** `plain` sealed and kept as record `name`. The caller wipes `plain`. */
  async put(name: string, plain: Uint8Array): Promise<void> {
    const sealed = await this.#seal(`record:${name}`, plain);
    const tx = this.#db.transaction(STORE, 'readwrite');
    tx.objectStore(STORE).put(sealed, name);
    await new Promise<void>((resolve, reject) => {
      tx.oncomplete = () => resolve();
      tx.onerror = tx.onabort = () => reject(elementError(`the phone's storage refused: ${tx.error?.message ?? 'aborted'}`));
    });
  }

  /** Record `name` opened, or undefined when there is none. */
  async get(name: string): Promise<Uint8Array | undefined> {
    const sealed = await request(this.#db.transaction(STORE).objectStore(STORE).get(name));
    return sealed === undefined ? undefined : this.#open(`record:${name}`, sealed);
  }

  /** The names of the records kept (the key's own entry excluded). */
  async names(): Promise<string[]> {
    const keys = await request(this.#db.transaction(STORE).objectStore(STORE).getAllKeys());
    return keys.map(String).filter((k) => k !== KEY_RECORD);
  }

  async #seal(label: string, plain: Uint8Array): Promise<Uint8Array> {
    const iv = crypto.getRandomValues(new Uint8Array(IV_BYTES));
    const sealed = new Uint8Array(await crypto.subtle.encrypt({ name: 'AES-GCM', iv, additionalData: aad(label) }, this.#key, plain as Uint8Array<ArrayBuffer>));
    const out = new Uint8Array(IV_BYTES + sealed.length);
    out.set(iv);
    out.set(sealed, IV_BYTES);
    return out;
  }

  async #open(label: string, sealed: unknown): Promise<Uint8Array> {
    if (!(sealed instanceof Uint8Array) || sealed.length < IV_BYTES + TAG_BYTES) throw elementError(`sealed ${label}: expected IV, ciphertext and tag`);
    const bytes = new Uint8Array(sealed);
    try {
      return new Uint8Array(await crypto.subtle.decrypt({ name: 'AES-GCM', iv: bytes.subarray(0, IV_BYTES), additionalData: aad(label) }, this.#key, bytes.subarray(IV_BYTES)));
    } catch {
      throw elementError(`sealed ${label} does not open under this phone's element key (altered, another phone's, or sealed for something else)`);
    }
  }
}
