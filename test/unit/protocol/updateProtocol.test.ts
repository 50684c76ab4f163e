/**
 * The update protocol's shared rules (shared/protocol/update*; SPEC B1-B4, X2): versions and their
 * order, the signed manifest (tampered, foreign, malformed, oversized), the context the cryptograms
 * bind, the chunk keys and the exact-range rule, the messages' validation and the numbered codes.
 */
import { describe, expect, it } from 'vitest';
import { asciiToBytes, fromHex, toHex, utf8ToBytes } from '../../../shared/bytes';
import { signP256Sha256 } from '../../../shared/crypto/ecdsa';
import { generateP256KeyPair } from '../../../shared/crypto/keyTransport';
import { updateContext, tacInput } from '../../../shared/protocol/updateAuth';
import { assertExactRange, chunkKeyParams, chunkMacInput, contentRangeHeader, rangeHeader } from '../../../shared/protocol/updateChunks';
import { UPDATE_CODE_OTHER, updateFailureCode } from '../../../shared/protocol/updateCodes';
import { type Manifest, MANIFEST_SIGNATURE_TAG, checkManifestFor, openSignedManifest, signManifest, vendorKeyId } from '../../../shared/protocol/updateManifest';
import { validateUpdateMessage } from '../../../shared/protocol/updateMessages';
import { compareVersions } from '../../../shared/protocol/updateVersion';
import { seededRng } from '../../support/opsRng';

const vendor = generateP256KeyPair(seededRng(asciiToBytes('protocol vendor')));
const other = generateP256KeyPair(seededRng(asciiToBytes('protocol other vendor')));
const MANIFEST: Manifest = {
  v: 1,
  name: 'paypad-firmware',
  version: '1.2.0',
  models: ['PP-ESP32'],
  size: 1000,
  sha256: '11'.repeat(32),
  minimumVersion: '1.0.0',
  securityCounter: 2,
  metadataVersion: 7,
  expires: '2030-01-01T00:00:00Z',
};
const INSTALLED = { model: 'PP-ESP32', version: '1.1.0', securityCounter: 2, metadataVersion: 7 };
const NOW = Date.UTC(2026, 11, 6);

function codeOf(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    return (e as { code: string }).code;
  }
  return 'none';
}

/** A manifest of any bytes, signed as the vendor signs: for malformed ones that still verify. */
function signBytes(bytes: Uint8Array) {
  const input = new Uint8Array([...asciiToBytes(MANIFEST_SIGNATURE_TAG.trim()), 0x0a, ...bytes]);
  return { manifest: toHex(bytes), keyId: vendorKeyId(vendor.publicKey), signature: toHex(signP256Sha256(vendor.privateKey, input)) };
}

describe('program versions', () => {
  it('B4: ordered part by part as numbers; anything but MAJOR.MINOR.PATCH is malformed', () => {
    expect(compareVersions('1.10.0', '1.9.3')).toBeGreaterThan(0);
    expect(compareVersions('2.0.0', '2.0.0')).toBe(0);
    expect(compareVersions('0.9.9', '1.0.0')).toBeLessThan(0);
    for (const bad of ['1.0', '01.0.0', '1.0.0-rc1', '1.0.0 ', '65536.0.0', '']) expect(codeOf(() => compareVersions(bad, '1.0.0'))).toBe('PROTOCOL_MALFORMED');
  });
});

describe('the signed manifest', () => {
  const signed = signManifest(MANIFEST, vendor.privateKey, vendor.publicKey);

  it('B4: opens under the vendor key with its digest; any flipped byte of manifest or signature is UPDATE_SIGNATURE_INVALID', () => {
    const opened = openSignedManifest(signed, [other.publicKey, vendor.publicKey]);
    expect(opened.manifest).toEqual(MANIFEST);
    expect(opened.packageDigest).toMatch(/^[0-9A-F]{64}$/);
    const bytes = fromHex(signed.manifest);
    for (let i = 0; i < bytes.length; i += 17) {
      const tampered = bytes.slice();
      tampered[i] ^= 0x01;
      expect(codeOf(() => openSignedManifest({ ...signed, manifest: toHex(tampered) }, [vendor.publicKey]))).toBe('UPDATE_SIGNATURE_INVALID');
    }
    const signature = fromHex(signed.signature);
    signature[10] ^= 0x40;
    expect(codeOf(() => openSignedManifest({ ...signed, signature: toHex(signature) }, [vendor.publicKey]))).toBe('UPDATE_SIGNATURE_INVALID');
  });

  it('B4: a key the terminal does not hold, or a signature moved to it, is UPDATE_SIGNATURE_INVALID', () => {
    expect(codeOf(() => openSignedManifest(signed, [other.publicKey]))).toBe('UPDATE_SIGNATURE_INVALID');
    expect(codeOf(() => openSignedManifest({ ...signed, keyId: vendorKeyId(other.publicKey) }, [vendor.publicKey, other.publicKey]))).toBe('UPDATE_SIGNATURE_INVALID');
  });

  it('B4: signed but malformed (unknown field, wrong types, not JSON) is PROTOCOL_MALFORMED; an oversized one is refused before anything', () => {
    expect(codeOf(() => openSignedManifest(signBytes(utf8ToBytes(JSON.stringify({ ...MANIFEST, extra: 1 }))), [vendor.publicKey]))).toBe('PROTOCOL_MALFORMED');
    expect(codeOf(() => openSignedManifest(signBytes(utf8ToBytes(JSON.stringify({ ...MANIFEST, size: -1 }))), [vendor.publicKey]))).toBe('PROTOCOL_MALFORMED');
    expect(codeOf(() => openSignedManifest(signBytes(utf8ToBytes('{"v":1,')), [vendor.publicKey]))).toBe('PROTOCOL_MALFORMED');
    expect(codeOf(() => openSignedManifest(signBytes(utf8ToBytes(JSON.stringify({ ...MANIFEST, v: 2 }))), [vendor.publicKey]))).toBe('PROTOCOL_UNSUPPORTED_VERSION');
    expect(codeOf(() => openSignedManifest({ ...signed, manifest: '7B'.repeat(1025) }, [vendor.publicKey]))).toBe('PROTOCOL_MALFORMED');
  });

  it('B4: each check against the terminal has its own code', () => {
    expect(codeOf(() => checkManifestFor(MANIFEST, INSTALLED, NOW))).toBe('none');
    expect(codeOf(() => checkManifestFor(MANIFEST, { ...INSTALLED, model: 'PP-OTHER' }, NOW))).toBe('UPDATE_MODEL_MISMATCH');
    expect(codeOf(() => checkManifestFor(MANIFEST, { ...INSTALLED, version: '1.2.0' }, NOW))).toBe('UPDATE_DOWNGRADE');
    expect(codeOf(() => checkManifestFor({ ...MANIFEST, minimumVersion: '1.1.1' }, INSTALLED, NOW))).toBe('UPDATE_DOWNGRADE');
    expect(codeOf(() => checkManifestFor(MANIFEST, { ...INSTALLED, securityCounter: 3 }, NOW))).toBe('UPDATE_SECURITY_COUNTER');
    expect(codeOf(() => checkManifestFor(MANIFEST, { ...INSTALLED, metadataVersion: 8 }, NOW))).toBe('UPDATE_METADATA_ROLLBACK');
    expect(codeOf(() => checkManifestFor(MANIFEST, INSTALLED, Date.UTC(2030, 0, 1)))).toBe('UPDATE_METADATA_EXPIRED');
  });
});

describe('B3 context and B4 chunks', () => {
  const fields = { serial: 'PP-0001', sessionId: 'ab'.repeat(16), packageDigest: 'cd'.repeat(32) };

  it('B3: the context binds serial, session and package; T-DATA is 16 bytes', () => {
    const context = updateContext(fields);
    expect(new TextDecoder().decode(context)).toBe(`PAYPAD-UPDATE-CONTEXT-1\nPP-0001\n${'AB'.repeat(16)}\n${'CD'.repeat(32)}`);
    for (const change of [{ serial: 'PP-0002' }, { sessionId: 'ac'.repeat(16) }, { packageDigest: 'ce'.repeat(32) }]) {
      expect(toHex(updateContext({ ...fields, ...change }))).not.toBe(toHex(context));
    }
    expect(codeOf(() => updateContext({ ...fields, sessionId: 'ab' }))).toBe('PROTOCOL_MALFORMED');
    expect(codeOf(() => updateContext({ ...fields, serial: 'pp 1' }))).toBe('PROTOCOL_MALFORMED');
    expect(codeOf(() => tacInput(new Uint8Array(15), context))).toBe('BAD_ARGUMENT');
  });

  it('B4: a key per session and offset; the MAC input binds length and size', () => {
    const a = chunkKeyParams(fields.sessionId, 0);
    const b = chunkKeyParams(fields.sessionId, 4096);
    expect(toHex(a.context)).not.toBe(toHex(b.context));
    expect(toHex(chunkKeyParams('ac'.repeat(16), 0).context)).not.toBe(toHex(a.context));
    const range = { sessionId: fields.sessionId, offset: 4096, length: 3, size: 5000 };
    expect(new TextDecoder().decode(chunkMacInput(range, new Uint8Array([0x41, 0x42, 0x43])))).toBe(`PAYPAD-UPDATE-CHUNK-1\n${'AB'.repeat(16)}\n4096\n3\n5000\nABC`);
    expect(codeOf(() => chunkMacInput(range, new Uint8Array(2)))).toBe('BAD_ARGUMENT');
    expect(codeOf(() => rangeHeader({ ...range, length: 1000 }))).toBe('BAD_ARGUMENT');
  });

  it('B4: only a 206 with exactly the range asked for and its length passes', () => {
    const range = { sessionId: fields.sessionId, offset: 1024, length: 512, size: 3000 };
    expect(rangeHeader(range)).toBe('bytes=1024-1535');
    const headers = { 'content-range': contentRangeHeader(range) };
    expect(headers['content-range']).toBe('bytes 1024-1535/3000');
    expect(codeOf(() => assertExactRange(range, 206, headers, 512))).toBe('none');
    expect(codeOf(() => assertExactRange(range, 200, headers, 512))).toBe('UPDATE_RANGE_MISMATCH');
    expect(codeOf(() => assertExactRange(range, 206, { 'content-range': 'bytes 0-511/3000' }, 512))).toBe('UPDATE_RANGE_MISMATCH');
    expect(codeOf(() => assertExactRange(range, 206, { 'content-range': 'bytes 1024-1535/3001' }, 512))).toBe('UPDATE_RANGE_MISMATCH');
    expect(codeOf(() => assertExactRange(range, 206, {}, 512))).toBe('UPDATE_RANGE_MISMATCH');
    expect(codeOf(() => assertExactRange(range, 206, headers, 511))).toBe('UPDATE_RANGE_MISMATCH');
  });
});

describe('messages and codes', () => {
  it('X2: an unknown field, a newer version, an oversized list or a code out of range is refused with a typed error', () => {
    const query = { v: 1, model: 'PP-ESP32', installed: [{ name: 'paypad-firmware', version: '1.0.0' }], trigger: 'schedule' };
    expect(validateUpdateMessage('updateQuery', query)).toEqual(query);
    expect(codeOf(() => validateUpdateMessage('updateQuery', { ...query, extra: true }))).toBe('PROTOCOL_MALFORMED');
    expect(codeOf(() => validateUpdateMessage('updateQuery', { ...query, v: 2 }))).toBe('PROTOCOL_UNSUPPORTED_VERSION');
    expect(codeOf(() => validateUpdateMessage('updateQuery', { ...query, installed: Array(9).fill(query.installed[0]) }))).toBe('PROTOCOL_MALFORMED');
    expect(codeOf(() => validateUpdateMessage('updateQuery', { ...query, trigger: 'cron' }))).toBe('PROTOCOL_MALFORMED');
    const status = { v: 1, deployment: 'D1', packageDigest: 'CD'.repeat(32), stage: 'download', status: 'failed', code: 201, version: '1.0.0' };
    expect(validateUpdateMessage('updateStatus', status)).toEqual(status);
    expect(codeOf(() => validateUpdateMessage('updateStatus', { ...status, code: 1000 }))).toBe('PROTOCOL_MALFORMED');
    expect(codeOf(() => validateUpdateMessage('updateAuthChallenge', { v: 1, sessionId: 'AB'.repeat(16), dwk: 'D0000M6AC00N0000', tac: '00'.repeat(16), sData: '00'.repeat(16), chunkBytes: 9000 }))).toBe('PROTOCOL_MALFORMED');
  });

  it('B4: every refusal of the terminal has its number; an unknown error is 999', () => {
    expect(updateFailureCode('UPDATE_AUTH_FAILED')).toBe(101);
    expect(updateFailureCode('UPDATE_CHUNK_INVALID')).toBe(201);
    expect(updateFailureCode('UPDATE_RANGE_MISMATCH')).toBe(202);
    expect(updateFailureCode('UPDATE_SIGNATURE_INVALID')).toBe(302);
    expect(updateFailureCode('UPDATE_NOT_CONFIRMED')).toBe(402);
    expect(updateFailureCode('SOMETHING_NEW')).toBe(UPDATE_CODE_OTHER);
  });
});
