/**
 * The zone PIN key the client gateway translates phones' PIN blocks to (D4), entered into its HSM
 * as a key ceremony would: two XOR components, each with its check value, and the combined key's
 * (ANSI X9.24-1 split knowledge). With the simulated card network (X5) the network's side of the
 * ceremony is simulated here, from the zone PIN key its banks verify PINs under; a real acquirer's
 * custodians key the components in.
 */
import { type Rng, toHex, xorBytes } from '../../../shared/bytes';
import { keyCheckValue } from '../../../shared/crypto/kcv';
import type { Hsm, KeyHandle } from '../../hsm/hsm';

/** The key as a P0 handle that may encipher PIN blocks (mode E), never exported. */
export async function enterZonePinKey(hsm: Hsm, zonePinKey: Uint8Array, rng: Rng): Promise<KeyHandle> {
  const first = rng(zonePinKey.length);
  const components = [first, xorBytes(zonePinKey, first)].map((value) => ({ value, kcv: toHex(keyCheckValue(value, 'cmac')) }));
  return hsm.importKeyComponents({ usage: 'P0', algorithm: 'A', modeOfUse: 'E', exportability: 'N' }, components, toHex(keyCheckValue(zonePinKey, 'cmac')));
}
