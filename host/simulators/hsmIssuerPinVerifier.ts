/**
 * IssuerPinVerifier over the host's Hsm interface (host/hsm/hsm.ts): an issuer whose PIN work runs
 * in an HSM of the kind the platform's roles use, its zone PIN key and PIN verification key held as
 * key handles, never as bytes (docs/payment-keys.md, "Issuer PIN verification").
 * The simulated banks take it in place of issuerHsmSimulator.ts when a test or a demo wants the
 * issuer's side on the same kind of HSM as the POSP's (BankSimulator.create's `pinVerifierFor`):
 * the software HSM, or a payment HSM; a PKCS#11 token refuses PIN commands (HSM_COMMAND_UNSUPPORTED).
 */
import { isPaypadError } from '../../shared/errors';
import type { Hsm, KeyHandle } from '../hsm/hsm';
import type { IssuerPinVerifier } from './issuerPinVerifier';

export interface IssuerPinKeys {
  /** The zone PIN key (P0, mode B or D) PIN blocks arrive under. */
  readonly zonePinKey: KeyHandle;
  /** The issuer's PIN verification key (V0, mode C). */
  readonly pinVerificationKey: KeyHandle;
}

export function hsmIssuerPinVerifier(hsm: Hsm, keys: IssuerPinKeys): IssuerPinVerifier {
  return {
    pinVerificationValue: (pan, pinBlock) => hsm.pinVerificationValue(keys.zonePinKey, keys.pinVerificationKey, pinBlock, pan),
    async verifyPin(pan, pinBlock, pinVerificationValue) {
      try {
        await hsm.verifyPin(keys.zonePinKey, keys.pinVerificationKey, pinBlock, pan, pinVerificationValue);
        return true;
      } catch (e) {
        if (isPaypadError(e, 'PIN_INCORRECT') || isPaypadError(e, 'PIN_BLOCK_INVALID')) return false;
        throw e;
      }
    },
  };
}
