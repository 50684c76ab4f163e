/**
 * The host's database as the administration commands (`paypad mtms`, `paypad ca`) open it: the
 * data directory and DATABASE_URL the host uses (--data-dir / PAYPAD_DATA_DIR), migrated as the
 * host would. On SQLite the data directory must already exist: a command run from another
 * directory would otherwise make a new, empty database there and work on it (customers nobody
 * serves, then a second CA), which is worse than refusing. The host makes the data directory on
 * its first start, and `paypad ca init` (the explicit start of a deployment) makes it too. Host
 * modules load lazily: other commands stay fast.
 */
import { existsSync } from 'node:fs';
import type { HostConfig } from '../host/config';
import type { Database } from '../host/db/database';
import { UsageError } from './args';

/** The host configuration with --data-dir, if given, over PAYPAD_DATA_DIR. */
export async function hostConfig(dataDirFlag: string | undefined): Promise<HostConfig> {
  const { loadConfig } = await import('../host/config');
  return loadConfig({ ...process.env, PAYPAD_DATA_DIR: dataDirFlag ?? process.env.PAYPAD_DATA_DIR }, process.cwd());
}

/** Opens and migrates the host database, runs `fn`, closes. @throws UsageError when SQLite's data directory does not exist. */
export async function withHostDatabase<T>(dataDirFlag: string | undefined, fn: (database: Database, config: HostConfig) => Promise<T>): Promise<T> {
  const config = await hostConfig(dataDirFlag);
  if (config.database.dialect === 'sqlite' && !existsSync(config.dataDir)) {
    throw new UsageError(
      `no paypad data directory at ${config.dataDir} (so no database ${config.database.file}): run this command where the host runs, ` +
        'or say where its data directory is with --data-dir DIR (or PAYPAD_DATA_DIR). `paypad serve` or `paypad ca init` makes it.',
    );
  }
  const [{ createDatabase }, { migrateToLatest }] = await Promise.all([import('../host/db/database'), import('../host/db/migrate')]);
  const database = createDatabase(config.database);
  try {
    await migrateToLatest(database);
    return await fn(database, config);
  } finally {
    await database.close();
  }
}
