/**
 * `bin/paypad operator` as a real process: an operator at a pseudo-terminal answering the
 * questions (A4, A6), scripts with --yes / --customer / --json, repair (A13), and the ways it
 * stops: usage errors (exit 2), a refused certificate, an unreachable MTMS or terminal, an unknown
 * serial (exit 1). MTMS is the real router over mutual TLS with CA-issued certificates, in front of
 * an in-memory service; the terminal is the firmware's link session on TCP (support/).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPki, type FakeMtms, type PkiFixture, startFakeMtms } from './support/fakeMtms';
import { type FakeTerminal, startFakeTerminal } from './support/fakeTerminal';
import { runPaypad, runPaypadInPty, stopChildren } from './support/cliProcess';
import type { IdentityFiles } from '../../../host/operator/operatorIdentity';

const SEED = {
  customers: [
    ['ACME', 'Acme Bank'],
    ['GLOBEX', 'Globex Pay'],
  ] as [string, string][],
  serials: ['PP-0001', 'PP-0002', 'PP-0003', 'PP-0004', 'PP-0005', 'PP-0006', 'PP-0007'].map((s) => [s, 'ACME']) as [string, string][],
};

let pki: PkiFixture;
let mtms: FakeMtms;
let alice: IdentityFiles;
const cleanups: (() => Promise<void>)[] = [];

beforeAll(async () => {
  // The lead wires each command into bin/cli.ts; without it every test below would fail obscurely.
  expect(readFileSync(new URL('../../../bin/cli.ts', import.meta.url), 'utf8'), 'bin/cli.ts must register operatorCommand').toMatch(/operator: operatorCommand/);
  pki = await createPki();
  alice = pki.files(await pki.issue({ role: 'operator', name: 'alice' }));
  mtms = await startFakeMtms(pki, await pki.issue({ role: 'mtms', name: 'mtms-1' }), SEED);
  cleanups.push(() => mtms.close());
});

afterAll(async () => {
  stopChildren();
  await Promise.all(cleanups.map((c) => c()));
  await pki.cleanup();
});

async function terminal(serial: string): Promise<FakeTerminal> {
  const t = await startFakeTerminal({ serial });
  cleanups.push(() => t.close());
  return t;
}

const flags = (t: FakeTerminal, identity = alice, url = mtms.url) => ['--link', t.address, '--mtms', url, '--cert', identity.cert, '--key', identity.key, '--ca', identity.ca];

describe('A4/A6 an operator at a terminal (pseudo-TTY)', () => {
  it('A2-A5: shows the customer, takes "y", uploads the envelope and prints the receipt', async () => {
    const t = await terminal('PP-0001');
    const pty = runPaypadInPty(['operator', 'onboard', ...flags(t)]);
    await pty.waitFor(/Serial PP-0001 belongs to customer ACME Acme Bank\. Confirm\? \[y\/N\]/);
    // Nothing is read from the terminal's vault before the operator answers (A4 before A5).
    expect(t.requests.map((r) => r.op)).toEqual(['serial']);
    pty.type('y\r');
    const { code, output } = await pty.finished();
    expect(code, output).toBe(0);
    const upload = mtms.state.uploads.find((u) => u.request.serial === 'PP-0001')!;
    expect(upload.request.tkEnvelope).toBe(t.envelopes[0]);
    expect(output).toMatch(new RegExp(`TK of terminal PP-0001 accepted by MTMS for customer ACME Acme Bank \\(delivery ${upload.deliveryId}\\)`));
  });

  it('A6: "n", then a customer code; MTMS names it, the operator confirms, the serial moves', async () => {
    const t = await terminal('PP-0002');
    const pty = runPaypadInPty(['operator', 'onboard', ...flags(t)]);
    await pty.waitFor(/Confirm\? \[y\/N\]/);
    pty.type('n\r');
    await pty.waitFor(/Customer code:/);
    pty.type('globex\r');
    await pty.waitFor(/Customer GLOBEX is Globex Pay\. Upload the TK of serial PP-0002 for this customer\? \[y\/N\]/);
    pty.type('y\r');
    const { code, output } = await pty.finished();
    expect(code, output).toBe(0);
    expect(output).toMatch(/for customer GLOBEX Globex Pay .*re-associated from customer ACME/);
    expect(mtms.state.uploads.find((u) => u.request.serial === 'PP-0002')?.request.customerCode).toBe('GLOBEX');
    expect(mtms.state.serials.get('PP-0002')).toBe('GLOBEX');
  });

  it('A4: anything but yes (here Enter) is no; an empty code gives up: exit 1, nothing read or uploaded', async () => {
    const t = await terminal('PP-0003');
    const pty = runPaypadInPty(['operator', 'onboard', ...flags(t)]);
    await pty.waitFor(/Confirm\? \[y\/N\]/);
    pty.type('\r');
    await pty.waitFor(/Customer code:/);
    pty.type('\r');
    const { code, output } = await pty.finished();
    expect(code).toBe(1);
    expect(output).toMatch(/OPERATOR_CANCELLED: no customer code given for serial PP-0003; nothing was uploaded/);
    expect(t.requests.map((r) => r.op)).toEqual(['serial']);
    expect(mtms.state.uploads.some((u) => u.request.serial === 'PP-0003')).toBe(false);
  });

  it('Ctrl-C at a question stops the run: exit 1, nothing uploaded', async () => {
    const t = await terminal('PP-0007');
    const pty = runPaypadInPty(['operator', 'onboard', ...flags(t)]);
    await pty.waitFor(/Confirm\? \[y\/N\]/);
    pty.type('\x03');
    const { code, output } = await pty.finished();
    expect(code).toBe(1);
    expect(output).toMatch(/OPERATOR_CANCELLED: the operator ended the input/);
    expect(t.requests.map((r) => r.op)).toEqual(['serial']);
  });
});

describe('unattended runs (stdin not a TTY)', () => {
  it('--yes --json: accepts the customer and prints the result as JSON on stdout alone', async () => {
    const t = await terminal('PP-0004');
    const { code, stdout, stderr } = await runPaypad(['operator', 'onboard', ...flags(t), '--yes', '--json']);
    expect(code, stderr).toBe(0);
    const result = JSON.parse(stdout);
    expect(result).toMatchObject({ serial: 'PP-0004', customerCode: 'ACME', customerName: 'Acme Bank', repaired: false });
    expect(result.deliveryId).toBe(mtms.state.uploads.find((u) => u.request.serial === 'PP-0004')?.deliveryId);
    expect(stderr).toMatch(/Confirm\? yes \(--yes\)/);
    // A10: the operator relays the envelope; it never shows or logs it.
    expect(stdout + stderr).not.toContain(t.envelopes[0]);
  });

  it('A6 --customer CODE: rejects the customer named, uploads for CODE', async () => {
    const t = await terminal('PP-0005');
    const { code, stdout, stderr } = await runPaypad(['operator', 'onboard', ...flags(t), '--customer', 'GLOBEX', '--json']);
    expect(code, stderr).toBe(0);
    expect(JSON.parse(stdout)).toMatchObject({ customerCode: 'GLOBEX', reassociatedFrom: 'ACME' });
  });

  it('A13 repair --yes: the terminal makes a new TK and the new envelope is uploaded', async () => {
    const t = await terminal('PP-0006');
    const { code, stdout, stderr } = await runPaypad(['operator', 'repair', ...flags(t), '--yes', '--json']);
    expect(code, stderr).toBe(0);
    expect(t.repairs).toBe(1);
    expect(t.requests.map((r) => r.op)).toEqual(['serial', 'repair', 'serial', 'tk']);
    expect(JSON.parse(stdout)).toMatchObject({ serial: 'PP-0006', repaired: true });
    expect(mtms.state.uploads.find((u) => u.request.serial === 'PP-0006')?.request.tkEnvelope).toBe(t.envelopes[0]);
  });

  it('exit 2 before touching anything: no answers and no TTY, a bad --link, a bad --customer, a missing flag', async () => {
    const t = await terminal('PP-0007');
    const cases: [string[], RegExp][] = [
      [['operator', 'onboard', ...flags(t)], /no terminal to ask the operator at .*give --yes or --customer CODE/],
      [['operator', 'repair', ...flags(t), '--customer', 'GLOBEX'], /no terminal to ask the operator at .*give --yes/],
      [['operator', 'onboard', ...flags(t), '--yes', '--link', 'nowhere'], /link address must be HOST:PORT/],
      [['operator', 'onboard', ...flags(t), '--customer', 'no spaces'], /--customer: expected 2 to 16 of A-Z 0-9 _ -/],
      [['operator', 'onboard', '--link', t.address, '--yes'], /missing --mtms/],
    ];
    const results = await Promise.all(cases.map(([args]) => runPaypad(args)));
    results.forEach(({ code, stderr }, i) => {
      expect(code, cases[i][0].join(' ')).toBe(2);
      expect(stderr).toMatch(cases[i][1]);
    });
    expect(t.requests).toEqual([]);
  });
});

describe('failures are one clear line and exit 1', () => {
  it('A8 a revoked operator certificate: MTMS refuses it, the TK is never read', async () => {
    const bob = await pki.issue({ role: 'operator', name: 'bob' });
    const { serial } = (await pki.ca.list()).find((c) => c.subject === 'CN=bob, OU=operator')!;
    await pki.ca.revoke(serial);
    const t = await terminal('PP-0001');
    const { code, stdout, stderr } = await runPaypad(['operator', 'onboard', ...flags(t, pki.files(bob)), '--yes']);
    expect(code).toBe(1);
    expect(stdout).toBe('');
    expect(stderr).toMatch(/paypad: MTMS_REFUSED: MTMS refused \(HTTP 401\): CLIENT_CERT_REVOKED/);
    expect(t.requests.map((r) => r.op)).toEqual(['serial']);
  });

  it("A8 --crl: an MTMS whose certificate is on the CA's CRL gets nothing (PEER_CERT_REVOKED); the same CRL lets the good MTMS through; a file that is no CRL is CONFIG_INVALID", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'paypad-operator-crl-'));
    cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
    const revokedMtms = await startFakeMtms(pki, await pki.issue({ role: 'mtms', name: 'mtms-revoked' }), SEED);
    cleanups.push(() => revokedMtms.close());
    const { serial } = (await pki.ca.list()).find((c) => c.subject === 'CN=mtms-revoked, OU=mtms')!;
    await pki.ca.revoke(serial, 'keyCompromise');
    const crl = join(dir, 'crl.pem');
    writeFileSync(crl, await pki.ca.crlPem());

    const t = await terminal('PP-0006');
    const refused = await runPaypad(['operator', 'onboard', ...flags(t, alice, revokedMtms.url), '--crl', crl, '--yes']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`paypad: PEER_CERT_REVOKED: the peer's certificate ${serial} (mtms mtms-revoked) has been revoked`);
    expect(revokedMtms.state.uploads).toEqual([]);

    const accepted = await runPaypad(['operator', 'onboard', ...flags(await terminal('PP-0007')), '--crl', crl, '--yes', '--json']);
    expect(accepted.code, accepted.stderr).toBe(0);
    const notCrl = await runPaypad(['operator', 'onboard', ...flags(t), '--crl', alice.cert, '--yes']);
    expect(notCrl.code).toBe(1);
    expect(notCrl.stderr).toContain(`paypad: CONFIG_INVALID: ${alice.cert} does not hold a PEM CRL`);
  });

  it('MTMS unreachable: HTTP_FAILED naming the address', async () => {
    const gone = await startFakeMtms(pki, await pki.issue({ role: 'mtms', name: 'mtms-gone' }), SEED);
    await gone.close();
    const t = await terminal('PP-0001');
    const { code, stderr } = await runPaypad(['operator', 'onboard', ...flags(t, alice, gone.url), '--yes']);
    expect(code).toBe(1);
    expect(stderr).toMatch(/paypad: HTTP_FAILED: request to 127\.0\.0\.1:\d+ failed: ECONNREFUSED/);
  });

  it('the terminal unreachable: LINK_UNAVAILABLE naming the address', async () => {
    const t = await terminal('PP-0001');
    await t.close();
    const { code, stderr } = await runPaypad(['operator', 'onboard', ...flags(t), '--yes']);
    expect(code).toBe(1);
    expect(stderr).toMatch(new RegExp(`paypad: LINK_UNAVAILABLE: cannot reach the terminal's local link at ${t.address}: ECONNREFUSED`));
  });

  it('a serial MTMS does not know stops the run', async () => {
    const t = await terminal('PP-9999');
    const { code, stderr } = await runPaypad(['operator', 'onboard', ...flags(t), '--yes']);
    expect(code).toBe(1);
    expect(stderr).toMatch(/paypad: MTMS_SERIAL_UNKNOWN: serial PP-9999 is not in MTMS's serial table/);
    expect(t.requests.map((r) => r.op)).toEqual(['serial']);
  });
});
