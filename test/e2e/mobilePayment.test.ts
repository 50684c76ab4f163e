/**
 * System C end to end on loopback (docs/mobile-payments.md; SPEC C1-C9, X1): the patent's scenario
 * through the real host and the real CLIs (bin/demo/mobilePaymentScenario.ts, shared with
 * `npm run demo:mobile-payment`), then every failure path with its typed code, the POS screen the
 * payer is left with, and no bank balance or ledger total moved; then X1 for payments: no card
 * number, track 2 or terminal PIN block in clear in the host's log, its database rows, the files of
 * the host and the terminals, the CLIs' output or any HTTP answer. SQLite, or PostgreSQL when
 * DATABASE_URL is set (a schema of its own).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { request as httpsRequest } from 'node:https';
import { PAYPAD_BIN } from '../../bin/demo/paypadProcess';
import { type MobilePaymentScenarioResult, differences, lastScreen, payAt, runMobilePaymentScenario, snapshot } from '../../bin/demo/mobilePaymentScenario';
import type { PaypadTranscript } from '../../bin/demo/paypadProcess';
import { fromHex } from '../../shared/bytes';
import { loadConfig } from '../../host/config';
import { createLogger, type Logger } from '../../host/log';
import { type RunningHost, startHost } from '../../host/server';
import { TEST_CARDS, TEST_PIN } from '../../host/simulators/testCards';
import { DEFAULT_REQUEST_TIMEOUT_MS } from '../../host/payments/iso8583/linkClient';
import { type E2eDatabase, e2eDatabase } from './support/e2eDatabase';
import { type HttpCapture, type ServedRequest, captureHttpServers } from './support/httpCapture';
import type { SecretKey } from './support/keyLeakScan';
import { scanRunForKeys } from './support/onboardingX1';

// Onboarding two terminals is two dozen CLI processes; the payments and failure paths a dozen more.
const RUN_TIMEOUT_MS = 240_000;

const root = mkdtempSync(join(tmpdir(), 'paypad-e2e-pay-'));
const logFile = join(root, 'host.log');
const transcripts: PaypadTranscript[] = [];
let database: E2eDatabase;
let logger: Logger;
let http: HttpCapture;
let host: RunningHost;
let result: MobilePaymentScenarioResult;

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
  // The most the host logs, all of it scanned (X1).
  logger = createLogger({ level: 'trace', destination: pino.destination({ dest: logFile, sync: true }) });
  http = captureHttpServers();
  host = await startHost(config, { logger });
  result = await runMobilePaymentScenario({ host, workDir: join(root, 'work'), failurePaths: true, onPaypadExit: (t) => transcripts.push(t) });
}, RUN_TIMEOUT_MS);

afterAll(async () => {
  await host?.close({ graceMs: 0 });
  http?.stop();
  await database?.destroy();
  rmSync(root, { recursive: true, force: true });
});

/**
 * `paypad <args>` on a pseudo-terminal (util-linux `script`), answering each prompt when it appears
 * (typed ahead, the PIN would be echoed by the terminal before the command turns echo off).
 */
function onTty(args: readonly string[], answers: readonly (readonly [RegExp, string])[]): Promise<{ code: number | null; output: string }> {
  const quote = (a: string) => `'${a.replace(/'/g, "'\\''")}'`;
  const child = spawn('script', ['-qec', [PAYPAD_BIN, ...args].map(quote).join(' '), '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let output = '';
  let from = 0;
  let next = 0;
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    output += d;
    for (let m = answers[next]?.[0].exec(output.slice(from)); m && next < answers.length; m = answers[next]?.[0].exec(output.slice(from))) {
      from += m.index + m[0].length;
      child.stdin.write(answers[next++][1]);
    }
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), 40_000);
  return new Promise((resolve) =>
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    }),
  );
}

/** `served` sent again to the listener that took it, with `body`: what an attacker on the network could do. */
function resend(served: ServedRequest, body: Buffer): Promise<{ status: number; body: string }> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(served.headers)) if (typeof value === 'string' && !['host', 'connection', 'content-length'].includes(name)) headers[name] = value;
  headers['content-length'] = String(body.length);
  return new Promise((resolve, reject) => {
    // The attacker needs no trust in the server; the terminal's pinned CA is not the point here.
    const req = httpsRequest({ host: '127.0.0.1', port: served.port, path: served.url, method: served.method, headers, rejectUnauthorized: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe(`mobile-number payment end to end (${process.env.DATABASE_URL ? 'postgres' : 'sqlite'})`, () => {
  it('C1-C9: registered by SMS code, paid by number with the masked name confirmed, payer texted, reconciled, payee credited and texted the payer, books balanced', () => {
    expect(result.steps.filter((s) => !s.ok)).toEqual([]);
    expect(result.steps.map((s) => s.name)).toEqual([
      'terminals onboarded',
      'payee registered (C1)',
      'payer pays by number (C3-C8)',
      'card debited at the simulated bank over ISO 8583',
      "payer's text (C8)",
      'reconciliation (C9)',
      "payee's text names the payer (C9)",
      'ledger balances',
    ]);
    const pos = result.steps[2].screens ?? '';
    // C5: the name as the POS shows it; the approved screen with the amount, masked card and reference.
    expect(pos).toContain('| H** M*****');
    expect(pos).toMatch(/\| Approved +\|\n\| CNY 25\.00 to H\*\* M\*\* \|\n\| 622202\*{9}0017 +\|\n\| Ref [0-9A-F]{12} +\|/);
    expect(result.reference).toMatch(/^[0-9A-F]{12}$/);
  });

  it('each failure path: its code, its POS screen, and nothing moved at the banks or in the ledger', () => {
    const byName = Object.fromEntries(result.failures.map((f) => [f.name, f]));
    // C4: a number failing the rule is a command-line error with the rule's code; the POS re-asks on a TTY (unit tests).
    expect(byName['bad number']).toMatchObject({ exit: 2, code: 'MOBILE_NUMBER_INVALID' });
    // C3: an unknown payee is POSP's authenticated refusal.
    expect(byName['unknown payee']).toMatchObject({ exit: 1, code: 'PAYEE_UNKNOWN', screen: 'Not paid / Payee not registered / PAYEE_UNKNOWN / Nothing was debited' });
    // C7: the provider's bank check, and the issuers' answers, with their ISO 8583 reasons.
    expect(byName['non-contracted bank']).toMatchObject({ exit: 1, code: '57' });
    expect(byName['non-contracted bank'].screen).toMatch(/^Declined \/ 57 Transaction not/);
    expect(byName['insufficient funds']).toMatchObject({ exit: 1, code: '51', screen: 'Declined / 51 Insufficient / funds' });
    expect(byName['wrong PIN']).toMatchObject({ exit: 1, code: '55', screen: 'Declined / 55 Incorrect PIN' });
    // C5: five misses empty a payer's bucket (size 100, a miss costs 20); the sixth lookup is refused.
    for (let i = 1; i <= 5; i++) expect(byName[`enumeration miss ${i}`]).toMatchObject({ exit: 1, code: 'PAYEE_UNKNOWN' });
    expect(byName['empty anti-enumeration bucket']).toMatchObject({ exit: 1, code: 'RATE_LIMITED', screen: 'Not paid / Too many lookups / RATE_LIMITED / Nothing was debited' });
    for (const f of result.failures) expect(f.moved, f.name).toEqual([]);
  });

  it('a bank timeout: the bank debits but its answer comes too late; POSP reverses (0400), the POS shows 91, and nothing moved', async () => {
    const provider = host.mobile.network.provider;
    const authorise = provider.authorise.bind(provider);
    // The issuer acts at once; its 0210 is held past POSP's wait on the link.
    provider.authorise = async (request) => {
      provider.authorise = authorise;
      const answer = await authorise(request);
      await new Promise((resolve) => setTimeout(resolve, DEFAULT_REQUEST_TIMEOUT_MS + 1_000));
      return answer;
    };
    const before = await snapshot(host);
    const run = await payAt(result.terminals[0], { payee: result.payee.mobile, amount: result.amount, card: 'unionPay', pin: TEST_PIN }, { onExit: (t) => transcripts.push(t) });
    expect(run.exit).toBe(1);
    expect(run.outcome).toMatchObject({ outcome: 'declined', responseCode: '91' });
    expect(run.outcome.reason).toMatch(/reversed and nothing was charged/);
    expect(lastScreen(run.screens)).toMatch(/^Declined \/ 91 /);
    expect(differences(before, await snapshot(host))).toEqual([]);
  }, 60_000);

  it('C4, C5 on a terminal window: a bad number is asked again, the masked name confirmed with y, the PIN keyed with echo off', async () => {
    const before = await snapshot(host);
    const { code, output } = await onTty(['terminal', 'pay', 'mobile', '--state-dir', result.terminals[1]], [
      [/Payee mobile number: /, '12345678901\r'],
      [/Invalid number\. Payee mobile number: /, `${result.payee.mobile}\r`],
      [/Pay H\*\* M\*\*\*\*\*\? \[y\/N\] /, 'y\r'],
      [/Amount in minor units \(fen\): /, '700\r'],
      [/a card file: /, 'visa\r'],
      [/PIN \(Enter when done\): /, '1234\r'],
    ]);
    expect(code, output).toBe(0);
    const afterPin = output.slice(output.indexOf('PIN (Enter when done):'));
    expect(afterPin).toContain('****');
    expect(afterPin).not.toContain('1234');
    expect(output).toMatch(/\| Invalid number/);
    expect(output).toMatch(/"outcome": "approved"/);
    const moved = differences(before, await snapshot(host));
    expect(moved.filter((m) => m.startsWith('411111'))).toEqual(['411111******0003 1000000 -> 999300']);
  }, 60_000);

  it('X2: the approved payment request sent again gets no second debit; the same request with another amount is refused unread', async () => {
    const paid = http.requests.find((r) => r.url.endsWith('/mobile/pay') && Buffer.concat(r.body).includes(`"amount":${result.amount},`) && Buffer.concat(r.body).includes(`"payerMobile":"${result.payerMobile}"`));
    expect(paid).toBeDefined();
    const body = Buffer.concat(paid!.body);
    const before = await snapshot(host);
    const replayed = await resend(paid!, body);
    // The same bytes under a used sequence are answered from what POSP stored (a terminal's retry): never debited again.
    expect(replayed.status).toBe(200);
    expect(JSON.parse(replayed.body)).toMatchObject({ responseCode: '00', reference: result.reference });
    const tampered = await resend(paid!, Buffer.from(body.toString('latin1').replace(`"amount":${result.amount},`, `"amount":${result.amount + 1},`), 'latin1'));
    expect(tampered.status).toBe(401);
    expect(JSON.parse(tampered.body)).toMatchObject({ error: { code: 'MAC_MISMATCH' } });
    expect(differences(before, await snapshot(host))).toEqual([]);
  });

  it('X1: no PAN, track 2 or terminal PIN block in clear in logs, rows, files, CLI output or HTTP answers; the search finds a planted canary', async () => {
    // Every terminal PIN block POSP received (format 4 under PIK, hex in the pay request's body).
    const pinBlocks = new Set<string>();
    for (const kms of host.kms.running()) {
      const bodies = Buffer.from(http.receivedBy(Number(new URL(kms.url).port))).toString('latin1');
      for (const m of bodies.matchAll(/"pinBlock":"([0-9A-Fa-f]{32})"/g)) pinBlocks.add(m[1].toUpperCase());
    }
    // The payment and the four failures that reached POSP's pay step; the rest stopped at the lookup.
    expect(pinBlocks.size).toBeGreaterThanOrEqual(4);
    const ascii = (text: string) => new Uint8Array(Buffer.from(text, 'ascii'));
    const secrets: SecretKey[] = [
      ...Object.entries(TEST_CARDS).flatMap(([name, card]) => [
        { label: `PAN ${name}`, key: ascii(card.pan) },
        { label: `track2 ${name}`, key: ascii(`${card.pan}=${card.expiry}`) },
      ]),
      ...[...pinBlocks].map((hex, i) => ({ label: `PIN-block #${i + 1}`, key: fromHex(hex, 'pinBlock') })),
    ];
    const report = await scanRunForKeys({ host, logger, logFile, http, transcripts, runs: [{ engine: 'node', workDir: join(root, 'work'), result: result.onboarding }], secrets });
    console.info(report.summary);
    expect(report.leaks).toEqual([]);
    expect(report.canaryFound).toEqual(report.canaryPlanted);
  });
});
