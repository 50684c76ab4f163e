/**
 * The emulated terminal's hardware, from its state directory (`paypad terminal --state-dir D`):
 *
 *   D/root.key            device root key, 0600 (rootKey.ts)
 *   D/storage/            the NVS stand-in: identity, state, sealed vault slots (fileStorage.ts)
 *   D/tmp/                where writes are prepared before their atomic rename
 *   D/kms.lock            while a process talks to the KMS (stateLock.ts)
 *
 * Everything the terminal knows is in D, so a terminal stopped and started again (or a second
 * process on the same D) carries on where it was.
 */
import { mkdirSync } from 'node:fs';
import type { Clock } from '../clock';
import type { Http } from '../http';
import type { Rng } from '../rng';
import type { Storage } from '../storage';
import { createNodeClock } from './clock';
import { PRIVATE_DIR_MODE, createFileStorage } from './fileStorage';
import { createNodeHttp } from './http';
import { createNodeRng } from './rng';
import { ensureRootKey, readRootKey } from './rootKey';

export interface NodeDevice {
  readonly storage: Storage;
  readonly rng: Rng;
  readonly http: Http;
  readonly clock: Clock;
  readonly rootKey: Uint8Array;
}

/**
 * The device in `stateDir`. `manufacture` creates the directory and the root key if they are
 * not there yet (`paypad terminal init`); otherwise both must exist (ROOT_KEY_INVALID).
 */
export function openNodeDevice(stateDir: string, options: { manufacture?: boolean } = {}): NodeDevice {
  const rng = createNodeRng();
  if (options.manufacture) mkdirSync(stateDir, { recursive: true, mode: PRIVATE_DIR_MODE });
  const rootKey = options.manufacture ? ensureRootKey(stateDir, rng) : readRootKey(stateDir);
  return { storage: createFileStorage(stateDir), rng, http: createNodeHttp(), clock: createNodeClock(), rootKey };
}
