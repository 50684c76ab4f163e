/**
 * X5 for the test suites themselves: one simulated customer KMS, test/support/fakeKms.ts, serves
 * the Node terminal tests (test/unit) and the XS ones (test/xs) alike, so a change to how a KMS
 * answers is made once and both engines are tested against the same behaviour.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(__dirname, '../..');

function definitionsOf(pattern: RegExp): string[] {
  const found: string[] = [];
  for (const dir of ['test', 'bench']) {
    for (const file of readdirSync(join(ROOT, dir), { recursive: true, encoding: 'utf8' })) {
      if (!file.endsWith('.ts')) continue;
      const path = join(ROOT, dir, file);
      if (pattern.test(readFileSync(path, 'utf8'))) found.push(relative(ROOT, path));
    }
  }
  return found;
}

describe('X5: one fake per outside party', () => {
  it('X5: the simulated KMS of the terminal tests is defined once, in test/support, for Node and XS alike', () => {
    expect(definitionsOf(/^export class FakeKms\b/m)).toEqual(['test/support/fakeKms.ts']);
  });
});
