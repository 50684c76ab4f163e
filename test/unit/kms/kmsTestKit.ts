/**
 * What the KMS tests share: a KMS service on a migrated database with its own software HSM, a
 * snapshot of every row the KMS can touch (to prove that a refused request changed nothing), and
 * the X1 check that no clear key appears in any row.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Kysely, sql } from 'kysely';
import { afterAll, beforeAll, expect } from 'vitest';
import type { Database, Dialect } from '../../../host/db/database';
import type { Schema } from '../../../host/db/schema';
import type { Hsm } from '../../../host/hsm/hsm';
import { openSoftwareHsm, systemRng } from '../../../host/hsm/index';
import { createKmsStore, type KmsStore } from '../../../host/kms/kmsStore';
import { type KmsService, openKmsService } from '../../../host/kms/kmsService';
import { fromHex } from '../../../shared/bytes';
import { useMigratedDatabase } from '../../store/helpers/testDatabase';

export const KMS_TABLES = ['kms_intake_keys', 'kms_terminals', 'kms_deliveries', 'audit_log'] as const;

const directories: string[] = [];
afterAll(async () => {
  await Promise.all(directories.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

export async function tempDir(prefix = 'paypad-kms-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  directories.push(dir);
  return dir;
}

export async function openTestHsm(): Promise<Hsm> {
  return openSoftwareHsm({ lmkFile: join(await tempDir('paypad-kms-hsm-'), 'lmk.key'), rng: systemRng });
}

export interface KmsUnderTest {
  readonly database: Database;
  readonly db: Kysely<Schema>;
  readonly hsm: Hsm;
  readonly store: KmsStore;
  readonly service: KmsService;
}

/** A KMS for `customerCode` on a migrated database of `dialect`, made before the enclosing block's tests. */
export function useKms(dialect: Dialect, customerCode = 'ACME'): () => KmsUnderTest {
  const database = useMigratedDatabase(dialect);
  let kms: KmsUnderTest | undefined;
  beforeAll(async () => {
    const hsm = await openTestHsm();
    const store = createKmsStore(database().db);
    kms = { database: database(), db: database().db, hsm, store, service: await openKmsService({ customerCode, hsm, store }) };
  });
  afterAll(async () => {
    await kms?.hsm.close();
  });
  return () => {
    if (!kms) throw new Error('the KMS is made in beforeAll');
    return kms;
  };
}

/** Every row of every table the KMS writes, in a stable order. */
export async function snapshot(db: Kysely<Schema>): Promise<Record<string, unknown[]>> {
  const out: Record<string, unknown[]> = {};
  for (const table of KMS_TABLES) {
    const { rows } = await sql<Record<string, unknown>>`select * from ${sql.table(table)}`.execute(db);
    out[table] = rows.map((row) => JSON.stringify(row)).sort();
  }
  return out;
}

/**
 * X1: none of `secrets` (hex key material the terminal holds in clear) appears in any row, as hex
 * in either case or as base64.
 */
export async function expectNoClearKeys(db: Kysely<Schema>, secrets: readonly string[]): Promise<void> {
  const dump = JSON.stringify(await snapshot(db));
  expect(secrets.length).toBeGreaterThan(0);
  for (const secret of secrets) {
    expect(dump).not.toContain(secret.toUpperCase());
    expect(dump).not.toContain(secret.toLowerCase());
    expect(dump).not.toContain(Buffer.from(fromHex(secret)).toString('base64').replace(/=+$/, ''));
  }
}
