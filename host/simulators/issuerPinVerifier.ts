/**
 * What a card issuer needs from its HSM for PINs, and nothing more: to turn a PIN chosen at card
 * issue into the verification value it stores, and to check a PIN block from an authorisation
 * against that value. The PIN arrives only as an ISO 9564-1 format 4 block under the zone PIN key
 * the issuer shares with the provider, and is in clear only inside the HSM (PCI PIN Security
 * Requirement 1; ARCHITECTURE §3).
 *
 * The PIN verification value (PVV) plays the part of the VISA PVV or the IBM 3624 offset: made
 * under the issuer's PIN verification key, safe to keep in an account record because it reveals
 * nothing without that key. host/simulators/issuerHsmSimulator.ts implements this in process; an
 * adapter over the host HSM's PIN commands (host/hsm) could implement it for a real issuer-side
 * HSM, and the simulated issuer would not know which it got.
 */
export interface IssuerPinVerifier {
  /** PIN selection at card issue: the value to store for the PIN in `pinBlock` (PIN_BLOCK_INVALID if unreadable). */
  pinVerificationValue(pan: string, pinBlock: Uint8Array): Promise<Uint8Array>;

  /**
   * True when `pinBlock` holds the PIN `pinVerificationValue` was made from. A block that does not
   * decipher to a format 4 PIN field for this PAN (a wrong key, another PAN, tampering) is false:
   * to the issuer it is not the cardholder's PIN.
   */
  verifyPin(pan: string, pinBlock: Uint8Array, pinVerificationValue: Uint8Array): Promise<boolean>;
}
