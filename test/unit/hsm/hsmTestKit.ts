/**
 * What the HSM tests share: temporary LMK files, and an oracle that opens a handle with the LMK
 * read straight from its file, so a test can compare what the HSM did with the clear key. Only a
 * test may do that: the HSM itself never hands a key out.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect } from 'vitest';
import { type Rng } from '../../../shared/bytes';
import { unwrapKeyBlock, type UnwrappedKey } from '../../../shared/crypto/tr31';
import { parseKeyBlockHeader } from '../../../shared/crypto/tr31Header';
import { isPaypadError } from '../../../shared/errors';
import type { Hsm, KeyHandle } from '../../../host/hsm/hsm';
import { decodeP256PrivateKey } from '../../../host/hsm/ecPrivateKey';
import { type HsmConfig, createHsm, openSoftwareHsm, systemRng } from '../../../host/hsm/index';
import { disposeSoftHsmToken, openWithToken, softHsmConfig, softHsmMissing } from '../../support/softHsmToken';

export const rng: Rng = systemRng;

const directories: string[] = [];
afterAll(async () => {
  await Promise.all([...directories.map((dir) => rm(dir, { recursive: true, force: true })), disposeSoftHsmToken()]);
});

/** A fresh directory removed after the test file; the LMK path inside it does not exist yet. */
export async function tempLmkPath(name = 'lmk.key'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'paypad-hsm-'));
  directories.push(dir);
  return join(dir, 'hsm', name);
}

export interface TestHsm {
  readonly hsm: Hsm;
  /**
   * Test oracle: the clear key inside `handle` and its header (for a key pair, the private
   * scalar), opened outside the HSM's commands. Only a test may do that: the HSM never hands a key out.
   */
  open(handle: KeyHandle): Promise<UnwrappedKey>;
}

/** A software HSM over a new LMK file. */
export async function openTestHsm(): Promise<TestHsm & { readonly lmkFile: string }> {
  const lmkFile = await tempLmkPath();
  return { hsm: await openSoftwareHsm({ lmkFile, rng }), lmkFile, open: (handle) => openWithLmkFile(lmkFile, handle) };
}

/** Test oracle: the clear key and header inside `handle`, opened with the LMK file's bytes. */
export async function openWithLmkFile(lmkFile: string, handle: KeyHandle): Promise<UnwrappedKey> {
  const lmk = new Uint8Array(await readFile(lmkFile));
  const { header } = parseKeyBlockHeader(handle.block);
  const opened = unwrapKeyBlock(lmk, handle.block, { usage: header.keyUsage, modesOfUse: [header.modeOfUse] });
  return header.algorithm === 'E' ? { key: decodeP256PrivateKey(opened.key).privateKey, header } : opened;
}

/** One HSM implementation the contract suite runs against. */
export interface HsmBackendUnderTest {
  readonly name: 'software' | 'pkcs11';
  /** Why this backend cannot run on this machine; undefined when it can. */
  readonly missing: string | undefined;
  /** A new HSM of this kind, separate from every other one opened (its own master key). */
  openTestHsm(): Promise<TestHsm>;
  /** The configuration createHsm takes for a new HSM of this kind. */
  config(): Promise<HsmConfig>;
}

export const HSM_BACKENDS: readonly HsmBackendUnderTest[] = [
  { name: 'software', missing: undefined, openTestHsm, config: async () => ({ kind: 'software', lmkFile: await tempLmkPath() }) },
  {
    name: 'pkcs11',
    missing: softHsmMissing(),
    async openTestHsm() {
      const config = await softHsmConfig();
      return { hsm: await createHsm(config), open: (handle) => openWithToken(config, handle) };
    },
    config: softHsmConfig,
  },
];

/** Runs `suite` once per backend, titled `title(name)`; a backend this machine lacks is skipped, the title saying why. */
export function forEachHsmBackend(title: (name: HsmBackendUnderTest['name']) => string, suite: (backend: HsmBackendUnderTest) => void): void {
  for (const backend of HSM_BACKENDS) {
    const named = title(backend.name);
    describe.skipIf(backend.missing !== undefined)(backend.missing === undefined ? named : `${named} (skipped: ${backend.missing})`, () => suite(backend));
  }
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
