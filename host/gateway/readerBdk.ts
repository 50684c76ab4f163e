/**
 * The card readers' base derivation key (BDK; E4, X1; docs/card-readers.md "The readers' BDK"):
 * entered at a key ceremony as two or three components, each with its custodian's check value,
 * and the combined key's check value (ANSI X9.24-1:2017 split knowledge and dual control). The
 * gateway's HSM combines them (host/hsm/keyComponents) and keeps the key as TR-31 usage B0, mode
 * X, never exportable; what is stored, in gateway_reader_keys, is that key block under the HSM's
 * master key and the check value. The key is in clear only inside the HSM's command.
 *
 * One row, so every host process on the database uses the same BDK and a restart keeps it. A BDK
 * already loaded is replaced only when asked to (`replace`): readers injected from the old one
 * stop working, so the replacement is audited with both check values.
 */
import { join } from 'node:path';
import type { Kysely } from 'kysely';
import { PaypadError } from '../../shared/errors';
import { createAuditStore } from '../audit/auditStore';
import type { Database } from '../db/database';
import { isoTimestamp, type Schema } from '../db/schema';
import type { Hsm, KeyAttributes, KeyComponent, KeyHandle } from '../hsm/hsm';
import { type HsmBackend, type HsmConfig, roleHsmConfig } from '../hsm/index';

type ReaderKeyTables = {
  gateway_reader_keys: { name: string; key_block: string; key_kcv: string; loaded_at: string; loaded_by: string };
};

const BDK_ROW = 'reader-bdk';
/** A KSN of the first transaction (initial key ID zero, counter 1): the load derives one working key with it. */
const PROBE_KSN = Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1);
const BDK_ATTRIBUTES: KeyAttributes = Object.freeze({ usage: 'B0', algorithm: 'A', modeOfUse: 'X', exportability: 'N' });
/** The audit log's subject for every load and replacement. */
export const READER_BDK_SUBJECT = 'gateway:reader-bdk';

/** The gateway's own HSM: its master key file under <dataDir>/gateway, or its key label in a token. */
export function gatewayHsmConfig(backend: HsmBackend, dataDir: string): HsmConfig {
  return roleHsmConfig(backend, { lmkFile: join(dataDir, 'gateway', 'lmk.key'), keyLabel: 'paypad-gateway' });
}

/** A BDK is loaded already and replacing it was not asked for. */
export class ReaderBdkLoaded extends PaypadError {
  readonly kcv: string;
  constructor(kcv: string) {
    super('READER_BDK_LOADED', `the card readers' BDK (check value ${kcv}) is loaded already; nothing was changed. Replacing it stops every reader injected from it: ask for that explicitly (--replace)`);
    this.kcv = kcv;
  }
}

export interface LoadedReaderBdk {
  readonly kcv: string;
  readonly loadedAt: string;
  readonly loadedBy: string;
}

export interface ReaderBdkStore {
  /** The BDK's key block, or undefined before its ceremony. */
  current(): Promise<KeyHandle | undefined>;
  /** Who loaded the BDK and when, by check value; undefined before its ceremony. */
  status(): Promise<LoadedReaderBdk | undefined>;
  /**
   * Combines `components` in `hsm` (KCV_MISMATCH naming the component or the combined key whose
   * check value differs; BAD_LENGTH for components that are not one AES key length;
   * KEY_COMPONENTS_INVALID for 1 or 4+ components, a repeated one or a zero key) and keeps the BDK.
   * HSM_COMMAND_UNSUPPORTED for a BDK this HSM cannot derive DUKPT keys from (the PKCS#11 HSM and
   * a BDK longer than AES-128): refused here rather than at every read.
   * READER_BDK_LOADED when one is loaded and `replace` is not set. On any error nothing changes.
   */
  load(request: { readonly hsm: Hsm; readonly components: readonly KeyComponent[]; readonly kcv: string; readonly replace?: boolean; readonly actor: string }): Promise<LoadedReaderBdk & { readonly replacedKcv?: string }>;
}

export function createReaderBdkStore(database: Database, clock: () => Date = () => new Date()): ReaderBdkStore {
  const schemaDb: Kysely<Schema> = database.db;
  const db = schemaDb.withTables<ReaderKeyTables>();
  const row = () => db.selectFrom('gateway_reader_keys').selectAll().where('name', '=', BDK_ROW).executeTakeFirst();

  return {
    async current() {
      const found = await row();
      return found === undefined ? undefined : { block: found.key_block, kcv: found.key_kcv };
    },
    async status() {
      const found = await row();
      return found === undefined ? undefined : { kcv: found.key_kcv, loadedAt: found.loaded_at, loadedBy: found.loaded_by };
    },
    async load({ hsm, components, kcv, replace = false, actor }) {
      const earlier = await row();
      if (earlier !== undefined && !replace) throw new ReaderBdkLoaded(earlier.key_kcv);
      const handle = await hsm.importKeyComponents(BDK_ATTRIBUTES, components, kcv);
      await hsm.deriveDukptWorkingKey(handle, PROBE_KSN, 'data-encrypt');
      const at = clock();
      const values = { key_block: handle.block, key_kcv: handle.kcv, loaded_at: isoTimestamp(at), loaded_by: actor };
      return schemaDb.transaction().execute(async (base) => {
        const trx = base.withTables<ReaderKeyTables>();
        const audit = createAuditStore(base, () => at);
        const detail = { kcv: handle.kcv, components: components.length };
        if (!replace) {
          const inserted = await trx.insertInto('gateway_reader_keys').values({ name: BDK_ROW, ...values }).onConflict((oc) => oc.column('name').doNothing()).executeTakeFirst();
          if (inserted.numInsertedOrUpdatedRows !== 1n) throw new ReaderBdkLoaded((await trx.selectFrom('gateway_reader_keys').select('key_kcv').where('name', '=', BDK_ROW).executeTakeFirstOrThrow()).key_kcv);
          await audit.append({ actor, action: 'gateway.reader-bdk.loaded', subject: READER_BDK_SUBJECT, detail });
          return { kcv: handle.kcv, loadedAt: values.loaded_at, loadedBy: actor };
        }
        const previous = await trx.selectFrom('gateway_reader_keys').select('key_kcv').where('name', '=', BDK_ROW).executeTakeFirst();
        if (previous === undefined) await trx.insertInto('gateway_reader_keys').values({ name: BDK_ROW, ...values }).execute();
        else await trx.updateTable('gateway_reader_keys').set(values).where('name', '=', BDK_ROW).execute();
        const replacedKcv = previous?.key_kcv;
        await audit.append({ actor, action: replacedKcv === undefined ? 'gateway.reader-bdk.loaded' : 'gateway.reader-bdk.replaced', subject: READER_BDK_SUBJECT, detail: replacedKcv === undefined ? detail : { ...detail, replacedKcv } });
        return { kcv: handle.kcv, loadedAt: values.loaded_at, loadedBy: actor, ...(replacedKcv === undefined ? {} : { replacedKcv }) };
      });
    },
  };
}
