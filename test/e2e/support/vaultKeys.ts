/**
 * TEST ONLY: the clear keys an emulated terminal holds, read from its state directory the way an
 * attacker with the device's flash and its root key would: each vault slot's record
 * (storage/vault.ns/<slot>.val, firmware/core/slotRecord.ts) opened with <stateDir>/root.key.
 * This is the one place the X1 scan (onboarding.test.ts) sees clear keys: it needs them to search
 * every output of the run for them. Nothing in the product reads keys this way; the vault never
 * returns a key (firmware/core/keyVault.ts).
 *
 * Besides the six slots it opens the device identity key (firmware/core/deviceKey.ts, once enrolled) and derives K_tkmac, the key the terminal MACs its requests under before
 * sign-on (SP 800-108 counter-mode KDF from TK, shared/protocol/macEnvelope tkMacKdfParams): it is
 * as secret as TK and goes to the scan too.
 */
import { toHex } from '../../../shared/bytes';
import { keyCheckValue } from '../../../shared/crypto/kcv';
import { deriveKeyCounterCmac } from '../../../shared/crypto/kdf';
import { deriveKeyBlockKeys } from '../../../shared/crypto/tr31';
import { tkMacKdfParams } from '../../../shared/protocol/macEnvelope';
import { DEVICE_KEY_POLICY, DEVICE_KEY_SLOT, DEVICE_NAMESPACE } from '../../../firmware/core/deviceKey';
import { KEY_SLOT_NAMES, KEY_SLOTS, type KeySlotName, VAULT_NAMESPACE } from '../../../firmware/core/keySlots';
import { openSlotRecord } from '../../../firmware/core/slotRecord';
import { createFileStorage } from '../../../firmware/hal/node/fileStorage';
import type { Storage } from '../../../firmware/hal/storage';
import { readRootKey } from '../../../firmware/hal/node/rootKey';

export interface RecoveredKey {
  readonly serial: string;
  /** A slot name, the device identity key, or K_tkmac. */
  readonly name: KeySlotName | typeof DEVICE_KEY_SLOT | 'K_tkmac';
  readonly key: Uint8Array;
  /** CMAC KCV (hex) of the key: equal to what the terminal and the KMS report for the slot. */
  readonly kcv: string;
}

/** Every occupied slot of the terminal in `stateDir`, in vault order, its identity key, then K_tkmac. Throws if TK is missing. */
export function recoverTerminalKeys(stateDir: string, serial: string): RecoveredKey[] {
  const rootKey = readRootKey(stateDir);
  try {
    return recoverVaultKeys(createFileStorage(stateDir), rootKey, serial, stateDir);
  } finally {
    rootKey.fill(0);
  }
}

/** As recoverTerminalKeys, for any HAL Storage and its root key (a simulator's preferences file); `where` names it in errors. */
export function recoverVaultKeys(storage: Storage, rootKey: Uint8Array, serial: string, where: string): RecoveredKey[] {
  const root = deriveKeyBlockKeys(rootKey);
  const keys: RecoveredKey[] = [];
  for (const name of KEY_SLOT_NAMES) {
    const record = storage.get(VAULT_NAMESPACE, name);
    if (record === undefined) continue;
    const { key } = openSlotRecord(root, name, KEY_SLOTS[name], record);
    keys.push({ serial, name, key, kcv: toHex(keyCheckValue(key, 'cmac')) });
  }
  const identity = storage.get(DEVICE_NAMESPACE, DEVICE_KEY_SLOT);
  if (identity !== undefined) {
    const { key } = openSlotRecord(root, DEVICE_KEY_SLOT, DEVICE_KEY_POLICY, identity);
    keys.push({ serial, name: DEVICE_KEY_SLOT, key, kcv: toHex(keyCheckValue(key, 'cmac')) });
  }
  const tk = keys.find((k) => k.name === 'TK');
  if (tk === undefined) throw new Error(`terminal ${serial} in ${where} has no TK in its vault`);
  const tkMac = deriveKeyCounterCmac(tk.key, tkMacKdfParams(serial));
  keys.push({ serial, name: 'K_tkmac', key: tkMac, kcv: toHex(keyCheckValue(tkMac, 'cmac')) });
  return keys;
}

/** A key the terminal held until a step replaced it, and which step. */
export interface ReplacedKey extends RecoveredKey {
  /** "before the repair", say. */
  readonly replacedBy: string;
}

/**
 * Runs `step` (a repair, a second TMK download) on the terminal in `stateDir` and answers the keys
 * it held before that it no longer holds after, recorded from its vault just before the step: a
 * key a terminal once held is as secret as one it holds now (X1). The keys still held are wiped here.
 */
export async function keysReplacedBy(stateDir: string, serial: string, replacedBy: string, step: () => Promise<void>): Promise<ReplacedKey[]> {
  const before = recoverTerminalKeys(stateDir, serial);
  await step();
  const after = recoverTerminalKeys(stateDir, serial);
  const held = (key: Uint8Array) => after.some((k) => k.key.length === key.length && k.key.every((b, i) => b === key[i]));
  const replaced = before.filter((k) => !held(k.key)).map((k) => ({ ...k, replacedBy }));
  for (const k of [...before.filter((b) => held(b.key)), ...after]) k.key.fill(0);
  return replaced;
}
