/**
 * Enrolled phones as the gateway authenticates them (D4, X2): every request after enrolment is
 * MAC'd under the phone's K_mac with a sequence above the last one accepted
 * (shared/protocol/phoneClientEnvelope). The MAC is verified in the HSM first, then the sequence
 * is claimed with one conditional update (last_seq < seq), so two host processes cannot both
 * accept one number; a bad MAC, a replay or a reordered message is refused and changes nothing.
 * An unknown phone id gets the same MAC_MISMATCH as a bad MAC: no oracle for enrolled ids.
 */
import type { Kysely, Selectable } from 'kysely';
import { PaypadError } from '../../../shared/errors';
import { phoneRequestMacInput, phonePushMacInput, phoneResponseMacInput, type ReceivedPhoneRequest } from '../../../shared/protocol/phoneClientEnvelope';
import { assertFreshSequence } from '../../../shared/protocol/sequence';
import type { Schema } from '../../db/schema';
import type { Hsm, KeyHandle } from '../../hsm/hsm';
import type { BillClientTables } from './tables';

export interface PhoneKeys {
  readonly mac: KeyHandle;
  readonly enc: KeyHandle;
  readonly pin: KeyHandle;
}

export interface Phone {
  readonly phoneId: string;
  /** E.164. */
  readonly mobile: string;
  readonly keys: PhoneKeys;
}

export interface Phones {
  /** The phone behind a verified, fresh request; its sequence is claimed. */
  authenticate(request: ReceivedPhoneRequest): Promise<Phone>;
  /** The Paypad-Mac of a response to the request with `seq`. */
  responseMac(macKey: KeyHandle, status: number, phoneId: string, seq: number, body: Uint8Array): Promise<Uint8Array>;
  pushMac(phone: Phone, hello: number, body: string): Promise<Uint8Array>;
}

type PhoneRow = Selectable<BillClientTables['bill_client_phones']>;

function phoneOf(row: PhoneRow): Phone {
  return {
    phoneId: row.phone_id,
    mobile: row.mobile,
    keys: { mac: { block: row.mac_block, kcv: row.mac_kcv }, enc: { block: row.enc_block, kcv: row.enc_kcv }, pin: { block: row.pin_block, kcv: row.pin_kcv } },
  };
}

export function createPhones(schemaDb: Kysely<Schema>, hsm: Hsm): Phones {
  const db = schemaDb.withTables<BillClientTables>();
  return {
    async authenticate(request) {
      const row = await db.selectFrom('bill_client_phones').selectAll().where('phone_id', '=', request.phoneId).executeTakeFirst();
      if (!row) throw new PaypadError('MAC_MISMATCH', 'request MAC does not verify');
      const phone = phoneOf(row);
      await hsm.verifyMac(phone.keys.mac, phoneRequestMacInput(request, request.body), request.mac);
      assertFreshSequence(request.seq, Number(row.last_seq));
      const claimed = await db.updateTable('bill_client_phones').set({ last_seq: request.seq }).where('phone_id', '=', row.phone_id).where('last_seq', '<', request.seq).executeTakeFirst();
      if (claimed.numUpdatedRows !== 1n) throw new PaypadError('PROTOCOL_REPLAY', `sequence ${request.seq} was accepted a moment ago: replayed or reordered`);
      return phone;
    },
    responseMac(macKey, status, phoneId, seq, body) {
      return hsm.mac(macKey, phoneResponseMacInput(status, phoneId, seq, body));
    },
    pushMac(phone, hello, body) {
      return hsm.mac(phone.keys.mac, phonePushMacInput(phone.phoneId, hello, body));
    },
  };
}
