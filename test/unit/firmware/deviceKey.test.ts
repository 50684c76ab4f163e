/**
 * A8: the PIN pad's identity key (firmware/core/deviceKey.ts) and the local-link requests that
 * use it (firmware/core/terminal.ts): made in the device, kept as a TR-31 record S0 / E / S / N
 * under the device root key, never exported, used only to sign, kept through a repair.
 * Signatures are checked with OpenSSL's verifier (node:crypto), not with code under test.
 */
import { createPublicKey, verify } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { bytesToAscii, fromHex, toHex } from '../../../shared/bytes';
import { p256PublicKey } from '../../../shared/crypto/primitives';
import { wrapKeyBlock, deriveKeyBlockKeys } from '../../../shared/crypto/tr31';
import { parseKeyBlockHeader } from '../../../shared/crypto/tr31Header';
import { enrolmentSignedBytes, tkIntakeSignedBytes } from '../../../shared/protocol/deviceIdentity';
import { LINK_VERSION, type LinkRequest } from '../../../shared/protocol/localLink';
import { DEVICE_KEY_POLICY, DEVICE_KEY_SLOT, DEVICE_NAMESPACE, DeviceKey } from '../../../firmware/core/deviceKey';
import { VAULT_NAMESPACE } from '../../../firmware/core/keySlots';
import { openSlotRecord, SLOT_BINDING_BLOCK_ID, STORAGE_KEY_CONTEXT } from '../../../firmware/core/slotRecord';
import { makeVault, ROOT_KEY } from '../../support/keyVaultFixture';
import { MemoryStorage } from '../../support/memoryStorage';
import { seededRng } from '../../support/opsRng';
import { makeMtmsKey, manufacture, openTkEnvelope, tempDirs } from '../terminal/support';

const rng = seededRng(new TextEncoder().encode('device key'));
const nonce = Uint8Array.from({ length: 32 }, (_, i) => i + 1);

/** An uncompressed P-256 point as a node KeyObject (SPKI DER: the fixed prefix, then the point). */
function publicKeyObject(point: Uint8Array) {
  const spki = Buffer.concat([Buffer.from('3059301306072a8648ce3d020106082a8648ce3d030107034200', 'hex'), point]);
  return createPublicKey({ key: spki, format: 'der', type: 'spki' });
}
const verifies = (publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array) =>
  verify('sha256', message, { key: publicKeyObject(publicKey), dsaEncoding: 'ieee-p1363' }, signature);

/** DER-shaped bytes that carry `publicKey`, as a certificate for it does. */
const certificateFor = (publicKey: Uint8Array) => Uint8Array.from([0x30, 0x81, publicKey.length + 8, 0xa0, 0x03, 0x02, 0x01, 0x02, ...publicKey, 0x05, 0x00, 0x05, 0x00]);

describe('A8 device identity key (firmware/core/deviceKey)', () => {
  it('A8: made once on the device, kept at rest as a TR-31 version D record under the root key: S0, E, S, N, storage context, bound to slot ID', () => {
    const storage = new MemoryStorage();
    const device = new DeviceKey(storage, rng, ROOT_KEY);
    const publicKey = device.publicKey();
    expect(publicKey).toHaveLength(65);
    expect(toHex(device.publicKey())).toBe(toHex(publicKey));
    const record = storage.get(DEVICE_NAMESPACE, DEVICE_KEY_SLOT)!;
    const { header } = parseKeyBlockHeader(bytesToAscii(record));
    expect(header).toMatchObject({ versionId: 'D', keyUsage: 'S0', algorithm: 'E', modeOfUse: 'S', exportability: 'N', keyContext: STORAGE_KEY_CONTEXT });
    expect(header.optionalBlocks).toContainEqual({ id: SLOT_BINDING_BLOCK_ID, data: DEVICE_KEY_SLOT });
    // The record holds the private key of that public key, and nothing at rest holds it in clear.
    const { key } = openSlotRecord(deriveKeyBlockKeys(ROOT_KEY), DEVICE_KEY_SLOT, DEVICE_KEY_POLICY, record);
    expect(toHex(p256PublicKey(key))).toBe(toHex(publicKey));
    expect(toHex(record)).not.toContain(toHex(key));
  });

  it('A8: never exported: its only operations are the public key, sign, and the certificate; signatures are RFC 6979 deterministic and verify with OpenSSL', () => {
    expect(Object.getOwnPropertyNames(DeviceKey.prototype).sort()).toEqual(['certificate', 'constructor', 'publicKey', 'sign', 'storeCertificate']);
    const device = new DeviceKey(new MemoryStorage(), rng, ROOT_KEY);
    const publicKey = device.publicKey();
    const message = enrolmentSignedBytes('PP-0001', nonce, publicKey);
    const signature = device.sign(message);
    expect(signature).toHaveLength(64);
    expect(verifies(publicKey, message, signature)).toBe(true);
    expect(toHex(device.sign(message))).toBe(toHex(signature));
    expect(verifies(publicKey, enrolmentSignedBytes('PP-0002', nonce, publicKey), signature)).toBe(false);
  });

  it('A8: usage enforced when the record is opened: an AES key in the identity slot, the TK record moved there, or a tampered record fail with VAULT_RECORD_INVALID', () => {
    const { vault, storage } = makeVault('usage');
    vault.generateTransportKey();
    const device = new DeviceKey(storage, rng, ROOT_KEY);
    device.publicKey();
    const original = storage.get(DEVICE_NAMESPACE, DEVICE_KEY_SLOT)!;
    const aesUnderRootKey = wrapKeyBlock(ROOT_KEY, { keyUsage: 'K1', algorithm: 'A', modeOfUse: 'B', exportability: 'N', keyContext: '1', optionalBlocks: [{ id: '01', data: 'ID' }] }, new Uint8Array(16).fill(9), rng);
    const tampered = original.slice();
    tampered[tampered.length - 1] ^= 0x01;
    for (const record of [new TextEncoder().encode(aesUnderRootKey), storage.get(VAULT_NAMESPACE, 'TK')!, tampered]) {
      storage.set(DEVICE_NAMESPACE, DEVICE_KEY_SLOT, record);
      expect(() => device.sign(nonce)).toThrow(expect.objectContaining({ code: 'VAULT_RECORD_INVALID' }));
    }
    storage.set(DEVICE_NAMESPACE, DEVICE_KEY_SLOT, original);
    expect(device.sign(nonce)).toHaveLength(64);
  });

  it('A8 A13: zeroizing the vault (repair) keeps the identity key and certificate; signing before the key exists is VAULT_SLOT_EMPTY', () => {
    const { vault, storage } = makeVault('repair');
    const device = new DeviceKey(storage, rng, ROOT_KEY);
    expect(() => device.sign(nonce)).toThrow(expect.objectContaining({ code: 'VAULT_SLOT_EMPTY' }));
    const publicKey = device.publicKey();
    device.storeCertificate(certificateFor(publicKey));
    vault.generateTransportKey();
    vault.repair();
    expect(toHex(device.publicKey())).toBe(toHex(publicKey));
    expect(device.certificate()).toEqual(certificateFor(publicKey));
  });

  it('A8: a certificate that is not DER or not for this key is refused with DEVICE_CERT_INVALID and nothing is stored', () => {
    const device = new DeviceKey(new MemoryStorage(), rng, ROOT_KEY);
    const publicKey = device.publicKey();
    const other = new DeviceKey(new MemoryStorage(), seededRng(new TextEncoder().encode('other')), ROOT_KEY).publicKey();
    for (const bad of [certificateFor(other), Uint8Array.of(0x04, 0x00), new Uint8Array(4001).fill(0x30)]) {
      expect(() => device.storeCertificate(bad)).toThrow(expect.objectContaining({ code: 'DEVICE_CERT_INVALID' }));
    }
    expect(device.certificate()).toBeUndefined();
    device.storeCertificate(certificateFor(publicKey));
    expect(device.certificate()).toEqual(certificateFor(publicKey));
  });
});

describe('A8 local link: identity, certify, and the signed tk', () => {
  const dirs = tempDirs();
  afterAll(() => dirs.cleanup());
  const mtms = makeMtmsKey();
  const open = () => manufacture(dirs.make(), { mtms, kmsUrl: 'https://kms.example:8443', caDer: new Uint8Array([0x30, 0]) }).terminal;
  const ask = (terminal: ReturnType<typeof open>, request: Record<string, string>) =>
    terminal.handleLinkRequest({ v: LINK_VERSION, id: 1, ...request } as unknown as LinkRequest) as unknown as Promise<Record<string, string>>;

  it('A8: identity answers the serial and the public key, signed over the enrolment bytes of the nonce; certify stores the certificate; tk with a nonce is signed over serial, nonce and envelope and carries it', async () => {
    const terminal = open();
    const identity = await ask(terminal, { op: 'identity', nonce: toHex(nonce) });
    const publicKey = fromHex(identity.publicKey);
    expect(identity.serial).toBe(terminal.serial);
    expect(verifies(publicKey, enrolmentSignedBytes(terminal.serial, nonce, publicKey), fromHex(identity.signature))).toBe(true);

    expect(await ask(terminal, { op: 'certify', certificate: toHex(certificateFor(publicKey)) })).toMatchObject({ ok: true, serial: terminal.serial });
    const tk = await ask(terminal, { op: 'tk', nonce: toHex(nonce) });
    expect(tk.certificate).toBe(toHex(certificateFor(publicKey)));
    expect(verifies(publicKey, tkIntakeSignedBytes(terminal.serial, nonce, fromHex(tk.tkEnvelope)), fromHex(tk.signature))).toBe(true);
    expect(openTkEnvelope(mtms, tk.tkEnvelope, terminal.serial)).toHaveLength(16);
    // The same key answers after a repair: the device keeps its identity.
    await ask(terminal, { op: 'repair', serial: terminal.serial });
    expect((await ask(terminal, { op: 'identity', nonce: toHex(nonce) })).publicKey).toBe(identity.publicKey);
  });

  it('A8: a device without a certificate refuses a signed tk (DEVICE_CERT_INVALID) and makes no TK; an unsigned tk still answers the envelope alone', async () => {
    const terminal = open();
    await expect(ask(terminal, { op: 'tk', nonce: toHex(nonce) })).rejects.toMatchObject({ code: 'DEVICE_CERT_INVALID' });
    expect((await terminal.status()).stage).toBe('no-tk');
    const unsigned = await ask(terminal, { op: 'tk' });
    expect(Object.keys(unsigned).sort()).toEqual(['id', 'ok', 'serial', 'tkEnvelope', 'v']);
  });
});
