/**
 * Download sessions (tms_sessions) and the terminal's message sequence as the TMS uses it.
 *
 * Invariants kept here:
 * - X2: a sequence number is accepted once. The TMS shares the terminal's one sequence with the
 *   KMS and POSP (kms_terminals.last_seq): claimSequence advances it with one conditional update
 *   (last_seq < seq, the TK generation and MAK that verified the request still current), so a
 *   replayed or reordered request, or two hosts answering one number, change nothing.
 * - B3: a session serves its image only after SAC-I verified, and SAC-I is checked once: the move
 *   from challenged to authenticated (or refused) is conditional, so a replayed confirm finds the
 *   session no longer challenged. A session past its expiry serves nothing.
 * - X1: the DWK is stored as an HSM handle only.
 */
import type { Kysely, Selectable } from 'kysely';
import { PaypadError } from '../../shared/errors';
import { isoTimestamp, type Schema } from '../db/schema';
import type { KeyHandle } from '../hsm/hsm';
import type { KmsTables } from '../kms/kmsStore';
import type { SessionState, TmsTables } from './tmsTables';

export interface DownloadSession {
  readonly sessionId: string;
  readonly customerCode: string;
  readonly serial: string;
  readonly packageId: number;
  readonly deploymentId: number;
  readonly dwk: KeyHandle;
  readonly sData: string;
  readonly state: SessionState;
  readonly expiresAt: Date;
}

export interface SequenceClaim {
  readonly customerCode: string;
  readonly serial: string;
  readonly generation: number;
  /** The MAK handle's block that verified the request: a sign-on meanwhile makes the claim fail. */
  readonly makBlock: string;
  readonly seq: number;
}

export interface SessionStore {
  /** False (nothing changed) when the sequence is not above last_seq, or the keys changed. */
  claimSequence(claim: SequenceClaim): Promise<boolean>;
  open(session: Omit<DownloadSession, 'state'>, at: Date): Promise<void>;
  /** The session of this terminal, or TMS_SESSION_UNKNOWN (another terminal's id is unknown too). */
  get(customerCode: string, serial: string, sessionId: string): Promise<DownloadSession>;
  /** challenged -> authenticated or refused, once; false when it was not challenged any more. */
  settle(sessionId: string, outcome: 'authenticated' | 'refused'): Promise<boolean>;
  /** authenticated -> closed, for this terminal's session only: the terminal reported it is past the download. */
  close(customerCode: string, serial: string, sessionId: string): Promise<void>;
}

function toSession(r: Selectable<TmsTables['tms_sessions']>): DownloadSession {
  return {
    sessionId: r.session_id,
    customerCode: r.customer_code,
    serial: r.serial,
    packageId: Number(r.package_id),
    deploymentId: Number(r.deployment_id),
    dwk: { block: r.dwk_block, kcv: r.dwk_kcv },
    sData: r.s_data,
    state: r.state,
    expiresAt: new Date(r.expires_at),
  };
}

export function createSessionStore(schemaDb: Kysely<Schema>): SessionStore {
  const db = schemaDb.withTables<TmsTables & KmsTables>();
  return {
    async claimSequence(c) {
      const r = await db
        .updateTable('kms_terminals')
        .set({ last_seq: c.seq })
        .where('customer_code', '=', c.customerCode)
        .where('serial', '=', c.serial)
        .where('generation', '=', c.generation)
        .where('mak_block', '=', c.makBlock)
        .where('last_seq', '<', c.seq)
        .executeTakeFirst();
      return r.numUpdatedRows === 1n;
    },

    async open(s, at) {
      await db
        .insertInto('tms_sessions')
        .values({
          session_id: s.sessionId,
          customer_code: s.customerCode,
          serial: s.serial,
          package_id: s.packageId,
          deployment_id: s.deploymentId,
          dwk_block: s.dwk.block,
          dwk_kcv: s.dwk.kcv,
          s_data: s.sData,
          state: 'challenged',
          created_at: isoTimestamp(at),
          expires_at: isoTimestamp(s.expiresAt),
        })
        .execute();
    },

    async get(customerCode, serial, sessionId) {
      const row = await db
        .selectFrom('tms_sessions')
        .selectAll()
        .where('session_id', '=', sessionId.toUpperCase())
        .where('customer_code', '=', customerCode)
        .where('serial', '=', serial)
        .executeTakeFirst();
      if (row === undefined) throw new PaypadError('TMS_SESSION_UNKNOWN', `no download session ${sessionId} for terminal ${serial}`);
      return toSession(row);
    },

    async settle(sessionId, outcome) {
      const r = await db.updateTable('tms_sessions').set({ state: outcome }).where('session_id', '=', sessionId).where('state', '=', 'challenged').executeTakeFirst();
      return r.numUpdatedRows === 1n;
    },

    async close(customerCode, serial, sessionId) {
      await db
        .updateTable('tms_sessions')
        .set({ state: 'closed' })
        .where('session_id', '=', sessionId)
        .where('customer_code', '=', customerCode)
        .where('serial', '=', serial)
        .where('state', '=', 'authenticated')
        .execute();
    },
  };
}
