/**
 * A10, A8: the check value a public key is compared by (MTMS's and each KMS's intake key, a
 * device's identity key) is computed in one place, shared/protocol/publicKeyCheck, so the
 * terminal's status, MTMS, the KMS, both HSMs and the audit log print the same value for one key.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { p256 } from '@noble/curves/nist.js';
import { describe, expect, it } from 'vitest';
import { publicKeyCheckValue } from '../../../shared/protocol/publicKeyCheck';

const ROOT = join(__dirname, '../../..');
/** SHA-256 of something cut to a check value's 5 bytes: the computation publicKeyCheckValue owns. */
const HASH_PREFIX = /sha256\([^;]*\)\.subarray\(0, (5|KCV_BYTES|PUBLIC_KEY_CHECK_BYTES)\)/;

function sourcesComputingIt(): string[] {
  const found: string[] = [];
  for (const dir of ['host', 'firmware', 'shared', 'bin', 'test', 'bench']) {
    for (const file of readdirSync(join(ROOT, dir), { recursive: true, encoding: 'utf8' })) {
      if (!file.endsWith('.ts') || file.includes('node_modules')) continue;
      const path = join(ROOT, dir, file);
      if (HASH_PREFIX.test(readFileSync(path, 'utf8'))) found.push(relative(ROOT, path));
    }
  }
  return found;
}

describe('A10: the public-key check value', () => {
  it('A10: is the leftmost 5 bytes of SHA-256 of the uncompressed point, uppercase hex', () => {
    const point = p256.getPublicKey(p256.utils.randomSecretKey(), false);
    expect(publicKeyCheckValue(point)).toBe(createHash('sha256').update(point).digest('hex').slice(0, 10).toUpperCase());
  });

  it('A10: is computed only in shared/protocol/publicKeyCheck (terminal, MTMS, KMS, HSMs and tests call it)', () => {
    expect(sourcesComputingIt()).toEqual(['shared/protocol/publicKeyCheck.ts']);
  });
});
