/**
 * Where a role gets its HSM: createHsm reads a configuration and returns the Hsm interface. MTMS
 * and every KMS instance open theirs through it, each its own. Two kinds: the software HSM (a
 * master key file per role, the embedded default) and a PKCS#11 token (one token, a master key
 * object pair per role, named by keyLabel). docs/host.md says how the host chooses.
 */
import { readFile } from 'node:fs/promises';
import { type Rng } from '../../shared/bytes';
import { PaypadError } from '../../shared/errors';
import type { Hsm } from './hsm';
import { openSoftwareHsm } from './softwareHsm';

export type { Curve, Exportability, GenerateKeyRequest, Hsm, KeyAttributes, KeyComponent, KeyHandle, KeyPair, ModeOfUse, SymmetricKeyUsage, ZoneKey } from './hsm';
export { openSoftwareHsm, type SoftwareHsmOptions } from './softwareHsm';

/** The user PIN of a token: given, or read from a file (its first line). */
export type Pkcs11Pin = { readonly value: string } | { readonly file: string };

/** Which HSM the host's roles use (host/config.ts: PAYPAD_HSM and the PAYPAD_PKCS11_* variables). */
export type HsmBackend =
  | { readonly kind: 'software' }
  | { readonly kind: 'pkcs11'; readonly library: string; readonly tokenLabel: string; readonly pin: Pkcs11Pin };

export type HsmConfig =
  | {
      readonly kind: 'software';
      /** This HSM's own master key file (one per KMS instance and one for MTMS). */
      readonly lmkFile: string;
    }
  | {
      readonly kind: 'pkcs11';
      readonly library: string;
      readonly tokenLabel: string;
      readonly pin: Pkcs11Pin;
      /** Names this HSM's master key objects in the token (one per KMS instance and one for MTMS). */
      readonly keyLabel: string;
    };

/** One role's HSM on `backend`: its master key file for the software HSM, its key label in a token. */
export function roleHsmConfig(backend: HsmBackend, role: { readonly lmkFile: string; readonly keyLabel: string }): HsmConfig {
  return backend.kind === 'software' ? { kind: 'software', lmkFile: role.lmkFile } : { ...backend, keyLabel: role.keyLabel };
}

/** WebCrypto's getRandomValues fills at most 65536 bytes a call (W3C WebCrypto §10.1.1). */
const MAX_RANDOM_CHUNK = 65536;

/** The operating system's CSPRNG. */
export const systemRng: Rng = (length) => {
  const out = new Uint8Array(length);
  for (let offset = 0; offset < length; offset += MAX_RANDOM_CHUNK) {
    globalThis.crypto.getRandomValues(out.subarray(offset, Math.min(length, offset + MAX_RANDOM_CHUNK)));
  }
  return out;
};

/** The HSM `config` describes. CONFIG_INVALID for a kind this build does not have, or a PKCS#11 token it cannot open. */
export async function createHsm(config: HsmConfig, rng: Rng = systemRng): Promise<Hsm> {
  const kind = typeof config === 'object' && config !== null ? (config as { kind?: unknown }).kind : undefined;
  switch (kind) {
    case 'software':
      return openSoftwareHsm({ lmkFile: (config as { lmkFile: string }).lmkFile, rng });
    case 'pkcs11': {
      const { library, tokenLabel, pin, keyLabel } = config as Extract<HsmConfig, { kind: 'pkcs11' }>;
      // Loaded on demand: the software HSM needs no native binding.
      const { openPkcs11Hsm } = await import('./pkcs11Hsm');
      return openPkcs11Hsm({ library, tokenLabel, pin: await readPin(pin), keyLabel, rng });
    }
    default:
      throw new PaypadError('CONFIG_INVALID', `HSM kind must be 'software' or 'pkcs11', got ${JSON.stringify(String(kind)).slice(0, 32)}`);
  }
}

async function readPin(pin: Pkcs11Pin): Promise<string> {
  if (typeof pin !== 'object' || pin === null) throw new PaypadError('CONFIG_INVALID', 'PKCS#11 HSM: the PIN is missing');
  if ('value' in pin) return pin.value;
  let text: string;
  try {
    text = await readFile(pin.file, 'utf8');
  } catch {
    throw new PaypadError('CONFIG_INVALID', `PKCS#11 HSM: the PIN file ${pin.file} cannot be read`);
  }
  const first = text.split(/\r?\n/, 1)[0];
  if (!first) throw new PaypadError('CONFIG_INVALID', `PKCS#11 HSM: the PIN file ${pin.file} is empty`);
  return first;
}
