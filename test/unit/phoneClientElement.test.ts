/**
 * D1: the CLI phone's secure element: its key file is made with mode 0600 and refused when others
 * may read it; what it seals for one purpose does not open for another, altered, or under another
 * element's key.
 */
import { chmodSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ELEMENT_KEY_FILE, openFileElement } from '../../bin/commands/phoneElement';

const dir = mkdtempSync(join(tmpdir(), 'paypad-element-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('the CLI secure element', () => {
  it('D1: the key file is 0600; a readable one is refused', async () => {
    const home = join(dir, 'a');
    await openFileElement(home, true);
    expect(statSync(join(home, ELEMENT_KEY_FILE)).mode & 0o777).toBe(0o600);
    chmodSync(join(home, ELEMENT_KEY_FILE), 0o644);
    await expect(openFileElement(home, false)).rejects.toMatchObject({ code: 'PHONE_ELEMENT_INVALID' });
  });

  it('D1: sealed card data opens only for its purpose, unaltered, under the same element', async () => {
    const element = await openFileElement(join(dir, 'b'), true);
    const other = await openFileElement(join(dir, 'c'), true);
    const clear = new TextEncoder().encode('pan=6222021000000000017;expiry=3012');
    const sealed = await element.seal('card', clear);
    expect(Buffer.from(sealed).includes(Buffer.from('6222021000000000017'))).toBe(false);
    expect(await element.open('card', sealed)).toEqual(clear);
    const altered = Uint8Array.from(sealed);
    altered[20] ^= 1;
    for (const attempt of [element.open('phone-keys', sealed), element.open('card', altered), other.open('card', sealed)]) {
      await expect(attempt).rejects.toMatchObject({ code: 'PHONE_ELEMENT_INVALID' });
    }
  });

  it('D1: without an element key the phone is not enrolled', async () => {
    await expect(openFileElement(join(dir, 'none'), false)).rejects.toMatchObject({ code: 'PHONE_NOT_ENROLLED' });
  });
});
