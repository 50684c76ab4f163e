/**
 * The phone's secure element as the payment client sees it (SPEC D1: card data on the phone is
 * kept enciphered under a symmetric key; docs/bill-payments.md "The phone client"). The element
 * holds one storage key that never leaves it and seals what the client keeps at rest: the session
 * keys agreed at enrolment and each bound card's number and expiry. What is sealed for one purpose
 * does not open for another (the purpose is authenticated data), and nothing opens after the
 * sealed bytes were altered or under another element's key (PHONE_ELEMENT_INVALID).
 *
 * Two implementations, behind this one interface, and the client core does not know which it got:
 *   - the CLI (bin/commands/phoneElement.ts): AES-256-GCM under a key in a file of mode 0600 in
 *     the client's directory;
 *   - the browser (host/bills/web): a non-extractable WebCrypto AES-GCM key kept in IndexedDB.
 * Both seal as IV (12) || ciphertext || tag (16), AES-GCM (SP 800-38D) with a random IV.
 *
 * What is opened lives in the client's memory only for the operation that needs it (shared/client
 * phoneClient.ts wipes it): a phone browser or process offers no boundary closer than that.
 */
import type { Rng } from '../bytes';

export const ELEMENT_PURPOSES = Object.freeze(['phone-keys', 'card'] as const);
export type ElementPurpose = (typeof ELEMENT_PURPOSES)[number];

export interface SecureElement {
  /** `data` sealed under the element's storage key for `purpose`. */
  seal(purpose: ElementPurpose, data: Uint8Array): Promise<Uint8Array>;
  /** What `seal(purpose, ...)` sealed. PHONE_ELEMENT_INVALID for anything else. */
  open(purpose: ElementPurpose, sealed: Uint8Array): Promise<Uint8Array>;
  /** The platform's CSPRNG (crypto.getRandomValues), for keys, IVs and PIN block fill. */
  readonly rng: Rng;
}
