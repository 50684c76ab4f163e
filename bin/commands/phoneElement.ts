/**
 * The CLI phone's secure element and state (shared/client/secureElement, docs/bill-payments.md
 * "The phone client"): in the client's directory (--home),
 *
 *   element.key   the element's storage key: 32 random bytes, hex, mode 0600, made at the first
 *                 enrolment and never overwritten; refused when anyone but the owner may read it
 *   phone.json    the client's state (shared/client PhoneState): the session keys and each card's
 *                 number and expiry sealed under element.key, AES-256-GCM (SP 800-38D), 12-byte
 *                 random IV, the purpose as additional authenticated data; mode 0600
 *
 * A file key is what a phone without a hardware element has; the browser's element keeps its key
 * non-extractable in WebCrypto instead. Either way the key never leaves the element's functions.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { PhoneState, PhoneStateStore } from '../../shared/client/phoneClient';
import type { ElementPurpose, SecureElement } from '../../shared/client/secureElement';
import { isPaypadError, PaypadError } from '../../shared/errors';
import { SECRET_FILE_MODE, syncDirectory, writeNewFile } from '../../host/files';

export const ELEMENT_KEY_FILE = 'element.key';
export const STATE_FILE = 'phone.json';
const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;

const nodeRng = (length: number) => new Uint8Array(randomBytes(length));

/** The element of the client in `home`; `create` makes its key when there is none (enrolment). */
export async function openFileElement(home: string, create: boolean): Promise<SecureElement> {
  const path = join(home, ELEMENT_KEY_FILE);
  if (create) {
    await mkdir(home, { recursive: true, mode: 0o700 });
    try {
      await writeNewFile(path, randomBytes(KEY_BYTES).toString('hex') + '\n', SECRET_FILE_MODE);
    } catch (e) {
      if (!isPaypadError(e, 'FILE_EXISTS')) throw e;
    }
  }
  let mode: number;
  try {
    mode = (await stat(path)).mode & 0o777;
  } catch {
    throw new PaypadError('PHONE_NOT_ENROLLED', `${path} does not exist: enrol this phone first (paypad phone enrol --home ${home})`);
  }
  if ((mode & 0o077) !== 0) throw new PaypadError('PHONE_ELEMENT_INVALID', `${path} is readable by others (mode ${mode.toString(8)}): it must be 600`);
  const hex = (await readFile(path, 'utf8')).trim();
  if (!/^[0-9a-f]{64}$/.test(hex)) throw new PaypadError('PHONE_ELEMENT_INVALID', `${path}: expected 64 hex digits`);
  const key = Buffer.from(hex, 'hex');
  return {
    rng: nodeRng,
    async seal(purpose: ElementPurpose, data: Uint8Array) {
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', key, iv).setAAD(Buffer.from(purpose, 'ascii'));
      const body = Buffer.concat([cipher.update(data), cipher.final()]);
      return new Uint8Array(Buffer.concat([iv, body, cipher.getAuthTag()]));
    },
    async open(purpose: ElementPurpose, sealed: Uint8Array) {
      if (!(sealed instanceof Uint8Array) || sealed.length <= IV_BYTES + TAG_BYTES) throw notOpened();
      try {
        const decipher = createDecipheriv('aes-256-gcm', key, sealed.subarray(0, IV_BYTES)).setAAD(Buffer.from(purpose, 'ascii'));
        decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
        return new Uint8Array(Buffer.concat([decipher.update(sealed.subarray(IV_BYTES, sealed.length - TAG_BYTES)), decipher.final()]));
      } catch {
        throw notOpened();
      }
    },
  };
}

function notOpened(): PaypadError {
  return new PaypadError('PHONE_ELEMENT_INVALID', 'sealed data does not open under this element (altered, or sealed by another element)');
}

/** phone.json in `home`, replaced whole (written beside it, then renamed) so a crash leaves the old or the new state. */
export function fileStateStore(home: string): PhoneStateStore {
  const path = join(home, STATE_FILE);
  return {
    async load() {
      let text: string;
      try {
        text = await readFile(path, 'utf8');
      } catch {
        return undefined;
      }
      try {
        return JSON.parse(text) as PhoneState;
      } catch {
        throw new PaypadError('PHONE_ELEMENT_INVALID', `${path} is not the client's state`);
      }
    },
    async save(state) {
      const next = `${path}.next`;
      await writeFile(next, JSON.stringify(state, null, 2) + '\n', { mode: SECRET_FILE_MODE });
      await rename(next, path);
      await syncDirectory(home);
    },
  };
}
