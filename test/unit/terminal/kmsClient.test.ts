/**
 * Key loading from the terminal's side (A11, A12, X2) against a fake KMS over real HTTPS: the
 * terminal on the Node HAL in a state directory, the KMS from shared/crypto (test/support/fakeKms). What
 * must hold: keys are stored only from an answer whose MAC verified and whose KCVs match; the
 * sequence number only goes up, across restarts too; nothing secret reaches the disk in clear.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { toHex } from '../../../shared/bytes';
import { PaypadError, isPaypadError } from '../../../shared/errors';
import { KmsRefusal } from '../../../firmware/core/kmsClient';
import { Terminal, type TerminalStatus } from '../../../firmware/core/terminal';
import type { Http } from '../../../firmware/hal/http';
import { FakeKms, TAMPERS } from '../../support/fakeKms';
import { type Manufactured, SERIAL, type TestPki, makeMtmsKey, makePki, manufacture, openTkEnvelope, reopen, secretsInFiles, tempDirs } from './support';

const dirs = tempDirs();
const mtms = makeMtmsKey();
let pki: TestPki;
let kms: FakeKms;
beforeAll(async () => {
  pki = await makePki();
});
afterAll(() => dirs.cleanup());
afterEach(async () => {
  await kms?.close();
});

/** A manufactured terminal whose TK has reached the KMS (A1-A7 done), and that KMS. */
async function onboarded(): Promise<Manufactured> {
  kms = await FakeKms.start(pki.kms);
  const unit = manufacture(dirs.make(), { mtms, kmsUrl: kms.url, caDer: pki.caDer });
  const answer = await unit.terminal.handleLinkRequest({ v: 1, id: 1, op: 'tk' });
  if (!('tkEnvelope' in answer)) throw new Error('expected a tk answer');
  kms.receiveTk(SERIAL, openTkEnvelope(mtms, answer.tkEnvelope));
  return unit;
}

/** What the KMS issued to the terminal, by slot: KCVs (hex). */
const issued = () => kms.issuedKcvs(SERIAL);
/** The requests the KMS could read, as [route, seq, key, authenticated]. */
const received = () => kms.requests.map((r) => [r.route, r.seq, r.keyId, r.status !== 401]);

async function expectRefusal(promise: Promise<unknown>, code: string): Promise<unknown> {
  const e = await promise.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(isPaypadError(e) ? e.code : e).toBe(code);
  return e;
}

describe('A11 TMK download and A12 sign-on over MAC\'d HTTPS', () => {
  it('A11 downloads the TMK under K_tkmac and stores it; its KCV is the KMS\'s', async () => {
    const { terminal } = await onboarded();
    const tmk = await terminal.downloadTmk();
    expect(tmk).toMatchObject({ slot: 'TMK', kcv: issued().TMK, keyUsage: 'K1', modeOfUse: 'B', exportability: 'N' });
    expect(received()).toEqual([['tmk', 1, 'TK', true]]);
    expect((await terminal.status()).stage).toBe('tmk');
  });

  it('A12 signs on under K_tkmac first, then under MAK; stores PIK, MAK, TDK, DMK with the KMS\'s KCVs', async () => {
    const unit = await onboarded();
    const { terminal } = unit;
    await terminal.downloadTmk();
    const keys = await terminal.signOn();
    expect(keys.map((k) => [k.slot, k.keyUsage, k.modeOfUse, k.kcv])).toEqual([
      ['PIK', 'P0', 'E', issued().PIK],
      ['MAK', 'M6', 'C', issued().MAK],
      ['TDK', 'D0', 'B', issued().TDK],
      ['DMK', 'K0', 'B', issued().DMK],
    ]);
    expect((await terminal.status()).stage).toBe('signed-on');
    await terminal.signOn();
    expect(kms.requests.map((r) => [r.route, r.seq, r.keyId])).toEqual([
      ['tmk', 1, 'TK'],
      ['sign-on', 2, 'TK'],
      ['sign-on', 3, 'MAK'],
    ]);
    // X1: the terminal's files hold none of the keys in clear (TK, K_tkmac, TMK, working keys).
    const secrets = kms.clearKeys(SERIAL).map(toHex);
    expect(secretsInFiles(unit.stateDir, secrets)).toEqual([]);
    const status = await terminal.status();
    expect(status.slots.map((s) => s.slot)).toEqual(['TK', 'TMK', 'PIK', 'MAK', 'TDK', 'DMK']);
    for (const secret of secrets) expect(JSON.stringify(status)).not.toContain(secret);
  });

  it('A11 a new TMK makes the next sign-on go under K_tkmac again (the KMS dropped the old MAK)', async () => {
    const { terminal } = await onboarded();
    await terminal.downloadTmk();
    await terminal.signOn();
    await terminal.downloadTmk();
    expect((await terminal.status()).stage).toBe('tmk');
    await terminal.signOn();
    expect(kms.requests.map((r) => r.keyId)).toEqual(['TK', 'TK', 'TK', 'TK']);
    expect((await terminal.status()).slots.find((s) => s.slot === 'MAK')).toMatchObject({ kcv: issued().MAK });
  });

  it('X2 the sequence is persisted: a restarted terminal on the same state directory continues it', async () => {
    const unit = await onboarded();
    await unit.terminal.downloadTmk();
    await unit.terminal.signOn();
    const restarted = reopen(unit.stateDir);
    expect((await restarted.status()).lastSequence).toBe(2);
    await restarted.signOn();
    await reopen(unit.stateDir).downloadTmk();
    expect(kms.requests.map((r) => [r.seq, r.status])).toEqual([1, 2, 3, 4].map((seq) => [seq, 200]));
  });

  it('X2 a sequence number is spent before sending: after a lost answer the retry uses the next one', async () => {
    const unit = await onboarded();
    let lose = true;
    const losingHttp: Http = {
      async request(request) {
        const response = await unit.device.http.request(request);
        if (!lose) return response;
        lose = false;
        throw new PaypadError('HTTP_FAILED', 'connection lost before the response was complete');
      },
    };
    const terminal = Terminal.open({ ...unit.device, http: losingHttp });
    await expectRefusal(terminal.downloadTmk(), 'HTTP_FAILED');
    expect((await terminal.status()).slots.map((s) => s.slot)).toEqual(['TK']);
    const tmk = await terminal.downloadTmk();
    expect(kms.requests.map((r) => [r.seq, r.status])).toEqual([
      [1, 200],
      [2, 200],
    ]);
    expect(tmk.kcv).toBe(issued().TMK);
  });

  it('A11 before any TK, and A12 before a TMK, are TERMINAL_STATE and send nothing', async () => {
    kms = await FakeKms.start(pki.kms);
    const { terminal } = manufacture(dirs.make(), { mtms, kmsUrl: kms.url, caDer: pki.caDer });
    await expectRefusal(terminal.downloadTmk(), 'TERMINAL_STATE');
    await terminal.handleLinkRequest({ v: 1, id: 1, op: 'tk' });
    await expectRefusal(terminal.signOn(), 'TERMINAL_STATE');
    expect(kms.requests).toEqual([]);
    expect((await terminal.status()).lastSequence).toBe(0);
  });
});

describe('X2 answers that are not trusted store nothing', () => {
  async function loadedExceptFor(step: 'tmk' | 'sign-on'): Promise<{ terminal: Terminal; before: TerminalStatus }> {
    const { terminal } = await onboarded();
    if (step === 'sign-on') await terminal.downloadTmk();
    return { terminal, before: await terminal.status() };
  }

  const cases = [
    ['response-mac', 'MAC_MISMATCH'],
    ['response-body', 'MAC_MISMATCH'],
    ['unsigned', 'KMS_RESPONSE_UNSIGNED'],
    ['kcv', 'KCV_MISMATCH'],
    ['refuse', 'KMS_REFUSED'],
  ] as const;

  for (const step of ['tmk', 'sign-on'] as const) {
    for (const [tamper, code] of cases) {
      it(`${step === 'tmk' ? 'A11' : 'A12'} ${tamper}: ${code}, no key stored, only the sequence number spent`, async () => {
        const { terminal, before } = await loadedExceptFor(step);
        kms.tamper = TAMPERS[tamper];
        const e = await expectRefusal(step === 'tmk' ? terminal.downloadTmk() : terminal.signOn(), code);
        const after = await terminal.status();
        expect(after.slots).toEqual(before.slots);
        expect(after.stage).toBe(before.stage);
        expect(after.lastSequence).toBe(before.lastSequence + 1);
        if (tamper === 'refuse') expect(e).toBeInstanceOf(KmsRefusal);
        if (tamper === 'refuse') expect((e as KmsRefusal).kmsCode).toBe('KMS_KEY_STATE');
      });
    }
  }

  it('X2 the KMS refusing our MAC (a TK it never received) is KMS_RESPONSE_UNSIGNED, naming its code only as a diagnostic', async () => {
    const { terminal } = await onboarded();
    kms.receiveTk(SERIAL, new Uint8Array(16).fill(7));
    const e = await expectRefusal(terminal.downloadTmk(), 'KMS_RESPONSE_UNSIGNED');
    expect((e as Error).message).toMatch(/401.*MAC_MISMATCH/);
    expect((await terminal.status()).slots.map((s) => s.slot)).toEqual(['TK']);
  });

  it('X2 a replayed sequence (state restored from an old copy) is refused by the KMS, authenticated, as KMS_REFUSED PROTOCOL_REPLAY', async () => {
    const { terminal } = await onboarded();
    await terminal.downloadTmk();
    kms.sawSequence(SERIAL, 10);
    const e = await expectRefusal(terminal.signOn(), 'KMS_REFUSED');
    expect((e as KmsRefusal).kmsCode).toBe('PROTOCOL_REPLAY');
  });

  it('A8 a KMS whose certificate is not from the pinned CA is not talked to: HTTP_FAILED, nothing sent', async () => {
    const other = await makePki('another CA');
    kms = await FakeKms.start(other.kms);
    const { terminal } = manufacture(dirs.make(), { mtms, kmsUrl: kms.url, caDer: pki.caDer });
    await terminal.handleLinkRequest({ v: 1, id: 1, op: 'tk' });
    await expectRefusal(terminal.downloadTmk(), 'HTTP_FAILED');
    expect(kms.requests).toEqual([]);
  });
});
