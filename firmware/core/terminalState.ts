/**
 * The PIN pad's key-loading progress that is not a key (X2, A11-A13):
 *
 *   lastSeq       the last sequence number used towards the KMS (0: none since the current TK)
 *   signedOnTmk   KCV of the TMK the working keys were last signed on under, if any
 *
 * Both live in ONE Storage value, because NVS commits one value at a time and they must never
 * disagree after a power cut.
 *
 * signedOnTmk decides which key MACs the next sign-on (kmsClient.ts): MAK only while the vault's
 * TMK is still the one the MAK came with. A new TMK makes the KMS drop the working keys it issued
 * under the old one (host/kms), so from then until the next sign-on the terminal must use K_tkmac.
 * Comparing KCVs, rather than keeping a "signed on" flag, stays right when power fails between a
 * vault write and the write of this record.
 * Runs in XS: no Node APIs.
 */
import { PaypadError, isPaypadError } from 'shared/errors';
import { kcvHex } from 'shared/protocol/fields';
import { MAX_SEQUENCE, nextSequence } from 'shared/protocol/sequence';
import { type Infer, decodeJson, encodeJson, integer, object, optional, version } from 'shared/protocol/validate';
import type { Storage } from '../hal/storage';
import { TERMINAL_NAMESPACE } from './terminalIdentity';

const STATE_KEY = 'state';
const STATE_VERSION = 1;
/** Two numbers and a KCV: anything longer is not this record. */
const STATE_MAX_BYTES = 128;

export interface TerminalState {
  readonly lastSeq: number;
  /** Uppercase hex KCV of the TMK of the last completed sign-on, or null. */
  readonly signedOnTmk: string | null;
}

const stateRecord = object({
  v: version(STATE_VERSION),
  lastSeq: integer(0, MAX_SEQUENCE),
  signedOnTmk: optional(kcvHex),
});
type StateRecord = Infer<typeof stateRecord>;

/** The state of a terminal whose TK is new: no sequence number used, nothing signed on. */
export const FRESH_STATE: TerminalState = Object.freeze({ lastSeq: 0, signedOnTmk: null });

/** The stored state; FRESH_STATE when there is none. STORAGE_CORRUPT if it does not read back. */
export function readTerminalState(storage: Storage): TerminalState {
  const bytes = storage.get(TERMINAL_NAMESPACE, STATE_KEY);
  if (bytes === undefined) return FRESH_STATE;
  let record: StateRecord;
  try {
    record = decodeJson(bytes, STATE_MAX_BYTES, stateRecord, 'state');
  } catch (e) {
    if (!isPaypadError(e)) throw e;
    // Guessing a sequence number could reuse one; repair (A13) starts a new TK and a new sequence.
    throw new PaypadError('STORAGE_CORRUPT', `terminal state does not read back (${e.code}); repair the terminal`);
  }
  return { lastSeq: record.lastSeq, signedOnTmk: record.signedOnTmk ?? null };
}

export function writeTerminalState(storage: Storage, state: TerminalState): void {
  const record: StateRecord =
    state.signedOnTmk === null
      ? { v: STATE_VERSION, lastSeq: state.lastSeq }
      : { v: STATE_VERSION, lastSeq: state.lastSeq, signedOnTmk: kcvHex(state.signedOnTmk, 'signedOnTmk') };
  storage.set(TERMINAL_NAMESPACE, STATE_KEY, encodeJson(stateRecord(record, 'state')));
}

/**
 * The next sequence number, persisted BEFORE the caller builds the request (shared/protocol
 * sequence.ts): a power cut or a retry after this can skip a number, never send one twice.
 */
export function reserveSequence(storage: Storage): number {
  const state = readTerminalState(storage);
  const seq = nextSequence(state.lastSeq);
  writeTerminalState(storage, { ...state, lastSeq: seq });
  return seq;
}
