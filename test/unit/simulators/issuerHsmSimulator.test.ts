/**
 * The simulated issuer's HSM (host/simulators/issuerHsmSimulator.ts) behind IssuerPinVerifier:
 * a PVV binds a PIN to a card, verification answers yes or no, and no key or PIN gets out.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { toHex } from '../../../shared/bytes';
import { encipherPinBlockIso4 } from '../../../shared/crypto/pinblock';
import { isPaypadError } from '../../../shared/errors';
import { IssuerHsmSimulator } from '../../../host/simulators/issuerHsmSimulator';
import { TEST_CARDS } from '../../../host/simulators/testCards';

const rng = (n: number) => new Uint8Array(randomBytes(n));
const zpk = rng(16);
const PAN = TEST_CARDS.unionPay.pan;
const block = (pin: string, pan = PAN, key = zpk) => encipherPinBlockIso4(key, pin, pan, rng);

describe('issuer HSM simulator: PIN verification values (C8, X1)', () => {
  it('C8: the PIN the PVV was made from verifies, from a fresh block each time; another PIN does not', async () => {
    const hsm = new IssuerHsmSimulator(zpk);
    const pvv = await hsm.pinVerificationValue(PAN, block('1234'));
    expect(await hsm.verifyPin(PAN, block('1234'), pvv)).toBe(true);
    expect(await hsm.verifyPin(PAN, block('1234'), pvv)).toBe(true);
    expect(await hsm.verifyPin(PAN, block('1235'), pvv)).toBe(false);
    expect(await hsm.verifyPin(PAN, block('12345'), pvv)).toBe(false);
  });

  it('C8: the same PIN on another card has another PVV, so a PVV copied between cards verifies nothing', async () => {
    const hsm = new IssuerHsmSimulator(zpk);
    const other = TEST_CARDS.visa.pan;
    const pvv = await hsm.pinVerificationValue(PAN, block('1234'));
    expect(toHex(await hsm.pinVerificationValue(other, block('1234', other)))).not.toBe(toHex(pvv));
    expect(await hsm.verifyPin(other, block('1234', other), pvv)).toBe(false);
  });

  it('X1: the PVV depends on a key only this HSM holds: another issuer HSM makes another one from the same block', async () => {
    const pinBlock = block('1234');
    const a = await new IssuerHsmSimulator(zpk).pinVerificationValue(PAN, pinBlock);
    const b = await new IssuerHsmSimulator(zpk).pinVerificationValue(PAN, pinBlock);
    expect(toHex(a)).not.toBe(toHex(b));
  });

  it('C8: a block under another zone key, for another PAN, or altered, is a wrong PIN (false), not an error', async () => {
    const hsm = new IssuerHsmSimulator(zpk);
    const pvv = await hsm.pinVerificationValue(PAN, block('1234'));
    const tampered = block('1234');
    tampered[15] ^= 0x80;
    expect(await hsm.verifyPin(PAN, block('1234', PAN, rng(16)), pvv)).toBe(false);
    expect(await hsm.verifyPin(PAN, block('1234', TEST_CARDS.visa.pan), pvv)).toBe(false);
    expect(await hsm.verifyPin(PAN, tampered, pvv)).toBe(false);
  });

  it('X5: a zone key that is not an AES key, a PVV of the wrong size and an unreadable block at issue are typed errors', async () => {
    const failure = async (fn: () => unknown) => {
      try {
        await fn();
      } catch (e) {
        return isPaypadError(e) ? e.code : String(e);
      }
      return 'nothing thrown';
    };
    expect(await failure(() => new IssuerHsmSimulator(new Uint8Array(15)))).toBe('KEY_LENGTH');
    const hsm = new IssuerHsmSimulator(zpk);
    expect(await failure(() => hsm.verifyPin(PAN, block('1234'), new Uint8Array(8)))).toBe('BAD_LENGTH');
    expect(await failure(() => hsm.pinVerificationValue(PAN, block('1234', PAN, rng(16))))).toBe('PIN_BLOCK_INVALID');
  });

  it('X1: the HSM object shows no key: nothing enumerable, nothing in JSON', () => {
    const hsm = new IssuerHsmSimulator(zpk);
    expect(Object.keys(hsm)).toEqual([]);
    expect(JSON.stringify(hsm)).toBe('{}');
  });
});
