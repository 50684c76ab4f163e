/**
 * The CA's register of issued certificates and revocations (table ca_certificates).
 *
 * Invariants: a serial is recorded once; a revocation is final (revoked_at and the reason are
 * written once, by a conditional update, so two revokers cannot both succeed or overwrite the
 * first reason). Revocation status is read by every server on every new client (A8), so it
 * needs only this table, not the CA's private key.
 */
import type { ColumnType, Kysely } from 'kysely';
import { PaypadError } from '../../shared/errors';
import { isoTimestamp, type IsoTimestamp, type Schema } from '../db/schema';
import { normalizeSerial, isRevocationReason, type RevocationReason, type RevokedEntry } from './certificates';
import { type CertRole, isCertRole } from './roles';

export type CaCertificatesTable = {
  serial: ColumnType<string, string, never>;
  role: ColumnType<string, string, never>;
  subject: ColumnType<string, string, never>;
  customer_code: ColumnType<string | null, string | null, never>;
  not_before: ColumnType<IsoTimestamp, IsoTimestamp, never>;
  not_after: ColumnType<IsoTimestamp, IsoTimestamp, never>;
  /** PEM, so the CA can show and re-export what it signed. */
  certificate: ColumnType<string, string, never>;
  revoked_at: ColumnType<IsoTimestamp | null, never, IsoTimestamp>;
  revocation_reason: ColumnType<string | null, never, string>;
};

// Type aliases, not interfaces: Kysely's withTables needs types with implicit index signatures.
export type CaTables = {
  ca_certificates: CaCertificatesTable;
};

export interface IssuedCertificate {
  readonly serial: string;
  readonly role: CertRole;
  /** One line: "CN=kms-1, OU=kms, O=ACME". */
  readonly subject: string;
  readonly customerCode?: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly certificatePem: string;
  readonly revokedAt?: Date;
  readonly revocationReason?: RevocationReason;
}

/** As OCSP answers (RFC 6960 §2.2): a serial the CA never recorded is 'unknown', not 'good'. */
export type RevocationStatus = 'good' | 'revoked' | 'unknown';

export interface CertificateStore {
  /** @throws PaypadError CERT_EXISTS when the serial is already recorded. */
  record(cert: IssuedCertificate): Promise<void>;
  /**
   * Marks a certificate revoked, once.
   * @throws PaypadError CERT_NOT_FOUND for an unknown serial, CERT_ALREADY_REVOKED when revoked before.
   */
  revoke(serial: string, reason: RevocationReason, at: Date): Promise<IssuedCertificate>;
  revocationStatus(serial: string): Promise<RevocationStatus>;
  get(serial: string): Promise<IssuedCertificate | undefined>;
  /** Every certificate, oldest first. */
  list(): Promise<IssuedCertificate[]>;
  /** Every certificate issued to `subject` (its one-line form, "CN=PP-0001, OU=device"), oldest first. */
  bySubject(subject: string): Promise<IssuedCertificate[]>;
  /** Revoked certificates still within their validity at `now` (RFC 5280 §3.3: expired ones may leave the CRL). */
  revoked(now: Date): Promise<RevokedEntry[]>;
}

type Row = { [K in keyof CaCertificatesTable]: CaCertificatesTable[K] extends ColumnType<infer S, unknown, unknown> ? S : never };

export function createCertificateStore(schemaDb: Kysely<Schema>): CertificateStore {
  const db = schemaDb.withTables<CaTables>();
  const get = async (serial: string): Promise<IssuedCertificate | undefined> => {
    const row = await db.selectFrom('ca_certificates').selectAll().where('serial', '=', normalizeSerial(serial)).executeTakeFirst();
    return row && fromRow(row);
  };
  return {
    async record(cert) {
      const result = await db
        .insertInto('ca_certificates')
        .values({
          serial: normalizeSerial(cert.serial),
          role: cert.role,
          subject: cert.subject,
          customer_code: cert.customerCode ?? null,
          not_before: isoTimestamp(cert.notBefore),
          not_after: isoTimestamp(cert.notAfter),
          certificate: cert.certificatePem,
        })
        // The primary key decides, atomically, in both dialects: no read-then-write race.
        .onConflict((oc) => oc.column('serial').doNothing())
        .executeTakeFirst();
      if (result.numInsertedOrUpdatedRows === 0n) throw new PaypadError('CERT_EXISTS', `a certificate with serial ${cert.serial} is already recorded`);
    },

    async revoke(serial, reason, at) {
      if (!isRevocationReason(reason)) throw new PaypadError('BAD_ARGUMENT', `unknown revocation reason ${JSON.stringify(String(reason).slice(0, 32))}`);
      const key = normalizeSerial(serial);
      const result = await db
        .updateTable('ca_certificates')
        .set({ revoked_at: isoTimestamp(at), revocation_reason: reason })
        .where('serial', '=', key)
        .where('revoked_at', 'is', null)
        .executeTakeFirst();
      const after = await get(key);
      if (after === undefined) throw new PaypadError('CERT_NOT_FOUND', `the CA has issued no certificate with serial ${key}`);
      if (result.numUpdatedRows === 0n) throw new PaypadError('CERT_ALREADY_REVOKED', `certificate ${key} was already revoked (${after.revocationReason})`);
      return after;
    },

    async revocationStatus(serial) {
      const row = await db.selectFrom('ca_certificates').select('revoked_at').where('serial', '=', normalizeSerial(serial)).executeTakeFirst();
      if (row === undefined) return 'unknown';
      return row.revoked_at === null ? 'good' : 'revoked';
    },

    get,

    async list() {
      const rows = await db.selectFrom('ca_certificates').selectAll().orderBy('not_before').orderBy('serial').execute();
      return rows.map(fromRow);
    },

    async bySubject(subject) {
      const rows = await db.selectFrom('ca_certificates').selectAll().where('subject', '=', subject).orderBy('not_before').orderBy('serial').execute();
      return rows.map(fromRow);
    },

    async revoked(now) {
      const rows = await db
        .selectFrom('ca_certificates')
        .select(['serial', 'revoked_at', 'revocation_reason'])
        .where('revoked_at', 'is not', null)
        .where('not_after', '>', isoTimestamp(now))
        .orderBy('revoked_at')
        .orderBy('serial')
        .execute();
      return rows.map((r) => ({ serial: r.serial, revokedAt: new Date(r.revoked_at as string), reason: reasonOf(r.revocation_reason) }));
    },
  };
}

function fromRow(row: Row): IssuedCertificate {
  if (!isCertRole(row.role)) throw new PaypadError('INTERNAL', `ca_certificates row ${row.serial} has an unknown role`);
  return {
    serial: row.serial,
    role: row.role,
    subject: row.subject,
    ...(row.customer_code === null ? {} : { customerCode: row.customer_code }),
    notBefore: new Date(row.not_before),
    notAfter: new Date(row.not_after),
    certificatePem: row.certificate,
    ...(row.revoked_at === null ? {} : { revokedAt: new Date(row.revoked_at), revocationReason: reasonOf(row.revocation_reason) }),
  };
}

function reasonOf(reason: string | null): RevocationReason {
  if (reason === null || !isRevocationReason(reason)) throw new PaypadError('INTERNAL', 'ca_certificates holds an unknown revocation reason');
  return reason;
}
