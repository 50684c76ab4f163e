import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromHex, toHex } from '../../shared/bytes';
import { encodeKeyEnvelope, generateP256KeyPair, wrapKeyForRecipient } from '../../shared/crypto/keyTransport';
import { aesCmac } from '../../shared/crypto/cmac';
import { aesKeyWrap } from '../../shared/crypto/keyWrap';
import { wrapKeyBlock } from '../../shared/crypto/tr31';
import { ops } from '../support/ops';
import { type Json, runBatch } from '../support/opsRunner';
import { seededRng } from '../support/opsRng';
import { XsOps } from './xsOps';

let xs: XsOps;
beforeAll(async () => {
  xs = await XsOps.start();
});
afterAll(async () => {
  await xs?.close();
});

// TR-31:2018 A.7.4 (test/vectors/tr31.json): a P0 AES key under a 256-bit KBPK.
const KBPK = '88E1AB2A2E3DD38C1FA039A536500CC8A87AB9D62DC92C01058FA79F44657DE6';
const BLOCK = 'D0112P0AE00E0000B82679114F470F540165EDFBF7E250FCEA43F810D215F8D207E2E417C07156A27E8E31DA05F7425509593D03A457DC34';
const TR31_KEY = '3F419E1CB7079442AA37474C2EFBF8B8';
const P0 = { usage: 'P0', modesOfUse: ['E'] };
const WITH_KS = wrapKeyBlock(fromHex(KBPK), { keyUsage: 'M6', algorithm: 'A', modeOfUse: 'C', exportability: 'N', optionalBlocks: [{ id: 'KS', data: '00604B120F9292800000' }] }, fromHex(TR31_KEY), seededRng(new Uint8Array([1])));

// ISO 9564-1 format 4, ep2 example (test/vectors/pinblock.json).
const PIN_KEY = 'C1D0F8FB4958670DBA40AB1F3752EF0D';
const PAN = '432198765432109870';
const PIN = '1234';
const PIN_BLOCK = 'CC17F65586BFD0953010226C4FC5B3CA';

const KEK = '000102030405060708090A0B0C0D0E0F';
const EMPTY_MAC = toHex(aesCmac(fromHex(KEK), new Uint8Array()));
const WRAPPED = toHex(aesKeyWrap(fromHex(KEK), fromHex('00112233445566778899AABBCCDDEEFF')));

const recipient = generateP256KeyPair(seededRng(new Uint8Array([7])));
const CONTEXT = '53455249414C2D3030303031'; // "SERIAL-00001"
const ENVELOPE = toHex(encodeKeyEnvelope(wrapKeyForRecipient(recipient.publicKey, fromHex(TR31_KEY), fromHex(CONTEXT), seededRng(new Uint8Array([8])))));

const flipLastHexDigit = (s: string) => s.slice(0, -1) + (s.endsWith('0') ? '1' : '0');

interface ErrorCase {
  name: string;
  op: string;
  args: Json;
  code: string;
  /** Secret values the error message must not contain (SPEC X1). */
  secrets?: string[];
}

const cases: ErrorCase[] = [
  // TR-31 (issue 2): tampering, wrong KBPK, malformed headers, usage not allowed
  { name: 'TR-31 block with one MAC digit changed', op: 'tr31.unwrap', args: { kbpk: KBPK, block: flipLastHexDigit(BLOCK), policy: P0 }, code: 'TR31_MAC_MISMATCH', secrets: [KBPK, TR31_KEY] },
  { name: 'TR-31 block with one payload digit changed', op: 'tr31.unwrap', args: { kbpk: KBPK, block: BLOCK.slice(0, 20) + (BLOCK[20] === 'A' ? 'B' : 'A') + BLOCK.slice(21), policy: P0 }, code: 'TR31_MAC_MISMATCH' },
  { name: 'TR-31 header exportability changed E -> N', op: 'tr31.unwrap', args: { kbpk: KBPK, block: `${BLOCK.slice(0, 11)}N${BLOCK.slice(12)}`, policy: P0 }, code: 'TR31_MAC_MISMATCH' },
  { name: 'TR-31 optional block id changed KS -> KP', op: 'tr31.unwrap', args: { kbpk: KBPK, block: WITH_KS.replace('KS', 'KP'), policy: { usage: 'M6', modesOfUse: ['C'] } }, code: 'TR31_MAC_MISMATCH' },
  { name: 'TR-31 unwrapped with the wrong KBPK', op: 'tr31.unwrap', args: { kbpk: flipLastHexDigit(KBPK), block: BLOCK, policy: P0 }, code: 'TR31_MAC_MISMATCH', secrets: [KBPK] },
  { name: 'TR-31 header length field not decimal', op: 'tr31.unwrap', args: { kbpk: KBPK, block: `D01X2${BLOCK.slice(5)}`, policy: P0 }, code: 'TR31_MALFORMED' },
  { name: 'TR-31 block truncated (length field disagrees)', op: 'tr31.unwrap', args: { kbpk: KBPK, block: BLOCK.slice(0, -32), policy: P0 }, code: 'TR31_MALFORMED' },
  { name: 'TR-31 reserved header character not 0', op: 'tr31.unwrap', args: { kbpk: KBPK, block: `${BLOCK.slice(0, 15)}1${BLOCK.slice(16)}`, policy: P0 }, code: 'TR31_MALFORMED' },
  { name: 'TR-31 payload in lowercase hex', op: 'tr31.unwrap', args: { kbpk: KBPK, block: BLOCK.slice(0, 16) + BLOCK.slice(16).toLowerCase(), policy: P0 }, code: 'TR31_MALFORMED' },
  { name: 'TR-31 header shorter than 16 characters', op: 'tr31.parseHeader', args: { text: 'D0112P0AE00E' }, code: 'TR31_MALFORMED' },
  { name: 'TR-31 version B block', op: 'tr31.unwrap', args: { kbpk: KBPK, block: `B${BLOCK.slice(1)}`, policy: P0 }, code: 'TR31_UNSUPPORTED' },
  { name: 'TR-31 P0 key requested as a MAC key (M6)', op: 'tr31.unwrap', args: { kbpk: KBPK, block: BLOCK, policy: { usage: 'M6', modesOfUse: ['C'] } }, code: 'TR31_USAGE_NOT_ALLOWED', secrets: [TR31_KEY] },
  { name: 'TR-31 encrypt-only P0 key requested for decryption', op: 'tr31.unwrap', args: { kbpk: KBPK, block: BLOCK, policy: { usage: 'P0', modesOfUse: ['D'] } }, code: 'TR31_USAGE_NOT_ALLOWED' },
  { name: 'TR-31 AES key requested as TDES', op: 'tr31.unwrap', args: { kbpk: KBPK, block: BLOCK, policy: { ...P0, algorithm: 'T' } }, code: 'TR31_USAGE_NOT_ALLOWED' },
  { name: 'TR-31 wrap of a 20-byte AES key', op: 'tr31.wrap', args: { kbpk: KBPK, header: { keyUsage: 'P0', algorithm: 'A', modeOfUse: 'E', exportability: 'E' }, key: '00'.repeat(20), seed: '01' }, code: 'TR31_KEY_LENGTH' },
  { name: 'TR-31 KBPK of 15 bytes', op: 'tr31.unwrap', args: { kbpk: KBPK.slice(0, 30), block: BLOCK, policy: P0 }, code: 'KEY_LENGTH' },

  // ISO 9564-1 format 4 (issue 2): PIN and PAN shape, wrong PAN, bad block
  { name: 'PIN of 3 digits', op: 'pinblock.iso4.encipher', args: { key: PIN_KEY, pin: '123', pan: PAN, seed: '01' }, code: 'PIN_INVALID', secrets: ['123', PAN, PIN_KEY] },
  { name: 'PIN of 13 digits', op: 'pinblock.iso4.encipher', args: { key: PIN_KEY, pin: '1234567890123', pan: PAN, seed: '01' }, code: 'PIN_INVALID', secrets: ['1234567890123'] },
  { name: 'PIN with a letter', op: 'pinblock.iso4.encipher', args: { key: PIN_KEY, pin: '12A4', pan: PAN, seed: '01' }, code: 'PIN_INVALID', secrets: ['12A4'] },
  { name: 'PAN of 20 digits', op: 'pinblock.iso4.encipher', args: { key: PIN_KEY, pin: PIN, pan: '43219876543210987012', seed: '01' }, code: 'PAN_INVALID', secrets: ['43219876543210987012'] },
  { name: 'empty PAN', op: 'pinblock.iso4.decipher', args: { key: PIN_KEY, block: PIN_BLOCK, pan: '' }, code: 'PAN_INVALID' },
  { name: 'PIN block deciphered for another PAN', op: 'pinblock.iso4.decipher', args: { key: PIN_KEY, block: PIN_BLOCK, pan: '4111111111111111' }, code: 'PIN_BLOCK_INVALID', secrets: [PIN, '4111111111111111'] },
  { name: 'PIN block of 15 bytes', op: 'pinblock.iso4.decipher', args: { key: PIN_KEY, block: PIN_BLOCK.slice(2), pan: PAN }, code: 'BAD_LENGTH' },
  { name: 'PIN block enciphered with a 17-byte key', op: 'pinblock.iso4.encipher', args: { key: `${PIN_KEY}00`, pin: PIN, pan: PAN, seed: '01' }, code: 'KEY_LENGTH', secrets: [PIN_KEY] },

  // MACs, key wrap, key transport
  { name: 'CMAC with one bit changed', op: 'cmac.verify', args: { key: KEK, data: '', mac: flipLastHexDigit(EMPTY_MAC) }, code: 'MAC_MISMATCH', secrets: [KEK] },
  { name: 'AES key wrap altered', op: 'keyWrap.unwrap', args: { kek: KEK, data: flipLastHexDigit(WRAPPED) }, code: 'KEY_UNWRAP_FAILED', secrets: [KEK] },
  { name: 'key envelope for another context', op: 'keyTransport.unwrapKeyAsRecipient', args: { recipientPrivateKey: toHex(recipient.privateKey), envelope: ENVELOPE, context: flipLastHexDigit(CONTEXT) }, code: 'KEY_UNWRAP_FAILED', secrets: [toHex(recipient.privateKey)] },
  { name: 'key envelope of version 2', op: 'keyTransport.unwrapKeyAsRecipient', args: { recipientPrivateKey: toHex(recipient.privateKey), envelope: `02${ENVELOPE.slice(2)}`, context: CONTEXT }, code: 'KEY_ENVELOPE_UNSUPPORTED' },
  { name: 'recipient public key off the curve', op: 'keyTransport.wrapKeyForRecipient', args: { recipientPublicKey: flipLastHexDigit(toHex(recipient.publicKey)), key: TR31_KEY, context: CONTEXT, seed: '01' }, code: 'PUBLIC_KEY_INVALID', secrets: [TR31_KEY] },
  { name: 'hex with a non-hex digit', op: 'cmac', args: { key: `${KEK.slice(0, 31)}G`, data: '' }, code: 'BAD_HEX' },
];

describe('XS: typed errors survive into XS with the same code (issue 2 / X3)', () => {
  it('XS: each bad input fails with the same PaypadError code and message in XS as in Node, recognised by isPaypadError and instanceof there', async () => {
    for (const c of cases) {
      const [[inXs], [inNode]] = await Promise.all([xs.batch(c.op, [c.args]), runBatch(ops, c.op, [c.args])]);
      // `error` outcomes exist only where isPaypadError(e) && e instanceof PaypadError held (opsRunner).
      expect(inNode, `${c.name} (Node)`).toMatchObject({ error: c.code });
      expect(inXs, `${c.name} (XS)`).toEqual(inNode);
      const message = (inXs as { message: string }).message;
      expect(message.length, `${c.name}: a message a person can act on`).toBeGreaterThan(10);
      for (const secret of c.secrets ?? []) expect(message.toUpperCase(), `${c.name}: message leaks a secret (X1)`).not.toContain(secret.toUpperCase());
    }
  });

  it('XS: the same inputs made valid succeed in both engines (the cases fail for the stated reason)', async () => {
    const valid: [string, Json, Json][] = [
      ['tr31.unwrap', { kbpk: KBPK, block: BLOCK, policy: P0 }, { key: TR31_KEY }],
      ['tr31.unwrap', { kbpk: KBPK, block: WITH_KS, policy: { usage: 'M6', modesOfUse: ['C'] } }, { key: TR31_KEY }],
      ['pinblock.iso4.decipher', { key: PIN_KEY, block: PIN_BLOCK, pan: PAN }, PIN],
      ['keyWrap.unwrap', { kek: KEK, data: WRAPPED }, '00112233445566778899AABBCCDDEEFF'],
      ['cmac.verify', { key: KEK, data: '', mac: EMPTY_MAC }, true],
      ['keyTransport.unwrapKeyAsRecipient', { recipientPrivateKey: toHex(recipient.privateKey), envelope: ENVELOPE, context: CONTEXT }, TR31_KEY],
    ];
    for (const [op, args, expected] of valid) {
      const [[inXs], [inNode]] = await Promise.all([xs.batch(op, [args]), runBatch(ops, op, [args])]);
      expect(inXs, op).toMatchObject({ ok: expected });
      expect(inXs, op).toEqual(inNode);
    }
  });
});
