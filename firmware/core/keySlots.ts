/**
 * The key vault's slots: what each holds and which TR-31 attributes its key must carry
 * (docs/key-loading.md "Keys"). The records they are kept in at rest: slotRecord.ts.
 *
 *   slot  usage  mode  wrapped by     (X9.143:2021 §6.3.1 table 2 usages, §6.3.3 table 4 modes)
 *   TK    K1     B     made here (A1)  TR-31 KBPK of the TMK; also the K_tkmac derivation key
 *   TMK   K1     B     TK  (A11)       TR-31 KBPK of the working keys
 *   PIK   P0     E     TMK (A12)       ISO 9564 format 4 PIN blocks, encrypt only
 *   MAK   M6     C     TMK (A12)       ISO 9797-1 MAC algorithm 5 (CMAC), generate and verify
 *   TDK   D0     B     TMK (A12)       data encryption (PAN, track data)
 *   DMK   K0     B     TMK (A12)       TMS download master key (System B)
 * Every key is AES (algorithm 'A'). The policy is checked when a block is imported and again
 * every time the stored record is opened for an operation, so an operation only ever runs with a
 * key whose MAC-bound attributes allow it.
 * Runs in XS: no Node APIs.
 */
import { PaypadError } from 'shared/errors';
import type { Tr31Header, Tr31KeyPolicy } from 'shared/crypto/tr31';

export const KEY_SLOT_NAMES = Object.freeze(['TK', 'TMK', 'PIK', 'MAK', 'TDK', 'DMK'] as const);
export type KeySlotName = (typeof KEY_SLOT_NAMES)[number];

/** Delivered together under TMK at sign-on (A12); the names match shared/protocol WORKING_KEY_NAMES. */
export const WORKING_KEY_SLOTS = Object.freeze(['PIK', 'MAK', 'TDK', 'DMK'] as const);
export type WorkingKeySlotName = (typeof WORKING_KEY_SLOTS)[number];

/** The TR-31 attributes a slot's key keeps from delivery to storage. */
export type KeyAttributes = Pick<Tr31Header, 'keyUsage' | 'algorithm' | 'modeOfUse' | 'keyVersionNumber' | 'exportability'>;

export interface KeySlotPolicy extends Tr31KeyPolicy {
  readonly algorithm: 'A';
}

/** A slot's policy, frozen all the way down: preloaded, it lives in flash on the device. */
function slotPolicy(usage: string, modeOfUse: string): KeySlotPolicy {
  return Object.freeze({ usage, modesOfUse: Object.freeze([modeOfUse]), algorithm: 'A' });
}

export const KEY_SLOTS: Readonly<Record<KeySlotName, KeySlotPolicy>> = Object.freeze({
  TK: slotPolicy('K1', 'B'),
  TMK: slotPolicy('K1', 'B'),
  PIK: slotPolicy('P0', 'E'),
  MAK: slotPolicy('M6', 'C'),
  TDK: slotPolicy('D0', 'B'),
  DMK: slotPolicy('K0', 'B'),
});

/** TK is AES-128 (docs/key-loading.md); exportable, and only ever as a key-transport envelope (A10). */
export const TK_BYTES = 16;
export const TK_EXPORTABILITY = 'E';

/** The Storage namespace that holds one record per occupied slot, keyed by slot name (<= 15 chars). */
export const VAULT_NAMESPACE = 'vault';

export function isKeySlotName(value: unknown): value is KeySlotName {
  return typeof value === 'string' && (KEY_SLOT_NAMES as readonly string[]).includes(value);
}

export function assertKeySlotName(value: unknown): KeySlotName {
  if (!isKeySlotName(value)) throw new PaypadError('BAD_ARGUMENT', `key slot must be one of ${KEY_SLOT_NAMES.join(', ')}`);
  return value;
}
