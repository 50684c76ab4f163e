/**
 * Cards bound to a phone (D1). The phone sends the card number and the holder's name enciphered
 * under K_enc; the HSM deciphers them, the card's issuing bank verifies the account through the
 * payment provider (ISO 8583 0100 account verification, amount zero, with the holder's name), and
 * only then is the card bound: as its reference (gatewayKeys cardRef) and 6/4 mask, never the PAN.
 * Binding a card bound already answers with the card as bound (nothing changes).
 *
 * At payment time the phone sends the PAN again under K_enc; boundCard refuses one whose
 * reference is not bound to that phone (PHONE_CARD_NOT_BOUND).
 */
import type { Kysely } from 'kysely';
import { fromHex } from '../../../shared/bytes';
import { PaypadError } from '../../../shared/errors';
import { isLuhnValid, isPanShaped, maskPan } from '../../../shared/pan';
import { bindCardRequest, type BoundCard, type EncipheredFieldName, fieldValue } from '../../../shared/protocol/phoneClient';
import { PHONE_MAX_BODY_BYTES } from '../../../shared/protocol/phoneClientEnvelope';
import { decodeJson } from '../../../shared/protocol/validate';
import type { AuditStore } from '../../audit/auditStore';
import { isoTimestamp, type Schema } from '../../db/schema';
import type { Hsm } from '../../hsm/hsm';
import type { PaymentProvider } from '../../payments/paymentProvider';
import type { GatewayKeys } from './gatewayKeys';
import type { Phone } from './phones';
import type { BillClientTables } from './tables';

export interface BoundCards {
  bind(phone: Phone, body: Uint8Array): Promise<BoundCard>;
  /** PHONE_CARD_NOT_BOUND unless `pan` is bound to `phone`. */
  assertBound(phone: Phone, pan: string): Promise<BoundCard>;
}

export interface BoundCardsDeps {
  readonly db: Kysely<Schema>;
  readonly hsm: Hsm;
  readonly keys: GatewayKeys;
  readonly provider: PaymentProvider;
  readonly audit: AuditStore;
  readonly clock: () => Date;
}

/** A field of a verified message, deciphered in the HSM under the phone's K_enc. */
export async function decipherField(hsm: Hsm, phone: Phone, name: EncipheredFieldName, hex: string): Promise<string> {
  return fieldValue(name, await hsm.decipherCardData(phone.keys.enc, fromHex(hex, name)));
}

export function createBoundCards(deps: BoundCardsDeps): BoundCards {
  const db = deps.db.withTables<BillClientTables>();
  const toCard = (r: { card_ref: string; masked_pan: string; bound_at: string }): BoundCard => ({ cardRef: r.card_ref, maskedPan: r.masked_pan, boundAt: r.bound_at });

  return {
    async bind(phone, body) {
      const request = decodeJson(body, PHONE_MAX_BODY_BYTES, bindCardRequest, 'bindCard');
      const pan = await decipherField(deps.hsm, phone, 'pan', request.pan);
      const holder = await decipherField(deps.hsm, phone, 'holder', request.holder);
      if (!isPanShaped(pan) || !isLuhnValid(pan)) throw new PaypadError('PAN_INVALID', 'card number: expected 8 to 19 digits with a valid check digit');
      const cardRef = await deps.keys.cardRef(pan);
      const existing = await db.selectFrom('bill_client_cards').selectAll().where('phone_id', '=', phone.phoneId).where('card_ref', '=', cardRef).executeTakeFirst();
      if (existing) return toCard(existing);
      const answer = await deps.provider.verifyAccount({ pan, holderName: holder });
      if (answer.responseCode !== '00' || answer.nameMatches !== true) {
        await deps.audit.append({ actor: `phone:${phone.phoneId}`, action: 'bills.phone.card.refused', subject: `mobile:${phone.mobile}`, detail: { card: maskPan(pan), responseCode: answer.responseCode } });
        const why = answer.responseCode === '00' ? "the name is not the card holder's name at the bank" : `the bank answered ${answer.responseCode}: ${answer.reason}`;
        throw new PaypadError('PHONE_CARD_NOT_VERIFIED', `the card could not be verified: ${why}`);
      }
      const row = { phone_id: phone.phoneId, card_ref: cardRef, masked_pan: maskPan(pan), bound_at: isoTimestamp(deps.clock()) };
      await db.insertInto('bill_client_cards').values(row).onConflict((oc) => oc.columns(['phone_id', 'card_ref']).doNothing()).execute();
      await deps.audit.append({ actor: `phone:${phone.phoneId}`, action: 'bills.phone.card.bound', subject: `mobile:${phone.mobile}`, detail: { card: row.masked_pan } });
      return toCard(row);
    },

    async assertBound(phone, pan) {
      const cardRef = await deps.keys.cardRef(pan);
      const row = await db.selectFrom('bill_client_cards').selectAll().where('phone_id', '=', phone.phoneId).where('card_ref', '=', cardRef).executeTakeFirst();
      if (!row) throw new PaypadError('PHONE_CARD_NOT_BOUND', 'this card is not bound to this phone: bind it first');
      return toCard(row);
    },
  };
}
