/**
 * Two host processes on one PostgreSQL database taking mobile-number payments at once (SPEC
 * C6-C8, X2; docs/payments.md): host A in this process, host B a `paypad serve` child on a copy of
 * A's data directory (the same CA, KMS master keys and card vault key, as a second instance of one
 * deployment would have), each with its own simulated card network. Emulated terminals of
 * customer C001, half manufactured for A's KMS and half for B's, pay the demo payee concurrently.
 * Every approval the terminals saw is one payment recorded once, one POSP journal row approved and
 * one settled hold; no journal row is left in flight, and the ledger verifies. A host killed
 * mid-payment and started again reverses what it left in flight.
 * PostgreSQL only (DATABASE_URL); skipped on SQLite, which one host process holds alone.
 */
import { X509Certificate } from 'node:crypto';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { asciiToBytes, toHex } from '../../shared/bytes';
import { encodeKeyEnvelope, wrapKeyForRecipient } from '../../shared/crypto/keyTransport';
import { Terminal } from '../../firmware/core/terminal';
import { provisionTerminal } from '../../firmware/core/terminalIdentity';
import { createNodeHttp } from '../../firmware/hal/node/http';
import { createNodeRng } from '../../firmware/hal/node/rng';
import { loadConfig } from '../../host/config';
import { createLedger } from '../../host/payments/ledger/ledger';
import { type RunningHost, startHost } from '../../host/server';
import { TEST_CARDS, TEST_PIN } from '../../host/simulators/testCards';
import { MemoryStorage } from '../support/memoryStorage';
import { makeMtmsKey, openTkEnvelope } from '../unit/terminal/support';
import { captureLogger } from '../unit/host/helpers/captureLogger';
import { type E2eDatabase, e2eDatabase } from './support/e2eDatabase';
import { type HostProcess, startHostProcess } from './support/hostProcess';

const postgres = Boolean(process.env.DATABASE_URL);
const TERMINALS_PER_HOST = 6;
const PAYMENTS_PER_TERMINAL = 4;
const AMOUNT = 100;
const PAYEE = '13800138000';
const TRACK2 = `${TEST_CARDS.unionPay.pan}=${TEST_CARDS.unionPay.expiry}1011234`;

const root = mkdtempSync(join(tmpdir(), 'paypad-e2e-pay-hosts-'));
let database: E2eDatabase;
let hostA: RunningHost;
let hostB: HostProcess | undefined;
let kmsUrlB: string;
const terminals: Terminal[] = [];

beforeAll(async () => {
  if (!postgres) return;
  database = await e2eDatabase();
  const common = { PAYPAD_HOST: '127.0.0.1', PAYPAD_PORT: '0', PAYPAD_MTMS_PORT: '0', PAYPAD_KMS_BASE_PORT: '0', PAYPAD_DEMO_DATA: '1', DATABASE_URL: database.databaseUrl };
  hostA = await startHost(loadConfig({ ...common, PAYPAD_DATA_DIR: join(root, 'a') }), { logger: captureLogger('silent').logger });
  // B: the same deployment's files (its own lock excepted), so its KMS opens what A's stored.
  cpSync(join(root, 'a'), join(root, 'b'), { recursive: true, filter: (path) => basename(path) !== 'paypad.lock' });
  hostB = startHostProcess({ ...common, PAYPAD_DATA_DIR: join(root, 'b'), LOG_LEVEL: 'info' });
  const line = await hostB.waitForLog((l) => /^KMS C001 listening on /.test(l.msg), 'KMS C001 listening', 60_000);
  kmsUrlB = String(line.url);

  const kmsA = hostA.kms.get('C001')!;
  const caDer = new Uint8Array(new X509Certificate(hostA.ca.caCertificatePem).raw);
  const mtms = makeMtmsKey();
  const rng = createNodeRng();
  const http = createNodeHttp();
  for (let i = 0; i < 2 * TERMINALS_PER_HOST; i++) {
    const serial = `PP-2HOST-${String(i + 1).padStart(3, '0')}`;
    const storage = new MemoryStorage();
    provisionTerminal(storage, { serial, mtmsPublicKey: mtms.publicKey, kmsUrl: i % 2 === 0 ? kmsA.url : kmsUrlB, trustAnchor: caDer });
    const terminal = Terminal.open({ storage, rng, http, rootKey: rng(32) });
    const answer = await terminal.handleLinkRequest({ v: 1, id: 1, op: 'tk' });
    if (!('tkEnvelope' in answer)) throw new Error('expected a tk answer');
    const envelope = encodeKeyEnvelope(wrapKeyForRecipient(kmsA.service.intakePublicKey().publicKey, openTkEnvelope(mtms, answer.tkEnvelope, serial), asciiToBytes(`paypad-tk|${serial}`), rng));
    // MTMS's delivery, to the customer's KMS; the database is the two hosts' own.
    await kmsA.service.receiveTk({ v: 1, deliveryId: `two-hosts-${serial}`, serial, envelope: toHex(envelope), customerCode: 'C001', intakeSequence: i + 1 });
    await terminal.downloadTmk();
    await terminal.signOn();
    terminals.push(terminal);
  }
}, 180_000);

afterAll(async () => {
  await hostB?.stop('SIGTERM');
  await hostA?.close({ graceMs: 0 });
  await database?.destroy();
  rmSync(root, { recursive: true, force: true });
});

async function pay(terminal: Terminal): Promise<string> {
  const { lookupId } = await terminal.lookupPayee(PAYEE);
  const track2 = asciiToBytes(TRACK2);
  try {
    return (await terminal.payByMobile({ lookupId, amount: AMOUNT, currency: 'CNY', track2, pin: TEST_PIN })).reference;
  } finally {
    track2.fill(0);
  }
}

describe.skipIf(!postgres)('two host processes on PostgreSQL take payments at once (C6-C8, X2)', () => {
  it('C8: every approval is one payment recorded once, one journal row approved, one settled hold; nothing in flight; the ledger verifies', async () => {
    const approved: string[] = [];
    await Promise.all(
      terminals.map(async (terminal) => {
        for (let n = 0; n < PAYMENTS_PER_TERMINAL; n++) approved.push(await pay(terminal));
      }),
    );
    const serials = terminals.map((t) => t.serial);
    expect(approved).toHaveLength(serials.length * PAYMENTS_PER_TERMINAL);
    expect(new Set(approved).size).toBe(approved.length);

    const db = hostA.database.db;
    const recorded = await sql<{ reference: string }>`select reference from mobile_payments where terminal_id in (${sql.join(serials)})`.execute(db);
    expect(recorded.rows.map((r) => r.reference).sort()).toEqual([...approved].sort());
    const journal = await sql<{ state: string; n: string | number }>`select state, count(*) as n from posp_transactions where serial in (${sql.join(serials)}) group by state`.execute(db);
    expect(journal.rows.map((r) => [r.state, Number(r.n)])).toEqual([['approved', approved.length]]);
    const books = await createLedger(hostA.database).verify();
    expect(books.problems).toEqual([]);
    expect(books.ok).toBe(true);
    // Both hosts served: A's own network saw half the debits.
    expect(TEST_CARDS.unionPay.balance - hostA.mobile.network.provider.balanceOf(TEST_CARDS.unionPay.pan)!.balance).toBe((approved.length / 2) * AMOUNT);
  }, 180_000);

  it('C8, X4: host B killed mid-payment, then started again: what the terminals saw approved is recorded, and what was in flight is reversed by the restarted POSP (0400, hold voided, the waiting exchange answered 91): nothing is left half done', async () => {
    const onB = terminals.filter((_, i) => i % 2 === 1);
    const serials = onB.map((t) => t.serial);
    const db = hostA.database.db;
    const outcomes: PromiseSettledResult<string>[] = [];
    const running = Promise.all(onB.map(async (t) => void outcomes.push(...(await Promise.allSettled([pay(t), pay(t)])))));
    // Kill B as soon as a payment of this round is in its journal.
    const before = Number((await sql<{ n: string | number }>`select count(*) as n from posp_transactions where serial in (${sql.join(serials)})`.execute(db)).rows[0].n);
    for (let waited = 0; waited < 10_000; waited += 5) {
      const now = Number((await sql<{ n: string | number }>`select count(*) as n from posp_transactions where serial in (${sql.join(serials)})`.execute(db)).rows[0].n);
      if (now > before) break;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    await hostB!.stop('SIGKILL');
    await running;
    hostB = startHostProcess({ PAYPAD_HOST: '127.0.0.1', PAYPAD_PORT: '0', PAYPAD_MTMS_PORT: '0', PAYPAD_KMS_BASE_PORT: '0', PAYPAD_DEMO_DATA: '1', DATABASE_URL: database.databaseUrl, PAYPAD_DATA_DIR: join(root, 'b'), LOG_LEVEL: 'info' });
    await hostB.waitForLog((l) => /^KMS C001 listening on /.test(l.msg), 'KMS C001 listening after the restart', 60_000);

    // The restarted POSP takes what it left unfinished once no live POSP could still be on it
    // (host/posp/unfinishedAuthorisations: a minute unchanged, swept every 15 s).
    const unfinished = async () =>
      Number((await sql<{ n: string | number }>`select count(*) as n from posp_transactions where serial in (${sql.join(serials)}) and state in ('authorising', 'reversal_failed')`.execute(db)).rows[0].n);
    for (let waited = 0; (await unfinished()) > 0 && waited < 150_000; waited += 1_000) await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(await unfinished()).toBe(0);
    // POSP's holds (the platform's own, owed to payees until reconciliation, are meant to stay pending).
    const openHolds = await sql<{ id: string }>`select t.id from ledger_transfers t where t.kind = 'pending' and t.id like 'posp-%' and not exists (select 1 from ledger_transfers r where r.pending_id = t.id)`.execute(db);
    expect(openHolds.rows).toEqual([]);
    const waitingExchanges = await sql<{ seq: string | number }>`select e.seq from posp_exchanges e join posp_transactions t on t.serial = e.serial and t.seq = e.seq where e.serial in (${sql.join(serials)}) and e.status is null`.execute(db);
    expect(waitingExchanges.rows).toEqual([]);

    const seenApproved = outcomes.flatMap((o) => (o.status === 'fulfilled' ? [o.value] : []));
    const recorded = (await sql<{ reference: string }>`select reference from mobile_payments where terminal_id in (${sql.join(serials)})`.execute(db)).rows.map((r) => r.reference);
    for (const reference of seenApproved) expect(recorded).toContain(reference);
    const states = (await sql<{ state: string; n: string | number }>`select state, count(*) as n from posp_transactions where serial in (${sql.join(serials)}) group by state order by state`.execute(db)).rows;
    console.info(`after the kill: ${outcomes.length - seenApproved.length} of ${outcomes.length} payments got no answer; journal ${JSON.stringify(states)}`);
    // Nothing posted without its record: the ledger verifies, every approved journal row has its payment recorded.
    const approvedRows = Number(states.find((r) => r.state === 'approved')?.n ?? 0);
    expect(recorded.length).toBe(approvedRows);
    expect((await createLedger(hostA.database).verify()).ok).toBe(true);
  }, 330_000);
});
