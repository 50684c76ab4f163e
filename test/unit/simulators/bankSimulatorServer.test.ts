/**
 * The simulated provider on the acquirer link (host/simulators/bankSimulatorServer.ts): ISO 8583
 * 0200, 0400, 0500 and 0800 over loopback TCP through the link's own client, every message MAC'd
 * under a zone MAC key, every decision the BankSimulator's.
 */
import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { aesCmac, verifyAesCmac } from '../../../shared/crypto/cmac';
import {
  ACQUIRER_LINK_FIELDS,
  type AcquirerLinkClient,
  type AcquirerLinkServer,
  buildFinancialRequest,
  buildNetworkRequest,
  buildReconciliationRequest,
  buildReversalRequest,
  connectAcquirerLink,
  createPackager,
  type FinancialRequest,
  type Iso8583Message,
  type MessageAuthenticator,
  PURCHASE_PROCESSING_CODE,
  readFinancialResponse,
  readNetworkResponse,
  readReconciliationResponse,
  readReversalResponse,
  type ReconciliationTotals,
  REVERSAL_REASON_TIMEOUT,
  signMessage,
} from '../../../host/payments/iso8583/index';
import { listenBankSimulator } from '../../../host/simulators/bankSimulatorServer';
import { createTestPaymentNetwork, TEST_CARDS, type TestPaymentNetwork } from '../../../host/simulators/testCards';

const link = createPackager(ACQUIRER_LINK_FIELDS);
const clock = new Date('2026-12-06T10:00:00Z');

function cmacAuthenticator(key: Uint8Array): MessageAuthenticator {
  return { mac: async (data) => aesCmac(key, data), verifyMac: async (data, mac) => verifyAesCmac(key, data, mac) };
}

let network: TestPaymentNetwork;
let zone: MessageAuthenticator;
let server: AcquirerLinkServer;
let client: AcquirerLinkClient;
let unanswered: unknown[];
let stan = 0;

beforeEach(async () => {
  network = await createTestPaymentNetwork({ now: () => clock });
  zone = cmacAuthenticator(new Uint8Array(randomBytes(16)));
  unanswered = [];
  server = await listenBankSimulator({ provider: network.provider, packager: link, authenticator: zone, now: () => clock, onError: (e) => unanswered.push(e) });
  client = await connectAcquirerLink({ host: '127.0.0.1', port: server.port, packager: link, requestTimeoutMs: 2_000 });
});

afterEach(async () => {
  client.close();
  await server.close();
});

function purchase(pan: string, amount: bigint, change: Partial<FinancialRequest> = {}): FinancialRequest {
  return {
    pan,
    processingCode: PURCHASE_PROCESSING_CODE,
    amountMinor: amount,
    transmissionDateTime: '1206100000',
    stan: ++stan,
    localTime: '180000',
    localDate: '1206',
    expiry: '3012',
    posEntryMode: '021',
    terminalId: 'TERM0001',
    merchantId: '898440358120001',
    currency: '156',
    pinBlock: network.pinBlock(pan),
    ...change,
  };
}

async function send(message: Iso8583Message, timeoutMs?: number): Promise<Iso8583Message> {
  return client.request(await signMessage(link, message, zone), timeoutMs);
}

const pay = async (request: FinancialRequest) => readFinancialResponse(await send(buildFinancialRequest(request)));
const balance = (pan: string) => network.provider.balanceOf(pan)?.balance;

describe('C8 over ISO 8583: 0200/0210', () => {
  it('C8: an approved purchase debits the card and answers 00 with an authorisation code and an RRN', async () => {
    const answer = await pay(purchase(TEST_CARDS.unionPay.pan, 12_345n));
    expect(answer).toMatchObject({ responseCode: '00', approved: true, amountMinor: 12_345n, terminalId: 'TERM0001' });
    expect(answer.authId).toMatch(/^\d{6}$/);
    expect(answer.rrn).toMatch(/^[0-9A-F]{12}$/);
    expect(balance(TEST_CARDS.unionPay.pan)).toBe(1_000_000 - 12_345);
  });

  it.each([
    ['51', TEST_CARDS.insufficientFunds.pan, {}],
    ['57', TEST_CARDS.blocked.pan, {}],
    ['57', TEST_CARDS.nonContracted.pan, {}],
    ['54', TEST_CARDS.expired.pan, {}],
    ['05', TEST_CARDS.foreignCurrency.pan, {}],
    ['14', '6011111111111117', {}],
    ['55', TEST_CARDS.visa.pan, { pinBlock: undefined }],
    ['12', TEST_CARDS.visa.pan, { processingCode: '310000' }], // a balance inquiry: not offered
    ['30', TEST_CARDS.visa.pan, { currency: '392' }], // JPY: not settled by the provider
    ['30', TEST_CARDS.visa.pan, { amountMinor: 0n }],
  ])('C8: field 39 is %s for %s', async (code, pan, change: Partial<FinancialRequest>) => {
    const answer = await pay(purchase(pan, 1_000n, change));
    expect(answer.responseCode).toBe(code);
    expect(answer.authId).toBeUndefined();
  });

  it('C8: a wrong PIN in field 52 is 55', async () => {
    const answer = await pay(purchase(TEST_CARDS.visa.pan, 100n, { pinBlock: network.pinBlock(TEST_CARDS.visa.pan, '0000') }));
    expect(answer.responseCode).toBe('55');
  });

  it('C8: the same 0200 sent twice (terminal, STAN, time) is 94 the second time, under the same RRN, and debits once', async () => {
    const request = purchase(TEST_CARDS.masterCard.pan, 500n);
    const first = await pay(request);
    const second = await pay(request);
    expect([first.responseCode, second.responseCode]).toEqual(['00', '94']);
    expect(second.rrn).toBe(first.rrn);
    expect(balance(TEST_CARDS.masterCard.pan)).toBe(999_500);
  });

  it('C9: a 0200 with processing code 20 credits the payee\'s card', async () => {
    const answer = await pay(purchase(TEST_CARDS.payee.pan, 8_800n, { processingCode: '200000', pinBlock: undefined }));
    expect(answer.responseCode).toBe('00');
    expect(balance(TEST_CARDS.payee.pan)).toBe(8_800);
  });
});

describe('C8 over ISO 8583: 0400/0410', () => {
  it('C8: a reversal names its original in field 90 and puts the money back, once', async () => {
    const original = purchase(TEST_CARDS.unionPay.pan, 2_000n);
    await pay(original);
    const reversal = () => buildReversalRequest(original, { stan: ++stan, transmissionDateTime: '1206100100', reasonCode: REVERSAL_REASON_TIMEOUT });
    expect(readReversalResponse(await send(reversal())).responseCode).toBe('00');
    expect(readReversalResponse(await send(reversal())).responseCode).toBe('00');
    expect(balance(TEST_CARDS.unionPay.pan)).toBe(1_000_000);
  });

  it('C8: a reversal of a 0200 the provider never saw is 25', async () => {
    const never = purchase(TEST_CARDS.unionPay.pan, 2_000n);
    const reversal = buildReversalRequest(never, { stan: ++stan, transmissionDateTime: '1206100100', reasonCode: REVERSAL_REASON_TIMEOUT });
    expect(readReversalResponse(await send(reversal)).responseCode).toBe('25');
  });
});

describe('C9 over ISO 8583: 0500/0510 and 0800/0810', () => {
  const tally = (count: number, amount: bigint) => ({ count, amountMinor: amount });
  const totals = (debits: [number, bigint], reversals: [number, bigint], credits: [number, bigint]): ReconciliationTotals => ({
    credits: tally(...credits),
    creditReversals: tally(0, 0n),
    debits: tally(...debits),
    debitReversals: tally(...reversals),
  });

  async function reconcile(stated: ReconciliationTotals, settlementDate = '1206', currency = '156') {
    const request = buildReconciliationRequest({ stan: ++stan, transmissionDateTime: '1206235900', settlementDate, currency, totals: stated });
    return readReconciliationResponse(await send(request));
  }

  it('C9: totals that match the provider\'s settlement file are in balance; others are out, with the provider\'s figures', async () => {
    const debit = purchase(TEST_CARDS.unionPay.pan, 3_000n);
    await pay(debit);
    await pay(purchase(TEST_CARDS.visa.pan, 1_000n));
    await send(buildReversalRequest(debit, { stan: ++stan, transmissionDateTime: '1206100100', reasonCode: REVERSAL_REASON_TIMEOUT }));
    await pay(purchase(TEST_CARDS.payee.pan, 500n, { processingCode: '200000', pinBlock: undefined }));
    const ours = totals([2, 4_000n], [1, 3_000n], [1, 500n]);
    expect(await reconcile(ours)).toMatchObject({ responseCode: '00', settlement: 'inBalance', totals: ours });
    const short = await reconcile(totals([1, 1_000n], [0, 0n], [1, 500n]));
    expect(short).toMatchObject({ settlement: 'outOfBalance', totals: ours });
  });

  it('C9: an unknown currency or a settlement date that does not exist is a format error (30)', async () => {
    const none = totals([0, 0n], [0, 0n], [0, 0n]);
    expect(await reconcile(none, '1206', '392')).toMatchObject({ responseCode: '30', settlement: 'error' });
    expect(await reconcile(none, '1332')).toMatchObject({ responseCode: '30', settlement: 'error' });
  });

  it('X5: sign-on, echo and cutover answer 00', async () => {
    const common = { stan: 0, transmissionDateTime: '1206100000' };
    const ask = async (request: Parameters<typeof buildNetworkRequest>[0]) => readNetworkResponse(await send(buildNetworkRequest({ ...request, stan: ++stan }))).responseCode;
    expect(await ask({ ...common, action: 'signOn' })).toBe('00');
    expect(await ask({ ...common, action: 'echo' })).toBe('00');
    expect(await ask({ ...common, action: 'cutover', settlementDate: '1207' })).toBe('00');
  });
});

describe('X2 over ISO 8583: what gets no answer', () => {
  it('X2 tampered: a 0200 whose MAC does not verify gets no answer and moves no money; the simulator reports MAC_MISMATCH', async () => {
    const signed = await signMessage(link, buildFinancialRequest(purchase(TEST_CARDS.unionPay.pan, 100n)), zone);
    const tampered = { mti: signed.mti, fields: { ...signed.fields, 4: '000000999999' } };
    await expect(client.request(tampered, 300)).rejects.toMatchObject({ code: 'ACQUIRER_LINK_TIMEOUT' });
    expect(balance(TEST_CARDS.unionPay.pan)).toBe(1_000_000);
    expect(unanswered).toEqual([expect.objectContaining({ code: 'MAC_MISMATCH' })]);
  });

  it('X2: a 0200 MAC\'d under another zone key gets no answer either', async () => {
    const stranger = cmacAuthenticator(new Uint8Array(randomBytes(16)));
    const message = await signMessage(link, buildFinancialRequest(purchase(TEST_CARDS.unionPay.pan, 100n)), stranger);
    await expect(client.request(message, 300)).rejects.toMatchObject({ code: 'ACQUIRER_LINK_TIMEOUT' });
    expect(balance(TEST_CARDS.unionPay.pan)).toBe(1_000_000);
  });
});
