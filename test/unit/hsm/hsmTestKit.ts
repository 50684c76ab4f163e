/**
 * What the HSM tests share: temporary LMK files, and an oracle that opens a handle with the LMK
 * read straight from its file, so a test can compare what the HSM did with the clear key. Only a
 * test may do that: the HSM itself never hands a key out.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect } from 'vitest';
import { type Rng } from '../../../shared/bytes';
import { unwrapKeyBlock, type UnwrappedKey } from '../../../shared/crypto/tr31';
import { parseKeyBlockHeader } from '../../../shared/crypto/tr31Header';
import { isPaypadError } from '../../../shared/errors';
import type { Hsm, KeyHandle } from '../../../host/hsm/hsm';
import { openSoftwareHsm, systemRng } from '../../../host/hsm/index';

export const rng: Rng = systemRng;

const directories: string[] = [];
afterAll(async () => {
  await Promise.all(directories.map((dir) => rm(dir, { recursive: true, force: true })));
});

/** A fresh directory removed after the test file; the LMK path inside it does not exist yet. */
export async function tempLmkPath(name = 'lmk.key'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'paypad-hsm-'));
  directories.push(dir);
  return join(dir, 'hsm', name);
}

export interface TestHsm {
  readonly hsm: Hsm;
  readonly lmkFile: string;
}

export async function openTestHsm(): Promise<TestHsm> {
  const lmkFile = await tempLmkPath();
  return { hsm: await openSoftwareHsm({ lmkFile, rng }), lmkFile };
}

/** Test oracle: the clear key and header inside `handle`, opened with the LMK file's bytes. */
export async function openWithLmkFile(lmkFile: string, handle: KeyHandle): Promise<UnwrappedKey> {
  const lmk = new Uint8Array(await readFile(lmkFile));
  const { header } = parseKeyBlockHeader(handle.block);
  return unwrapKeyBlock(lmk, handle.block, { usage: header.keyUsage, modesOfUse: [header.modeOfUse] });
}

/** Awaits `action` and checks it fails with a PaypadError of `code`. */
export async function expectCode(action: Promise<unknown> | (() => unknown), code: string): Promise<void> {
  let error: unknown;
  try {
    await (typeof action === 'function' ? action() : action);
  } catch (e) {
    error = e;
  }
  expect(error, `expected ${code}, but nothing was thrown`).toBeDefined();
  expect(isPaypadError(error), `expected a PaypadError, got ${String(error)}`).toBe(true);
  expect((error as { code: string }).code).toBe(code);
}
