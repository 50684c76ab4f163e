/**
 * E4 on a host as `paypad serve` runs it, with no test API: the card readers' BDK comes in by the
 * operator's key ceremony, `paypad gateway reader-bdk load`, its two components piped in as the
 * custodians' lines. Refused ceremonies (a component's or the key's check value wrong, a component
 * of another length, a BDK loaded already) change nothing. The running host uses the BDK from its
 * next payment; `paypad terminal reader inject --from-bdk` injects the reader's initial key from
 * the same components, `paypad gateway reader register` records its initial key ID, `paypad
 * terminal reader run` dials the host, and a checkout paid with it opens in the HSM. The host is
 * restarted on the same data directory and database: the BDK and the registration are still there
 * and the next reader payment decrypts; registered with another initial key ID, the reader's read
 * is refused. A replacement needs --replace, is audited with
 * both check values, and the old reader's reads then fail the MAC. No component, BDK or initial
 * key appears in any command's output, the database or the audit log (X1).
 * PostgreSQL when DATABASE_URL is set (a schema of its own), SQLite otherwise.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type GatewayMerchant, startGatewayMerchant } from '../../bin/demo/onlinePaymentActors';
import { PAYPAD_BIN, runPaypadTranscript, type PaypadTranscript } from '../../bin/demo/paypadProcess';
import { fromHex, toHex, xorBytes } from '../../shared/bytes';
import { dukptInitialKey } from '../../shared/crypto/dukpt';
import { keyCheckValue } from '../../shared/crypto/kcv';
import { openNodeDevice } from '../../firmware/hal/node/nodeDevice';
import { createAuditStore } from '../../host/audit/auditStore';
import { loadConfig, type HostConfig } from '../../host/config';
import { createDatabase, type Database } from '../../host/db/database';
import { READER_BDK_SUBJECT } from '../../host/gateway/readerBdk';
import { CARD_READER_PATH } from '../../host/gateway/readerChannel';
import { type RunningHost, startHost } from '../../host/server';
import { TEST_CARDS, TEST_PIN } from '../../host/simulators/testCards';
import { captureLogger } from '../unit/host/helpers/captureLogger';
import { e2eDatabase, type E2eDatabase } from './support/e2eDatabase';
import { findKeys } from './support/keyLeakScan';
import { eventually, LOOPBACK } from './support/loopback';
import { databaseRows } from './support/runArtifacts';
import { hostEnv } from './support/paypadCli';

const PAYER = '13912345678';
const READER = 'till-e2e';
const IK_ID = 'A1B2C3D400000001';

/** Two custodians' components of `bdk` and the lines they pipe in. */
function ceremony(bdk: Uint8Array) {
  const first = crypto.getRandomValues(new Uint8Array(bdk.length));
  const components = [first, xorBytes(bdk, first)];
  const line = (value: Uint8Array) => `${toHex(value)} ${toHex(keyCheckValue(value))}`;
  return { components, kcv: toHex(keyCheckValue(bdk)), stdin: `${components.map(line).join('\n')}\n`, line };
}

describe('E4: the card readers\' BDK by the operator\'s key ceremony, kept across a restart', () => {
  const root = mkdtempSync(join(tmpdir(), 'paypad-e2e-reader-bdk-'));
  const dataDir = join(root, 'data');
  const stateDir = join(root, 'reader');
  const log = captureLogger('info');
  const transcripts: PaypadTranscript[] = [];
  const bdk = crypto.getRandomValues(new Uint8Array(16));
  const cer = ceremony(bdk);
  const newBdk = crypto.getRandomValues(new Uint8Array(16));
  const replacement = ceremony(newBdk);
  let database: E2eDatabase;
  let env: Record<string, string>;
  let config: HostConfig;
  let host: RunningHost | undefined;
  let merchant: GatewayMerchant | undefined;
  let reader: { child: ChildProcess; stderr: () => string } | undefined;

  const paypad = async (args: string[], stdin = '') => {
    const run = await runPaypadTranscript(args, { env, stdin });
    transcripts.push(run);
    return run;
  };
  const startReader = async () => {
    const child = spawn(PAYPAD_BIN, ['terminal', 'reader', 'run', '--state-dir', stateDir, '--gateway', `${host!.url.replace(/^http/, 'ws')}${CARD_READER_PATH}`, '--reader-id', READER, '--card', 'unionPay', '--heartbeat-ms', '1000'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    await eventually(async () => (stderr.includes('connected to') ? true : undefined), 'the reader dials the gateway', { describe: () => stderr });
    reader = { child, stderr: () => stderr };
  };
  const stopReader = async () => {
    if (reader === undefined || reader.child.exitCode !== null) return;
    const gone = new Promise((resolve) => reader!.child.once('exit', resolve));
    reader.child.kill('SIGINT');
    await gone;
  };
  /** A merchant's order paid on the checkout with the reader, the PIN keyed during the gateway's call: the pay answer. */
  const payWithReader = async (amount: number) => {
    const order = await merchant!.createOrder({ amount, description: 'Tea by reader' });
    const base = `${host!.url}/gateway/checkout`;
    const opened = await eventually(async () => {
      const session = (await (await fetch(`${base}/sessions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ code: order.transactionCode, readerId: READER }) })).json()) as { checkoutId: string; reader: string };
      return session.reader === 'connected' ? session : undefined;
    }, 'the checkout sees the reader connected');
    host!.mobile.voice.phone(`+86${PAYER}`, { answer: { afterSeconds: 0 }, steps: [`${TEST_PIN}#`] });
    const answer = await fetch(`${base}/sessions/${opened.checkoutId}/pay`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ requestId: randomUUID(), mobile: PAYER, card: { kind: 'reader', pinOnPad: false } }) });
    return { status: answer.status, body: (await answer.json()) as { status?: string; maskedPan?: string; error?: { code: string } } };
  };
  let boots = 0;
  const boot = async () => {
    host = await startHost(config, { logger: log.logger });
    merchant = await startGatewayMerchant(host, `Reader Key Tea House ${++boots}`);
  };
  const shutDown = async () => {
    await stopReader();
    await merchant?.close();
    await host?.close();
    host = undefined;
  };

  beforeAll(async () => {
    database = await e2eDatabase();
    env = hostEnv(dataDir, database.databaseUrl);
    config = loadConfig({ ...env, PAYPAD_HOST: LOOPBACK, PAYPAD_PORT: '0', PAYPAD_MTMS_PORT: '0', PAYPAD_KMS_BASE_PORT: '0', PAYPAD_DEMO_DATA: '0' });
    await boot();
    openNodeDevice(stateDir, { manufacture: true });
  }, 120_000);

  afterAll(async () => {
    await shutDown();
    await database?.destroy();
    rmSync(root, { recursive: true, force: true });
  });

  it('E4: wrong check values, a component of another length and a key on the command line are refused, nothing stored; the reader is refused until the ceremony', async () => {
    const wrongComponent = await paypad(['gateway', 'reader-bdk', 'load', '--kcv', cer.kcv], `${cer.line(cer.components[0])}\n${toHex(cer.components[1])} ${toHex(keyCheckValue(cer.components[0]))}\n`);
    expect(wrongComponent.exit).toBe(1);
    expect(wrongComponent.stderr).toMatch(/KCV_MISMATCH: component 2: the check value does not match/);
    const wrongKey = await paypad(['gateway', 'reader-bdk', 'load', '--kcv', replacement.kcv], cer.stdin);
    expect(wrongKey.exit).toBe(1);
    expect(wrongKey.stderr).toMatch(/KCV_MISMATCH: the combined key/);
    const long = crypto.getRandomValues(new Uint8Array(24));
    const wrongLength = await paypad(['gateway', 'reader-bdk', 'load', '--kcv', cer.kcv], `${cer.line(cer.components[0])}\n${cer.line(long)}\n`);
    expect(wrongLength.exit).toBe(1);
    expect(wrongLength.stderr).toMatch(/BAD_LENGTH: component 2 is 24 bytes, component 1 is 16/);
    const oneLine = await paypad(['gateway', 'reader-bdk', 'load', '--kcv', cer.kcv], `${cer.line(cer.components[0])}\n`);
    expect(oneLine.exit).toBe(2);
    const onCommandLine = await paypad(['gateway', 'reader-bdk', 'load', '--kcv', cer.kcv, '--component', toHex(cer.components[0])]);
    expect(onCommandLine.exit).toBe(2);
    expect(JSON.parse((await paypad(['gateway', 'reader-bdk', 'status', '--json'])).stdout)).toEqual({ loaded: false });

    const refused = await payWithoutReaderKeys();
    expect(refused.body.error?.code).toBe('CONFIG_INVALID');
  }, 60_000);

  /** Before the ceremony a reader payment is refused at once, before the card is read. */
  async function payWithoutReaderKeys() {
    const order = await merchant!.createOrder({ amount: 100, description: 'No keys yet' });
    const base = `${host!.url}/gateway/checkout`;
    const opened = (await (await fetch(`${base}/sessions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ code: order.transactionCode, readerId: READER }) })).json()) as { checkoutId: string };
    const answer = await fetch(`${base}/sessions/${opened.checkoutId}/pay`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ requestId: randomUUID(), mobile: PAYER, card: { kind: 'reader', pinOnPad: false } }) });
    return { status: answer.status, body: (await answer.json()) as { error?: { code: string } } };
  }

  it('E4: loaded by the command, the running host uses it; the reader injected from the same components and registered pays; a second load is refused', async () => {
    const loaded = await paypad(['gateway', 'reader-bdk', 'load', '--kcv', cer.kcv.toLowerCase()], cer.stdin);
    expect(loaded.exit, loaded.stderr).toBe(0);
    expect(loaded.stdout).toBe(`card readers' BDK loaded: check value ${cer.kcv}\n`);
    const again = await paypad(['gateway', 'reader-bdk', 'load', '--kcv', cer.kcv], cer.stdin);
    expect(again.exit).toBe(1);
    expect(again.stderr).toMatch(/READER_BDK_LOADED/);

    const injected = await paypad(['terminal', 'reader', 'inject', '--state-dir', stateDir, '--initial-key-id', IK_ID, '--from-bdk', '--kcv', cer.kcv], cer.stdin);
    expect(injected.exit, injected.stderr).toBe(0);
    expect(JSON.parse(injected.stdout)).toEqual({ counter: 1 });
    const registered = await paypad(['gateway', 'reader', 'register', '--reader-id', READER, '--initial-key-id', IK_ID.toLowerCase()]);
    expect(registered.exit, registered.stderr).toBe(0);
    expect(registered.stdout).toBe(`card reader ${READER} registered with initial key ID ${IK_ID}\n`);
    expect((await paypad(['gateway', 'reader', 'register', '--reader-id', READER, '--initial-key-id', 'A1B2'])).exit).toBe(2);
    await startReader();
    const paid = await payWithReader(1200);
    expect(paid.body.error, JSON.stringify(paid.body)).toBeUndefined();
    expect(paid.body).toMatchObject({ status: 'paid', maskedPan: '622202*********0017' });
  }, 90_000);

  it('E4: after a restart on the same data directory and database the BDK and the registration are still there and a reader payment decrypts; registered with another initial key ID the reader is refused', async () => {
    await shutDown();
    await boot();
    const status = JSON.parse((await paypad(['gateway', 'reader-bdk', 'status', '--json'])).stdout) as { loaded: boolean; kcv: string; loadedBy: string };
    expect(status).toMatchObject({ loaded: true, kcv: cer.kcv });
    expect(status.loadedBy).toMatch(/^admin:/);
    expect(JSON.parse((await paypad(['gateway', 'reader', 'list', '--json'])).stdout)).toEqual([{ readerId: READER, initialKeyId: IK_ID, registeredAt: expect.any(String), registeredBy: expect.stringMatching(/^admin:/) }]);
    await startReader();
    const paid = await payWithReader(1300);
    expect(paid.body).toMatchObject({ status: 'paid', maskedPan: '622202*********0017' });

    // The same reader id recorded with another device's initial key ID: this reader's reads are refused.
    const other = await paypad(['gateway', 'reader', 'register', '--reader-id', READER, '--initial-key-id', 'A1B2C3D400000002']);
    expect(other.stdout).toBe(`card reader ${READER} registered with initial key ID A1B2C3D400000002, replacing ${IK_ID}\n`);
    expect((await payWithReader(1350)).body.error?.code).toBe('DUKPT_KSN_INVALID');
    expect((await paypad(['gateway', 'reader', 'register', '--reader-id', READER, '--initial-key-id', IK_ID])).exit).toBe(0);
  }, 90_000);

  it('E4: a replacement needs --replace and is audited with both check values; the old reader\'s reads then fail the MAC', async () => {
    const replaced = await paypad(['gateway', 'reader-bdk', 'load', '--kcv', replacement.kcv, '--replace'], replacement.stdin);
    expect(replaced.exit, replaced.stderr).toBe(0);
    expect(replaced.stdout).toBe(`card readers' BDK loaded: check value ${replacement.kcv}, replacing ${cer.kcv}\n`);
    const refused = await payWithReader(1400);
    expect(refused.body.error?.code).toBe('MAC_MISMATCH');

    let reading: Database | undefined;
    try {
      reading = createDatabase(config.database);
      const audit = await createAuditStore(reading.db).listBySubject(READER_BDK_SUBJECT);
      expect(audit.map((e) => [e.action, e.detail])).toEqual([
        ['gateway.reader-bdk.loaded', { kcv: cer.kcv, components: 2 }],
        ['gateway.reader-bdk.replaced', { kcv: replacement.kcv, components: 2, replacedKcv: cer.kcv }],
      ]);
      // X1: no BDK, component or initial key anywhere in the database or any command's output.
      const secrets = [bdk, newBdk, ...cer.components, ...replacement.components, dukptInitialKey(bdk, fromHex(IK_ID))].map((key, i) => ({ label: `secret ${i}`, key }));
      const outputs = transcripts.map((t) => ({ name: `paypad ${t.args.slice(0, 3).join(' ')}`, kind: 'cli', bytes: new Uint8Array(Buffer.from(t.stdout + t.stderr)) }));
      expect(findKeys(secrets, [...(await databaseRows(reading)), ...outputs])).toEqual([]);
    } finally {
      await reading?.close();
    }
  }, 90_000);
});
