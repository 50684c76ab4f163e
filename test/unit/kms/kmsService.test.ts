/**
 * The KMS service end to end with a terminal simulated from shared/crypto: TK delivery (A7, A13),
 * TMK download (A11), sign-on (A12), the MAC'd envelope with replay protection (X2) and no clear
 * key in any row (X1). Runs on SQLite, and on PostgreSQL when DATABASE_URL is set.
 */
import { describe, expect, it } from 'vitest';
import { openKmsService } from '../../../host/kms/kmsService';
import { asciiToBytes, fromHex, toHex } from '../../../shared/bytes';
import { keyCheckValue } from '../../../shared/crypto/kcv';
import { publicKeyCheckValue } from '../../../shared/protocol/publicKeyCheck';
import { generateP256KeyPair } from '../../../shared/crypto/keyTransport';
import { unwrapKeyBlock } from '../../../shared/crypto/tr31';
import { parseKeyBlockHeader } from '../../../shared/crypto/tr31Header';
import { isPaypadError } from '../../../shared/errors';
import { MAC_HEADERS, parseRequest, signRequest, verifyResponse } from '../../../shared/protocol/macEnvelope';
import { validateMessage } from '../../../shared/protocol/messages';
import { SERIAL, makeVault } from '../../support/keyVaultFixture';
import { DIALECTS } from '../../store/helpers/testDatabase';
import { expectNoClearKeys, openTestHsm, snapshot, useKms } from './kmsTestKit';
import { type Reply, SimulatedTerminal, errorCodeOf, nextIntakeSequence, rng } from './terminalSim';

let serials = 0;
const newSerial = () => `PP-SVC-${String(++serials).padStart(4, '0')}`;

describe.each(DIALECTS)('KMS service on %s', (dialect) => {
  const kms = useKms(dialect);

  /** A terminal whose TK the KMS holds (A7). */
  async function onboarded(serial = newSerial()): Promise<SimulatedTerminal> {
    const terminal = new SimulatedTerminal(serial);
    const ack = await kms().service.receiveTk(terminal.delivery(kms().service.intakePublicKey().publicKey, 'ACME', `d-${serial}`));
    expect(ack).toEqual({ v: 1, deliveryId: `d-${serial}`, outcome: 'applied' });
    return terminal;
  }

  async function downloadTmk(terminal: SimulatedTerminal): Promise<void> {
    const request = await terminal.sign('tmk');
    const reply = await kms().service.downloadTmk(request.parsed);
    expect(reply.status).toBe(200);
    terminal.acceptTmk(await terminal.verified(request, reply));
  }

  async function signOn(terminal: SimulatedTerminal, keyId: 'TK' | 'MAK' = 'TK'): Promise<void> {
    const request = await terminal.sign('sign-on', { keyId });
    const key = terminal.macKey(keyId);
    const reply = await kms().service.signOn(request.parsed);
    expect(reply.status).toBe(200);
    terminal.acceptWorkingKeys(await terminal.verified(request, reply, key));
  }

  async function expectRefusedUnchanged(run: () => Promise<unknown>, code: string): Promise<void> {
    const before = await snapshot(kms().db);
    const error = await run().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isPaypadError(error, code as never), `expected ${code}, got ${String(error)}`).toBe(true);
    expect(await snapshot(kms().db)).toEqual(before);
  }

  it('A7 A11 A12 X1 X2: TK -> TMK under TK -> PIK/MAK/TDK/DMK under TMK, each checked by its KCV; no clear key stored', async () => {
    const terminal = await onboarded();
    await downloadTmk(terminal);
    await signOn(terminal);
    expect([...terminal.workingKeys.keys()].sort()).toEqual(['DMK', 'MAK', 'PIK', 'TDK']);
    // After sign-on the terminal MACs under MAK; a re-sign-on under MAK rotates the working keys.
    const oldMak = toHex(terminal.macKey('MAK'));
    await signOn(terminal, 'MAK');
    expect(toHex(terminal.macKey('MAK'))).not.toBe(oldMak);
    const stored = await kms().store.terminal('ACME', terminal.serial);
    expect(stored?.lastSeq).toBe(3);
    expect(stored?.tmk?.kcv).toBe(toHex(keyCheckValue(terminal.tmk as Uint8Array)));
    expect(stored?.workingKeys?.MAK.kcv).toBe(toHex(keyCheckValue(terminal.macKey('MAK'))));
    await expectNoClearKeys(kms().db, terminal.secrets());
  });

  it('A12: every key is delivered with its own usage and mode, so a MAC key cannot be opened as a PIN key', async () => {
    const terminal = await onboarded();
    await downloadTmk(terminal);
    const request = await terminal.sign('sign-on');
    const body = (await terminal.verified(request, await kms().service.signOn(request.parsed))) as { keys: { name: string; block: string }[] };
    const headers = Object.fromEntries(
      body.keys.map((k) => {
        const { header } = parseKeyBlockHeader(k.block);
        return [k.name, `${header.keyUsage}/${header.algorithm}/${header.modeOfUse} ${header.exportability}${header.keyContext}`];
      }),
    );
    // docs/key-loading.md "Keys"; exportability N and key context 2, exchange only (X9.143:2021 §6.2, §6.3.5).
    expect(headers).toEqual({ PIK: 'P0/A/E N2', MAK: 'M6/A/C N2', TDK: 'D0/A/B N2', DMK: 'K0/A/B N2' });
    const pik = body.keys.find((k) => k.name === 'PIK') as { block: string };
    expect(() => unwrapKeyBlock(terminal.tmk as Uint8Array, pik.block, { usage: 'M6', modesOfUse: ['C'] })).toThrow(expect.objectContaining({ code: 'TR31_USAGE_NOT_ALLOWED' }));
  });

  it('X2: a replayed request is refused with a MAC\'d PROTOCOL_REPLAY and changes nothing', async () => {
    const terminal = await onboarded();
    const request = await terminal.sign('tmk');
    expect((await kms().service.downloadTmk(request.parsed)).status).toBe(200);
    const before = await snapshot(kms().db);
    const replay = await kms().service.downloadTmk(request.parsed);
    expect(replay.status).toBe(409);
    expect(errorCodeOf(replay)).toBe('PROTOCOL_REPLAY');
    await terminal.verified(request, replay); // authentic request, so the refusal is signed
    // A lower number is a reordered message: refused the same way.
    const older = await kms().service.downloadTmk((await terminal.sign('tmk', { seq: 1 })).parsed);
    expect(errorCodeOf(older)).toBe('PROTOCOL_REPLAY');
    expect(await snapshot(kms().db)).toEqual(before);
  });

  it('X2: a tampered body, path, sequence or key id fails the MAC unsigned and changes nothing', async () => {
    const terminal = await onboarded();
    const good = await terminal.sign('tmk');
    const variants = [
      { ...good.parsed, body: asciiToBytes('{"v":2}') },
      { ...good.parsed, path: terminal.path('sign-on') },
      { ...good.parsed, seq: good.parsed.seq + 1 },
      { ...good.parsed, mac: good.parsed.mac.map((b, i) => (i === 0 ? b ^ 1 : b)) },
    ];
    for (const parsed of variants) await expectRefusedUnchanged(() => kms().service.downloadTmk(parsed), 'MAC_MISMATCH');
    // A MAC made under another key with the TK key id.
    const forged = await terminal.sign('tmk', { macKey: new Uint8Array(16).fill(7) });
    await expectRefusedUnchanged(() => kms().service.downloadTmk(forged.parsed), 'MAC_MISMATCH');
    // The untampered request still works: the refusals advanced nothing.
    expect((await kms().service.downloadTmk(good.parsed)).status).toBe(200);
  });

  it('X2: concurrent requests with one sequence number: exactly one is accepted', async () => {
    const terminal = await onboarded();
    const request = await terminal.sign('tmk');
    const replies = await Promise.all([1, 2, 3].map(() => kms().service.downloadTmk(request.parsed)));
    expect(replies.map((r) => r.status).sort()).toEqual([200, 409, 409]);
    const accepted = replies.find((r) => r.status === 200) as Reply;
    terminal.acceptTmk(await terminal.verified(request, accepted));
    expect((await kms().store.terminal('ACME', terminal.serial))?.tmk?.kcv).toBe(toHex(keyCheckValue(terminal.tmk as Uint8Array)));
  });

  it('X2: wrong key ids: MAK before sign-on (a MAC that cannot verify), MAK for a TMK request', async () => {
    const terminal = await onboarded();
    const noMak = await terminal.sign('sign-on', { keyId: 'MAK', macKey: new Uint8Array(16) });
    await expectRefusedUnchanged(() => kms().service.signOn(noMak.parsed), 'MAC_MISMATCH');
    await downloadTmk(terminal);
    await signOn(terminal);
    const tmkUnderMak = await terminal.sign('tmk', { keyId: 'MAK' });
    await expectRefusedUnchanged(() => kms().service.downloadTmk(tmkUnderMak.parsed), 'PROTOCOL_MALFORMED');
  });

  it('X2 A8: an unknown serial is refused unsigned, exactly as a wrong MAC is (no serial oracle)', async () => {
    const stranger = new SimulatedTerminal(newSerial());
    await expectRefusedUnchanged(async () => kms().service.downloadTmk((await stranger.sign('tmk')).parsed), 'MAC_MISMATCH');
    await expectRefusedUnchanged(async () => kms().service.signOn((await stranger.sign('sign-on', { keyId: 'MAK', macKey: new Uint8Array(16) })).parsed), 'MAC_MISMATCH');
    const known = await onboarded();
    const forged = await known.sign('tmk', { macKey: new Uint8Array(16) });
    const answers = await Promise.all([kms().service.downloadTmk((await stranger.sign('tmk')).parsed), kms().service.downloadTmk(forged.parsed)].map((p) => p.then(() => undefined, (e: Error & { code?: string }) => [e.code, e.message])));
    expect(answers[0]).toEqual(answers[1]);
  });

  it('X2: an authentic but malformed body gets a signed PROTOCOL_MALFORMED, changes nothing, and the number stays usable', async () => {
    const terminal = await onboarded();
    for (const body of ['{"v":1,"extra":true}', '{"v":9}', 'not json', '\xff']) {
      const request = await terminal.sign('tmk', { seq: 1, body: Uint8Array.from(body, (c) => c.charCodeAt(0)) });
      const before = await snapshot(kms().db);
      const reply = await kms().service.downloadTmk(request.parsed);
      expect(reply.status).toBe(400);
      expect(['PROTOCOL_MALFORMED', 'PROTOCOL_UNSUPPORTED_VERSION', 'BAD_JSON']).toContain(errorCodeOf(reply));
      await terminal.verified(request, reply);
      expect(await snapshot(kms().db)).toEqual(before);
    }
    terminal.seq = 0;
    await downloadTmk(terminal);
  });

  it('A12: sign-on before a TMK is refused (signed KMS_KEY_STATE) and changes nothing', async () => {
    const terminal = await onboarded();
    const request = await terminal.sign('sign-on');
    const before = await snapshot(kms().db);
    const reply = await kms().service.signOn(request.parsed);
    expect(reply.status).toBe(409);
    expect(errorCodeOf(reply)).toBe('KMS_KEY_STATE');
    await terminal.verified(request, reply);
    expect(await snapshot(kms().db)).toEqual(before);
  });

  it('A11: a second TMK download issues a new TMK and drops the working keys made under the old one', async () => {
    const terminal = await onboarded();
    await downloadTmk(terminal);
    await signOn(terminal);
    const firstTmk = toHex(terminal.tmk as Uint8Array);
    const oldMak = terminal.macKey('MAK');
    await downloadTmk(terminal);
    expect(toHex(terminal.tmk as Uint8Array)).not.toBe(firstTmk);
    const stored = await kms().store.terminal('ACME', terminal.serial);
    expect(stored?.workingKeys).toBeUndefined();
    // The old MAK no longer authenticates anything; sign-on under TK delivers keys under the new TMK.
    const stale = await terminal.sign('sign-on', { keyId: 'MAK', macKey: oldMak });
    await expectRefusedUnchanged(() => kms().service.signOn(stale.parsed), 'MAC_MISMATCH');
    await signOn(terminal);
  });

  it('A7: a repeated delivery id is a duplicate and changes nothing; the same id with other content is a conflict', async () => {
    const terminal = new SimulatedTerminal(newSerial());
    const delivery = terminal.delivery(kms().service.intakePublicKey().publicKey, 'ACME', `dup-${terminal.serial}`);
    expect((await kms().service.receiveTk(delivery)).outcome).toBe('applied');
    const before = await snapshot(kms().db);
    expect(await kms().service.receiveTk(delivery)).toEqual({ v: 1, deliveryId: delivery.deliveryId, outcome: 'duplicate' });
    expect(await snapshot(kms().db)).toEqual(before);
    const reused = terminal.delivery(kms().service.intakePublicKey().publicKey, 'ACME', delivery.deliveryId);
    await expectRefusedUnchanged(() => kms().service.receiveTk(reused), 'DELIVERY_CONFLICT');
  });

  it('A7: concurrent copies of one delivery are applied once', async () => {
    const terminal = new SimulatedTerminal(newSerial());
    const delivery = terminal.delivery(kms().service.intakePublicKey().publicKey, 'ACME', `race-${terminal.serial}`);
    const acks = await Promise.all([1, 2, 3].map(() => kms().service.receiveTk(delivery)));
    expect(acks.map((a) => a.outcome).sort()).toEqual(['applied', 'duplicate', 'duplicate']);
    expect((await kms().store.terminal('ACME', terminal.serial))?.generation).toBe(1);
  });

  it('A7 A8: envelopes for another serial, another KMS or another customer are refused and change nothing', async () => {
    const terminal = new SimulatedTerminal(newSerial());
    const publicKey = kms().service.intakePublicKey().publicKey;
    // The context binds the envelope to its serial: relabelled for another serial, it does not open.
    await expectRefusedUnchanged(() => kms().service.receiveTk(terminal.delivery(publicKey, 'ACME', 'x-serial', 'PP-OTHER-1')), 'KEY_UNWRAP_FAILED');
    const anotherKmsKey = generateP256KeyPair(rng).publicKey;
    await expectRefusedUnchanged(() => kms().service.receiveTk(terminal.delivery(anotherKmsKey, 'ACME', 'x-kms')), 'KEY_UNWRAP_FAILED');
    await expectRefusedUnchanged(() => kms().service.receiveTk(terminal.delivery(publicKey, 'BETA', 'x-customer')), 'KMS_CUSTOMER_MISMATCH');
    await expectRefusedUnchanged(() => kms().service.receiveTk({ ...terminal.delivery(publicKey, 'ACME', 'x-bad'), envelope: '00' }), 'PROTOCOL_MALFORMED');
  });

  it('A13: a new TK for a known serial replaces its keys and restarts the sequence; the old TK and MAK open nothing', async () => {
    const terminal = await onboarded();
    await downloadTmk(terminal);
    await signOn(terminal);
    const oldMak = terminal.macKey('MAK');
    const before = await kms().store.terminal('ACME', terminal.serial);

    const repaired = new SimulatedTerminal(terminal.serial);
    const ack = await kms().service.receiveTk(repaired.delivery(kms().service.intakePublicKey().publicKey, 'ACME', `repair-${terminal.serial}`));
    expect(ack.outcome).toBe('applied');
    const after = await kms().store.terminal('ACME', terminal.serial);
    expect(after).toMatchObject({ generation: (before?.generation ?? 0) + 1, lastSeq: 0, tkDeliveryId: `repair-${terminal.serial}` });
    expect(after?.tk.kcv).not.toBe(before?.tk.kcv);
    expect(after?.tmk).toBeUndefined();
    expect(after?.workingKeys).toBeUndefined();

    // The old TK's messages, even with fresh numbers, and the old MAK, are refused.
    await expectRefusedUnchanged(async () => kms().service.downloadTmk((await terminal.sign('tmk', { seq: 100 })).parsed), 'MAC_MISMATCH');
    await expectRefusedUnchanged(async () => kms().service.signOn((await terminal.sign('sign-on', { keyId: 'MAK', macKey: oldMak, seq: 101 })).parsed), 'MAC_MISMATCH');
    // The repaired terminal starts again at sequence 1.
    await downloadTmk(repaired);
    await signOn(repaired);
    expect(repaired.seq).toBe(2);
    await expectNoClearKeys(kms().db, [...terminal.secrets(), ...repaired.secrets()]);
  });

  it('A13 X2: the same TK delivered again under a new id keeps the keys and the sequence (no replay window)', async () => {
    const terminal = await onboarded();
    const first = await terminal.sign('tmk');
    expect((await kms().service.downloadTmk(first.parsed)).status).toBe(200);
    const before = await kms().store.terminal('ACME', terminal.serial);
    const intakeSequence = nextIntakeSequence();
    const again = await kms().service.receiveTk(terminal.delivery(kms().service.intakePublicKey().publicKey, 'ACME', `again-${terminal.serial}`, terminal.serial, intakeSequence));
    expect(again.outcome).toBe('applied');
    const after = await kms().store.terminal('ACME', terminal.serial);
    // Keys and sequence as they were; only the newer intake is recorded (an older one cannot replace the TK).
    expect(after).toEqual({ ...before, intakeSequence, updatedAt: expect.any(Date) });
    expect(errorCodeOf(await kms().service.downloadTmk(first.parsed))).toBe('PROTOCOL_REPLAY');
  });

  it('A7 A13: after a repair, the old intake\'s delivery arriving late is superseded: the terminal keeps loading keys under its new TK', async () => {
    const publicKey = kms().service.intakePublicKey().publicKey;
    const serial = newSerial();
    const original = new SimulatedTerminal(serial);
    const oldDelivery = original.delivery(publicKey, 'ACME', `old-${serial}`);
    // Repair (A13): the terminal makes a new TK and its newer intake is delivered first.
    const repaired = new SimulatedTerminal(serial);
    const newDelivery = repaired.delivery(publicKey, 'ACME', `new-${serial}`);
    expect(newDelivery.intakeSequence).toBeGreaterThan(oldDelivery.intakeSequence);
    expect(await kms().service.receiveTk(newDelivery)).toEqual({ v: 1, deliveryId: newDelivery.deliveryId, outcome: 'applied' });
    await downloadTmk(repaired);
    const before = await snapshot(kms().db);
    const held = await kms().store.terminal('ACME', serial);

    // The old intake's retry lands now: acknowledged as superseded, the TK (KCV) and keys unchanged.
    expect(await kms().service.receiveTk(oldDelivery)).toEqual({ v: 1, deliveryId: oldDelivery.deliveryId, outcome: 'superseded' });
    expect(await kms().store.terminal('ACME', serial)).toEqual(held);
    expect(held?.tk.kcv).toBe(toHex(keyCheckValue(repaired.tk)));
    // Another resend of it gets the same answer without opening anything again; nothing changes.
    const recorded = await snapshot(kms().db);
    expect(await kms().service.receiveTk(oldDelivery)).toEqual({ v: 1, deliveryId: oldDelivery.deliveryId, outcome: 'superseded' });
    expect(await snapshot(kms().db)).toEqual(recorded);
    // Only the inbox row and its audit entry were added by the late delivery.
    expect(recorded.kms_terminals).toEqual(before.kms_terminals);
    expect(recorded.kms_deliveries.length - before.kms_deliveries.length).toBe(1);

    // The repaired terminal goes on under its new TK; the old TK authenticates nothing.
    await signOn(repaired);
    await expectRefusedUnchanged(async () => kms().service.downloadTmk((await original.sign('tmk', { seq: 50 })).parsed), 'MAC_MISMATCH');
    await expectNoClearKeys(kms().db, [...original.secrets(), ...repaired.secrets()]);
  });

  it('A7: a delivery id resent with another intake sequence is a conflict and changes nothing', async () => {
    const terminal = new SimulatedTerminal(newSerial());
    const publicKey = kms().service.intakePublicKey().publicKey;
    const delivery = terminal.delivery(publicKey, 'ACME', `seq-${terminal.serial}`);
    expect((await kms().service.receiveTk(delivery)).outcome).toBe('applied');
    await expectRefusedUnchanged(() => kms().service.receiveTk({ ...delivery, intakeSequence: delivery.intakeSequence + 1 }), 'DELIVERY_CONFLICT');
    await expectRefusedUnchanged(() => kms().service.receiveTk({ ...delivery, intakeSequence: 0 }), 'PROTOCOL_MALFORMED');
  });

  it('keeps one intake key per KMS across restarts, and refuses an HSM with another master key', async () => {
    const again = await openKmsService({ customerCode: 'ACME', hsm: kms().hsm, store: kms().store });
    expect(toHex(again.intakePublicKey().publicKey)).toBe(toHex(kms().service.intakePublicKey().publicKey));
    // The key pair's check value (host/hsm KeyHandle): leftmost 5 bytes of SHA-256 of the public key.
    expect(again.intakePublicKey().kcv).toBe(publicKeyCheckValue(again.intakePublicKey().publicKey));
    const stranger = await openTestHsm();
    await expect(openKmsService({ customerCode: 'ACME', hsm: stranger, store: kms().store })).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
    // Another customer's KMS on the same database has its own intake key and its own terminals.
    const beta = await openKmsService({ customerCode: 'BETA', hsm: stranger, store: kms().store });
    expect(toHex(beta.intakePublicKey().publicKey)).not.toBe(toHex(kms().service.intakePublicKey().publicKey));
    const terminal = await onboarded();
    await expect(beta.downloadTmk((await terminal.sign('tmk')).parsed)).rejects.toMatchObject({ code: 'MAC_MISMATCH' });
    await stranger.close();
  });

  it('A1 A10-A12: the firmware key vault as the terminal loads what the KMS issues', async () => {
    const { vault } = makeVault(`kms-${dialect}`);
    vault.generateTransportKey();
    const publicKey = kms().service.intakePublicKey().publicKey;
    const delivery = { v: 1 as const, deliveryId: `vault-${dialect}`, serial: SERIAL, envelope: toHex(vault.exportTransportKey(publicKey)), customerCode: 'ACME', intakeSequence: nextIntakeSequence() };
    expect((await kms().service.receiveTk(delivery)).outcome).toBe('applied');
    let seq = 0;
    const call = async (route: 'tmk' | 'sign-on', keyId: 'TK' | 'MAK'): Promise<unknown> => {
      const fields = { method: 'POST', path: `/kms/v1/terminals/${SERIAL}/${route}`, serial: SERIAL, seq: ++seq, keyId } as const;
      const body = asciiToBytes('{"v":1}');
      const headers = await signRequest(fields, body, (data) => vault.mac(keyId, data));
      const reply = route === 'tmk' ? await kms().service.downloadTmk(parseRequest('POST', fields.path, headers, body)) : await kms().service.signOn(parseRequest('POST', fields.path, headers, body));
      expect(reply.status).toBe(200);
      await verifyResponse({ status: 200, serial: SERIAL, seq }, reply.headers, reply.body, (data) => vault.mac(keyId, data));
      return JSON.parse(new TextDecoder().decode(reply.body));
    };
    const tmk = validateMessage('tmkResponse', await call('tmk', 'TK'));
    vault.importTerminalMasterKey(tmk.tmkBlock, fromHex(tmk.kcv));
    const signOnResponse = validateMessage('signOnResponse', await call('sign-on', 'TK'));
    vault.importWorkingKeys(signOnResponse.keys.map((k) => ({ name: k.name, block: k.block, kcv: fromHex(k.kcv) })));
    // Later messages are MAC'd under the MAK both sides now hold.
    await call('sign-on', 'MAK');
  });

  it('X2: the response headers carry only the MAC', async () => {
    const terminal = await onboarded();
    const request = await terminal.sign('tmk');
    const reply = await kms().service.downloadTmk(request.parsed);
    expect(Object.keys(reply.headers)).toEqual([MAC_HEADERS.mac]);
  });
});
