/**
 * The TMS's tables (docs/updates.md; SPEC B1-B7). The TMS runs beside each customer's KMS and
 * reads its kms_terminals rows (the DMK handle); these tables hold what is the TMS's own:
 *
 *   tms_vendor_keys         the vendors' P-256 public keys packages must be signed with
 *   tms_packages            one row per signed package: the manifest exactly as signed, its
 *                           signature and the fields the TMS targets and checks by; the image
 *                           itself is a file in the data directory (imageFiles.ts); the
 *                           manifest's metadata version and expiry are TUF's (updateManifest.ts)
 *   tms_groups              which terminal is in which named group (targeting, phases)
 *   tms_deployments         a package targeted at serials, groups and models, in phases
 *   tms_deployment_terminals  per-terminal status of a deployment (pending ... failed with a code)
 *   tms_sessions            one authenticated download session: the DWK as an HSM handle (X1)
 *   tms_reports             append-only: every status report and every version report (inventory)
 *   tms_notices             B6: an update notice POSP hands a terminal in its next response
 */
import { sql } from 'kysely';
import type { HostMigration } from '../db/migrate';
import { addIdColumn } from '../db/migrations/columns';

export const tmsTables: HostMigration = {
  name: '0014_tms',
  async up(db, dialect) {
    await db.schema
      .createTable('tms_vendor_keys')
      // The first 8 bytes of SHA-256 of the public key, hex (shared/protocol/updateManifest vendorKeyId).
      .addColumn('key_id', 'varchar(16)', (col) => col.primaryKey())
      .addColumn('name', 'varchar(64)', (col) => col.notNull())
      // Uncompressed SEC 1 P-256 point, hex.
      .addColumn('public_key', 'varchar(130)', (col) => col.notNull().unique())
      .addColumn('created_at', 'text', (col) => col.notNull())
      .execute();

    await addIdColumn(db.schema.createTable('tms_packages'), dialect)
      .addColumn('name', 'varchar(64)', (col) => col.notNull())
      .addColumn('version', 'varchar(32)', (col) => col.notNull())
      // JSON array of model names.
      .addColumn('models', 'text', (col) => col.notNull())
      .addColumn('image_size', 'bigint', (col) => col.notNull())
      .addColumn('image_sha256', 'varchar(64)', (col) => col.notNull())
      .addColumn('min_version', 'varchar(32)', (col) => col.notNull())
      .addColumn('security_counter', 'integer', (col) => col.notNull())
      // TUF-style: the manifest's metadata version (one sequence per program name) and expiry.
      .addColumn('metadata_version', 'bigint', (col) => col.notNull())
      .addColumn('expires', 'text', (col) => col.notNull())
      // The manifest bytes as the vendor signed them (hex) and the signature over them, hex.
      .addColumn('manifest', 'text', (col) => col.notNull())
      .addColumn('signature', 'varchar(128)', (col) => col.notNull())
      .addColumn('vendor_key_id', 'varchar(16)', (col) => col.notNull().references('tms_vendor_keys.key_id'))
      .addColumn('created_at', 'text', (col) => col.notNull())
      .addUniqueConstraint('tms_packages_name_version', ['name', 'version'])
      .addCheckConstraint('tms_packages_image_size', sql`image_size > 0`)
      .execute();


    await db.schema
      .createTable('tms_groups')
      .addColumn('serial', 'varchar(32)', (col) => col.notNull())
      .addColumn('group_name', 'varchar(64)', (col) => col.notNull())
      .addPrimaryKeyConstraint('tms_groups_pk', ['serial', 'group_name'])
      .execute();

    await addIdColumn(db.schema.createTable('tms_deployments'), dialect)
      .addColumn('package_id', 'bigint', (col) => col.notNull().references('tms_packages.id'))
      // JSON {serials, groups, models} and the phases, JSON [{percent} | {groups}].
      .addColumn('targets', 'text', (col) => col.notNull())
      .addColumn('phases', 'text', (col) => col.notNull())
      .addColumn('failure_threshold_percent', 'integer', (col) => col.notNull())
      // JSON: how far the new version's payment results may fall behind the old's (paymentKpis.ts).
      .addColumn('kpi_limits', 'text', (col) => col.notNull())
      .addColumn('not_before', 'text')
      .addColumn('not_after', 'text')
      // Minutes after midnight UTC; both null when any time of day will do.
      .addColumn('window_start_minute', 'integer')
      .addColumn('window_end_minute', 'integer')
      .addColumn('mode', 'varchar(8)', (col) => col.notNull())
      .addColumn('state', 'varchar(16)', (col) => col.notNull())
      .addColumn('current_phase', 'integer', (col) => col.notNull())
      .addColumn('phase_started_at', 'text', (col) => col.notNull())
      .addColumn('halt_reason', 'text')
      .addColumn('created_at', 'text', (col) => col.notNull())
      .addColumn('updated_at', 'text', (col) => col.notNull())
      .addCheckConstraint('tms_deployments_mode', sql`mode in ('forced', 'attempt')`)
      .addCheckConstraint('tms_deployments_state', sql`state in ('running', 'halted', 'completed')`)
      .addCheckConstraint('tms_deployments_window', sql`(window_start_minute is null) = (window_end_minute is null)`)
      .execute();

    await db.schema
      .createTable('tms_deployment_terminals')
      .addColumn('deployment_id', 'bigint', (col) => col.notNull().references('tms_deployments.id'))
      .addColumn('serial', 'varchar(32)', (col) => col.notNull())
      .addColumn('phase', 'integer', (col) => col.notNull())
      .addColumn('status', 'varchar(16)', (col) => col.notNull())
      .addColumn('code', 'integer')
      .addColumn('updated_at', 'text', (col) => col.notNull())
      .addPrimaryKeyConstraint('tms_deployment_terminals_pk', ['deployment_id', 'serial'])
      .addCheckConstraint('tms_deployment_terminals_status', sql`status in ('pending', 'downloading', 'installing', 'success', 'failed')`)
      .execute();

    await db.schema
      .createTable('tms_sessions')
      .addColumn('session_id', 'varchar(32)', (col) => col.primaryKey())
      .addColumn('customer_code', 'varchar(16)', (col) => col.notNull())
      .addColumn('serial', 'varchar(32)', (col) => col.notNull())
      .addColumn('package_id', 'bigint', (col) => col.notNull().references('tms_packages.id'))
      .addColumn('deployment_id', 'bigint', (col) => col.notNull().references('tms_deployments.id'))
      // The DWK as an HSM handle (TR-31 block under the LMK, and its KCV): never in clear (X1).
      .addColumn('dwk_block', 'text', (col) => col.notNull())
      .addColumn('dwk_kcv', 'varchar(10)', (col) => col.notNull())
      // S-DATA, the system challenge, hex: SAC-I is checked against it once.
      .addColumn('s_data', 'varchar(64)', (col) => col.notNull())
      .addColumn('state', 'varchar(16)', (col) => col.notNull())
      .addColumn('created_at', 'text', (col) => col.notNull())
      .addColumn('expires_at', 'text', (col) => col.notNull())
      .addCheckConstraint('tms_sessions_state', sql`state in ('challenged', 'authenticated', 'refused', 'closed')`)
      .execute();

    await addIdColumn(db.schema.createTable('tms_reports'), dialect)
      .addColumn('customer_code', 'varchar(16)', (col) => col.notNull())
      .addColumn('serial', 'varchar(32)', (col) => col.notNull())
      .addColumn('model', 'varchar(32)', (col) => col.notNull())
      // JSON {name: version} of what the terminal runs as it reports.
      .addColumn('versions', 'text', (col) => col.notNull())
      .addColumn('deployment_id', 'bigint')
      .addColumn('stage', 'varchar(16)', (col) => col.notNull())
      .addColumn('code', 'integer', (col) => col.notNull())
      .addColumn('at', 'text', (col) => col.notNull())
      .execute();
    await db.schema.createIndex('tms_reports_serial').on('tms_reports').columns(['serial', 'id']).execute();

    await db.schema
      .createTable('tms_notices')
      .addColumn('customer_code', 'varchar(16)', (col) => col.notNull())
      .addColumn('serial', 'varchar(32)', (col) => col.notNull())
      .addColumn('deployment_id', 'bigint', (col) => col.notNull().references('tms_deployments.id'))
      .addColumn('created_at', 'text', (col) => col.notNull())
      .addColumn('delivered_at', 'text')
      .addPrimaryKeyConstraint('tms_notices_pk', ['customer_code', 'serial', 'deployment_id'])
      .execute();
  },
};
