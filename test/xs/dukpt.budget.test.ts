/**
 * X3, E4, device budget: the card reader's AES DUKPT (shared/crypto/dukptTerminal) in the ESP32
 * creation, fixed (xs-budget, test/xs/budget; manifest.json's preload; Moddable's native AES):
 * loading the initial key (32 derivations), ordinary transactions and the heaviest one (counter
 * 2^31 refills 31 registers) each peak within the targets onboarding keeps to (deviceBudget.ts),
 * and every KSN and key is the one the host derives from the BDK.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromHex, toHex } from '../../shared/bytes';
import { dukptHostWorkingKey, dukptInitialKey } from '../../shared/crypto/dukpt';
import { dukptStateAt } from '../support/dukptState';
import { RESOURCES, targetAmount } from './budget/deviceBudget';
import { DukptDevice, type DukptDeviceReply } from './dukpt/dukptDevice';
import type { XsMemory } from './xsWorker';

interface Vectors { bdks: { name: string; bdk: string; initialKeyId: string; initialKey: string; transactions: { ksn: string; workingKeys?: { usage: string; keyType: string; key: string }[] }[] }[] }
const vectors: Vectors = JSON.parse(readFileSync(new URL('../vectors/dukpt.json', import.meta.url), 'utf8'));
type Transactions = { transactions: { ksn: string; key: string }[] };

const peakOf = (m: XsMemory, resource: (typeof RESOURCES)[number]) => (resource === 'chunks' ? m.chunksPeak : resource === 'slots' ? m.slotsPeak : m.stackPeak);
const overTargets = (label: string, m: XsMemory) => RESOURCES.filter((r) => peakOf(m, r) > targetAmount(r)).map((r) => `${label} ${r} ${peakOf(m, r)} > ${targetAmount(r)}`);

describe('X3 E4 device budget: AES DUKPT in the ESP32 creation', () => {
  let device: DukptDevice;
  const peaks: { label: string; memory: XsMemory }[] = [];
  const call = async <T>(label: string, command: Record<string, unknown>): Promise<DukptDeviceReply<T>> => {
    const reply = await device.call<T>(command);
    peaks.push({ label, memory: reply.memory });
    return reply;
  };

  beforeAll(async () => {
    device = await DukptDevice.start();
  }, 300_000);

  afterAll(async () => {
    await device?.close();
  });

  for (const set of vectors.bdks) {
    it(`X3 E4: ${set.name}: loaded with the published IK, the first eight transactions give the published KSNs and PIN keys, within the targets`, async () => {
      const loaded = await call<{ counter: number }>(`${set.name} load`, { cmd: 'load', initialKey: set.initialKey, initialKeyId: set.initialKeyId });
      expect(loaded.ok).toEqual({ counter: 1 });
      const pin = set.transactions.slice(0, 8).map((t) => ({ ksn: t.ksn, key: t.workingKeys!.find((w) => w.usage === 'pin-encryption')!.key }));
      const next = await call<Transactions>(`${set.name} 8 transactions`, { cmd: 'next', usage: 'pin-encryption', keyType: 'AES-128', count: 8 });
      expect(next.ok?.transactions).toEqual(pin);
    });
  }

  it('X3 E4: the heaviest transaction (counter 2^31: 31 registers refilled) and the last ones, as the host derives them; then the counter is exhausted', async () => {
    const set = vectors.bdks[1];
    const bdk = fromHex(set.bdk);
    const id = fromHex(set.initialKeyId);
    const ik = dukptInitialKey(bdk, id);
    expect((await call('restore 2^31', { cmd: 'restore', state: toHex(dukptStateAt(ik, id, 0x80000000)) })).ok).toEqual({ counter: 0x80000000 });
    const heaviest = await call<Transactions>('transaction at 2^31', { cmd: 'next', usage: 'data-encrypt', count: 2 });
    for (const t of heaviest.ok!.transactions) expect(t.key).toBe(toHex(dukptHostWorkingKey(bdk, fromHex(t.ksn), 'data-encrypt')));
    expect(heaviest.ok!.transactions.map((t) => t.ksn.slice(16))).toEqual(['80000000', '80000001']);

    await call('restore FFFE8000', { cmd: 'restore', state: toHex(dukptStateAt(ik, id, 0xfffe8000)) });
    const last = await call<Transactions>('last transactions', { cmd: 'next', usage: 'data-encrypt', count: 2 });
    expect(last.ok!.transactions.map((t) => t.ksn.slice(16))).toEqual(['FFFE8000', 'FFFF0000']);
    expect((await call('exhausted', { cmd: 'next', usage: 'data-encrypt', count: 1 })).error).toBe('DUKPT_COUNTER_EXHAUSTED');
  });

  it('X3 E4: every command above peaked within the targets of the ESP32 creation', () => {
    console.info(peaks.map(({ label, memory }) => `${label}: stack ${memory.stackPeak}, slots ${memory.slotsPeak}, chunks ${memory.chunksPeak}`).join('; '));
    expect(peaks.length).toBeGreaterThanOrEqual(8);
    expect(peaks.flatMap(({ label, memory }) => overTargets(label, memory))).toEqual([]);
  });
});
