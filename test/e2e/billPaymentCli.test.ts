/**
 * System D from the phone's side, end to end on loopback (docs/bill-payments.md "The phone client"; SPEC D1-D7, X1):
 * the real host (`startHost`, demo merchant on) and the real `bin/paypad phone` CLI as the payer's
 * phone. The phone enrols by the texted code and binds two cards, one with too little money; it
 * watches its push channel while the merchant simulator sends a signed order, and the bill
 * arrives; paying with the poor card is answered "insufficient funds" and the bill stays open;
 * the other card pays it, under the same idempotency key. Then X1: no card number, session key or
 * element key in clear in the client's state file, the host's log, database rows and HTTP traffic
 * (answers and requests, the push channel's frames included), or anything the CLI printed. SQLite, or PostgreSQL when DATABASE_URL is set.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PAYPAD_BIN } from '../../bin/demo/paypadProcess';
import { openFileElement } from '../../bin/commands/phoneElement';
import { loadConfig } from '../../host/config';
import { createLogger } from '../../host/log';
import { type RunningHost, startHost } from '../../host/server';
import { TEST_CARDS, TEST_PIN } from '../../host/simulators/testCards';
import { fromHex } from '../../shared/bytes';
import type { PhoneBill } from '../../shared/protocol/phoneClient';
import { phoneCliRunner } from './support/phoneCliRun';
import { type E2eDatabase, e2eDatabase } from './support/e2eDatabase';
import { captureHttpServers, type HttpCapture } from './support/httpCapture';
import { findKeys, type ScanSource } from './support/keyLeakScan';
import { databaseRows } from './support/runArtifacts';

const RUN_TIMEOUT_MS = 180_000;
const MOBILE = '13912340001';
const E164 = `+86${MOBILE}`;
const POOR = TEST_CARDS.insufficientFunds;
const RICH = TEST_CARDS.unionPay;

const root = mkdtempSync(join(tmpdir(), 'paypad-e2e-phone-'));
const home = join(root, 'phone');
const logFile = join(root, 'host.log');
let database: E2eDatabase;
let host: RunningHost;
let http: HttpCapture;
const printed: string[] = [];

/** `paypad phone <args> --home H --url U` with `input` on standard input; the output kept for the X1 scan. */
const phone = phoneCliRunner(() => home, () => host.url, printed);

const balance = (pan: string) => host.mobile.network.provider.balanceOf(pan)?.balance;

beforeAll(async () => {
  database = await e2eDatabase();
  const config = loadConfig({
    PAYPAD_HOST: '127.0.0.1',
    PAYPAD_PORT: '0',
    PAYPAD_MTMS_PORT: '0',
    PAYPAD_KMS_BASE_PORT: '0',
    PAYPAD_DATA_DIR: join(root, 'data'),
    PAYPAD_DEMO_DATA: '1',
    DATABASE_URL: database.databaseUrl,
  });
  // What the host's listeners send and receive, and the most it logs: all of it scanned (X1).
  http = captureHttpServers();
  host = await startHost(config, { logger: createLogger({ level: 'trace', destination: pino.destination({ dest: logFile, sync: true }) }) });
}, RUN_TIMEOUT_MS);

afterAll(async () => {
  await host?.close({ graceMs: 0 });
  http?.stop();
  await database?.destroy();
  rmSync(root, { recursive: true, force: true });
});

describe('paying a bill with paypad phone against the real host', () => {
  let bill: PhoneBill;

  it('D1: enrols by the texted code (a wrong code refused first) and binds two cards verified by their bank', async () => {
    expect((await phone(['enrol', '--mobile', MOBILE])).code).toBe(0);
    const code = /verification code is (\d{6})/.exec(host.mobile.sms.sent(E164).at(-1)?.text ?? '')?.[1];
    expect(code).toMatch(/^\d{6}$/);
    const wrong = await phone(['confirm', '--code', code === '000000' ? '111111' : '000000']);
    expect(wrong).toMatchObject({ code: 1, stderr: expect.stringContaining('VERIFICATION_CODE_INVALID') });
    expect(JSON.parse((await phone(['confirm', '--code', code!])).stdout)).toMatchObject({ mobile: E164 });
    for (const card of [POOR, RICH]) {
      const bound = await phone(['bind-card', '--expiry', card.expiry, '--holder', card.holderName], `${card.pan}\n`);
      expect(bound.code).toBe(0);
      expect(JSON.parse(bound.stdout).maskedPan).toBe(`${card.pan.slice(0, 6)}${'*'.repeat(card.pan.length - 10)}${card.pan.slice(-4)}`);
    }
  });

  it('D2, D3: the merchant\'s signed order reaches the watching phone as a bill with the verified merchant name', async () => {
    const watcher: ChildProcess = spawn(PAYPAD_BIN, ['phone', 'watch', '--count', '1', '--home', home, '--url', host.url], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    watcher.stdout!.setEncoding('utf8').on('data', (d: string) => void (out += d));
    watcher.stderr!.setEncoding('utf8').on('data', (d: string) => void (err += d));
    const exited = new Promise<number | null>((resolve) => watcher.once('close', resolve));
    for (let i = 0; i < 300 && !err.includes('waiting for bills'); i++) await new Promise((r) => setTimeout(r, 20));
    // The hello is verified after the socket opened: give the gateway a moment to register the phone.
    await new Promise((r) => setTimeout(r, 500));
    const order = await fetch(`${host.url}/bills/simulator/orders`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ amountMinor: 12_800, goods: 'The Art of Computer Programming, vol. 1', designatedMobile: E164, buyerMobile: E164 }),
    });
    expect(order.status).toBe(201);
    expect(await exited).toBe(0);
    printed.push(out, err);
    bill = JSON.parse(out.trim().split('\n')[0]) as PhoneBill;
    expect(bill).toMatchObject({ merchantName: 'Harbour Books Ltd', amountMinor: 12_800, currency: 'CNY', goods: 'The Art of Computer Programming, vol. 1', state: 'open', forAnotherPerson: false });
    expect(bill.merchantCertificateSubject).toContain('Harbour Books Ltd');
    // Connected: no "a bill is waiting" text.
    expect(host.mobile.sms.sent(E164).some((m) => m.text.includes('sent a bill'))).toBe(false);
  });

  it('D4, D6: the poor card is refused for funds and the bill stays open; the other card pays it', async () => {
    const before = { poor: balance(POOR.pan), rich: balance(RICH.pan) };
    const poor = await phone(['pay', '--bill', bill.id, '--card', POOR.pan.slice(-4), '--pin-stdin', '--yes'], `${TEST_PIN}\n`);
    expect(poor.code).toBe(1);
    expect(poor.stderr).toContain('insufficient funds');
    expect(JSON.parse(poor.stdout)).toMatchObject({ outcome: 'insufficient_funds', bill: { id: bill.id, state: 'open' } });
    expect(balance(POOR.pan)).toBe(before.poor);
    const listed = (await phone(['bills'])).stdout.trim().split('\n').map((l) => JSON.parse(l) as PhoneBill);
    expect(listed.map((b) => b.id)).toEqual([bill.id]);
    const key = JSON.parse(readFileSync(join(home, 'phone.json'), 'utf8')).billKeys[bill.id];
    expect(key).toMatch(/^[0-9A-F]{32}$/);

    const rich = await phone(['pay', '--bill', bill.id, '--card', RICH.pan.slice(-4), '--pin-stdin', '--yes'], `${TEST_PIN}\n`);
    expect(rich.code).toBe(0);
    expect(JSON.parse(rich.stdout)).toMatchObject({ outcome: 'paid', bill: { id: bill.id, state: 'paid' }, reference: expect.any(String) });
    expect(balance(RICH.pan)).toBe(before.rich! - 12_800);
    expect((await host.bills.bills.bill(bill.id)).state).toBe('paid');
    expect((await phone(['bills'])).stdout).toBe('');
  });

  it('X1: no card number, session key or element key in clear in the client\'s state, the host\'s log, rows and HTTP traffic, or the CLI\'s output', async () => {
    const element = await openFileElement(home, false);
    const state = JSON.parse(readFileSync(join(home, 'phone.json'), 'utf8')) as { keys: string };
    const sessionKeys = await element.open('phone-keys', fromHex(state.keys));
    const elementKey = fromHex(readFileSync(join(home, 'element.key'), 'utf8').trim());
    const keys = [
      { label: 'K_mac', key: sessionKeys.slice(0, 16) },
      { label: 'K_enc', key: sessionKeys.slice(16, 32) },
      { label: 'K_pin', key: sessionKeys.slice(32, 48) },
      { label: 'element key', key: elementKey },
    ];
    const text = (name: string, kind: string, content: string): ScanSource => ({ name, kind, bytes: new Uint8Array(Buffer.from(content, 'utf8')) });
    const sources: ScanSource[] = [
      text('client phone.json', 'file', readFileSync(join(home, 'phone.json'), 'utf8')),
      text('host log', 'log', readFileSync(logFile, 'utf8')),
      text('CLI output', 'cli', printed.join('\n')),
      ...(await databaseRows(host.database)),
      ...http.ports().flatMap((port) => [
        { name: `HTTP answers of :${port}`, kind: 'http', bytes: http.sentBy(port) },
        { name: `HTTP requests to :${port}`, kind: 'http', bytes: http.receivedBy(port) },
      ]),
    ];
    expect(sources.filter((s) => s.kind === 'http').length).toBeGreaterThan(0);
    expect(findKeys(keys, sources)).toEqual([]);
    for (const source of sources) {
      const content = Buffer.from(source.bytes).toString('utf8');
      for (const pan of [POOR.pan, RICH.pan]) expect(content.includes(pan), `${source.name} holds a card number`).toBe(false);
    }
    expect(sources.find((s) => s.name.includes('bill_client_cards'))).toBeDefined();
  });
});
