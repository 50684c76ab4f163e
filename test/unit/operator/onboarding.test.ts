/**
 * The operating terminal's flow (host/operator/onboarding) with in-memory ports: S1-S5 (A2-A5),
 * the customer-code path (A6, A14), the envelope relayed unopened (A10), repair (A13), and every
 * way it stops without uploading.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { MAX_CODE_ATTEMPTS, onboardTerminal, repairTerminal } from '../../../host/operator/onboarding';
import { answeringPrompt, needsOperator } from '../../../host/operator/prompt';
import { PeerRefusal } from '../../../host/operator/refusal';
import { PaypadError } from '../../../shared/errors';
import { DEVICE_CERTIFICATE, ENVELOPE, fakeLink, fakeMtmsPort, NEW_ENVELOPE, nonceNo, scriptedOperator, signatureOver } from './support/fakePorts';

/** A8: what the upload carries for MTMS's n-th challenge: the nonce, the device's signature over it, its certificate. */
const signedOver = (n: number) => ({ nonce: nonceNo(n), deviceSignature: signatureOver(nonceNo(n)), deviceCertificate: DEVICE_CERTIFICATE });

const TABLE = { customers: { ACME: 'Acme Bank', GLOBEX: 'Globex Pay' }, serials: { 'PP-0001': 'ACME' } };

function setup(answers: Parameters<typeof scriptedOperator>[1], link: Parameters<typeof fakeLink>[1] = { serial: 'PP-0001' }) {
  const events: string[] = [];
  const ports = { link: fakeLink(events, link), mtms: fakeMtmsPort(events, structuredClone(TABLE)), prompt: scriptedOperator(events, answers) };
  return { events, ports, mtms: ports.mtms, prompt: ports.prompt };
}

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'resolved';
  } catch (e) {
    return e instanceof PaypadError ? e.code : `not a PaypadError: ${String(e)}`;
  }
}

describe('A2-A5 confirmed customer', () => {
  it('S1-S5: reads the serial, looks it up, shows the customer, and only after yes reads and uploads the envelope', async () => {
    const { events, ports, mtms } = setup({ customer: [true] });
    const result = await onboardTerminal(ports);
    expect(events).toEqual(['link.serial', 'mtms.lookup PP-0001', 'ask.customer PP-0001 ACME Acme Bank', 'mtms.tkChallenge PP-0001', 'link.tk', 'mtms.uploadTk PP-0001 -']);
    expect(result).toEqual({ serial: 'PP-0001', customerCode: 'ACME', customerName: 'Acme Bank', deliveryId: 'tk-1', repaired: false });
    // A5, A8: serial + envelope signed by the device over MTMS's nonce, no customer code on the confirmed path.
    expect(mtms.uploads).toEqual([{ serial: 'PP-0001', tkEnvelope: ENVELOPE, ...signedOver(1) }]);
  });

  it('A10: relays the envelope exactly as the terminal sent it, with nothing derived from it', async () => {
    const { ports, mtms } = setup({ customer: [true] });
    await onboardTerminal(ports);
    expect(mtms.uploads[0].tkEnvelope).toBe(ENVELOPE);
    expect(Object.keys(mtms.uploads[0]).sort()).toEqual(['deviceCertificate', 'deviceSignature', 'nonce', 'serial', 'tkEnvelope']);
  });

  it('A5: refuses a receipt that files the TK for another customer than the one confirmed', async () => {
    const { ports, mtms } = setup({ customer: [true] });
    mtms.receiptCustomer = 'GLOBEX';
    await expect(onboardTerminal(ports)).rejects.toThrow(/filed the TK of serial PP-0001 for customer GLOBEX, not ACME/);
  });

  it('A5 A8: a lost answer to the upload is retried once, over a new challenge the terminal signs again; a second loss is reported', async () => {
    const once = setup({ customer: [true] });
    once.mtms.failures.uploadTk.push(new PaypadError('HTTP_TIMEOUT', 'no answer'));
    expect((await onboardTerminal(once.ports)).deliveryId).toBe('tk-1');
    expect(once.mtms.uploads).toEqual([
      { serial: 'PP-0001', tkEnvelope: ENVELOPE, ...signedOver(1) },
      { serial: 'PP-0001', tkEnvelope: ENVELOPE, ...signedOver(2) },
    ]);

    const twice = setup({ customer: [true] });
    twice.mtms.failures.uploadTk.push(new PaypadError('HTTP_FAILED', 'reset'), new PaypadError('HTTP_FAILED', 'reset'));
    expect(await codeOf(onboardTerminal(twice.ports))).toBe('HTTP_FAILED');
    expect(twice.mtms.uploads).toHaveLength(2);
  });

  it('A5: a refusal of the upload is final, never retried', async () => {
    const { ports, mtms } = setup({ customer: [true] });
    mtms.failures.uploadTk.push(new PeerRefusal('MTMS', 'KEY_UNWRAP_FAILED', 'not an envelope for MTMS', 422));
    expect(await codeOf(onboardTerminal(ports))).toBe('MTMS_REFUSED');
    expect(mtms.uploads).toHaveLength(1);
  });
});

describe('A6 the operator rejects the customer and enters a code', () => {
  it('asks MTMS for that customer name for this serial, confirms, uploads serial + envelope + code', async () => {
    const { events, ports, mtms } = setup({ customer: [false], codes: [' globex '], entered: [true] });
    const result = await onboardTerminal(ports);
    expect(events).toEqual([
      'link.serial',
      'mtms.lookup PP-0001',
      'ask.customer PP-0001 ACME Acme Bank',
      'ask.code PP-0001',
      'mtms.customerName PP-0001 GLOBEX',
      'ask.entered PP-0001 GLOBEX Globex Pay',
      'mtms.tkChallenge PP-0001',
      'link.tk',
      'mtms.uploadTk PP-0001 GLOBEX',
    ]);
    expect(mtms.uploads).toEqual([{ serial: 'PP-0001', tkEnvelope: ENVELOPE, customerCode: 'GLOBEX', ...signedOver(1) }]);
    expect(result).toMatchObject({ customerCode: 'GLOBEX', customerName: 'Globex Pay', reassociatedFrom: 'ACME' });
  });

  it('the entered customer not confirmed: stops with OPERATOR_CANCELLED, the envelope never read', async () => {
    const { events, ports, mtms } = setup({ customer: [false], codes: ['GLOBEX'], entered: [false] });
    expect(await codeOf(onboardTerminal(ports))).toBe('OPERATOR_CANCELLED');
    expect(events).not.toContain('link.tk');
    expect(mtms.uploads).toEqual([]);
  });

  it('a malformed code is refused locally and asked again, without asking MTMS', async () => {
    const { events, ports, prompt } = setup({ customer: [false], codes: ['no spaces!', 'GLOBEX'], entered: [true] });
    await onboardTerminal(ports);
    expect(events.filter((e) => e.startsWith('mtms.customerName'))).toEqual(['mtms.customerName PP-0001 GLOBEX']);
    expect(prompt.said.join('\n')).toMatch(/"NO SPACES!" is not a customer code/);
  });

  it('a code MTMS does not know is shown and asked again', async () => {
    const { ports, prompt } = setup({ customer: [false], codes: ['NOPE', 'GLOBEX'], entered: [true] });
    expect((await onboardTerminal(ports)).customerCode).toBe('GLOBEX');
    expect(prompt.said).toContain('MTMS knows no customer NOPE.');
  });

  it(`A14: at most ${MAX_CODE_ATTEMPTS} codes per run, so MTMS's customer list cannot be walked`, async () => {
    const codes = ['C1', 'C2', 'C3', 'C4', 'C5'];
    const { events, ports, mtms } = setup({ customer: [false], codes });
    expect(await codeOf(onboardTerminal(ports))).toBe('OPERATOR_CANCELLED');
    expect(events.filter((e) => e.startsWith('mtms.customerName'))).toHaveLength(MAX_CODE_ATTEMPTS);
    expect(mtms.uploads).toEqual([]);
  });

  it('giving up on the code (empty line, end of input) cancels; after an unknown code it reports that refusal', async () => {
    expect(await codeOf(onboardTerminal(setup({ customer: [false], codes: [undefined] }).ports))).toBe('OPERATOR_CANCELLED');
    const after = setup({ customer: [false], codes: ['NOPE', undefined] });
    await expect(onboardTerminal(after.ports)).rejects.toMatchObject({ code: 'MTMS_REFUSED', remoteCode: 'MTMS_CUSTOMER_UNKNOWN' });
  });
});

describe('stops without uploading', () => {
  it('unknown serial at MTMS: MTMS_SERIAL_UNKNOWN, no question, no envelope read (decision: stop, not the code path)', async () => {
    const { events, ports, mtms } = setup({}, { serial: 'PP-9999' });
    await expect(onboardTerminal(ports)).rejects.toMatchObject({ code: 'MTMS_SERIAL_UNKNOWN', message: expect.stringMatching(/PP-9999 is not in MTMS's serial table/) });
    expect(events).toEqual(['link.serial', 'mtms.lookup PP-9999']);
    expect(mtms.uploads).toEqual([]);
  });

  it('A8: MTMS refusing the operator certificate ends the run with its reason', async () => {
    const { events, ports } = setup({});
    ports.mtms.failures.lookup.push(new PeerRefusal('MTMS', 'CLIENT_CERT_REVOKED', 'the client certificate 01 has been revoked', 401));
    await expect(onboardTerminal(ports)).rejects.toThrow(/MTMS refused \(HTTP 401\): CLIENT_CERT_REVOKED/);
    expect(events).not.toContain('link.tk');
  });

  it('a network error reaching MTMS is reported as it is, not retried', async () => {
    const { events, ports } = setup({});
    ports.mtms.failures.lookup.push(new PaypadError('HTTP_FAILED', 'request to 127.0.0.1:1 failed: ECONNREFUSED'));
    expect(await codeOf(onboardTerminal(ports))).toBe('HTTP_FAILED');
    expect(events.filter((e) => e.startsWith('mtms.lookup'))).toHaveLength(1);
  });

  it('a terminal answering the tk request for another serial (device swapped) is refused', async () => {
    const { ports, mtms } = setup({ customer: [true] }, { serial: 'PP-0001', tkSerial: 'PP-0002' });
    await expect(onboardTerminal(ports)).rejects.toMatchObject({ code: 'PROTOCOL_MALFORMED', message: expect.stringMatching(/answered serial PP-0002/) });
    expect(mtms.uploads).toEqual([]);
  });
});

describe('A13 repair', () => {
  it('confirmed: the terminal zeroizes and makes a new TK, then the new envelope goes through A2-A5', async () => {
    const { events, ports, mtms } = setup({ repair: [true], customer: [true] });
    const result = await repairTerminal(ports);
    expect(events.slice(0, 4)).toEqual(['link.serial', 'ask.repair PP-0001', 'link.repair PP-0001', 'link.serial']);
    expect(mtms.uploads).toEqual([{ serial: 'PP-0001', tkEnvelope: NEW_ENVELOPE, ...signedOver(1) }]);
    expect(result.repaired).toBe(true);
  });

  it('not confirmed: nothing is wiped', async () => {
    const { events, ports } = setup({ repair: [false] });
    expect(await codeOf(repairTerminal(ports))).toBe('OPERATOR_CANCELLED');
    expect(events).toEqual(['link.serial', 'ask.repair PP-0001']);
  });

  it('a different serial after the repair stops before MTMS hears of it', async () => {
    const { events, ports } = setup({ repair: [true] }, { serial: 'PP-0001', serialAfterRepair: 'PP-0002' });
    expect(await codeOf(repairTerminal(ports))).toBe('PROTOCOL_MALFORMED');
    expect(events.some((e) => e.startsWith('mtms.'))).toBe(false);
  });
});

describe('unattended answers (--yes, --customer)', () => {
  const flags = (answers: Parameters<typeof answeringPrompt>[0]) => {
    const events: string[] = [];
    const said: string[] = [];
    const ports = { link: fakeLink(events, { serial: 'PP-0001' }), mtms: fakeMtmsPort(events, structuredClone(TABLE)), prompt: answeringPrompt(answers, (l) => void said.push(l)) };
    return { events, said, ports };
  };

  it('A4 --yes accepts the customer MTMS names, and says so for the log', async () => {
    const { ports, said } = flags({ yes: true });
    expect((await onboardTerminal(ports)).customerCode).toBe('ACME');
    expect(said).toContain('Serial PP-0001 belongs to customer ACME Acme Bank. Confirm? yes (--yes)');
  });

  it('A6 --customer rejects the customer named, shows the name MTMS gives for the code, uploads with the code', async () => {
    const { ports, said } = flags({ yes: false, customerCode: 'GLOBEX' });
    expect(await onboardTerminal(ports)).toMatchObject({ customerCode: 'GLOBEX', reassociatedFrom: 'ACME' });
    expect(said).toContain('Customer GLOBEX is Globex Pay. Upload the TK of serial PP-0001 for this customer? yes (--customer)');
  });

  it('A6 --customer with a code MTMS does not know ends with that refusal, asked once', async () => {
    const { ports, events } = flags({ yes: false, customerCode: 'NOPE' });
    await expect(onboardTerminal(ports)).rejects.toMatchObject({ remoteCode: 'MTMS_CUSTOMER_UNKNOWN' });
    expect(events.filter((e) => e.startsWith('mtms.customerName'))).toHaveLength(1);
  });

  it('A13 repair --yes confirms the repair too', async () => {
    const { ports, events } = flags({ yes: true });
    await repairTerminal(ports);
    expect(events).toContain('link.repair PP-0001');
  });

  it('needsOperator: a TTY is needed exactly when the flags leave a question open', () => {
    expect(needsOperator({ yes: false }, false)).toBe(true);
    expect(needsOperator({ yes: true }, false)).toBe(false);
    expect(needsOperator({ yes: false, customerCode: 'X1' }, false)).toBe(false);
    expect(needsOperator({ yes: false, customerCode: 'X1' }, true)).toBe(true);
    expect(needsOperator({ yes: true }, true)).toBe(false);
  });

  it('a question the flags leave open, with no operator to ask, is a typed error', async () => {
    const { ports } = flags({ yes: false });
    expect(await codeOf(onboardTerminal(ports))).toBe('BAD_ARGUMENT');
  });
});

describe('A10 the operating terminal cannot open a TK envelope', () => {
  it('no module of the operator imports key transport, key wrapping, AES, an HSM or the key vault', () => {
    const dir = new URL('../../../host/operator/', import.meta.url);
    const sources = [...readdirSync(dir).map((f) => new URL(f, dir)), new URL('../../../bin/commands/operator.ts', import.meta.url)];
    expect(sources.length).toBeGreaterThan(5);
    for (const file of sources) {
      const imports = [...readFileSync(file, 'utf8').matchAll(/(?:from|import)\s*\(?\s*'([^']+)'/g)].map((m) => m[1]);
      expect(imports.length, file.pathname).toBeGreaterThan(0);
      expect(imports.filter((i) => /shared\/crypto\/|\/hsm\/|keyVault|keyTransport/.test(i)), file.pathname).toEqual([]);
    }
  });
});
