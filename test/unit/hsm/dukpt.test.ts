/**
 * AES DUKPT in the HSM (E4, X1): the gateway derives a card reader's transaction key from the BDK
 * it holds like every other key (TR-31 usage B0, mode X), and gets a handle, never the key. Checked
 * against the standard's supplementary vectors (test/vectors/dukpt.json) on every HSM backend.
 */
import { readFileSync } from 'node:fs';
import { beforeAll, expect, it } from 'vitest';
import { asciiToBytes, bytesToAscii, fromHex, toHex, xorBytes } from '../../../shared/bytes';
import { encipherCardData } from '../../../shared/crypto/cardData';
import { dukptHostWorkingKey } from '../../../shared/crypto/dukpt';
import { createDukptTerminal } from '../../../shared/crypto/dukptTerminal';
import { keyCheckValue } from '../../../shared/crypto/kcv';
import type { KeyHandle } from '../../../host/hsm/hsm';
import { parseKeyBlockHeader } from '../../../shared/crypto/tr31Header';
import { expectCode, forEachHsmBackend, rng, type TestHsm } from './hsmTestKit';

interface BdkVector { name: string; bdk: string; initialKeyId: string; initialKey: string; transactions: { ksn: string; workingKeys?: { usage: string; keyType: string; key: string }[] }[] }
const [AES128, AES256] = (JSON.parse(readFileSync(new URL('../../vectors/dukpt.json', import.meta.url), 'utf8')) as { bdks: BdkVector[] }).bdks;
const TRACK = '4111111111111111=30121011234';

/** The BDK entered at a key ceremony, as two components (as a bank's BDK arrives). */
async function importBdk(hsm: TestHsm['hsm'], bdk: Uint8Array): Promise<KeyHandle> {
  const first = rng(bdk.length);
  const components = [first, xorBytes(bdk, first)].map((value) => ({ value, kcv: toHex(keyCheckValue(value)) }));
  return hsm.importKeyComponents({ usage: 'B0', algorithm: 'A', modeOfUse: 'X', exportability: 'N' }, components, toHex(keyCheckValue(bdk)));
}

forEachHsmBackend((name) => `E4 X1: AES DUKPT working keys derived in the ${name} HSM`, (backend) => {
  let gateway: TestHsm;
  let bdk: KeyHandle;
  beforeAll(async () => {
    gateway = await backend.openTestHsm();
    bdk = await importBdk(gateway.hsm, fromHex(AES128.bdk));
  });

  it('E4: the published PIN, MAC and data keys of the first eight transactions, each as a handle with the host side\'s attributes', async () => {
    const attributes = { 'pin-encryption': ['P0', 'D'], 'mac-generation': ['M6', 'V'], 'data-encrypt': ['D0', 'D'] } as const;
    for (const t of AES128.transactions.slice(0, 8)) {
      for (const w of t.workingKeys ?? []) {
        const handle = await gateway.hsm.deriveDukptWorkingKey(bdk, fromHex(t.ksn), w.usage as keyof typeof attributes);
        const opened = await gateway.open(handle);
        expect(toHex(opened.key), `${t.ksn} ${w.usage}`).toBe(w.key);
        const [usage, mode] = attributes[w.usage as keyof typeof attributes];
        expect(parseKeyBlockHeader(handle.block).header).toMatchObject({ keyUsage: usage, modeOfUse: mode, exportability: 'N', keyContext: '1' });
      }
    }
  });

  it('E4: track data the card reader enciphers under its DUKPT key is deciphered by the HSM under the key it derives from BDK + KSN', async () => {
    const reader = createDukptTerminal(fromHex(AES128.initialKey), fromHex(AES128.initialKeyId));
    for (let i = 0; i < 5; i++) {
      const { ksn, key } = reader.nextTransaction('data-encrypt');
      const enciphered = encipherCardData(key, asciiToBytes(TRACK), rng);
      const dataKey = await gateway.hsm.deriveDukptWorkingKey(bdk, ksn, 'data-encrypt');
      expect(bytesToAscii(await gateway.hsm.decipherCardData(dataKey, enciphered))).toBe(TRACK);
    }
    // The first transaction's key does not open a later transaction's data.
    const { ksn, key } = reader.nextTransaction('data-encrypt');
    const enciphered = encipherCardData(key, asciiToBytes(TRACK), rng);
    const wrongKsn = fromHex(toHex(ksn).slice(0, 16) + '00000001');
    const other = await gateway.hsm.deriveDukptWorkingKey(bdk, wrongKsn, 'data-encrypt');
    // Another key's noise: CARD_DATA_INVALID, or (one chance in 256 of valid padding) bytes that are not the track.
    const outcome = await gateway.hsm.decipherCardData(other, enciphered).then(bytesToAscii, (e: { code?: string }) => e.code);
    expect(outcome).not.toBe(TRACK);
  });

  it('E4: refuses a KSN no device uses, a key that is not a BDK, key-encryption and unknown usages; the BDK cannot be exported', async () => {
    await expectCode(gateway.hsm.deriveDukptWorkingKey(bdk, fromHex('12345678901234560001FFFF'), 'data-encrypt'), 'DUKPT_KSN_INVALID');
    await expectCode(gateway.hsm.deriveDukptWorkingKey(bdk, fromHex('1234567890123456000001'), 'data-encrypt'), 'DUKPT_KSN_INVALID');
    await expectCode(gateway.hsm.deriveDukptWorkingKey(bdk, fromHex(AES128.transactions[0].ksn), 'key-encryption'), 'BAD_ARGUMENT');
    await expectCode(gateway.hsm.deriveDukptWorkingKey(bdk, fromHex(AES128.transactions[0].ksn), 'pin' as never), 'BAD_ARGUMENT');
    const tdk = await gateway.hsm.generateKey({ usage: 'D0', algorithm: 'A', modeOfUse: 'B', exportability: 'E', lengthBytes: 16 });
    await expectCode(gateway.hsm.deriveDukptWorkingKey(tdk, fromHex(AES128.transactions[0].ksn), 'data-encrypt'), 'TR31_USAGE_NOT_ALLOWED');
    await expectCode(gateway.hsm.generateKey({ usage: 'B0', algorithm: 'A', modeOfUse: 'B', exportability: 'N', lengthBytes: 16 }), 'TR31_USAGE_NOT_ALLOWED');
    const kbpk = await gateway.hsm.generateKey({ usage: 'K1', algorithm: 'A', modeOfUse: 'B', exportability: 'N', lengthBytes: 32 });
    await expectCode(gateway.hsm.exportKeyUnder(kbpk, bdk, { keyUsage: 'B0', algorithm: 'A', modeOfUse: 'X', exportability: 'N' }), 'TR31_USAGE_NOT_ALLOWED');
  });

  it(`E4: an AES-256 BDK: ${backend.name === 'pkcs11' ? 'refused by the PKCS#11 HSM (HSM_COMMAND_UNSUPPORTED: two-block derivations are not done in the host)' : 'the published AES-256 data keys'}`, async () => {
    const bdk256 = await importBdk(gateway.hsm, fromHex(AES256.bdk));
    const t = AES256.transactions[2];
    if (backend.name === 'pkcs11') {
      await expectCode(gateway.hsm.deriveDukptWorkingKey(bdk256, fromHex(t.ksn), 'data-encrypt'), 'HSM_COMMAND_UNSUPPORTED');
      return;
    }
    const handle = await gateway.hsm.deriveDukptWorkingKey(bdk256, fromHex(t.ksn), 'data-encrypt');
    expect(toHex((await gateway.open(handle)).key)).toBe(t.workingKeys!.find((w) => w.usage === 'data-encrypt' && w.keyType === 'AES-256')!.key);
    expect(toHex((await gateway.open(handle)).key)).toBe(toHex(dukptHostWorkingKey(fromHex(AES256.bdk), fromHex(t.ksn), 'data-encrypt')));
  });
});
