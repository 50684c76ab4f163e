/**
 * The emulated terminal's program slots (firmware/hal/node/slotUpdater.ts; B4): writes continue
 * where the image ends, read back what is there, resume only what the slot holds, and the boot
 * pointer's trial: started once, confirmed or rolled back.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openSlotUpdater } from '../../../firmware/hal/node/slotUpdater';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});
function open(dir?: string) {
  const stateDir = dir ?? mkdtempSync(join(tmpdir(), 'paypad-slots-'));
  if (!dir) dirs.push(stateDir);
  return { stateDir, updater: openSlotUpdater(stateDir, { factoryVersion: '1.0.0', restart: () => undefined }) };
}
function codeOf(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    return (e as { code: string }).code;
  }
  return 'none';
}

describe('the emulated terminal\'s program slots (B4)', () => {
  it('B4: writes continue the image (or repeat part of it), never skip; read returns what was written', () => {
    const { updater } = open();
    expect([updater.startKind, updater.currentVersion]).toEqual(['normal', '1.0.0']);
    expect(codeOf(() => updater.write(0, new Uint8Array(1)))).toBe('UPDATE_STATE');
    updater.begin(10);
    updater.write(0, new Uint8Array([1, 2, 3, 4]));
    expect(codeOf(() => updater.write(5, new Uint8Array([9])))).toBe('UPDATE_STATE');
    updater.write(2, new Uint8Array([3, 4, 5, 6]));
    expect(codeOf(() => updater.write(6, new Uint8Array(5)))).toBe('UPDATE_STATE');
    expect(Array.from(updater.read(0, 6))).toEqual([1, 2, 3, 4, 5, 6]);
    expect(codeOf(() => updater.read(4, 3))).toBe('UPDATE_STATE');
    expect(codeOf(() => updater.complete('1.1.0'))).toBe('UPDATE_STATE');
  });

  it('B4: after a restart, resume takes what the slot holds and nothing more', () => {
    const { stateDir, updater } = open();
    updater.begin(8);
    updater.write(0, new Uint8Array([1, 2, 3, 4]));
    const again = open(stateDir).updater;
    expect(codeOf(() => again.resume(8, 5))).toBe('UPDATE_STATE');
    again.resume(8, 4);
    again.write(4, new Uint8Array([5, 6, 7, 8]));
    expect(Array.from(again.read(0, 8))).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    again.complete('1.1.0');
    const trial = open(stateDir).updater;
    expect([trial.startKind, trial.currentVersion]).toEqual(['trial', '1.1.0']);
    trial.confirm();
    expect([open(stateDir).updater.startKind, open(stateDir).updater.currentVersion]).toEqual(['normal', '1.1.0']);
  });

  it('B4: a trial that is started and not confirmed goes back to the previous slot; the next update writes the other slot again', () => {
    const { stateDir, updater } = open();
    updater.begin(2);
    updater.write(0, new Uint8Array([1, 2]));
    updater.complete('1.1.0');
    expect(open(stateDir).updater.startKind).toBe('trial');
    const back = open(stateDir).updater;
    expect([back.startKind, back.currentVersion]).toEqual(['rolledBack', '1.0.0']);
    expect([open(stateDir).updater.startKind, open(stateDir).updater.currentVersion]).toEqual(['normal', '1.0.0']);
    expect(codeOf(() => back.complete('not a version'))).toBe('UPDATE_STATE');
  });
});
