/**
 * What POSP remembers (migration.ts): the exchanges it accepted from each terminal, with the
 * answers a retry gets again, and its journal of card authorisations. The terminal's sequence is
 * the KMS's (kms_terminals.last_seq): one strictly increasing sequence per terminal covers key
 * loading and transactions, as the terminal keeps one (firmware/core/terminalState).
 *
 * Invariants kept here:
 * - X2: a sequence number is accepted once. claimExchange advances last_seq with one conditional
 *   update (last_seq < seq, the TK generation and MAK that verified the request still current)
 *   and records the exchange in the same transaction, so two hosts cannot both accept one number,
 *   and a retry finds the exchange its first copy recorded.
 * - An exchange is answered once; its answer never changes (answerExchange is conditional).
 * - X1: rows hold masked PANs and answer bodies only; no track data, PIN block or key.
 */
import type { ColumnType, Kysely, Selectable } from 'kysely';
import { isoTimestamp, type IsoTimestamp, type Schema } from '../db/schema';
import type { KmsTables } from '../kms/kmsStore';

export type AuthorisationState = 'authorising' | 'approved' | 'declined' | 'reversed' | 'reversal_failed';

export type PospTables = {
  posp_exchanges: {
    customer_code: ColumnType<string, string, never>;
    serial: ColumnType<string, string, never>;
    generation: ColumnType<number, number, never>;
    seq: ColumnType<number, number, never>;
    route: ColumnType<string, string, never>;
    request_sha256: ColumnType<string, string, never>;
    status: number | null;
    answer: string | null;
    created_at: ColumnType<IsoTimestamp, IsoTimestamp, never>;
    answered_at: IsoTimestamp | null;
  };
  posp_transactions: {
    reference: ColumnType<string, string, never>;
    customer_code: ColumnType<string, string, never>;
    serial: ColumnType<string, string, never>;
    seq: ColumnType<number, number, never>;
    link_terminal_id: ColumnType<string, string, never>;
    stan: ColumnType<number, number, never>;
    transmitted_at: ColumnType<string, string, never>;
    amount: ColumnType<number, number, never>;
    currency: ColumnType<string, string, never>;
    masked_pan: ColumnType<string, string, never>;
    lookup_id: ColumnType<string, string, never>;
    state: AuthorisationState;
    response_code: string | null;
    approval_code: string | null;
    created_at: ColumnType<IsoTimestamp, IsoTimestamp, never>;
    updated_at: IsoTimestamp;
  };
};

/** Names one request of one terminal: the exchange's key. */
export interface ExchangeKey {
  readonly customerCode: string;
  readonly serial: string;
  readonly generation: number;
  readonly seq: number;
}

export interface ExchangeClaim extends ExchangeKey {
  readonly route: string;
  readonly requestSha256: string;
  /** The MAK handle's block that verified the request: a sign-on meanwhile makes the claim fail. */
  readonly makBlock: string;
  readonly at: Date;
}

export interface StoredAnswer {
  readonly status: number;
  /** The answer body's JSON text, as first sent. */
  readonly body: string;
}

export interface StoredExchange {
  readonly requestSha256: string;
  /** Undefined while the first copy is still being answered. */
  readonly answer?: StoredAnswer;
}

export interface AuthorisationRecord {
  readonly reference: string;
  readonly customerCode: string;
  readonly serial: string;
  readonly seq: number;
  readonly linkTerminalId: string;
  readonly stan: number;
  readonly transmittedAt: string;
  readonly amount: number;
  readonly currency: string;
  readonly maskedPan: string;
  readonly lookupId: string;
  readonly state: AuthorisationState;
  readonly responseCode?: string;
  readonly approvalCode?: string;
}

export interface PospStore {
  /**
   * X2: accepts `seq` for the terminal and records the exchange, in one transaction. False (nothing
   * changed) when the sequence is not above last_seq, or the TK or MAK changed since the request verified.
   */
  claimExchange(claim: ExchangeClaim): Promise<boolean>;
  exchange(key: ExchangeKey): Promise<StoredExchange | undefined>;
  /** Stores the answer of a claimed exchange, unless it has one (the first answer stays). */
  answerExchange(key: ExchangeKey, answer: StoredAnswer, at: Date): Promise<void>;
  recordAuthorisation(record: AuthorisationRecord, at: Date): Promise<void>;
  /** Moves an authorisation to how it ended, with the link's response code and approval code when there are. */
  endAuthorisation(reference: string, end: { state: AuthorisationState; responseCode?: string; approvalCode?: string }, at: Date): Promise<void>;
  authorisation(reference: string): Promise<AuthorisationRecord | undefined>;
  /** `customerCode`'s authorisations still authorising or with an unacknowledged reversal, last changed before `before`, oldest first. */
  unfinishedAuthorisations(customerCode: string, before: Date): Promise<AuthorisationRecord[]>;
  /** The claimed exchange of the terminal's request with `seq` that has no answer yet, if any. */
  unansweredExchange(customerCode: string, serial: string, seq: number): Promise<ExchangeKey | undefined>;
}

export function createPospStore(schemaDb: Kysely<Schema>): PospStore {
  const db = schemaDb.withTables<PospTables>();

  return {
    claimExchange(c) {
      return schemaDb.transaction().execute(async (base) => {
        const trx = base.withTables<PospTables & KmsTables>();
        const advanced = await trx
          .updateTable('kms_terminals')
          .set({ last_seq: c.seq })
          .where('customer_code', '=', c.customerCode)
          .where('serial', '=', c.serial)
          .where('generation', '=', c.generation)
          .where('mak_block', '=', c.makBlock)
          .where('last_seq', '<', c.seq)
          .executeTakeFirst();
        if (advanced.numUpdatedRows !== 1n) return false;
        await trx
          .insertInto('posp_exchanges')
          .values({
            customer_code: c.customerCode,
            serial: c.serial,
            generation: c.generation,
            seq: c.seq,
            route: c.route,
            request_sha256: c.requestSha256,
            status: null,
            answer: null,
            created_at: isoTimestamp(c.at),
            answered_at: null,
          })
          .execute();
        return true;
      });
    },

    async exchange(k) {
      const row = await db
        .selectFrom('posp_exchanges')
        .select(['request_sha256', 'status', 'answer'])
        .where('customer_code', '=', k.customerCode)
        .where('serial', '=', k.serial)
        .where('generation', '=', k.generation)
        .where('seq', '=', k.seq)
        .executeTakeFirst();
      if (row === undefined) return undefined;
      return row.status === null || row.answer === null ? { requestSha256: row.request_sha256 } : { requestSha256: row.request_sha256, answer: { status: row.status, body: row.answer } };
    },

    async answerExchange(k, answer, at) {
      await db
        .updateTable('posp_exchanges')
        .set({ status: answer.status, answer: answer.body, answered_at: isoTimestamp(at) })
        .where('customer_code', '=', k.customerCode)
        .where('serial', '=', k.serial)
        .where('generation', '=', k.generation)
        .where('seq', '=', k.seq)
        .where('status', 'is', null)
        .execute();
    },

    async recordAuthorisation(r, at) {
      await db
        .insertInto('posp_transactions')
        .values({
          reference: r.reference,
          customer_code: r.customerCode,
          serial: r.serial,
          seq: r.seq,
          link_terminal_id: r.linkTerminalId,
          stan: r.stan,
          transmitted_at: r.transmittedAt,
          amount: r.amount,
          currency: r.currency,
          masked_pan: r.maskedPan,
          lookup_id: r.lookupId,
          state: r.state,
          response_code: r.responseCode ?? null,
          approval_code: r.approvalCode ?? null,
          created_at: isoTimestamp(at),
          updated_at: isoTimestamp(at),
        })
        .execute();
    },

    async endAuthorisation(reference, end, at) {
      await db
        .updateTable('posp_transactions')
        .set({ state: end.state, response_code: end.responseCode ?? null, approval_code: end.approvalCode ?? null, updated_at: isoTimestamp(at) })
        .where('reference', '=', reference)
        .execute();
    },

    async authorisation(reference) {
      const row = await db.selectFrom('posp_transactions').selectAll().where('reference', '=', reference).executeTakeFirst();
      return row && fromRow(row);
    },

    async unfinishedAuthorisations(customerCode, before) {
      const rows = await db
        .selectFrom('posp_transactions')
        .selectAll()
        .where('customer_code', '=', customerCode)
        .where('state', 'in', ['authorising', 'reversal_failed'])
        .where('updated_at', '<', isoTimestamp(before))
        .orderBy('updated_at')
        .execute();
      return rows.map(fromRow);
    },

    async unansweredExchange(customerCode, serial, seq) {
      const row = await db
        .selectFrom('posp_exchanges')
        .select(['generation'])
        .where('customer_code', '=', customerCode)
        .where('serial', '=', serial)
        .where('seq', '=', seq)
        .where('status', 'is', null)
        .executeTakeFirst();
      return row && { customerCode, serial, generation: row.generation, seq };
    },
  };
}

function fromRow(row: Selectable<PospTables['posp_transactions']>): AuthorisationRecord {
  return {
    reference: row.reference,
    customerCode: row.customer_code,
    serial: row.serial,
    seq: Number(row.seq),
    linkTerminalId: row.link_terminal_id,
    stan: row.stan,
    transmittedAt: row.transmitted_at,
    amount: Number(row.amount),
    currency: row.currency,
    maskedPan: row.masked_pan,
    lookupId: row.lookup_id,
    state: row.state,
    ...(row.response_code === null ? {} : { responseCode: row.response_code }),
    ...(row.approval_code === null ? {} : { approvalCode: row.approval_code }),
  };
}
