/**
 * Issuer PIN verification with a PIN verification value (PVV): what an issuer keeps for a card
 * instead of its PIN, the way the Visa PVV and the IBM 3624 offset let an issuer verify a PIN
 * without storing it. Both of those are DES algorithms with decimal outputs; paypad's keys are AES,
 * so its PVV is an AES-CMAC under a PIN verification key of TR-31 usage V0 ("PIN verification,
 * other algorithm", X9.143:2021 table 2):
 *
 *   PVV = AES-CMAC(PVK, left half of the plain text PIN field || PAN field)     16 bytes
 *
 * The left half of an ISO 9564-1 format 4 PIN field is the control nibble, the PIN length, the PIN
 * digits and the 'A' fill: the PIN alone, without the random half that changes with every block.
 * The PAN field binds the value to the card, so a PVV copied to another card verifies nothing.
 * Unlike Thales' comparison method (a PIN kept encrypted under the LMK), nothing stored can be
 * turned back into a PIN, even by the HSM; a guess can only be tested through verifyPin, one
 * block at a time, which is what the issuer's PIN try counter limits.
 *
 * Pure functions over clear keys, for HSM implementations only: the PIN field exists in buffers
 * wiped before each returns.
 */
import { constantTimeEqual, wipe } from '../../shared/bytes';
import { aesCmac } from '../../shared/crypto/cmac';
import { withPinFieldIso4 } from '../../shared/crypto/pinblock';
import { PaypadError } from '../../shared/errors';

export const PVV_BYTES = 16;
/** Control nibble, length, digits and fill: the first 8 bytes of the format 4 PIN field. */
const PIN_HALF_BYTES = 8;

/** The PVV of the PIN in `pinBlock` (format 4 under `pinKey`, for `pan`) under `pvk`. */
export function pinVerificationValueOf(pvk: Uint8Array, pinKey: Uint8Array, pinBlock: Uint8Array, pan: string): Uint8Array {
  return withPinFieldIso4(pinKey, pinBlock, pan, (pinField, panField) => {
    const input = new Uint8Array(PIN_HALF_BYTES + panField.length);
    input.set(pinField.subarray(0, PIN_HALF_BYTES));
    input.set(panField, PIN_HALF_BYTES);
    try {
      return aesCmac(pvk, input);
    } finally {
      wipe(input);
    }
  });
}

/** PIN_INCORRECT unless the PIN in `pinBlock` has the verification value `pvv`; constant time. */
export function verifyPinAgainstPvv(pvk: Uint8Array, pinKey: Uint8Array, pinBlock: Uint8Array, pan: string, pvv: Uint8Array): void {
  assertPvv(pvv);
  const computed = pinVerificationValueOf(pvk, pinKey, pinBlock, pan);
  try {
    if (!constantTimeEqual(computed, pvv)) throw new PaypadError('PIN_INCORRECT', 'the PIN is incorrect');
  } finally {
    wipe(computed);
  }
}

/** BAD_LENGTH unless `pvv` is a 16-byte PVV. */
export function assertPvv(pvv: Uint8Array): void {
  if (!(pvv instanceof Uint8Array) || pvv.length !== PVV_BYTES) {
    throw new PaypadError('BAD_LENGTH', `PIN verification value: expected ${PVV_BYTES} bytes`);
  }
}
