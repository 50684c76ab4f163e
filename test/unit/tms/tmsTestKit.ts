/**
 * The TMS under test (host/tms): beside a KMS on a migrated database and a software HSM, with a
 * trusted test vendor key; the terminals and packages are updatingTerminal.ts's.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { p256PublicKey } from '../../../shared/crypto/primitives';
import type { Database, Dialect } from '../../../host/db/database';
import { createKmsStore } from '../../../host/kms/kmsStore';
import { type KmsService, openKmsService } from '../../../host/kms/kmsService';
import { createTms, type Tms } from '../../../host/tms/tms';
import { openTmsService, type TmsService } from '../../../host/tms/tmsService';
import { openTestHsm, rng, type TestHsm } from '../hsm/hsmTestKit';
import { useMigratedDatabase } from '../../store/helpers/testDatabase';
import { CUSTOMER } from './updatingTerminal';

export { CUSTOMER, MODEL, PROGRAM, signedOnTerminal, storePackage, UpdatingTerminal } from './updatingTerminal';

export interface TmsUnderTest {
  readonly database: Database;
  readonly hsm: TestHsm;
  readonly kms: KmsService;
  readonly tms: Tms;
  readonly service: TmsService;
  readonly vendor: { readonly privateKey: Uint8Array; readonly publicKey: Uint8Array };
  readonly dataDir: string;
  /** Sets the clock every part reads. */
  setNow(at: Date): void;
}

export function useTms(dialect: Dialect, start = new Date('2026-12-06T10:00:00Z')): () => TmsUnderTest {
  const database = useMigratedDatabase(dialect);
  let under: TmsUnderTest | undefined;
  beforeAll(async () => {
    let now = start;
    const clock = () => now;
    const hsm = await openTestHsm();
    const kms = await openKmsService({ customerCode: CUSTOMER, hsm: hsm.hsm, store: createKmsStore(database().db), clock });
    const dataDir = mkdtempSync(join(tmpdir(), 'paypad-tms-'));
    const tms = createTms(database().db, dataDir, clock);
    const service = await openTmsService({ customerCode: CUSTOMER, hsm: hsm.hsm, kmsStore: createKmsStore(database().db), db: database().db, tms, clock });
    const privateKey = rng(32);
    const vendor = { privateKey, publicKey: p256PublicKey(privateKey) };
    await tms.packages.addVendorKey('Test Vendor', vendor.publicKey, clock());
    under = { database: database(), hsm, kms, tms, service, vendor, dataDir, setNow: (at) => (now = at) };
  });
  afterAll(async () => {
    await under?.hsm.hsm.close();
  });
  return () => {
    if (!under) throw new Error('the TMS is made in beforeAll');
    return under;
  };
}


