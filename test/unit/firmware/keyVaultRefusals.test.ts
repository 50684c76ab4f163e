import { describe, expect, it } from 'vitest';
import { asciiToBytes, bytesToAscii } from '../../../shared/bytes';
import { keyCheckValue } from '../../../shared/crypto/kcv';
import { PaypadError, isPaypadError } from '../../../shared/errors';
import type { MacKeyId } from '../../../shared/protocol/macEnvelope';
import { KEY_SLOT_NAMES, VAULT_NAMESPACE, type KeySlotName } from '../../../firmware/core/keySlots';
import { KeyVault, type WorkingKeyDelivery } from '../../../firmware/core/keyVault';
import { KMS_HEADERS, ROOT_KEY, SERIAL, SoftwareBackOffice, loadedVault, makeVault } from '../../support/keyVaultFixture';

function expectCode(fn: () => unknown, code: string, what = ''): void {
  let thrown: unknown;
  try {
    fn();
  } catch (e) {
    thrown = e;
  }
  expect(isPaypadError(thrown), `${what}: expected PaypadError ${code}, got ${String(thrown)}`).toBe(true);
  expect((thrown as { code: string }).code, what).toBe(code);
}

function storageFailure(): PaypadError {
  return new PaypadError('STORAGE_FAILED', 'simulated flash failure');
}

const PAN = '4111111111111111';

function snapshot(vault: KeyVault): Record<string, string | null> {
  const out: Record<string, string | null> = {};
  for (const slot of KEY_SLOT_NAMES) {
    const info = vault.slotInfo(slot);
    out[slot] = info ? `${info.keyUsage}${info.modeOfUse}:${Array.from(info.kcv).join('.')}` : null;
  }
  return out;
}

describe('key vault: deliveries it refuses (A11, A12)', () => {
  it('A11: a TMK whose KCV does not match is refused (KCV_MISMATCH) and nothing is stored', () => {
    const { vault } = makeVault();
    const office = new SoftwareBackOffice();
    vault.generateTransportKey();
    office.receiveTransportKey(vault.exportTransportKey(office.mtms.publicKey));
    const { block, kcv } = office.issueTerminalMasterKey();
    const wrong = kcv.slice();
    wrong[4] ^= 0x01;
    expectCode(() => vault.importTerminalMasterKey(block, wrong), 'KCV_MISMATCH');
    expect(vault.slotInfo('TMK')).toBeNull();
    expectCode(() => vault.importTerminalMasterKey(block, kcv.slice(0, 3)), 'BAD_LENGTH');
    expect(vault.slotInfo('TMK')).toBeNull();
  });

  it('A11: a TMK block needs a TK, the right KBPK and usage K1 / mode B', () => {
    const { vault } = makeVault();
    const office = new SoftwareBackOffice();
    office.tk = new Uint8Array(16).fill(7);
    const orphan = office.issueTerminalMasterKey();
    expectCode(() => vault.importTerminalMasterKey(orphan.block, orphan.kcv), 'VAULT_SLOT_EMPTY');
    vault.generateTransportKey();
    expectCode(() => vault.importTerminalMasterKey(orphan.block, orphan.kcv), 'TR31_MAC_MISMATCH'); // under another TK
    office.receiveTransportKey(vault.exportTransportKey(office.mtms.publicKey));
    const tmk = office.rng(16);
    const kcv = keyCheckValue(tmk, 'cmac');
    for (const header of [
      { ...KMS_HEADERS.TMK, keyUsage: 'K0' }, // a plain KEK is not a TR-31 KBPK
      { ...KMS_HEADERS.TMK, modeOfUse: 'E' },
      { ...KMS_HEADERS.TMK, algorithm: 'T' },
    ]) {
      expectCode(() => vault.importTerminalMasterKey(office.wrap(office.tk as Uint8Array, header, tmk), kcv), 'TR31_USAGE_NOT_ALLOWED');
    }
    // X9.143 key context 1 marks a storage-only block: it is not a delivery.
    const storageOnly = office.wrap(office.tk as Uint8Array, { ...KMS_HEADERS.TMK, keyContext: '1' }, tmk);
    expectCode(() => vault.importTerminalMasterKey(storageOnly, kcv), 'TR31_USAGE_NOT_ALLOWED');
    expect(vault.slotInfo('TMK')).toBeNull();
  });

  it('A12: keys are bound to their usage: a MAK block is not accepted as PIK, nor a PIK that can decrypt', () => {
    const { vault, office } = loadedVault();
    const before = snapshot(vault);
    const key = office.rng(16);
    const kcv = keyCheckValue(key, 'cmac');
    const tmk = office.tmk as Uint8Array;
    const cases: [WorkingKeyDelivery['name'], object][] = [
      ['PIK', KMS_HEADERS.MAK],
      ['PIK', { ...KMS_HEADERS.PIK, modeOfUse: 'B' }],
      ['PIK', { ...KMS_HEADERS.PIK, modeOfUse: 'D' }],
      ['MAK', KMS_HEADERS.PIK],
      ['MAK', { ...KMS_HEADERS.MAK, modeOfUse: 'G' }],
      ['TDK', KMS_HEADERS.DMK],
      ['DMK', KMS_HEADERS.TMK],
    ];
    for (const [name, header] of cases) {
      const block = office.wrap(tmk, header as typeof KMS_HEADERS.PIK, key);
      expectCode(() => vault.importWorkingKeys([{ name, block, kcv }]), 'TR31_USAGE_NOT_ALLOWED');
    }
    expect(snapshot(vault)).toEqual(before);
  });

  it('A12: one bad KCV among the four stores none of them, whichever position it is in', () => {
    const { vault, office } = loadedVault();
    const before = snapshot(vault);
    for (let bad = 0; bad < 4; bad++) {
      const deliveries = office.signOn().map((d, i) => (i === bad ? { ...d, kcv: keyCheckValue(office.rng(16), 'cmac') } : d));
      expectCode(() => vault.importWorkingKeys(deliveries), 'KCV_MISMATCH');
      expect(snapshot(vault)).toEqual(before);
    }
  });

  it('A12: working keys under the wrong key or without a TMK are refused and nothing is stored', () => {
    const { vault, office } = loadedVault();
    const before = snapshot(vault);
    const underTk = office.signOn().map((d) => ({ ...d, block: office.wrap(office.tk as Uint8Array, KMS_HEADERS[d.name], office.workingKeys.get(d.name) as Uint8Array) }));
    expectCode(() => vault.importWorkingKeys(underTk), 'TR31_MAC_MISMATCH');
    const truncated = office.signOn().map((d, i) => (i === 2 ? { ...d, block: d.block.slice(0, -2) } : d));
    expectCode(() => vault.importWorkingKeys(truncated), 'TR31_MALFORMED');
    expect(snapshot(vault)).toEqual(before);

    const fresh = makeVault('fresh').vault;
    fresh.generateTransportKey();
    expectCode(() => fresh.importWorkingKeys(office.signOn()), 'VAULT_SLOT_EMPTY');
  });

  it('A12: the sign-on list must name each working key at most once', () => {
    const { vault, office } = loadedVault();
    const [pik, mak] = office.signOn(['PIK', 'MAK']);
    expectCode(() => vault.importWorkingKeys([]), 'BAD_ARGUMENT');
    expectCode(() => vault.importWorkingKeys([pik, pik]), 'BAD_ARGUMENT');
    expectCode(() => vault.importWorkingKeys([{ ...mak, name: 'TMK' as 'MAK' }]), 'BAD_ARGUMENT');
    expectCode(() => vault.importWorkingKeys([pik, mak, pik, mak, pik]), 'BAD_ARGUMENT');
  });

  it('A12: a storage failure part way through sign-on puts the previous key set back', () => {
    const { vault, office, storage } = loadedVault();
    const before = snapshot(vault);
    let writes = 0;
    storage.beforeWrite = (w) => {
      if (w.op === 'set' && ++writes === 3) throw storageFailure();
    };
    expectCode(() => vault.importWorkingKeys(office.signOn()), 'STORAGE_FAILED');
    storage.beforeWrite = undefined;
    expect(snapshot(vault)).toEqual(before);
  });

  it('A12: a first sign-on that fails part way leaves no working key behind', () => {
    const { vault, storage } = makeVault('first');
    const back = new SoftwareBackOffice('first office');
    vault.generateTransportKey();
    back.receiveTransportKey(vault.exportTransportKey(back.mtms.publicKey));
    const tmk = back.issueTerminalMasterKey();
    vault.importTerminalMasterKey(tmk.block, tmk.kcv);
    let writes = 0;
    storage.beforeWrite = (w) => {
      if (w.op === 'set' && ++writes === 4) throw storageFailure();
    };
    expectCode(() => vault.importWorkingKeys(back.signOn()), 'STORAGE_FAILED');
    storage.beforeWrite = undefined;
    expect(storage.keys(VAULT_NAMESPACE).sort()).toEqual(['TK', 'TMK']);
  });
});

describe('key vault: use is bound to usage (A12)', () => {
  it('A12: MAK cannot encrypt a PIN: its record moved into the PIK slot is refused', () => {
    const { vault, storage } = loadedVault();
    storage.set(VAULT_NAMESPACE, 'PIK', storage.get(VAULT_NAMESPACE, 'MAK') as Uint8Array);
    expectCode(() => vault.encipherPin('1234', PAN), 'VAULT_RECORD_INVALID');
  });

  it('A12: only TK (via K_tkmac) and MAK compute MACs; PIK, TDK, DMK and TMK cannot', () => {
    const { vault } = loadedVault();
    for (const slot of ['PIK', 'TDK', 'DMK', 'TMK']) {
      expectCode(() => vault.mac(slot as MacKeyId, new Uint8Array(8)), 'TR31_USAGE_NOT_ALLOWED');
      expectCode(() => vault.verifyMac(slot as MacKeyId, new Uint8Array(8), new Uint8Array(16)), 'TR31_USAGE_NOT_ALLOWED');
    }
    expectCode(() => vault.mac('KEY' as MacKeyId, new Uint8Array(8)), 'BAD_ARGUMENT');
    expectCode(() => vault.mac('MAK', 'text' as unknown as Uint8Array), 'BAD_ARGUMENT');
  });
});

describe('key vault: stored records fail closed', () => {
  function tamperings(record: string): [string, Uint8Array][] {
    const flip = (i: number): Uint8Array => {
      const chars = record.split('');
      chars[i] = chars[i] === 'A' ? 'B' : 'A';
      return asciiToBytes(chars.join(''));
    };
    return [
      ['usage in the header', flip(6)],
      ['exportability', flip(11)],
      ['slot binding', flip(20)],
      ['encrypted payload', flip(40)],
      ['MAC', flip(record.length - 1)],
      ['truncated', asciiToBytes(record.slice(0, -32))],
      ['not ASCII', new Uint8Array(record.length).fill(0xff)],
    ];
  }

  for (const slot of KEY_SLOT_NAMES) {
    it(`a tampered ${slot} record is refused with VAULT_RECORD_INVALID`, () => {
      const { vault, storage } = loadedVault();
      const record = bytesToAscii(storage.get(VAULT_NAMESPACE, slot) as Uint8Array);
      for (const [what, bytes] of tamperings(record)) {
        storage.set(VAULT_NAMESPACE, slot, bytes);
        expectCode(() => vault.slotInfo(slot), 'VAULT_RECORD_INVALID', what);
      }
    });
  }

  it('TK and TMK share usage K1 / B, but a TK record copied to TMK is refused by its slot binding', () => {
    const { vault, storage } = loadedVault();
    storage.set(VAULT_NAMESPACE, 'TMK', storage.get(VAULT_NAMESPACE, 'TK') as Uint8Array);
    expectCode(() => vault.slotInfo('TMK'), 'VAULT_RECORD_INVALID');
    expectCode(() => vault.importWorkingKeys([{ name: 'MAK', block: 'D0000M6AC00N0000', kcv: new Uint8Array(5) }]), 'VAULT_RECORD_INVALID');
  });

  it('records are bound to the device root key: another root key opens none', () => {
    const { storage } = loadedVault();
    const other = new KeyVault({ storage, rng: () => new Uint8Array(0), rootKey: ROOT_KEY.map((b) => b ^ 0x5a), serial: SERIAL });
    for (const slot of KEY_SLOT_NAMES) expectCode(() => other.slotInfo(slot as KeySlotName), 'VAULT_RECORD_INVALID');
  });

  it('generateTransportKey refuses a vault that still holds any record, even without TK', () => {
    const { vault, storage } = loadedVault();
    storage.delete(VAULT_NAMESPACE, 'TK');
    expectCode(() => vault.generateTransportKey(), 'VAULT_SLOT_OCCUPIED');
  });
});

describe('key vault: construction and arguments', () => {
  it('refuses a root key that is not AES, a malformed serial and an unknown slot', () => {
    const { storage, rng } = makeVault();
    expectCode(() => new KeyVault({ storage, rng, rootKey: new Uint8Array(15), serial: SERIAL }), 'KEY_LENGTH');
    expectCode(() => new KeyVault({ storage, rng, rootKey: ROOT_KEY, serial: 'pp 1' }), 'PROTOCOL_MALFORMED');
    expectCode(() => new KeyVault({ storage: null as never, rng, rootKey: ROOT_KEY, serial: SERIAL }), 'BAD_ARGUMENT');
    const vault = new KeyVault({ storage, rng, rootKey: ROOT_KEY, serial: SERIAL });
    expectCode(() => vault.slotInfo('KEK' as KeySlotName), 'BAD_ARGUMENT');
  });

  it('keeps its own copy of the root key: wiping the caller’s buffer changes nothing', () => {
    const { storage, rng } = makeVault();
    const rootKey = ROOT_KEY.slice();
    const vault = new KeyVault({ storage, rng, rootKey, serial: SERIAL });
    const info = vault.generateTransportKey();
    rootKey.fill(0);
    expect(vault.slotInfo('TK')).toEqual(info);
  });

  it('zeroize keeps deleting past a failing delete and then reports it', () => {
    const { vault, storage } = loadedVault();
    storage.beforeWrite = (w) => {
      if (w.key === 'TMK') throw storageFailure();
    };
    expectCode(() => vault.zeroize(), 'STORAGE_FAILED');
    storage.beforeWrite = undefined;
    expect(storage.keys(VAULT_NAMESPACE)).toEqual(['TMK']);
  });
});
