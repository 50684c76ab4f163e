/**
 * The CA's record of every certificate it issued, and of revocations (RFC 5280 §5: the CRL and
 * the per-connection revocation check both read this table).
 */
import { sql } from 'kysely';
import type { HostMigration } from '../db/migrate';

export const caCertificates: HostMigration = {
  name: '0002_ca_certificates',
  async up(db) {
    await db.schema
      .createTable('ca_certificates')
      // Canonical uppercase hex (certificates.ts normalizeSerial): at most 20 octets.
      .addColumn('serial', 'varchar(40)', (col) => col.primaryKey())
      .addColumn('role', 'text', (col) => col.notNull())
      .addColumn('subject', 'text', (col) => col.notNull())
      .addColumn('customer_code', 'text')
      .addColumn('not_before', 'text', (col) => col.notNull())
      .addColumn('not_after', 'text', (col) => col.notNull())
      .addColumn('certificate', 'text', (col) => col.notNull())
      .addColumn('revoked_at', 'text')
      .addColumn('revocation_reason', 'text')
      // A revocation has both a time and a reason, or neither.
      .addCheckConstraint('ca_certificates_revocation', sql`(revoked_at is null) = (revocation_reason is null)`)
      .execute();
    // The CRL reads revoked rows only.
    await db.schema.createIndex('ca_certificates_revoked_at').on('ca_certificates').column('revoked_at').execute();
  },
};
