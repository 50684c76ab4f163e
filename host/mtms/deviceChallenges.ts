/**
 * The nonces MTMS hands out for a PIN pad to sign (A8; shared/protocol/deviceIdentity): one at
 * enrolment, one for each TK intake. A nonce is bound to the serial, the purpose and the operator
 * certificate that asked for it, expires after DEVICE_CHALLENGE_TTL_MS and is used once: the use is
 * a conditional update (still unused, unexpired, same serial, purpose and station), so two requests
 * racing with one signature cannot both get in, on one host or several sharing PostgreSQL.
 *
 * Asking for a challenge tells nothing about the serial: MTMS answers one for any well-formed
 * serial, known or not, and the intake decides later, after the device has proven itself.
 */
import { randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import { toHex } from '../../shared/bytes';
import { PaypadError } from '../../shared/errors';
import { DEVICE_NONCE_BYTES } from '../../shared/protocol/deviceIdentity';
import { serial as serialField } from '../../shared/protocol/fields';
import { isoTimestamp, type Schema } from '../db/schema';
import type { DeviceChallengePurpose, MtmsTables, OperatorIdentity } from './mtmsTables';

/** Time enough for the station to have the device sign (seconds on an ESP32), short enough to leave nothing lying about. */
export const DEVICE_CHALLENGE_TTL_MS = 5 * 60_000;

export interface DeviceChallenge {
  readonly serial: string;
  readonly purpose: DeviceChallengePurpose;
  readonly nonce: Uint8Array;
  readonly expiresAt: Date;
}

export interface DeviceChallenges {
  /** A fresh nonce for `serial` and `purpose`, usable by `operator` only. Expired ones are dropped. */
  issue(serial: string, purpose: DeviceChallengePurpose, operator: OperatorIdentity): Promise<DeviceChallenge>;
  /**
   * Uses `nonce` once. @throws PaypadError MTMS_CHALLENGE_INVALID when it was not issued for this
   * serial, purpose and operator, was used already, or has expired.
   */
  consume(serial: string, purpose: DeviceChallengePurpose, nonce: Uint8Array, operator: OperatorIdentity): Promise<void>;
}

export function createDeviceChallenges(schemaDb: Kysely<Schema>, clock: () => Date): DeviceChallenges {
  const db = schemaDb.withTables<MtmsTables>();
  return {
    async issue(serial, purpose, operator) {
      serialField(serial, 'serial');
      const now = clock();
      const nonce = new Uint8Array(randomBytes(DEVICE_NONCE_BYTES));
      const expiresAt = new Date(now.getTime() + DEVICE_CHALLENGE_TTL_MS);
      // An expired nonce can never be used again: nothing is lost by dropping it here.
      await db.deleteFrom('mtms_tk_challenges').where('expires_at', '<=', isoTimestamp(now)).execute();
      await db
        .insertInto('mtms_tk_challenges')
        .values({ nonce: toHex(nonce), serial, purpose, operator_cert_serial: operator.certSerial, issued_at: isoTimestamp(now), expires_at: isoTimestamp(expiresAt), used_at: null })
        .execute();
      return { serial, purpose, nonce, expiresAt };
    },

    async consume(serial, purpose, nonce, operator) {
      const now = isoTimestamp(clock());
      const used = await db
        .updateTable('mtms_tk_challenges')
        .set({ used_at: now })
        .where('nonce', '=', toHex(nonce))
        .where('serial', '=', serial)
        .where('purpose', '=', purpose)
        .where('operator_cert_serial', '=', operator.certSerial)
        .where('used_at', 'is', null)
        .where('expires_at', '>', now)
        .executeTakeFirst();
      if (used.numUpdatedRows !== 1n) {
        throw new PaypadError('MTMS_CHALLENGE_INVALID', `the ${purpose === 'tk' ? 'TK' : 'enrolment'} challenge signed for serial ${serial} was not issued to this station for it, has been used, or has expired: ask MTMS for a new one`);
      }
    },
  };
}
