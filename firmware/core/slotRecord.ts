/**
 * How a key vault slot is kept at rest: one TR-31 version D block under the device root key
 * (docs/key-loading.md "Keys"), holding the attributes the key arrived with (usage, algorithm,
 * mode of use, key version, exportability), all MAC-bound, plus:
 *   - key context '1', storage only (X9.143:2021 §6.2), so it cannot pass as an exchange block;
 *   - optional block SLOT_BINDING_BLOCK_ID carrying the slot name. Numeric optional block ids are
 *     reserved for proprietary use (X9.143:2021 §6.3.6); binding the name under the MAC stops a
 *     record copied to another slot (TK and TMK share usage K1 / B) from being accepted there.
 * Opening a record checks its MAC, the slot's policy, the context and the binding; any failure is
 * VAULT_RECORD_INVALID, with the reason but never the record's bytes. The vault's slots
 * (keySlots.ts) and the device identity key (deviceKey.ts) are kept this way.
 * Runs in XS: no Node APIs.
 */
import { type Rng, asciiToBytes, bytesToAscii, wipe } from 'shared/bytes';
import { type KeyBlockKeys, type Tr31Header, type Tr31HeaderInit, type Tr31KeyPolicy, type UnwrappedKey, unwrapKeyBlockUnder, wrapKeyBlockUnder } from 'shared/crypto/tr31';
import { PaypadError, isPaypadError } from 'shared/errors';
import type { KeyAttributes } from './keySlots';

export const SLOT_BINDING_BLOCK_ID = '01';
/** X9.143:2021 §6.2: key context '1' = storage only, '0' = determined by the wrapping key, '2' = exchange only. */
export const STORAGE_KEY_CONTEXT = '1';

/** The header of `slot`'s record, keeping the attributes the key carries. */
function recordHeader(slot: string, attributes: KeyAttributes): Tr31HeaderInit {
  return {
    versionId: 'D',
    keyUsage: attributes.keyUsage,
    algorithm: attributes.algorithm,
    modeOfUse: attributes.modeOfUse,
    keyVersionNumber: attributes.keyVersionNumber,
    exportability: attributes.exportability,
    keyContext: STORAGE_KEY_CONTEXT,
    optionalBlocks: [{ id: SLOT_BINDING_BLOCK_ID, data: slot }],
  };
}

/** Why an authentic header is not a record of `slot`, beyond the usage and mode the policy checks. */
function recordHeaderProblem(slot: string, header: Tr31Header): string | undefined {
  if (header.keyContext !== STORAGE_KEY_CONTEXT) return `key context is ${header.keyContext}, a stored record has ${STORAGE_KEY_CONTEXT}`;
  const bindings = header.optionalBlocks.filter((b) => b.id === SLOT_BINDING_BLOCK_ID);
  if (bindings.length !== 1 || bindings[0].data !== slot) return 'the record is bound to another slot';
  return undefined;
}

function recordInvalid(slot: string, reason: string): PaypadError {
  return new PaypadError('VAULT_RECORD_INVALID', `key slot ${slot}: stored record fails verification (${reason}); repair the terminal`);
}

/**
 * The Storage bytes of `slot` holding `key`; the TR-31 padding comes from `rng`. `root` is the
 * device root key's KBEK and KBMK (shared/crypto/tr31 deriveKeyBlockKeys), derived once at boot.
 */
export function sealSlotRecord(root: KeyBlockKeys, slot: string, attributes: KeyAttributes, key: Uint8Array, rng: Rng): Uint8Array {
  return asciiToBytes(wrapKeyBlockUnder(root, recordHeader(slot, attributes), key, rng));
}

/** The key and header of `slot`'s record, whose key must allow `policy`. The caller wipes the key when done. */
export function openSlotRecord(root: KeyBlockKeys, slot: string, policy: Tr31KeyPolicy, record: Uint8Array): UnwrappedKey {
  let opened: UnwrappedKey;
  try {
    opened = unwrapKeyBlockUnder(root, bytesToAscii(record), policy);
  } catch (e) {
    if (!isPaypadError(e)) throw e;
    throw recordInvalid(slot, e.code);
  }
  const problem = recordHeaderProblem(slot, opened.header);
  if (problem !== undefined) {
    wipe(opened.key);
    throw recordInvalid(slot, problem);
  }
  return opened;
}
