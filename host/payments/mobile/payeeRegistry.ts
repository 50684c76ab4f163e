/**
 * Payee registration and updates (C1, C2; the patent's payee interface unit 21 and payee
 * verification unit 25). Nothing is stored as a payee until both checks pass:
 *
 * 1. the card: the provider's account verification (ISO 8583 0100, amount zero) must answer 00
 *    with the name matching the card's holder; a bank outside the provider's contracts, a bad card
 *    or another holder's name is PAYEE_CARD_NOT_VERIFIED;
 * 2. the number: a one-time code sent by SMS to the mobile number must come back
 *    (verificationCodes.ts: hashed at rest, ten minutes, five tries).
 *
 * A registration or update is kept as pending (mobile_registrations) between the two; confirming
 * it with the code writes the payee (mobile_payees) in the same transaction that marks it used, so
 * a code is good once. Updates arrive by any channel (data, SMS, e-mail, voice) and are confirmed
 * the same way, by a code sent to the number already registered: whoever asks, only the holder of
 * the number can change where its money goes. A changed name is checked against the bound card,
 * and a changed card against the name, so name and card always belong together.
 *
 * A pending registration lives as long as its code: each new start deletes those whose code has
 * expired, so the sealed card of a registration nobody confirmed does not stay behind.
 *
 * Starting a registration or update is charged to the number's registration bucket, and a failed
 * card check to the card's bucket too (lookupBuckets.ts), so the card check cannot be used to test
 * names against a card at will, from one number or from many.
 */
import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import { PaypadError } from '../../../shared/errors';
import { assertMainlandMobileNumber, mobileNumberToE164 } from '../../../shared/mobileNumber';
import { isLuhnValid, isPanShaped, maskPan } from '../../../shared/pan';
import type { AuditStore } from '../../audit/auditStore';
import { isoTimestamp, type Schema } from '../../db/schema';
import type { PaymentProvider } from '../paymentProvider';
import type { SmsGateway } from '../../sms/smsGateway';
import type { CardVault } from './cardVault';
import type { LookupBuckets } from './lookupBuckets';
import { normalisePayeeName } from './payeeName';
import { verificationCodeText } from './notifications';
import type { Channel, MobileTables } from './tables';
import { CODE_TTL_MS, hashVerificationCode, MAX_ATTEMPTS, newVerificationCode, verificationCodeMatches } from './verificationCodes';

export interface RegistrationRequest {
  readonly name: string;
  readonly mobile: string;
  /** The receiving card's PAN: checked, sealed, never returned or logged. */
  readonly pan: string;
}

export interface UpdateRequest {
  readonly mobile: string;
  readonly name?: string;
  readonly pan?: string;
}

export interface PendingRegistration {
  readonly registrationId: string;
  readonly kind: 'register' | 'update';
  /** The number the code went to. */
  readonly mobile: string;
  readonly expiresAt: string;
}

export interface Payee {
  readonly mobile: string;
  readonly name: string;
  readonly maskedCard: string;
  readonly registeredAt: string;
  readonly updatedAt: string;
}

export interface PayeeRegistry {
  /** C1. MOBILE_NUMBER_INVALID, PAYEE_REGISTRATION_INVALID, PAYEE_EXISTS, RATE_LIMITED, PAYEE_CARD_NOT_VERIFIED, SMS_*. */
  startRegistration(request: RegistrationRequest, channel: Channel): Promise<PendingRegistration>;
  /** C2. As startRegistration, PAYEE_UNKNOWN instead of PAYEE_EXISTS; at least one of name and pan. */
  startUpdate(request: UpdateRequest, channel: Channel): Promise<PendingRegistration>;
  /** REGISTRATION_UNKNOWN, VERIFICATION_CODE_EXPIRED, VERIFICATION_CODE_INVALID, VERIFICATION_ATTEMPTS_EXCEEDED, PAYEE_EXISTS. */
  confirm(registrationId: string, code: string): Promise<Payee>;
  /** The newest pending registration or update of `mobile`, for channels that answer with the code alone (SMS). */
  pendingFor(mobile: string): Promise<string | undefined>;
  payee(mobile: string): Promise<Payee | undefined>;
  /** The receiving card's PAN, for the credit of C9 only. PAYEE_UNKNOWN. */
  receivingCard(mobile: string): Promise<string>;
}

export interface PayeeRegistryDeps {
  readonly db: Kysely<Schema>;
  readonly provider: PaymentProvider;
  readonly sms: SmsGateway;
  readonly vault: CardVault;
  readonly buckets: LookupBuckets;
  readonly audit: AuditStore;
  readonly clock: () => Date;
}

const MAX_PAN_FIELD = 32;

export function createPayeeRegistry(deps: PayeeRegistryDeps): PayeeRegistry {
  const db = deps.db.withTables<MobileTables>();

  const payeeRow = (mobile: string) => db.selectFrom('mobile_payees').selectAll().where('mobile', '=', mobile).executeTakeFirst();

  /** The card check of step 1, charged to the number's registration bucket, and when it fails to the card's. */
  async function verifyCard(mobile: string, pan: string, name: string): Promise<void> {
    const number = { family: 'registration', id: mobile } as const;
    const card = { family: 'card', id: deps.vault.fingerprint(pan) } as const;
    await deps.buckets.assertAllowed([number, card], 'registration attempts for this mobile number or card');
    const answer = await deps.provider.verifyAccount({ pan, holderName: name });
    const ok = answer.responseCode === '00' && answer.nameMatches === true;
    if (ok) return deps.buckets.charge([number], true);
    await deps.buckets.charge([number, card], false);
    const why = answer.responseCode === '00' ? 'the name is not the card holder\'s name at the bank' : `the bank answered ${answer.responseCode}: ${answer.reason}`;
    throw new PaypadError('PAYEE_CARD_NOT_VERIFIED', `the receiving card could not be verified: ${why}`);
  }

  /** Sends the code first (nothing is kept if it cannot be sent), then keeps the pending row. */
  async function begin(kind: 'register' | 'update', mobile: string, name: string, pan: string, channel: Channel): Promise<PendingRegistration> {
    const id = randomUUID();
    const code = newVerificationCode();
    const now = deps.clock();
    const expiresAt = isoTimestamp(new Date(now.getTime() + CODE_TTL_MS));
    await deps.sms.send(mobileNumberToE164(mobile), verificationCodeText(code, CODE_TTL_MS / 60_000));
    // Registrations past their code's life are of no use to anyone: deleted, their sealed cards with them.
    await db.deleteFrom('mobile_registrations').where('expires_at', '<=', isoTimestamp(now)).execute();
    await db
      .insertInto('mobile_registrations')
      .values({ id, kind, mobile, channel, name, card_masked: maskPan(pan), card_sealed: deps.vault.seal(pan, mobile), code_hash: hashVerificationCode(id, code), attempts: 0, state: 'pending', created_at: isoTimestamp(now), expires_at: expiresAt })
      .execute();
    await deps.audit.append({ actor: `${channel}:${mobile}`, action: `mobile.payee.${kind}.started`, subject: `payee:${mobile}`, detail: { registrationId: id, card: maskPan(pan) } });
    return { registrationId: id, kind, mobile, expiresAt };
  }

  const toPayee = (r: { mobile: string; name: string; card_masked: string; registered_at: string; updated_at: string }): Payee => ({
    mobile: r.mobile,
    name: r.name,
    maskedCard: r.card_masked,
    registeredAt: r.registered_at,
    updatedAt: r.updated_at,
  });

  return {
    async startRegistration(request, channel) {
      const { name, mobile, pan } = checkRequest(request, true);
      if (await payeeRow(mobile)) throw new PaypadError('PAYEE_EXISTS', 'this mobile number is already registered: update it instead');
      await verifyCard(mobile, pan!, name!);
      return begin('register', mobile, name!, pan!, channel);
    },

    async startUpdate(request, channel) {
      const checked = checkRequest(request, false);
      if (checked.name === undefined && checked.pan === undefined) throw new PaypadError('PAYEE_REGISTRATION_INVALID', 'an update changes the name, the card, or both');
      const current = await payeeRow(checked.mobile);
      if (!current) throw new PaypadError('PAYEE_UNKNOWN', 'no payee is registered with this mobile number');
      const name = checked.name ?? current.name;
      const pan = checked.pan ?? deps.vault.open(current.card_sealed, current.mobile);
      await verifyCard(checked.mobile, pan, name);
      return begin('update', checked.mobile, name, pan, channel);
    },

    async confirm(registrationId, code) {
      if (typeof registrationId !== 'string' || registrationId.length > 36) throw new PaypadError('REGISTRATION_UNKNOWN', 'no registration waits for a code under this id');
      const now = deps.clock();
      const row = await db.selectFrom('mobile_registrations').selectAll().where('id', '=', registrationId).executeTakeFirst();
      if (!row || row.state !== 'pending') throw new PaypadError('REGISTRATION_UNKNOWN', 'no registration waits for a code under this id (unknown, already confirmed, or closed after too many tries)');
      if (now.toISOString() >= row.expires_at) throw new PaypadError('VERIFICATION_CODE_EXPIRED', 'the code has expired: start again for a new one');
      if (!verificationCodeMatches(row.id, code, row.code_hash)) {
        const attempts = row.attempts + 1;
        const closed = attempts >= MAX_ATTEMPTS;
        await db.updateTable('mobile_registrations').set({ attempts, state: closed ? 'failed' : 'pending' }).where('id', '=', row.id).where('attempts', '=', row.attempts).where('state', '=', 'pending').execute();
        await deps.audit.append({ actor: `registration:${row.id}`, action: 'mobile.payee.code.wrong', subject: `payee:${row.mobile}`, detail: { attempts, closed } });
        if (closed) throw new PaypadError('VERIFICATION_ATTEMPTS_EXCEEDED', `${MAX_ATTEMPTS} wrong codes: this registration is closed; start again`);
        throw new PaypadError('VERIFICATION_CODE_INVALID', `wrong code; ${MAX_ATTEMPTS - attempts} tries left`);
      }
      const at = isoTimestamp(now);
      const payee = await db.transaction().execute(async (trx) => {
        const used = await trx.updateTable('mobile_registrations').set({ state: 'confirmed' }).where('id', '=', row.id).where('state', '=', 'pending').executeTakeFirst();
        if (used.numUpdatedRows !== 1n) throw new PaypadError('REGISTRATION_UNKNOWN', 'this registration was confirmed a moment ago');
        if (row.kind === 'register') {
          const inserted = await trx
            .insertInto('mobile_payees')
            .values({ mobile: row.mobile, name: row.name, card_masked: row.card_masked, card_sealed: row.card_sealed, registered_at: at, updated_at: at, version: 1 })
            .onConflict((oc) => oc.column('mobile').doNothing())
            .executeTakeFirst();
          if (inserted.numInsertedOrUpdatedRows !== 1n) throw new PaypadError('PAYEE_EXISTS', 'this mobile number was registered in the meantime');
        } else {
          const updated = await trx.updateTable('mobile_payees').set((eb) => ({ name: row.name, card_masked: row.card_masked, card_sealed: row.card_sealed, updated_at: at, version: eb('version', '+', 1) })).where('mobile', '=', row.mobile).executeTakeFirst();
          if (updated.numUpdatedRows !== 1n) throw new PaypadError('PAYEE_UNKNOWN', 'the payee was removed in the meantime');
        }
        return trx.selectFrom('mobile_payees').selectAll().where('mobile', '=', row.mobile).executeTakeFirstOrThrow();
      });
      await deps.audit.append({ actor: `registration:${row.id}`, action: row.kind === 'register' ? 'mobile.payee.registered' : 'mobile.payee.updated', subject: `payee:${row.mobile}`, detail: { channel: row.channel, card: row.card_masked } });
      return toPayee(payee);
    },

    async pendingFor(mobile) {
      assertMainlandMobileNumber(mobile);
      const row = await db.selectFrom('mobile_registrations').select('id').where('mobile', '=', mobile).where('state', '=', 'pending').where('expires_at', '>', isoTimestamp(deps.clock())).orderBy('created_at', 'desc').limit(1).executeTakeFirst();
      return row?.id;
    },

    async payee(mobile) {
      assertMainlandMobileNumber(mobile);
      const row = await payeeRow(mobile);
      return row && toPayee(row);
    },

    async receivingCard(mobile) {
      const row = await payeeRow(mobile);
      if (!row) throw new PaypadError('PAYEE_UNKNOWN', 'no payee is registered with this mobile number');
      return deps.vault.open(row.card_sealed, row.mobile);
    },
  };
}

/** Every field's shape, before anything is asked or stored. */
function checkRequest(request: unknown, registering: boolean): { mobile: string; name?: string; pan?: string } {
  if (typeof request !== 'object' || request === null) throw new PaypadError('PAYEE_REGISTRATION_INVALID', 'expected an object with name, mobile and pan');
  const r = request as { mobile?: unknown; name?: unknown; pan?: unknown };
  assertMainlandMobileNumber(r.mobile);
  const name = registering || r.name !== undefined ? normalisePayeeName(r.name) : undefined;
  let pan: string | undefined;
  if (registering || r.pan !== undefined) {
    if (typeof r.pan !== 'string' || r.pan.length > MAX_PAN_FIELD || !isPanShaped(r.pan) || !isLuhnValid(r.pan)) {
      throw new PaypadError('PAYEE_REGISTRATION_INVALID', 'pan: expected the receiving card number, 8 to 19 digits with a valid check digit');
    }
    pan = r.pan;
  }
  return { mobile: r.mobile, name, pan };
}
