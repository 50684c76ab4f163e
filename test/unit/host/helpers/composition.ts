/**
 * What the host composition tests share: a fresh migrated database of the given dialect and a
 * data directory with its CA, as startHost has them after its first steps. Removed by cleanup().
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CertificateAuthority } from '../../../../host/ca/authority';
import { ensureCa } from '../../../../host/ca/caStorage';
import type { Database, Dialect } from '../../../../host/db/database';
import { migrateToLatest } from '../../../../host/db/migrate';
import { createTestStore } from '../../../store/helpers/testDatabase';

export interface Composition {
  readonly dataDir: string;
  readonly database: Database;
  readonly ca: CertificateAuthority;
  cleanup(): Promise<void>;
}

export async function openComposition(dialect: Dialect): Promise<Composition> {
  const store = await createTestStore(dialect);
  const database = store.open();
  const dataDir = mkdtempSync(join(tmpdir(), 'paypad-composition-'));
  try {
    await migrateToLatest(database);
    const ca = await ensureCa({ dataDir, db: database.db });
    return {
      dataDir,
      database,
      ca,
      async cleanup() {
        await store.destroy();
        rmSync(dataDir, { recursive: true, force: true });
      },
    };
  } catch (e) {
    await store.destroy();
    rmSync(dataDir, { recursive: true, force: true });
    throw e;
  }
}
