/**
 * The phone client protocol's building blocks (D4, X1, X2): session keys bound to phone, number
 * and purpose; enciphered fields bound to their name; MAC inputs that differ for requests,
 * responses and pushes and for every field.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { decodeKeyEnvelope, encodeKeyEnvelope, generateP256KeyPair, unwrapKeyAsRecipient, wrapKeyForRecipient } from '../../shared/crypto/keyTransport';
import { decipherFieldWith, encipherField, phoneKeyContext } from '../../shared/protocol/phoneClient';
import { parsePhoneRequest, phonePushMacInput, phoneRequestMacInput, phoneResponseMacInput } from '../../shared/protocol/phoneClientEnvelope';
import { toHex } from '../../shared/bytes';

const rng = (n: number) => new Uint8Array(randomBytes(n));
const PHONE = 'A'.repeat(32);
const MOBILE = '+8613912345678';

describe('phone client protocol', () => {
  it('D4: a session key opens only for the phone, number and key name it was sent for', () => {
    const platform = generateP256KeyPair(rng);
    const key = rng(16);
    const envelope = decodeKeyEnvelope(encodeKeyEnvelope(wrapKeyForRecipient(platform.publicKey, key, phoneKeyContext(PHONE, MOBILE, 'PIN'), rng)));
    expect(unwrapKeyAsRecipient(platform.privateKey, envelope, phoneKeyContext(PHONE, MOBILE, 'PIN'))).toEqual(key);
    for (const context of [phoneKeyContext(PHONE, '+8613912345679', 'PIN'), phoneKeyContext('B'.repeat(32), MOBILE, 'PIN'), phoneKeyContext(PHONE, MOBILE, 'MAC')]) {
      expect(() => unwrapKeyAsRecipient(platform.privateKey, envelope, context)).toThrow(expect.objectContaining({ code: 'KEY_UNWRAP_FAILED' }));
    }
  });

  it('D4, X1: a field is enciphered with a fresh IV each time and does not read as another field', () => {
    const kEnc = rng(16);
    const a = encipherField(kEnc, 'pan', '6222021000000000017', rng);
    const b = encipherField(kEnc, 'pan', '6222021000000000017', rng);
    expect(a).not.toBe(b);
    expect(a).not.toContain('6222021000000000017');
    expect(decipherFieldWith(kEnc, 'pan', a)).toBe('6222021000000000017');
    expect(() => decipherFieldWith(kEnc, 'mobile', a)).toThrow(expect.objectContaining({ code: 'PROTOCOL_MALFORMED' }));
    expect(() => decipherFieldWith(rng(16), 'pan', a)).toThrow(expect.objectContaining({ code: 'CARD_DATA_INVALID' }));
    expect(decipherFieldWith(kEnc, 'holder', encipherField(kEnc, 'holder', '张三', rng))).toBe('张三');
  });

  it('X2: the MAC inputs of a request, its response and a push never coincide, and every field counts', () => {
    const body = new TextEncoder().encode('{"v":1}');
    const request = phoneRequestMacInput({ method: 'POST', path: '/bills/client/cards', phoneId: PHONE, seq: 7 }, body);
    const others = [
      phoneRequestMacInput({ method: 'GET', path: '/bills/client/cards', phoneId: PHONE, seq: 7 }, body),
      phoneRequestMacInput({ method: 'POST', path: '/bills/client/bills', phoneId: PHONE, seq: 7 }, body),
      phoneRequestMacInput({ method: 'POST', path: '/bills/client/cards', phoneId: 'B'.repeat(32), seq: 7 }, body),
      phoneRequestMacInput({ method: 'POST', path: '/bills/client/cards', phoneId: PHONE, seq: 8 }, body),
      phoneResponseMacInput(200, PHONE, 7, body),
      phonePushMacInput(PHONE, 7, '{"v":1}'),
    ];
    for (const other of others) expect(toHex(other)).not.toBe(toHex(request));
  });

  it('X2: request headers out of shape are PROTOCOL_MALFORMED before any key is looked up', () => {
    const ok = { 'Paypad-Phone': PHONE, 'Paypad-Seq': '1', 'Paypad-Mac': '00'.repeat(16) };
    expect(parsePhoneRequest('GET', '/bills/client/bills', ok, new Uint8Array(0))).toMatchObject({ phoneId: PHONE, seq: 1 });
    for (const bad of [{ ...ok, 'Paypad-Seq': '01' }, { ...ok, 'Paypad-Phone': 'a'.repeat(32) }, { ...ok, 'Paypad-Mac': '00' }, { 'Paypad-Phone': PHONE, 'Paypad-Seq': '1' }]) {
      expect(() => parsePhoneRequest('GET', '/bills/client/bills', bad, new Uint8Array(0))).toThrow(expect.objectContaining({ code: 'PROTOCOL_MALFORMED' }));
    }
  });
});
