/**
 * Issue 3, X3: onboarding, TMK load and sign-on pass with the terminal firmware core running in
 * the XS engine, its HAL bridged to the emulated terminal's Node HAL (test/xs/terminal). The
 * operator side is the real operator link client over TCP; the KMS is a fake built from
 * shared/crypto behind real HTTPS (test/support/fakeKms.ts), so every KCV can be compared
 * with the key the KMS made.
 */
import { copyFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromHex, toHex } from '../../shared/bytes';
import { keyCheckValue } from '../../shared/crypto/kcv';
import { isPaypadError } from '../../shared/errors';
import { FrameDecoder, decodeLinkFrame, encodeFrame } from '../../shared/protocol/localLink';
import type { SlotStatus, TerminalStatus } from '../../firmware/core/terminal';
import { connectTcpLink } from '../../host/operator/tcpLink';
import { SoftwareBackOffice, openTkEnvelope } from '../support/keyVaultFixture';
import type { EmulatedTerminal } from './terminal/emulatedTerminal';
import { FakeKms } from '../support/fakeKms';
import { SERIAL, type TerminalLab, clearKeyFindings, openTerminalLab, readTree } from './terminal/fixture';
import { onboard, readOverLink } from './terminal/scenario';
import { makeTestPki } from './terminal/testPki';
import { XsTerminal, xsTerminalEngine } from './terminal/xsTerminal';

let lab: TerminalLab;
beforeAll(async () => {
  lab = await openTerminalLab();
});
afterAll(async () => {
  await lab?.close();
});

const kcvsOf = (status: TerminalStatus) => Object.fromEntries(status.slots.map((s) => [s.slot, 'kcv' in s ? s.kcv : s.error]));

describe('issue 3 / X3: one terminal onboarded with its core in XS', () => {
  let terminal: EmulatedTerminal;
  let stateDir: string;
  let tkEnvelope: string;

  beforeAll(async () => {
    ({ terminal, stateDir } = await lab.terminal(xsTerminalEngine));
  });

  it('A2: manufactured and booted in XS, it answers its serial over the TCP local link and has no TK yet', async () => {
    expect(terminal.serial).toBe(SERIAL);
    const status = await terminal.status();
    expect(status).toMatchObject({ serial: SERIAL, kmsUrl: lab.kms.url, stage: 'no-tk', lastSequence: 0, slots: [] });
  });

  it('A1, A10: the first tk request makes TK in XS; the envelope opens only for the pinned MTMS key and this serial', async () => {
    const view = await readOverLink(terminal);
    expect(view.serial).toBe(SERIAL);
    tkEnvelope = view.tkEnvelope;
    const tk = openTkEnvelope(lab.kms.mtms, fromHex(tkEnvelope), SERIAL);
    const status = await terminal.status();
    expect(status.stage).toBe('tk');
    expect(status.slots).toEqual([expect.objectContaining({ slot: 'TK', kcv: toHex(keyCheckValue(tk, 'cmac')), keyUsage: 'K1', modeOfUse: 'B', exportability: 'E' })]);
    // Bound to the serial (docs/key-loading.md): the same envelope for another serial opens nothing.
    expect(() => openTkEnvelope(lab.kms.mtms, fromHex(tkEnvelope), 'PP-0003-0002')).toThrow(
      expect.objectContaining({ code: 'KEY_UNWRAP_FAILED' }),
    );
    // Another MTMS key opens nothing either (A10: the operator relays what it cannot read).
    const stranger = new SoftwareBackOffice('not mtms').mtms;
    expect(() => openTkEnvelope(stranger, fromHex(tkEnvelope), SERIAL)).toThrow();
  });

  it('A1: asked again, it wraps the same TK anew (fresh ephemeral key), never a new TK', async () => {
    const again = await readOverLink(terminal);
    expect(again.tkEnvelope).not.toBe(tkEnvelope);
    const tk = openTkEnvelope(lab.kms.mtms, fromHex(again.tkEnvelope), SERIAL);
    expect(kcvsOf(await terminal.status()).TK).toBe(toHex(keyCheckValue(tk, 'cmac')));
  });

  it('A11, A12, X2: TMK download and sign-on in XS give exactly the KCVs the KMS computed, MAC\'d under K_tkmac, sequence 1 then 2', async () => {
    lab.kms.receiveTransportKey(SERIAL, tkEnvelope);
    const loaded = await terminal.loadKeys();
    const { TK, ...issued } = lab.kms.issuedKcvs(SERIAL);
    expect(loaded).toEqual({ serial: SERIAL, kcv: issued });
    expect(Object.keys(loaded.kcv).sort()).toEqual(['DMK', 'MAK', 'PIK', 'TDK', 'TMK']);
    const status = await terminal.status();
    expect(status.stage).toBe('signed-on');
    expect(status.lastSequence).toBe(2);
    expect(kcvsOf(status)).toEqual({ TK, ...issued });
    expect(lab.kms.requests).toEqual([
      { route: 'tmk', keyId: 'TK', seq: 1, status: 200 },
      { route: 'sign-on', keyId: 'TK', seq: 2, status: 200 },
    ]);
  });

  it('A12: each working key keeps the usage it was delivered with (a MAC key cannot decrypt a PIN)', async () => {
    const usage = Object.fromEntries((await terminal.status()).slots.map((s) => [s.slot, 'keyUsage' in s ? `${s.keyUsage}/${s.modeOfUse}` : s.error]));
    expect(usage).toEqual({ TK: 'K1/B', TMK: 'K1/B', PIK: 'P0/E', MAK: 'M6/C', TDK: 'D0/B', DMK: 'K0/B' });
  });

  it('X1: no key the XS core holds is in clear anywhere in its state directory', async () => {
    const keys = lab.kms.clearKeys(SERIAL);
    expect(keys.length).toBe(7); // TK, K_tkmac, TMK, PIK, MAK, TDK, DMK
    const files = readTree(stateDir);
    expect([...files.keys()].filter((p) => p.startsWith('storage/vault.ns/')).length).toBe(6);
    expect(clearKeyFindings(files, keys)).toEqual([]);
  });

  it('state survives restarting the worker: a new XS worker on the same state directory carries on, signing on under MAK', async () => {
    const before = await terminal.status();
    await terminal.close();
    const restarted = await XsTerminal.start({ stateDir });
    try {
      expect(await restarted.status()).toEqual(before);
      const signedOn = await restarted.signOn();
      const { TK: _tk, TMK, ...working } = lab.kms.issuedKcvs(SERIAL);
      expect(Object.fromEntries(signedOn.map((s) => [s.slot, 'kcv' in s ? s.kcv : s.error]))).toEqual(working);
      expect(TMK).toBe(kcvsOf(before).TMK);
      expect(lab.kms.requests.at(-1)).toEqual({ route: 'sign-on', keyId: 'MAK', seq: 3, status: 200 });
      expect((await restarted.status()).lastSequence).toBe(3);
    } finally {
      await restarted.close();
    }
  });
});

describe('X2, A11, A12: what the XS core refuses from its KMS stores nothing', () => {
  let terminal: EmulatedTerminal;
  let stateDir: string;
  const serial = 'PP-0003-0002';

  beforeAll(async () => {
    ({ terminal, stateDir } = await lab.terminal(xsTerminalEngine, { serial }));
    const view = await readOverLink(terminal);
    lab.kms.receiveTransportKey(serial, view.tkEnvelope);
  });

  /** Runs `attempt` with `tamper` set; the slots must not change and only one sequence number be used. */
  async function refused(attempt: () => Promise<unknown>, tamper: FakeKms['tamper'], code: string): Promise<unknown> {
    const before = await terminal.status();
    lab.kms.tamper = tamper;
    let error: unknown;
    try {
      await attempt();
    } catch (e) {
      error = e;
    } finally {
      lab.kms.tamper = undefined;
    }
    expect(isPaypadError(error, code as never), String(error)).toBe(true);
    const after = await terminal.status();
    expect(after.slots).toEqual(before.slots);
    expect(after.lastSequence).toBe(before.lastSequence + 1);
    return error;
  }

  it('X2: an answer whose MAC does not verify is MAC_MISMATCH', async () => {
    await refused(() => terminal.downloadTmk(), (_route, reply) => ({ ...reply, body: reply.body.map((b, i) => (i === 20 ? b ^ 1 : b)) }), 'MAC_MISMATCH');
  });

  it('X2: an answer without a MAC is KMS_RESPONSE_UNSIGNED, whatever its body says', async () => {
    await refused(() => terminal.downloadTmk(), (_route, reply) => ({ ...reply, headers: {} }), 'KMS_RESPONSE_UNSIGNED');
  });

  it('A11: a correctly MAC\'d TMK whose stated KCV is wrong is KCV_MISMATCH', async () => {
    const lie = async (_route: string, reply: { body: Uint8Array }, sign: Parameters<NonNullable<FakeKms['tamper']>>[2]) => {
      const answer = JSON.parse(new TextDecoder().decode(reply.body)) as { kcv: string };
      return sign(200, { ...answer, kcv: answer.kcv === '0000000000' ? '0000000001' : '0000000000' });
    };
    await refused(() => terminal.downloadTmk(), lie, 'KCV_MISMATCH');
  });

  it('A12: a working key delivered under another key\'s name (MAK block as PIK) is refused and no working key is stored', async () => {
    await terminal.downloadTmk();
    const swap = async (_route: string, reply: { body: Uint8Array }, sign: Parameters<NonNullable<FakeKms['tamper']>>[2]) => {
      const answer = JSON.parse(new TextDecoder().decode(reply.body)) as { keys: { name: string }[] };
      const rename: Record<string, string> = { PIK: 'MAK', MAK: 'PIK' };
      return sign(200, { ...answer, keys: answer.keys.map((k) => ({ ...k, name: rename[k.name] ?? k.name })) });
    };
    const error = await refused(() => terminal.signOn(), swap, 'TR31_USAGE_NOT_ALLOWED');
    expect(String(error)).not.toMatch(/[0-9A-F]{32}/);
    expect((await terminal.status()).stage).toBe('tmk');
  });

  it('X2: a sequence number used before (the state record put back from an older copy) gets the KMS\'s MAC\'d PROTOCOL_REPLAY', async () => {
    const stateFile = join(stateDir, 'storage', 'terminal.ns', 'state.val');
    copyFileSync(stateFile, `${stateFile}.old`);
    await terminal.signOn();
    const before = await terminal.status();
    copyFileSync(`${stateFile}.old`, stateFile);
    let error: (Error & { code?: string; kmsCode?: string; status?: number }) | undefined;
    try {
      await terminal.signOn();
    } catch (e) {
      error = e as typeof error;
    }
    expect(error).toMatchObject({ code: 'KMS_REFUSED', kmsCode: 'PROTOCOL_REPLAY', status: 409 });
    expect((await terminal.status()).slots).toEqual(before.slots);
  });

  it('an answer from a KMS that no longer knows the serial is unsigned: KMS_RESPONSE_UNSIGNED', async () => {
    const before = await terminal.status();
    lab.kms.forget(serial);
    await expect(terminal.downloadTmk()).rejects.toMatchObject({ code: 'KMS_RESPONSE_UNSIGNED', message: expect.stringMatching(/401.*MAC_MISMATCH/) });
    expect((await terminal.status()).slots).toEqual(before.slots);
  });
});

describe('A8: a KMS that does not chain to the pinned CA gets no request from the XS core', () => {
  it('HTTP_FAILED, and the terminal stores nothing but the sequence number it reserved', async () => {
    const rogue = await FakeKms.start((await makeTestPki('rogue CA')).kms, 'rogue');
    try {
      const serial = 'PP-0003-0003';
      const { terminal } = await lab.terminal(xsTerminalEngine, { serial, kmsUrl: rogue.url });
      await readOverLink(terminal);
      await expect(terminal.downloadTmk()).rejects.toMatchObject({ code: 'HTTP_FAILED' });
      expect(rogue.requests).toEqual([]);
      const status = await terminal.status();
      expect(status.slots.map((s: SlotStatus) => s.slot)).toEqual(['TK']);
      expect(status.lastSequence).toBe(1);
    } finally {
      await rogue.close();
    }
  });
});

describe('A2, A13: the local link in XS', () => {
  it('A13: repair over the link zeroizes the vault and makes a new TK; onboarding again loads new keys', async () => {
    const serial = 'PP-0003-0004';
    const { terminal } = await lab.terminal(xsTerminalEngine, { serial });
    const first = await onboard(terminal, lab.kms);
    const tkBefore = kcvsOf(await terminal.status()).TK;
    const link = await connectTcpLink({ host: terminal.linkHost, port: terminal.linkPort });
    try {
      await expect(link.repair('PP-0003-9999')).rejects.toMatchObject({ code: 'LINK_REFUSED', remoteCode: 'TERMINAL_SERIAL_MISMATCH' });
      expect((await terminal.status()).stage).toBe('signed-on');
      expect(await link.repair(serial)).toBe(serial);
    } finally {
      await link.close();
    }
    const repaired = await terminal.status();
    expect(repaired).toMatchObject({ stage: 'tk', lastSequence: 0 });
    expect(repaired.slots.map((s) => s.slot)).toEqual(['TK']);
    expect(kcvsOf(repaired).TK).not.toBe(tkBefore);
    const second = await onboard(terminal, lab.kms);
    expect(second.tkEnvelope).not.toBe(first.tkEnvelope);
    expect(second.loaded.kcv.TMK).not.toBe(first.loaded.kcv.TMK);
    expect(second.loaded.kcv).toEqual((({ TK: _tk, ...rest }) => rest)(lab.kms.issuedKcvs(serial)));
  });

  it('A2: a frame that is not JSON gets an error answer and the link stays up; a frame too long to resynchronise after closes it', async () => {
    const { terminal } = await lab.terminal(xsTerminalEngine, { serial: 'PP-0003-0005' });
    const socket = connect({ host: terminal.linkHost, port: terminal.linkPort });
    const decoder = new FrameDecoder();
    const frames: unknown[] = [];
    const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
    const arrived = (n: number) =>
      new Promise<void>((resolve) => {
        const check = () => (frames.length >= n ? resolve() : socket.once('data', (chunk: Buffer) => (frames.push(...decoder.push(new Uint8Array(chunk)).map(decodeLinkFrame)), check())));
        check();
      });
    socket.write(encodeFrame(new TextEncoder().encode('{"v":1,"id":7,')));
    await arrived(1);
    expect(frames[0]).toMatchObject({ v: 1, id: null, ok: false, error: { code: 'PROTOCOL_MALFORMED' } });
    // Split across writes: the session in XS reassembles the frame.
    const serialRequest = encodeFrame(new TextEncoder().encode('{"v":1,"id":8,"op":"serial"}'));
    socket.write(serialRequest.subarray(0, 5));
    await new Promise((resolve) => setTimeout(resolve, 20));
    socket.write(serialRequest.subarray(5));
    await arrived(2);
    expect(frames[1]).toEqual({ v: 1, id: 8, ok: true, serial: 'PP-0003-0005' });
    socket.write(new Uint8Array([0xff, 0xff, 0x7b]));
    await arrived(3);
    expect(frames[2]).toMatchObject({ id: null, ok: false, error: { code: 'LINK_FRAME_TOO_LARGE' } });
    await closed;
    // The terminal itself is unharmed: a new connection is answered.
    expect((await readOverLink(terminal)).serial).toBe('PP-0003-0005');
  });
});
