/**
 * X3, E4, device budget: the PIN pad as a secure card reader (firmware/core/secureCardReader) in the
 * ESP32 creation, fixed (xs-budget, test/xs/budget; manifest.json's preload; Moddable's native AES):
 * key injection (the DUKPT state sealed in storage), swipes sealed with and without a PIN, and a
 * restart that carries on from the stored counter, each within the device budget's targets; every
 * frame the device made verifies and deciphers under the keys the host derives from the BDK.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bytesToAscii, fromHex, toHex } from '../../shared/bytes';
import { decipherCardData } from '../../shared/crypto/cardData';
import { verifyAesCmac } from '../../shared/crypto/cmac';
import { dukptHostWorkingKey, dukptInitialKey } from '../../shared/crypto/dukpt';
import { decipherPinBlockIso4 } from '../../shared/crypto/pinblock';
import { cardReadMacInput, parseReaderMessage } from '../../shared/protocol/cardReadMessages';
import { RESOURCES, targetAmount } from './budget/deviceBudget';
import { budgetEngine, buildXsBudget } from './budget/budgetEngine';
import { deviceModules, importScript } from './budget/deviceModules';
import { type XsMemory, XsWorker } from './xsWorker';

const ENTRY = new URL('./secureCardReader/secureCardReaderEntry.ts', import.meta.url).pathname;
const BDK = fromHex('FEDCBA9876543210F1F1F1F1F1F1F1F1');
const IK_ID = '1234567890123456';
const PAN = '6222021000000000017';
const TRACK2 = `${PAN}=30121011234`;

const peakOf = (m: XsMemory, resource: (typeof RESOURCES)[number]) => (resource === 'chunks' ? m.chunksPeak : resource === 'slots' ? m.slotsPeak : m.stackPeak);

describe('X3 E4 device budget: the secure card reader in the ESP32 creation', () => {
  let worker: XsWorker;
  const peaks: { label: string; memory: XsMemory }[] = [];
  const call = async <T>(label: string, command: Record<string, unknown>): Promise<{ ok?: T; error?: string }> => {
    const { bytes, meter } = await worker.command(new TextEncoder().encode(JSON.stringify(command)));
    peaks.push({ label, memory: meter.memory! });
    return JSON.parse(new TextDecoder().decode(bytes)) as { ok?: T; error?: string };
  };

  beforeAll(async () => {
    await buildXsBudget();
    const modules = await deviceModules(ENTRY);
    worker = await XsWorker.start(importScript(modules.main), { name: 'xs-secure-card-reader', engine: await budgetEngine({ modules }), timeoutMs: 120_000 });
    expect(new TextDecoder().decode(worker.startReply.bytes)).toBe('');
  }, 300_000);

  afterAll(async () => {
    await worker?.close();
  });

  /** Checks a card-read frame the way the gateway's HSM does, with keys derived from the BDK here. */
  const open = (frame: string, readId: string) => {
    const read = parseReaderMessage(frame);
    if (read.type !== 'card-read') throw new Error(`expected a card read, got ${read.type}`);
    expect(read.readId).toBe(readId);
    const { mac, type: _type, ...unsigned } = read;
    verifyAesCmac(dukptHostWorkingKey(BDK, read.ksn, 'mac-generation'), cardReadMacInput(unsigned), mac);
    const track = bytesToAscii(decipherCardData(dukptHostWorkingKey(BDK, read.ksn, 'data-encrypt'), read.track2));
    const pin = read.pinBlock && decipherPinBlockIso4(dukptHostWorkingKey(BDK, read.ksn, 'pin-encryption'), read.pinBlock, PAN);
    return { ksn: toHex(read.ksn), track, pin, frame };
  };

  it('X3 E4: injected, three swipes sealed in XS (one with the PIN) open under the host\'s keys; the counter survives a restart', async () => {
    const ik = toHex(dukptInitialKey(BDK, fromHex(IK_ID)));
    expect((await call('inject', { cmd: 'load', initialKey: ik, initialKeyId: IK_ID })).ok).toEqual({ counter: 1 });
    const reads = [];
    for (let i = 0; i < 3; i++) {
      const readId = `${i}`.padStart(32, 'A');
      const reply = await call<{ frame: string }>(`read ${i + 1}${i === 2 ? ' with PIN' : ''}`, { cmd: 'read', readId, track2: TRACK2, ...(i === 2 ? { pin: '1234' } : {}) });
      expect(reply.error).toBeUndefined();
      reads.push(open(reply.ok!.frame, readId));
    }
    expect(reads.map((r) => r.ksn)).toEqual([`${IK_ID}00000001`, `${IK_ID}00000002`, `${IK_ID}00000003`]);
    expect(reads.map((r) => r.track)).toEqual([TRACK2, TRACK2, TRACK2]);
    expect(reads.map((r) => r.pin)).toEqual([undefined, undefined, '1234']);
    for (const r of reads) expect(r.frame).not.toContain(PAN.slice(0, 10));
    expect((await call('restart', { cmd: 'restart' })).ok).toEqual({ counter: 4 });
    const after = await call<{ frame: string }>('read after restart', { cmd: 'read', readId: 'B'.repeat(32), track2: TRACK2 });
    expect(open(after.ok!.frame, 'B'.repeat(32)).ksn).toBe(`${IK_ID}00000004`);
    expect((await call('bad track', { cmd: 'read', readId: 'C'.repeat(32), track2: '123=4' })).error).toBe('CARD_DATA_INVALID');
  });

  it('X3 E4: every step above peaked within the targets of the ESP32 creation', () => {
    console.info(peaks.map(({ label, memory }) => `${label}: stack ${memory.stackPeak}, slots ${memory.slotsPeak}, chunks ${memory.chunksPeak}`).join('; '));
    expect(peaks.length).toBeGreaterThanOrEqual(6);
    expect(peaks.flatMap(({ label, memory }) => RESOURCES.filter((r) => peakOf(memory, r) > targetAmount(r)).map((r) => `${label} ${r} ${peakOf(memory, r)} > ${targetAmount(r)}`))).toEqual([]);
  });
});
