import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createCardVault } from '../../../host/payments/mobile/cardVault';
import { hashVerificationCode, newVerificationCode, verificationCodeMatches } from '../../../host/payments/mobile/verificationCodes';

const PAN = '6222021000000000058';

describe('C1: the receiving card sealed at rest (X1)', () => {
  const vault = createCardVault(new Uint8Array(randomBytes(32)));
  it('C1: seals to text without the PAN, differently each time, and opens for the same payee', () => {
    const a = vault.seal(PAN, '13800138000');
    const b = vault.seal(PAN, '13800138000');
    expect(a).not.toBe(b);
    expect(a).not.toContain(PAN);
    expect(vault.open(a, '13800138000')).toBe(PAN);
  });
  it('C1: a sealed card moved to another payee, altered, or under another key does not open (INTERNAL)', () => {
    const sealed = vault.seal(PAN, '13800138000');
    const flipped = sealed.slice(0, -2) + (sealed.at(-2) === 'A' ? 'B' : 'A') + sealed.at(-1);
    for (const [s, m] of [[sealed, '13900139000'], [flipped, '13800138000'], ['v1.', '13800138000'], ['garbage', '13800138000']]) {
      expect(() => vault.open(s, m)).toThrow(expect.objectContaining({ code: 'INTERNAL' }));
    }
    expect(() => createCardVault(new Uint8Array(randomBytes(32))).open(sealed, '13800138000')).toThrow(expect.objectContaining({ code: 'INTERNAL' }));
    expect(() => createCardVault(new Uint8Array(16))).toThrow(expect.objectContaining({ code: 'KEY_LENGTH' }));
  });
});

describe('C1: card fingerprints for counting failed card checks', () => {
  it('C1: the same card under the same key gives the same 32 hex digits; another key or card another; the PAN is not in it', () => {
    const key = new Uint8Array(randomBytes(32));
    const fp = createCardVault(key).fingerprint(PAN);
    expect(fp).toMatch(/^[0-9a-f]{32}$/);
    expect(createCardVault(key).fingerprint(PAN)).toBe(fp);
    expect(createCardVault(key).fingerprint('6222021000000000017')).not.toBe(fp);
    expect(createCardVault(new Uint8Array(randomBytes(32))).fingerprint(PAN)).not.toBe(fp);
    expect(fp).not.toContain(PAN.slice(6, 15));
  });
});

describe('C1: one-time codes', () => {
  it('C1: six digits; only a hash salted by the registration id is kept; anything but the code does not match', () => {
    const code = newVerificationCode();
    expect(code).toMatch(/^\d{6}$/);
    const hash = hashVerificationCode('reg-1', code);
    expect(hash).toMatch(/^[0-9a-f]{64}$/);
    expect(hash).not.toContain(code);
    expect(hashVerificationCode('reg-2', code)).not.toBe(hash);
    expect(verificationCodeMatches('reg-1', code, hash)).toBe(true);
    expect(verificationCodeMatches('reg-2', code, hash)).toBe(false);
    for (const wrong of [String((Number(code) + 1) % 1_000_000).padStart(6, '0'), ` ${code}`, `${code}0`, '', undefined, Number(code)]) {
      expect(verificationCodeMatches('reg-1', wrong, hash)).toBe(false);
    }
  });
});
