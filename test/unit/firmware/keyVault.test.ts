import { describe, expect, it } from 'vitest';
import { asciiToBytes, bytesToAscii, toHex, utf8ToBytes } from '../../../shared/bytes';
import { aesCmac } from '../../../shared/crypto/cmac';
import { keyCheckValue } from '../../../shared/crypto/kcv';
import { deriveKeyCounterCmac } from '../../../shared/crypto/kdf';
import { decodeKeyEnvelope, generateP256KeyPair, unwrapKeyAsRecipient } from '../../../shared/crypto/keyTransport';
import { decipherPinBlockIso4 } from '../../../shared/crypto/pinblock';
import { decipherCardData } from '../../../shared/crypto/cardData';
import { parseKeyBlockHeader } from '../../../shared/crypto/tr31Header';
import { PaypadError, isPaypadError } from '../../../shared/errors';
import { parseRequest, signRequest, tkMacKdfParams, verifyRequest } from '../../../shared/protocol/macEnvelope';
import { KEY_SLOT_NAMES, VAULT_NAMESPACE } from '../../../firmware/core/keySlots';
import { KeyVault } from '../../../firmware/core/keyVault';
import { tkTransportContext } from '../../../shared/protocol/tkTransport';
import { STORAGE_NAME_MAX } from '../../../firmware/hal/storage';
import { SERIAL, SoftwareBackOffice, loadedVault, makeVault } from '../../support/keyVaultFixture';

function expectCode(fn: () => unknown, code: string): void {
  let thrown: unknown;
  try {
    fn();
  } catch (e) {
    thrown = e;
  }
  expect(isPaypadError(thrown), `expected PaypadError ${code}, got ${String(thrown)}`).toBe(true);
  expect((thrown as { code: string }).code).toBe(code);
}

const PAN = '4111111111111111';

describe('key vault: transport key (A1, A10)', () => {
  it('A1: makes TK on the device into an empty vault, K1 / A / B, exportable, with a 5-byte CMAC KCV', () => {
    const { vault, storage } = makeVault();
    expect(vault.slotInfo('TK')).toBeNull();
    const info = vault.generateTransportKey();
    expect(info).toMatchObject({ slot: 'TK', keyUsage: 'K1', algorithm: 'A', modeOfUse: 'B', keyVersionNumber: '00', exportability: 'E' });
    expect(info.kcv).toHaveLength(5);
    expect(vault.slotInfo('TK')).toEqual(info);
    // At rest: one TR-31 version D block under the device root key, storage context, bound to its slot.
    const record = bytesToAscii(storage.get(VAULT_NAMESPACE, 'TK') as Uint8Array);
    const { header } = parseKeyBlockHeader(record);
    expect(header).toMatchObject({ versionId: 'D', keyUsage: 'K1', modeOfUse: 'B', exportability: 'E', keyContext: '1' });
    expect(header.optionalBlocks[0]).toEqual({ id: '01', data: 'TK' });
  });

  it('A1: refuses to make a second TK and keeps the first (VAULT_SLOT_OCCUPIED)', () => {
    const { vault } = makeVault();
    const first = vault.generateTransportKey();
    expectCode(() => vault.generateTransportKey(), 'VAULT_SLOT_OCCUPIED');
    expect(vault.slotInfo('TK')?.kcv).toEqual(first.kcv);
  });

  it('A1: a failing Rng stores nothing (RNG_FAILED from the HAL, BAD_LENGTH for a short answer)', () => {
    const { storage } = makeVault();
    const failing = (): Uint8Array => {
      throw new PaypadError('RNG_FAILED', 'simulated hardware RNG failure');
    };
    for (const [rng, code] of [[failing, 'RNG_FAILED'], [(n: number) => new Uint8Array(n - 1), 'BAD_LENGTH']] as const) {
      const vault = new KeyVault({ storage, rng, rootKey: new Uint8Array(16), serial: SERIAL });
      expectCode(() => vault.generateTransportKey(), code);
      expect(storage.keys(VAULT_NAMESPACE)).toEqual([]);
    }
  });

  it('A10: the TK leaves only as an envelope that MTMS opens with its private key and this serial', () => {
    const { vault } = makeVault();
    const tkInfo = vault.generateTransportKey();
    const office = new SoftwareBackOffice();
    const envelope = vault.exportTransportKey(office.mtms.publicKey);
    const tk = office.receiveTransportKey(envelope);
    expect(keyCheckValue(tk, 'cmac')).toEqual(tkInfo.kcv);
    expect(toHex(envelope)).not.toContain(toHex(tk));
    // Each export uses a fresh ephemeral key.
    expect(vault.exportTransportKey(office.mtms.publicKey)).not.toEqual(envelope);
    // The context binds the envelope to this serial; another recipient cannot open it either.
    expectCode(() => office.receiveTransportKey(envelope, 'PP-0001-0043'), 'KEY_UNWRAP_FAILED');
    const stranger = generateP256KeyPair(office.rng);
    expectCode(() => unwrapKeyAsRecipient(stranger.privateKey, decodeKeyEnvelope(envelope), tkTransportContext(SERIAL)), 'KEY_UNWRAP_FAILED');
  });

  it('A10: exporting needs a TK and a valid P-256 public key', () => {
    const { vault } = makeVault();
    const office = new SoftwareBackOffice();
    expectCode(() => vault.exportTransportKey(office.mtms.publicKey), 'VAULT_SLOT_EMPTY');
    vault.generateTransportKey();
    expectCode(() => vault.exportTransportKey(new Uint8Array(65)), 'PUBLIC_KEY_INVALID');
  });
});

describe('key vault: master and working keys (A11, A12)', () => {
  it('A11: imports TMK under TK after its KCV matches, keeping the KMS attributes', () => {
    const { vault } = makeVault();
    const office = new SoftwareBackOffice();
    vault.generateTransportKey();
    office.receiveTransportKey(vault.exportTransportKey(office.mtms.publicKey));
    const { block, kcv } = office.issueTerminalMasterKey();
    const info = vault.importTerminalMasterKey(block, kcv);
    expect(info).toEqual({ slot: 'TMK', keyUsage: 'K1', algorithm: 'A', modeOfUse: 'B', keyVersionNumber: '01', exportability: 'N', kcv });
    expect(vault.slotInfo('TMK')).toEqual(info);
  });

  it('A12: imports PIK, MAK, TDK and DMK under TMK, each with its usage and KCV', () => {
    const { vault, office } = loadedVault();
    const expected = { PIK: ['P0', 'E'], MAK: ['M6', 'C'], TDK: ['D0', 'B'], DMK: ['K0', 'B'] } as const;
    for (const [name, [usage, mode]] of Object.entries(expected)) {
      const info = vault.slotInfo(name as keyof typeof expected);
      expect(info).toMatchObject({ slot: name, keyUsage: usage, modeOfUse: mode, algorithm: 'A' });
      expect(info?.kcv).toEqual(keyCheckValue(office.workingKeys.get(name as keyof typeof expected) as Uint8Array, 'cmac'));
    }
  });

  it('A12: a later sign-on may replace some working keys and leaves the others', () => {
    const { vault, office } = loadedVault();
    const tdkBefore = vault.slotInfo('TDK');
    const [mak] = office.signOn(['MAK']);
    vault.importWorkingKeys([mak]);
    expect(vault.slotInfo('MAK')?.kcv).toEqual(mak.kcv);
    expect(vault.slotInfo('TDK')).toEqual(tdkBefore);
  });

  it('A12: enciphers a PIN under PIK as an ISO 9564 format 4 block the KMS deciphers', () => {
    const { vault, office } = loadedVault();
    const block = vault.encipherPin('1234', PAN);
    expect(block).toHaveLength(16);
    expect(decipherPinBlockIso4(office.workingKeys.get('PIK') as Uint8Array, block, PAN)).toBe('1234');
    expect(vault.encipherPin('1234', PAN)).not.toEqual(block);
    expectCode(() => vault.encipherPin('12', PAN), 'PIN_INVALID');
  });

  it('C6: enciphers track 2 under TDK (IV || AES-CBC) for POSP to decipher; a new IV each time', () => {
    const { vault, office } = loadedVault();
    const track = utf8ToBytes(`${PAN}=30121011234`);
    const card = vault.encipherCardData(track);
    expect(toHex(decipherCardData(office.workingKeys.get('TDK') as Uint8Array, card))).toBe(toHex(track));
    expect(toHex(vault.encipherCardData(track))).not.toBe(toHex(card));
    expectCode(() => vault.encipherCardData(new Uint8Array(0)), 'CARD_DATA_INVALID');
    expectCode(() => vault.encipherCardData('track' as unknown as Uint8Array), 'BAD_ARGUMENT');
  });

  it('X2: MACs under MAK are AES-CMAC the KMS reproduces; a changed byte fails verification', () => {
    const { vault, office } = loadedVault();
    const data = utf8ToBytes('PAYPAD-MAC-1\nPOST\n/kms/v1/tx\n');
    const mac = vault.mac('MAK', data);
    expect(mac).toEqual(aesCmac(office.workingKeys.get('MAK') as Uint8Array, data));
    vault.verifyMac('MAK', data, mac);
    vault.verifyMac('MAK', data, mac.slice(0, 8)); // SP 800-38B §5.3 truncation
    const tampered = data.slice();
    tampered[3] ^= 1;
    expectCode(() => vault.verifyMac('MAK', tampered, mac), 'MAC_MISMATCH');
    expectCode(() => vault.verifyMac('MAK', data, mac.slice(0, 4)), 'BAD_LENGTH');
  });

  it('X2: before sign-on, MACs are under K_tkmac = KDF(TK, "paypad TK MAC", serial) and verify at the KMS', async () => {
    const { vault } = makeVault();
    const office = new SoftwareBackOffice();
    vault.generateTransportKey();
    const tk = office.receiveTransportKey(vault.exportTransportKey(office.mtms.publicKey));
    const kTkMac = deriveKeyCounterCmac(tk, tkMacKdfParams(SERIAL));
    const data = asciiToBytes('hello');
    expect(vault.mac('TK', data)).toEqual(aesCmac(kTkMac, data));
    expect(vault.mac('TK', data)).not.toEqual(aesCmac(tk, data));

    const body = asciiToBytes('{"v":1}');
    const fields = { method: 'POST', path: '/kms/v1/tmk', serial: SERIAL, seq: 7, keyId: 'TK' as const };
    const headers = await signRequest(fields, body, (d) => vault.mac('TK', d));
    const received = parseRequest('POST', '/kms/v1/tmk', headers, body);
    await verifyRequest(received, (d) => aesCmac(kTkMac, d), 6);
  });
});

describe('key vault: zeroize and repair (A13)', () => {
  it('zeroize erases every slot; every operation then finds its slot empty', () => {
    const { vault, storage } = loadedVault();
    expect(storage.keys(VAULT_NAMESPACE).sort()).toEqual([...KEY_SLOT_NAMES].sort());
    vault.zeroize();
    expect(storage.keys(VAULT_NAMESPACE)).toEqual([]);
    for (const slot of KEY_SLOT_NAMES) expect(vault.slotInfo(slot)).toBeNull();
    expectCode(() => vault.encipherPin('1234', PAN), 'VAULT_SLOT_EMPTY');
    expectCode(() => vault.encipherCardData(new Uint8Array(1)), 'VAULT_SLOT_EMPTY');
    expectCode(() => vault.mac('MAK', new Uint8Array(1)), 'VAULT_SLOT_EMPTY');
    expectCode(() => vault.mac('TK', new Uint8Array(1)), 'VAULT_SLOT_EMPTY');
  });

  it('A13: repair makes a new TK (different KCV) in an otherwise empty vault; blocks under the old TK no longer load', () => {
    const { vault, office, storage } = loadedVault();
    const oldTk = vault.slotInfo('TK');
    const oldTmk = office.issueTerminalMasterKey();
    const newTk = vault.repair();
    expect(newTk.kcv).not.toEqual(oldTk?.kcv);
    expect(storage.keys(VAULT_NAMESPACE)).toEqual(['TK']);
    expectCode(() => vault.importTerminalMasterKey(oldTmk.block, oldTmk.kcv), 'TR31_MAC_MISMATCH');
    // The flow runs again with the new TK.
    office.receiveTransportKey(vault.exportTransportKey(office.mtms.publicKey));
    expect(keyCheckValue(office.tk as Uint8Array, 'cmac')).toEqual(newTk.kcv);
    const tmk = office.issueTerminalMasterKey();
    expect(vault.importTerminalMasterKey(tmk.block, tmk.kcv).kcv).toEqual(tmk.kcv);
  });
});

describe('key vault: nothing secret leaves (X1)', () => {
  it('X1: the vault object has no own properties and serializes to {}', () => {
    const { vault } = loadedVault();
    expect(Reflect.ownKeys(vault)).toEqual([]);
    expect(JSON.stringify(vault)).toBe('{}');
    expect(Object.getOwnPropertyNames(KeyVault.prototype).sort()).toEqual(
      ['constructor', 'slotInfo', 'generateTransportKey', 'exportTransportKey', 'importTerminalMasterKey', 'importWorkingKeys', 'mac', 'verifyMac', 'openDownloadKey', 'encipherPin', 'encipherCardData', 'zeroize', 'repair'].sort(),
    );
  });

  it('X1: no return value, error message or stored byte holds a key in clear', () => {
    const { vault, office, storage } = loadedVault();
    const outputs: unknown[] = [];
    for (const slot of KEY_SLOT_NAMES) outputs.push(vault.slotInfo(slot));
    outputs.push(vault.exportTransportKey(office.mtms.publicKey));
    outputs.push(vault.mac('TK', new Uint8Array(16)), vault.mac('MAK', new Uint8Array(16)), vault.encipherPin('1234', PAN), vault.encipherCardData(new Uint8Array(16)));
    for (const bad of [() => vault.verifyMac('MAK', new Uint8Array(16), new Uint8Array(16)), () => vault.importWorkingKeys(office.signOn(['PIK']).map((d) => ({ ...d, kcv: new Uint8Array(5) })))]) {
      try {
        bad();
      } catch (e) {
        outputs.push((e as Error).message);
      }
    }
    const text = outputs.map((o) => (o instanceof Uint8Array ? toHex(o) : JSON.stringify(o, (_, v) => (v instanceof Uint8Array ? toHex(v) : v)))).join('|');
    const stored = storage.allValues();
    const keys = [office.tk, office.tmk, ...office.workingKeys.values()] as Uint8Array[];
    expect(keys).toHaveLength(6);
    for (const key of keys) {
      const hex = toHex(key);
      expect(text).not.toContain(hex);
      for (const value of stored) {
        expect(bytesToAscii(value).toUpperCase()).not.toContain(hex);
        expect(toHex(value)).not.toContain(hex);
      }
    }
  });

  it('X3: storage names fit ESP32 NVS (at most 15 characters)', () => {
    const { storage } = loadedVault();
    expect(VAULT_NAMESPACE.length).toBeLessThanOrEqual(STORAGE_NAME_MAX);
    for (const name of storage.keys(VAULT_NAMESPACE)) expect(name.length).toBeLessThanOrEqual(STORAGE_NAME_MAX);
  });
});
