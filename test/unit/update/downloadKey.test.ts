/**
 * B3, X1: the vault opens DWK from its TR-31 block under DMK and lends it only as a DownloadKey,
 * which computes and verifies CMACs and never gives the key out; a block under another key, or one
 * that says something other than a CMAC key, does not open.
 */
import { describe, expect, it } from 'vitest';
import { toHex } from '../../../shared/bytes';
import { aesCmac } from '../../../shared/crypto/cmac';
import { deriveKeyCounterCmac } from '../../../shared/crypto/kdf';
import { chunkKeyParams } from '../../../shared/protocol/updateChunks';
import { SoftwareBackOffice, makeVault } from '../../support/keyVaultFixture';

function signedOnVault() {
  const { vault } = makeVault('download key');
  const office = new SoftwareBackOffice('download key office');
  vault.generateTransportKey();
  office.receiveTransportKey(vault.exportTransportKey(office.mtms.publicKey));
  const tmk = office.issueTerminalMasterKey();
  vault.importTerminalMasterKey(tmk.block, tmk.kcv);
  vault.importWorkingKeys(office.signOn());
  return { vault, office, dmk: office.workingKeys.get('DMK') as Uint8Array };
}

function codeOf(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    return (e as { code: string }).code;
  }
  return 'none';
}

const CMAC_KEY = { keyUsage: 'M6', algorithm: 'A', modeOfUse: 'C', exportability: 'N' } as const;

describe('the download work key (B3, X1)', () => {
  it('B3: DWK from its block under DMK: its CMACs and chunk MACs are the TMS\'s; nothing of the key can be read', () => {
    const { vault, office, dmk } = signedOnVault();
    const dwk = office.rng(16);
    const key = vault.openDownloadKey(office.wrap(dmk, CMAC_KEY, dwk));
    const data = new Uint8Array(40).fill(7);
    expect(toHex(key.mac(data))).toBe(toHex(aesCmac(dwk, data)));
    expect(codeOf(() => key.verifyMac(data, aesCmac(dwk, data)))).toBe('none');
    expect(codeOf(() => key.verifyMac(data, new Uint8Array(16)))).toBe('MAC_MISMATCH');
    const params = chunkKeyParams('00'.repeat(16), 512);
    expect(codeOf(() => key.verifyDerivedMac(params, data, aesCmac(deriveKeyCounterCmac(dwk, params), data)))).toBe('none');
    expect(codeOf(() => key.verifyDerivedMac(chunkKeyParams('00'.repeat(16), 1024), data, aesCmac(deriveKeyCounterCmac(dwk, params), data)))).toBe('MAC_MISMATCH');
    expect(Reflect.ownKeys(key)).toEqual([]);
    expect(JSON.stringify(key)).toBe('{}');
    key.wipe();
    expect(codeOf(() => key.mac(data))).toBe('UPDATE_STATE');
  });

  it('B3: a block under another key, or not a CMAC key, does not open', () => {
    const { vault, office, dmk } = signedOnVault();
    expect(codeOf(() => vault.openDownloadKey(office.wrap(office.rng(16), CMAC_KEY, office.rng(16))))).toBe('TR31_MAC_MISMATCH');
    expect(codeOf(() => vault.openDownloadKey(office.wrap(dmk, { ...CMAC_KEY, keyUsage: 'D0', modeOfUse: 'B' }, office.rng(16))))).toBe('TR31_USAGE_NOT_ALLOWED');
  });
});
