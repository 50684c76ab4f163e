/**
 * Phone enrolment (D1, D4; docs/bill-payments.md "The phone client protocol"), in two steps:
 *
 * 1. start (not MAC'd: no key exists yet): the phone sends its id, its number and its three session
 *    keys, each in a key transport envelope for the gateway's enrolment key under a context naming
 *    the phone, the number and the key (shared/protocol/phoneClient phoneKeyContext). The HSM opens
 *    them and keeps each with its one usage (K_mac M6/C, K_enc D0/D, K_pin P0/D, never exportable);
 *    a code goes by SMS to the number (at most as often as enrolmentLimits.ts allows); the pending
 *    enrolment keeps the key blocks and the code's hash.
 * 2. finish, MAC'd under the pending K_mac with sequence 1: the code proves the number, the MAC
 *    proves the sender holds the keys sent at step 1. The phone is stored with the keys and
 *    sequence 1 in the same transaction that closes the enrolment, so a code is good once.
 *
 * A wrong code counts against the enrolment (five, as for payees) and changes nothing else.
 */
import { randomUUID } from 'node:crypto';
import type { Kysely, Selectable } from 'kysely';
import { fromHex } from '../../../shared/bytes';
import { PaypadError } from '../../../shared/errors';
import { decodeJson } from '../../../shared/protocol/validate';
import { enrolFinishRequest, enrolStartRequest, PHONE_KEY_NAMES, phoneKeyContext, type PhoneKeyName } from '../../../shared/protocol/phoneClient';
import { PHONE_MAX_BODY_BYTES, phoneRequestMacInput, type ReceivedPhoneRequest } from '../../../shared/protocol/phoneClientEnvelope';
import { assertFreshSequence } from '../../../shared/protocol/sequence';
import type { AuditStore } from '../../audit/auditStore';
import { isoTimestamp, type Schema } from '../../db/schema';
import type { Hsm, KeyAttributes, KeyHandle } from '../../hsm/hsm';
import { verificationCodeText } from '../../payments/mobile/notifications';
import { CODE_TTL_MS, hashVerificationCode, MAX_ATTEMPTS, newVerificationCode, verificationCodeMatches } from '../../payments/mobile/verificationCodes';
import type { SmsGateway } from '../../sms/smsGateway';
import type { EnrolmentLimits } from './enrolmentLimits';
import type { GatewayKeys } from './gatewayKeys';
import type { PhoneKeys } from './phones';
import type { BillClientTables } from './tables';

/** What each session key may do in the platform's HSM. */
const KEY_ATTRIBUTES: Readonly<Record<PhoneKeyName, KeyAttributes>> = Object.freeze({
  MAC: { usage: 'M6', algorithm: 'A', modeOfUse: 'C', exportability: 'N' },
  ENC: { usage: 'D0', algorithm: 'A', modeOfUse: 'D', exportability: 'N' },
  PIN: { usage: 'P0', algorithm: 'A', modeOfUse: 'D', exportability: 'N' },
});

export interface EnrolmentDeps {
  readonly db: Kysely<Schema>;
  readonly hsm: Hsm;
  readonly keys: GatewayKeys;
  readonly sms: SmsGateway;
  readonly limits: EnrolmentLimits;
  readonly audit: AuditStore;
  readonly clock: () => Date;
}

export interface Enrolments {
  start(body: Uint8Array): Promise<{ enrolmentId: string; expiresAt: string }>;
  /**
   * Finish, first half: the MAC verified under the pending K_mac and the sequence claimed. Errors
   * of the second half (confirm: a wrong or expired code) are answered MAC'd under `macKey`.
   */
  authenticateFinish(request: ReceivedPhoneRequest): Promise<{ macKey: KeyHandle; confirm(): Promise<{ phoneId: string; mobile: string }> }>;
}

export function createEnrolments(deps: EnrolmentDeps): Enrolments {
  const db = deps.db.withTables<BillClientTables>();

  return {
    async start(body) {
      const request = decodeJson(body, PHONE_MAX_BODY_BYTES, enrolStartRequest, 'enrolStart');
      const enrolled = await db.selectFrom('bill_client_phones').select('phone_id').where('phone_id', '=', request.phoneId).executeTakeFirst();
      if (enrolled) throw new PaypadError('PROTOCOL_REPLAY', 'this phone id is enrolled already: a new enrolment draws a new id');
      await deps.limits.take(request.mobile);
      const intake = (await deps.keys.enrolmentKey()).handle;
      const envelopes: Record<PhoneKeyName, string> = { MAC: request.macKey, ENC: request.encKey, PIN: request.pinKey };
      const handles = {} as Record<PhoneKeyName, KeyHandle>;
      for (const name of PHONE_KEY_NAMES) {
        handles[name] = await deps.hsm.importTransportedKey(intake, fromHex(envelopes[name], name), phoneKeyContext(request.phoneId, request.mobile, name), KEY_ATTRIBUTES[name]);
      }
      const id = randomUUID();
      const code = newVerificationCode();
      const now = deps.clock();
      const expiresAt = isoTimestamp(new Date(now.getTime() + CODE_TTL_MS));
      // The code is sent at once, never queued: it must not sit in a table in clear.
      await deps.sms.send(request.mobile, verificationCodeText(code, CODE_TTL_MS / 60_000));
      await db.deleteFrom('bill_client_enrolments').where('expires_at', '<=', isoTimestamp(now)).execute();
      await db
        .insertInto('bill_client_enrolments')
        .values({
          id, phone_id: request.phoneId, mobile: request.mobile, code_hash: hashVerificationCode(id, code), attempts: 0, last_seq: 0, state: 'pending', created_at: isoTimestamp(now), expires_at: expiresAt,
          mac_block: handles.MAC.block, mac_kcv: handles.MAC.kcv, enc_block: handles.ENC.block, enc_kcv: handles.ENC.kcv, pin_block: handles.PIN.block, pin_kcv: handles.PIN.kcv,
        })
        .execute();
      await deps.audit.append({ actor: `phone:${request.phoneId}`, action: 'bills.phone.enrolment.started', subject: `mobile:${request.mobile}`, detail: { enrolmentId: id } });
      return { enrolmentId: id, expiresAt };
    },

    async authenticateFinish(request) {
      const row = await db.selectFrom('bill_client_enrolments').selectAll().where('phone_id', '=', request.phoneId).where('state', '=', 'pending').orderBy('created_at', 'desc').limit(1).executeTakeFirst();
      // No enrolment for that phone reads as a bad MAC: nobody learns which phone ids are pending.
      if (!row) throw new PaypadError('MAC_MISMATCH', 'request MAC does not verify');
      const macKey = { block: row.mac_block, kcv: row.mac_kcv };
      await deps.hsm.verifyMac(macKey, phoneRequestMacInput(request, request.body), request.mac);
      assertFreshSequence(request.seq, Number(row.last_seq));
      const claimed = await db.updateTable('bill_client_enrolments').set({ last_seq: request.seq }).where('id', '=', row.id).where('last_seq', '<', request.seq).executeTakeFirst();
      if (claimed.numUpdatedRows !== 1n) throw new PaypadError('PROTOCOL_REPLAY', `sequence ${request.seq} was accepted a moment ago: replayed`);
      return { macKey, confirm: () => confirm(row, request) };
    },
  };

  async function confirm(row: Selectable<BillClientTables['bill_client_enrolments']>, request: ReceivedPhoneRequest): Promise<{ phoneId: string; mobile: string }> {
    const now = deps.clock();
    const macKey = { block: row.mac_block, kcv: row.mac_kcv };
    const message = decodeJson(request.body, PHONE_MAX_BODY_BYTES, enrolFinishRequest, 'enrolFinish');
    if (message.enrolmentId !== row.id) throw new PaypadError('PHONE_ENROLMENT_UNKNOWN', 'no enrolment of this phone waits for a code under this id');
    if (now.toISOString() >= row.expires_at) throw new PaypadError('VERIFICATION_CODE_EXPIRED', 'the code has expired: enrol again for a new one');
    if (!verificationCodeMatches(row.id, message.code, row.code_hash)) {
      const attempts = row.attempts + 1;
      const closed = attempts >= MAX_ATTEMPTS;
      await db.updateTable('bill_client_enrolments').set({ attempts, state: closed ? 'failed' : 'pending' }).where('id', '=', row.id).where('attempts', '=', row.attempts).where('state', '=', 'pending').execute();
      await deps.audit.append({ actor: `phone:${row.phone_id}`, action: 'bills.phone.code.wrong', subject: `mobile:${row.mobile}`, detail: { attempts, closed } });
      if (closed) throw new PaypadError('VERIFICATION_ATTEMPTS_EXCEEDED', `${MAX_ATTEMPTS} wrong codes: this enrolment is closed; enrol again`);
      throw new PaypadError('VERIFICATION_CODE_INVALID', `wrong code; ${MAX_ATTEMPTS - attempts} tries left`);
    }
    const keys: PhoneKeys = { mac: macKey, enc: { block: row.enc_block, kcv: row.enc_kcv }, pin: { block: row.pin_block, kcv: row.pin_kcv } };
    await db.transaction().execute(async (trx) => {
      const used = await trx.updateTable('bill_client_enrolments').set({ state: 'confirmed' }).where('id', '=', row.id).where('state', '=', 'pending').executeTakeFirst();
      if (used.numUpdatedRows !== 1n) throw new PaypadError('PHONE_ENROLMENT_UNKNOWN', 'this enrolment was confirmed a moment ago');
      await trx
        .insertInto('bill_client_phones')
        .values({
          phone_id: row.phone_id, mobile: row.mobile, last_seq: request.seq, enrolled_at: isoTimestamp(now),
          mac_block: keys.mac.block, mac_kcv: keys.mac.kcv, enc_block: keys.enc.block, enc_kcv: keys.enc.kcv, pin_block: keys.pin.block, pin_kcv: keys.pin.kcv,
        })
        .execute();
    });
    await deps.audit.append({ actor: `phone:${row.phone_id}`, action: 'bills.phone.enrolled', subject: `mobile:${row.mobile}`, detail: { enrolmentId: row.id } });
    return { phoneId: row.phone_id, mobile: row.mobile };
  }
}
