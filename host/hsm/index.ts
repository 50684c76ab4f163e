/**
 * Where a role gets its HSM: createHsm reads a configuration and returns the Hsm interface. MTMS
 * and every KMS instance open theirs through it, each its own. The software HSM is the only kind
 * today; a PKCS#11 HSM joins as a second `kind` without any caller changing.
 */
import { type Rng } from '../../shared/bytes';
import { PaypadError } from '../../shared/errors';
import type { Hsm } from './hsm';
import { openSoftwareHsm } from './softwareHsm';

export type { Curve, Exportability, GenerateKeyRequest, Hsm, KeyAttributes, KeyHandle, KeyPair, ModeOfUse, SymmetricKeyUsage } from './hsm';
export { openSoftwareHsm, type SoftwareHsmOptions } from './softwareHsm';

export type HsmConfig = {
  readonly kind: 'software';
  /** This HSM's own master key file (one per KMS instance and one for MTMS). */
  readonly lmkFile: string;
};

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

/** The HSM `config` describes. CONFIG_INVALID for a kind this build does not have. */
export async function createHsm(config: HsmConfig, rng: Rng = systemRng): Promise<Hsm> {
  const kind = typeof config === 'object' && config !== null ? (config as { kind?: unknown }).kind : undefined;
  switch (kind) {
    case 'software':
      return openSoftwareHsm({ lmkFile: config.lmkFile, rng });
    default:
      throw new PaypadError('CONFIG_INVALID', `HSM kind must be 'software', got ${JSON.stringify(String(kind)).slice(0, 32)}`);
  }
}
