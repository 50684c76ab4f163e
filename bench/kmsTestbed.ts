/**
 * Everything the KMS throughput benchmark runs against, set up in this process the way the host
 * and the field do it (docs/key-loading.md "Flow"):
 *
 *   - a migrated database: SQLite in a temporary file, or a fresh PostgreSQL schema dropped
 *     afterwards (test/store/helpers/testDatabase);
 *   - the CA (host/ca ensureCa), one KMS (host/kms startKms) on an ephemeral loopback port;
 *   - emulated terminals: firmware/core Terminal over the Node HAL's Http and Rng, manufactured
 *     with the MTMS intake key, the KMS URL and the CA certificate (terminalIdentity);
 *   - each terminal's TK delivered as in the field: the terminal answers the local link's `tk`
 *     request (A1, A10), MTMS takes the upload (A5) and its outbox worker forwards the TK to the
 *     KMS over mutual TLS with MTMS's certificate (A7, A8). MTMS is closed once every delivery
 *     is acknowledged, so it takes no CPU while the KMS is measured.
 *
 * The terminals keep their HAL Storage in memory: the emulator's file storage fsyncs on every
 * write, synchronously, and in this one process that would stall the KMS's event loop too.
 */
import { X509Certificate } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { sql } from 'kysely';
import { PaypadError } from '../shared/errors';
import type { LinkOp, LinkRequest, LinkResult } from '../shared/protocol/localLink';
import { MESSAGE_VERSION, type TkIntakeRequest } from '../shared/protocol/messages';
import type { Rng } from '../shared/bytes';
import type { Http } from '../firmware/hal/http';
import { Terminal } from '../firmware/core/terminal';
import { provisionTerminal } from '../firmware/core/terminalIdentity';
import { createNodeHttp } from '../firmware/hal/node/http';
import { createNodeRng } from '../firmware/hal/node/rng';
import { ensureCa } from '../host/ca/caStorage';
import type { Database, Dialect } from '../host/db/database';
import { migrateToLatest } from '../host/db/migrate';
import type { HsmBackend } from '../host/hsm/index';
import { type RunningKms, startKms } from '../host/kms/kmsInstance';
import { createLogger } from '../host/log';
import { type RunningMtms, startMtms } from '../host/mtms/mtmsInstance';
import { createOutboxStore } from '../host/outbox/outboxStore';
import type { TlsIdentity } from '../host/tls/identity';
import { createTestStore, type TestStore } from '../test/store/helpers/testDatabase';
import { MemoryStorage } from '../test/support/memoryStorage';

export type DatabaseTarget = { readonly dialect: 'sqlite' } | { readonly dialect: 'postgres'; readonly adminUrl: string };

export interface KmsTestbed {
  readonly dialect: Dialect;
  /** The database server's own version string. */
  readonly databaseVersion: string;
  readonly kms: RunningKms;
  /**
   * A certificate made as the KMS's is (same CA, role kms for this customer, P-256 key, loopback
   * names) with its key: the bare https baseline presents it (bareServers.ts).
   */
  readonly kmsLikeIdentity: TlsIdentity;
  /** The paypad CA certificate, DER: every terminal's trust anchor. */
  readonly caDer: Uint8Array;
  /** Manufactured, TK delivered to the KMS; nothing loaded from the KMS yet. */
  readonly terminals: readonly Terminal[];
  /** Stops the KMS, removes the database (file or schema) and the data directory. */
  close(): Promise<void>;
}

export const CUSTOMER_CODE = 'BENCH';
const DELIVERY_TIMEOUT_MS = 30_000;
const DELIVERY_POLL_MS = 20;
const silent = createLogger({ level: 'silent' });
/** The production line and the operating terminal the bench plays, at MTMS. */
export const BENCH_STATION = { name: 'bench', certSerial: '01' };

/** createTestStore takes PostgreSQL's admin URL from DATABASE_URL; a probed server has none set. */
export async function createStore(target: DatabaseTarget): Promise<TestStore> {
  if (target.dialect === 'sqlite') return createTestStore('sqlite');
  const saved = process.env.DATABASE_URL;
  process.env.DATABASE_URL = target.adminUrl;
  try {
    return await createTestStore('postgres');
  } finally {
    if (saved === undefined) delete process.env.DATABASE_URL;
    else process.env.DATABASE_URL = saved;
  }
}

async function databaseVersion(database: Database): Promise<string> {
  const query = database.dialect === 'sqlite' ? sql<{ version: string }>`select 'SQLite ' || sqlite_version() as version` : sql<{ version: string }>`select version() as version`;
  const { rows } = await query.execute(database.db);
  return rows[0]?.version.split(' on ')[0] ?? 'unknown';
}

/**
 * `store` is migrated and removed by close(), or here when the set-up fails. MTMS and the KMS use
 * the `hsm` backend (default: the software HSM).
 */
export async function openKmsTestbed(store: TestStore, terminalCount: number, hsm: HsmBackend = { kind: 'software' }): Promise<KmsTestbed> {
  const closers: (() => Promise<void>)[] = [() => store.destroy()];
  const closeAll = async () => {
    for (const close of closers.splice(0).reverse()) await close();
  };
  try {
    const database = store.open();
    await migrateToLatest(database);
    const dataDir = await mkdtemp(join(tmpdir(), 'paypad-bench-kms-'));
    closers.push(() => rm(dataDir, { recursive: true, force: true }));
    const ca = await ensureCa({ dataDir, db: database.db });
    const kms = await startKms({ customerCode: CUSTOMER_CODE, dataDir, db: database.db, ca, port: 0, host: '127.0.0.1', hsm, logger: silent });
    closers.push(() => kms.close({ graceMs: 0 }));
    const caDer = new Uint8Array(new X509Certificate(ca.caCertificatePem).raw);

    const mtms = await startMtms({ dataDir, db: database.db, dialect: database.dialect, ca, port: 0, host: '127.0.0.1', hsm, logger: silent, outbox: { pollMs: DELIVERY_POLL_MS } });
    closers.push(() => mtms.close({ graceMs: 0 }));
    await mtms.store.addCustomer({ code: CUSTOMER_CODE, name: 'Benchmark Bank', kmsUrl: kms.url }, 'admin:bench');
    const serials = Array.from({ length: terminalCount }, (_, i) => `PP-BENCH-${String(i + 1).padStart(4, '0')}`);
    await mtms.store.addSerials(serials, CUSTOMER_CODE, 'admin:bench');

    const http = createNodeHttp();
    const rng = createNodeRng();
    const terminals: Terminal[] = [];
    const deliveryIds: string[] = [];
    for (const serial of serials) {
      const device = await enrolledTerminal(mtms, serial, { http, rng, kmsUrl: kms.url, caDer });
      const { nonce } = await mtms.service.deviceChallenge(serial, 'tk', BENCH_STATION);
      const receipt = await mtms.service.intakeTk(await device.tkUpload(nonce), BENCH_STATION);
      deliveryIds.push(receipt.deliveryId);
      terminals.push(device.terminal);
    }
    await awaitDeliveries(database, deliveryIds);
    await mtms.close({ graceMs: 0 });

    const issued = await ca.issue({ subject: { role: 'kms', name: 'kms-bare-baseline', customerCode: CUSTOMER_CODE } });
    if (issued.keyPem === undefined) throw new PaypadError('INTERNAL', 'the CA issued the baseline certificate without its key');
    const kmsLikeIdentity: TlsIdentity = { certPem: issued.certPem, keyPem: issued.keyPem, caPem: issued.caPem };
    return { dialect: database.dialect, databaseVersion: await databaseVersion(database), kms, kmsLikeIdentity, caDer, terminals, close: closeAll };
  } catch (e) {
    await closeAll();
    throw e;
  }
}

/** A terminal MTMS has enrolled (A8), that makes TK uploads as the operating terminal relays them. */
export interface EnrolledTerminal {
  readonly terminal: Terminal;
  /** A5, A8: the terminal's answer to MTMS's TK challenge `nonce`: its TK envelope (made anew each time) signed with the nonce. */
  tkUpload(nonce: string): Promise<TkIntakeRequest>;
}

/**
 * A terminal manufactured in memory (HAL Storage in memory, see above) for `serial`, enrolled at
 * `mtms` as the production line does it: MTMS's nonce signed by the device, its certificate kept.
 */
export async function enrolledTerminal(
  mtms: RunningMtms,
  serial: string,
  options: { readonly http: Http; readonly rng: Rng; readonly kmsUrl: string; readonly caDer: Uint8Array },
): Promise<EnrolledTerminal> {
  const device = { storage: new MemoryStorage(), rng: options.rng, http: options.http, rootKey: options.rng(32) };
  provisionTerminal(device.storage, { serial, mtmsPublicKey: mtms.intakePublicKey.publicKey, kmsUrl: options.kmsUrl, trustAnchor: options.caDer });
  const terminal = Terminal.open(device);
  const link = async <O extends LinkOp>(request: { op: O } & Record<string, string>) => {
    const answer = await terminal.handleLinkRequest({ v: 1, id: 1, ...request } as unknown as LinkRequest);
    if (!answer.ok) throw new PaypadError('INTERNAL', `terminal ${serial} refused ${request.op}`);
    return answer as LinkResult<O>;
  };
  const enrolment = (await mtms.service.deviceChallenge(serial, 'enrol', BENCH_STATION)).nonce;
  const identity = await link({ op: 'identity', nonce: enrolment });
  const { certificate } = await mtms.service.enrolDevice({ v: MESSAGE_VERSION, serial, publicKey: identity.publicKey, nonce: enrolment, signature: identity.signature }, BENCH_STATION);
  await link({ op: 'certify', certificate });
  return {
    terminal,
    async tkUpload(nonce) {
      const answer = await link({ op: 'tk', nonce });
      return { v: MESSAGE_VERSION, serial, tkEnvelope: answer.tkEnvelope, confirmed: true, nonce, deviceSignature: answer.signature, deviceCertificate: answer.certificate };
    },
  };
}

/** Until MTMS's outbox has every delivery acknowledged by the KMS; a dead one ends the wait. */
async function awaitDeliveries(database: Database, deliveryIds: readonly string[]): Promise<void> {
  const outbox = createOutboxStore(database.db, database.dialect);
  const deadline = Date.now() + DELIVERY_TIMEOUT_MS;
  let pending = [...deliveryIds];
  while (pending.length > 0) {
    const rows = await Promise.all(pending.map((id) => outbox.byKey(id)));
    const dead = rows.find((row) => row?.state === 'dead' || row?.state === 'discarded');
    if (dead) throw new PaypadError('MTMS_DELIVERY_FAILED', `TK delivery ${dead.idempotencyKey} ended ${dead.state}: ${dead.lastError ?? 'no error recorded'}`);
    const waiting = rows.filter((row) => row?.state !== 'delivered');
    pending = pending.filter((_, i) => rows[i]?.state !== 'delivered');
    if (pending.length === 0) break;
    if (Date.now() > deadline) {
      const lastError = waiting.find((row) => row?.lastError !== undefined)?.lastError ?? 'no attempt failed yet';
      throw new PaypadError('MTMS_DELIVERY_FAILED', `${pending.length} TK deliveries not acknowledged by the KMS within ${DELIVERY_TIMEOUT_MS} ms (last error: ${lastError})`);
    }
    await sleep(DELIVERY_POLL_MS);
  }
}
