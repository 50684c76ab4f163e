/**
 * The card and PIN of a phone's payment message (D4, E3), opened for one debit: the card number and
 * expiry deciphered in the HSM under the phone's K_enc and checked bound to the phone
 * (PHONE_CARD_NOT_BOUND), and the PIN block (ISO 9564-1 format 4 under K_pin, itself under K_enc)
 * translated in the HSM from K_pin to the acquirer link's zone PIN key (PIN_BLOCK_INVALID). The
 * PIN is never in clear outside the HSM; the translated block is wiped however the debit ends.
 * Bills (billPayments.ts) and gateway orders (orderPayments.ts) pay through it.
 */
import { fromHex, wipe } from '../../../shared/bytes';
import { PaypadError } from '../../../shared/errors';
import type { Hsm, KeyHandle } from '../../hsm/hsm';
import { type BoundCards, decipherField } from './cards';
import type { Phone } from './phones';

export interface PhoneCardDeps {
  readonly hsm: Hsm;
  /** The acquirer link's zone PIN key (P0 that may encrypt) in `hsm`. */
  readonly zonePinKey: KeyHandle;
  readonly cards: BoundCards;
}

/** The enciphered fields of a pay message, as hex. */
export interface EncipheredCard {
  readonly pan: string;
  readonly expiry: string;
  readonly pinBlock: string;
}

export interface OpenedCard {
  readonly pan: string;
  /** YYMM. */
  readonly expiry: string;
  /** The PIN block under the zone PIN key; wiped when `use` ends. */
  readonly pinBlock: Uint8Array;
}

/** Runs `use` with the message's card opened and its PIN block under the zone PIN key. */
export async function withPhoneCard<T>(deps: PhoneCardDeps, phone: Phone, fields: EncipheredCard, use: (card: OpenedCard) => Promise<T>): Promise<T> {
  const pan = await decipherField(deps.hsm, phone, 'pan', fields.pan);
  const expiry = await decipherField(deps.hsm, phone, 'expiry', fields.expiry);
  if (!/^\d{4}$/.test(expiry)) throw new PaypadError('PROTOCOL_MALFORMED', 'expiry: expected YYMM');
  await deps.cards.assertBound(phone, pan);
  const underPinKey = fromHex(await decipherField(deps.hsm, phone, 'pinBlock', fields.pinBlock), 'pinBlock');
  let pinBlock: Uint8Array | undefined;
  try {
    pinBlock = await deps.hsm.translatePinBlock(phone.keys.pin, deps.zonePinKey, underPinKey, pan);
    return await use({ pan, expiry, pinBlock });
  } finally {
    wipe(underPinKey, ...(pinBlock ? [pinBlock] : []));
  }
}
