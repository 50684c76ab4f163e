/**
 * The emulated terminal pays by mobile number against the host's own KMS with POSP beside it
 * (firmware/core/paymentClient.ts, host/posp; SPEC C3-C8, X1, X2): HTTPS with a paypad CA
 * certificate, the real vault enciphering track 2 under TDK and the PIN under PIK, POSP in the
 * KMS's software HSM, and ISO 8583 over loopback TCP to the simulated provider's server.
 */
import { X509Certificate } from 'node:crypto';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeKeyEnvelope, wrapKeyForRecipient } from '../../../shared/crypto/keyTransport';
import { asciiToBytes, toHex } from '../../../shared/bytes';
import type { CertificateAuthority } from '../../../host/ca/authority';
import { ensureCa } from '../../../host/ca/caStorage';
import { LMK_FILE_NAME, type RunningKms, kmsDirectory, startKms } from '../../../host/kms/kmsInstance';
import { createLogger } from '../../../host/log';
import { TEST_CARDS, TEST_PIN } from '../../../host/simulators/testCards';
import { Terminal } from '../../../firmware/core/terminal';
import type { Http, HttpResponse } from '../../../firmware/hal/http';
import { PaypadError } from '../../../shared/errors';
import { useMigratedDatabase } from '../../store/helpers/testDatabase';
import { findKeys } from '../../e2e/support/keyLeakScan';
import { openWithLmkFile } from '../hsm/hsmTestKit';
import { type AcquiringSide, CUSTOMER, startAcquiringSide } from '../posp/pospTestKit';
import { type Manufactured, SERIAL, makeMtmsKey, manufacture, openTkEnvelope, rng, tempDirs } from './support';

const dirs = tempDirs();
const database = useMigratedDatabase('sqlite');
const mtms = makeMtmsKey();
let ca: CertificateAuthority;
let kms: RunningKms;
let acquiring: AcquiringSide | undefined;
let terminal: Terminal;
let unit: Manufactured;
/** Every line the KMS and POSP logged, at debug level. */
const logLines: string[] = [];

beforeAll(async () => {
  ca = await ensureCa({ dataDir: dirs.make(), db: database().db });
  const dataDir = dirs.make();
  kms = await startKms({
    customerCode: CUSTOMER,
    dataDir,
    db: database().db,
    ca,
    port: 0,
    host: '127.0.0.1',
    logger: createLogger({ level: 'debug', destination: { write: (line: string) => void logLines.push(line) } }),
    posp: async ({ hsm, store }) => {
      const lmkFile = join(kmsDirectory(dataDir, CUSTOMER), LMK_FILE_NAME);
      acquiring = await startAcquiringSide({ database: database(), hsm, open: (handle) => openWithLmkFile(lmkFile, handle), kmsStore: store });
      return acquiring.posp;
    },
  });
  const caDer = new Uint8Array(new X509Certificate(ca.caCertificatePem).raw);
  unit = manufacture(dirs.make(), { mtms, kmsUrl: kms.url, caDer });
  terminal = unit.terminal;
  // A1-A7 as the operator and MTMS do it, then A11 and A12.
  const answer = await terminal.handleLinkRequest({ v: 1, id: 1, op: 'tk' });
  if (!('tkEnvelope' in answer)) throw new Error('expected a tk answer');
  const tk = openTkEnvelope(mtms, answer.tkEnvelope);
  const envelope = encodeKeyEnvelope(wrapKeyForRecipient(kms.service.intakePublicKey().publicKey, tk, asciiToBytes(`paypad-tk|${SERIAL}`), rng));
  await kms.service.receiveTk({ v: 1, deliveryId: 'd-pay-1', serial: SERIAL, envelope: toHex(envelope), customerCode: CUSTOMER, intakeSequence: 1 });
  await terminal.downloadTmk();
  await terminal.signOn();
});
afterAll(async () => {
  await kms?.close({ graceMs: 0 });
  await acquiring?.close();
  dirs.cleanup();
});

const side = (): AcquiringSide => {
  if (!acquiring) throw new Error('POSP starts with the KMS');
  return acquiring;
};

describe('the terminal pays by mobile number through POSP (C3-C8, X2)', () => {
  it('C5, C8: looks the payee up (name masked), pays with the swiped card and PIN, gets 00; the card is debited once', async () => {
    side().platform.payees.set('13800138000', '王小明');
    const payee = await terminal.lookupPayee('13800138000', '13900139000');
    expect(payee.maskedName).toBe('王*明');
    expect(side().platform.lookupQueries.at(-1)).toEqual({ mobile: '13800138000', terminalId: SERIAL, merchantId: '898440358120001', payerMobile: '13900139000' });
    const pan = TEST_CARDS.unionPay.pan;
    const before = side().provider.balanceOf(pan)!.balance;
    const track2 = asciiToBytes(`${pan}=30121011234`);
    const answer = await terminal.payByMobile({ lookupId: payee.lookupId, amount: 8_800, currency: 'CNY', track2, pin: TEST_PIN, payerMobile: '13900139000' });
    expect(answer).toMatchObject({ responseCode: '00', reason: 'Approved', amount: 8_800, maskedPan: '622202*********0017' });
    expect(side().provider.balanceOf(pan)!.balance).toBe(before - 8_800);
    expect(side().platform.payments.at(-1)).toMatchObject({ reference: answer.reference, payerMobile: '13900139000', terminalId: SERIAL });
  });

  it('C8: a wrong PIN is 55 with its reason, nothing debited; C7: a non-contracted bank is 57 with the reason', async () => {
    const payee = await terminal.lookupPayee('13800138000');
    const wrong = await terminal.payByMobile({ lookupId: payee.lookupId, amount: 100, currency: 'CNY', track2: asciiToBytes(`${TEST_CARDS.visa.pan}=30122011234`), pin: '9999' });
    expect(wrong).toMatchObject({ responseCode: '55', reason: 'Incorrect PIN' });
    const other = await terminal.payByMobile({ lookupId: payee.lookupId, amount: 100, currency: 'CNY', track2: asciiToBytes(`${TEST_CARDS.nonContracted.pan}=30121011234`), pin: TEST_PIN });
    expect(other.responseCode).toBe('57');
    expect(other.reason).toContain('not a contracted bank');
  });

  it('X2: an answer lost on the way back is asked for again with the same request: the stored answer, one debit', async () => {
    const payee = await terminal.lookupPayee('13800138000');
    const pan = TEST_CARDS.masterCard.pan;
    const before = side().provider.balanceOf(pan)!.balance;
    const sent = side().bankReceived.length;
    let lost = 0;
    // The request reaches POSP and is answered; the terminal's HTTP reports the connection lost, once.
    const flaky: Http = {
      request: (request) =>
        unit.device.http.request(request).then((response) => {
          if (request.url.endsWith('/mobile/pay') && lost++ === 0) throw new PaypadError('HTTP_FAILED', 'connection reset after the request was sent');
          return response;
        }),
    };
    const onFlakyLine = Terminal.open({ ...unit.device, http: flaky });
    const answer = await onFlakyLine.payByMobile({ lookupId: payee.lookupId, amount: 300, currency: 'CNY', track2: asciiToBytes(`${pan}=30122011234`), pin: TEST_PIN });
    expect(lost).toBe(2);
    expect(answer.responseCode).toBe('00');
    expect(side().provider.balanceOf(pan)!.balance).toBe(before - 300);
    expect(side().bankReceived.length).toBe(sent + 1);
  });

  it('X2: the terminal reads no answer whose MAC fails (tampered body, status or headers) or that carries none', async () => {
    const cases: [string, (r: HttpResponse) => HttpResponse, string][] = [
      ['tampered body', (r) => ({ ...r, body: Uint8Array.from(r.body, (b, i) => (i === 20 ? b ^ 1 : b)) }), 'MAC_MISMATCH'],
      ['other status', (r) => ({ ...r, status: 409 }), 'MAC_MISMATCH'],
      ['no MAC', (r) => ({ ...r, headers: Object.fromEntries(Object.entries(r.headers).filter(([name]) => name !== 'paypad-mac')) }), 'POSP_RESPONSE_UNSIGNED'],
      ['malformed MAC', (r) => ({ ...r, headers: { ...r.headers, 'paypad-mac': 'zz' } }), 'PROTOCOL_MALFORMED'],
    ];
    for (const [name, alter, code] of cases) {
      const altered: Http = { request: (request) => unit.device.http.request(request).then((response) => (request.url.endsWith('/mobile/lookup') ? alter(response) : response)) };
      await expect(Terminal.open({ ...unit.device, http: altered }).lookupPayee('13800138000'), name).rejects.toMatchObject({ code });
    }
    // An answer MAC'd for another sequence number (an earlier answer replayed) is refused too.
    let earlier: HttpResponse | undefined;
    const replaying: Http = {
      request: (request) =>
        unit.device.http.request(request).then((response) => {
          if (!request.url.endsWith('/mobile/lookup')) return response;
          earlier ??= response;
          return earlier;
        }),
    };
    const line = Terminal.open({ ...unit.device, http: replaying });
    await line.lookupPayee('13800138000');
    await expect(line.lookupPayee('13800138000')).rejects.toMatchObject({ code: 'MAC_MISMATCH' });
  });

  it('C4: an unknown payee is an authenticated refusal the POS can act on (POSP_REFUSED carrying PAYEE_UNKNOWN)', async () => {
    await expect(terminal.lookupPayee('13700137000')).rejects.toMatchObject({ code: 'POSP_REFUSED', pospCode: 'PAYEE_UNKNOWN' });
  });

  it('a malformed track is refused on the terminal, before anything is sent (CARD_DATA_INVALID)', async () => {
    const before = side().bankReceived.length;
    await expect(terminal.payByMobile({ lookupId: 'L1', amount: 100, currency: 'CNY', track2: asciiToBytes('not a track'), pin: TEST_PIN })).rejects.toMatchObject({ code: 'CARD_DATA_INVALID' });
    expect(side().bankReceived.length).toBe(before);
  });

  it('X1: no PAN, track 2 or PIN block the payments carried appears in any log line or any database row', async () => {
    const tables = await sql<{ name: string }>`select name from sqlite_master where type = 'table'`.execute(database().db);
    const rows: string[] = [];
    for (const { name } of tables.rows) rows.push(JSON.stringify((await sql`select * from ${sql.table(name)}`.execute(database().db)).rows));
    const debits = side().bankReceived.filter((m) => m.mti === '0200');
    expect(debits.length).toBeGreaterThan(1);
    const secrets = debits.flatMap((m, i) => [
      { label: `0200 #${i} PAN`, key: asciiToBytes(m.fields[2] as string) },
      { label: `0200 #${i} track 2`, key: asciiToBytes(m.fields[35] as string) },
      { label: `0200 #${i} PIN block`, key: m.fields[52] as Uint8Array },
    ]);
    const sources = [
      { name: 'log', kind: 'log', bytes: new TextEncoder().encode(logLines.join('')) },
      { name: 'database rows', kind: 'database', bytes: new TextEncoder().encode(rows.join('\n')) },
    ];
    expect(logLines.length).toBeGreaterThan(0);
    expect(findKeys(secrets, sources)).toEqual([]);
  });
});
