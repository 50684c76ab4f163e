/**
 * A simulated issuer's HSM (X5): the one place a simulated bank's cardholder PINs are in clear.
 *
 * It holds two keys and gives neither out: the zone PIN key (ZPK) the issuer shares with the
 * provider, under which PIN blocks arrive as ISO 9564-1 format 4, and its own PIN verification key
 * (PVK), made here at start and never stored. The PVV is the host HSM's (host/hsm/pinVerification.ts:
 * AES-CMAC under the PVK over the PIN half of the format 4 PIN field and the PAN field), so a
 * simulated issuer and the platform's HSM agree on what a PVV is. The PIN exists only as that
 * field, inside those functions, wiped before they return; never as a string.
 *
 * The provider's PIN translation between zones is not modelled: the simulated network has one zone,
 * and the key ceremony that puts the same ZPK in the platform's HSM is the test fixture handing both
 * the same key (docs/simulators.md).
 */
import { randomBytes } from 'node:crypto';
import { assertAesKey } from '../../shared/crypto/aes';
import { isPaypadError } from '../../shared/errors';
import { pinVerificationValueOf, verifyPinAgainstPvv } from '../hsm/pinVerification';
import type { IssuerPinVerifier } from './issuerPinVerifier';

const PVK_BYTES = 16;

export class IssuerHsmSimulator implements IssuerPinVerifier {
  readonly #zonePinKey: Uint8Array;
  readonly #pinVerificationKey = new Uint8Array(randomBytes(PVK_BYTES));

  /** `zonePinKey`: the AES key PIN blocks arrive under (copied; the caller may wipe its own). */
  constructor(zonePinKey: Uint8Array) {
    assertAesKey(zonePinKey, 'zone PIN key');
    this.#zonePinKey = zonePinKey.slice();
  }

  async pinVerificationValue(pan: string, pinBlock: Uint8Array): Promise<Uint8Array> {
    return pinVerificationValueOf(this.#pinVerificationKey, this.#zonePinKey, pinBlock, pan);
  }

  async verifyPin(pan: string, pinBlock: Uint8Array, pinVerificationValue: Uint8Array): Promise<boolean> {
    try {
      verifyPinAgainstPvv(this.#pinVerificationKey, this.#zonePinKey, pinBlock, pan, pinVerificationValue);
      return true;
    } catch (e) {
      if (isPaypadError(e, 'PIN_INCORRECT') || isPaypadError(e, 'PIN_BLOCK_INVALID')) return false;
      throw e;
    }
  }
}
