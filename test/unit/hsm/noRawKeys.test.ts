/**
 * X1 ("nothing secret is ever written to a log, a database row or a response in clear") at the
 * HSM boundary: run every command, successes and failures, and scan everything that comes back
 * (results, error messages, the HSM object itself) for any clear key the test can know: the LMK,
 * every key behind every handle, the TK, the intake private keys, the derived K_tkmac, a ZMK's
 * components, and the plain text PIN field of a PIN block that was translated and verified. Run
 * against every HSM backend (a PKCS#11 token's master key cannot be read, so it is not scanned for).
 */
import { inspect } from 'node:util';
import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { asciiToBytes, fromHex, toHex, xorBytes } from '../../../shared/bytes';
import { keyCheckValue } from '../../../shared/crypto/kcv';
import { encipherCardData } from '../../../shared/crypto/cardData';
import { encipherPinBlockIso4 } from '../../../shared/crypto/pinblock';
import { deriveKeyCounterCmac } from '../../../shared/crypto/kdf';
import { encodeKeyEnvelope, wrapKeyForRecipient } from '../../../shared/crypto/keyTransport';
import { tkMacKdfParams } from '../../../shared/protocol/macEnvelope';
import type { Hsm, KeyHandle } from '../../../host/hsm/hsm';
import { forEachHsmBackend, type TestHsm, rng } from './hsmTestKit';

/** Every command of the interface: a new command fails this test until the scan below runs it. */
const COMMANDS: readonly (keyof Hsm)[] = [
  'close',
  'decipherCardData',
  'deriveDukptWorkingKey',
  'exportKeyUnder',
  'generateKey',
  'generateKeyPair',
  'generateZoneKey',
  'importKeyBlock',
  'importKeyComponents',
  'importTransportedKey',
  'keyCheckValue',
  'mac',
  'macWithDerivedKey',
  'pinVerificationValue',
  'translatePinBlock',
  'translateTransportedKey',
  'verifyMac',
  'verifyMacWithDerivedKey',
  'verifyPin',
];

const SERIAL = 'PP2024000123';
const PAN = '4321987654321098';
const PIN = '7294';
/** The left half of PIN 7294's format 4 plain text PIN field: control, length, digits, fill. */
const PIN_FIELD_HALF = fromHex('447294AAAAAAAAAA');
const CONTEXT = asciiToBytes(`paypad-tk|${SERIAL}`);
const DATA = asciiToBytes('sign-on request');

function contains(haystack: Uint8Array, needle: Uint8Array): boolean {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return true;
  }
  return false;
}

/** Every secret spelled the ways it could leak: bytes, hex (either case), base64, base64url. */
function findLeaks(value: unknown, secrets: readonly Uint8Array[], path = 'result', seen = new Set<unknown>()): string[] {
  if (value === null || value === undefined || seen.has(value)) return [];
  if (value instanceof Uint8Array) return secrets.some((s) => contains(value, s)) ? [path] : [];
  if (typeof value === 'string') {
    const upper = value.toUpperCase();
    const spelled = secrets.some((s) => {
      const b = Buffer.from(s);
      return upper.includes(toHex(s)) || value.includes(b.toString('base64').slice(0, -4)) || value.includes(b.toString('base64url').slice(0, -4));
    });
    return spelled ? [path] : [];
  }
  if (typeof value !== 'object') return [];
  seen.add(value);
  const leaks: string[] = [];
  for (const key of Object.getOwnPropertyNames(value)) {
    leaks.push(...findLeaks((value as Record<string, unknown>)[key], secrets, `${path}.${key}`, seen));
  }
  return leaks;
}

/** A software HSM's master key, read from its file; a token's cannot be read. */
async function lmkOf(testHsm: TestHsm): Promise<Uint8Array | undefined> {
  return 'lmkFile' in testHsm ? new Uint8Array(await readFile(testHsm.lmkFile as string)) : undefined;
}

forEachHsmBackend((name) => `X1: no ${name} HSM command returns a clear key`, (backend) => {
    it('the HSM object has exactly the interface commands, all functions, and shows no state', async () => {
      const { hsm } = await backend.openTestHsm();
      expect(Object.keys(hsm).sort()).toEqual([...COMMANDS].sort());
      for (const name of Object.getOwnPropertyNames(hsm)) expect(typeof (hsm as unknown as Record<string, unknown>)[name]).toBe('function');
      expect(Object.isFrozen(hsm)).toBe(true);
    });

    it('every command, succeeding or failing, returns and says nothing that contains a clear key', async () => {
      const mtms = await backend.openTestHsm();
      const kms = await backend.openTestHsm();
      const tk = rng(16);
      const outputs: unknown[] = [];
      const handles: KeyHandle[] = [];
      const run = async <T>(action: Promise<T>): Promise<T | undefined> => {
        try {
          const result = await action;
          outputs.push(result);
          return result;
        } catch (e) {
          outputs.push(e, (e as Error).message, inspect(e));
          return undefined;
        }
      };
      const keep = (handle: KeyHandle | undefined): KeyHandle => {
        if (!handle) throw new Error('the command should have made a handle');
        handles.push(handle);
        return handle;
      };

      const mtmsIntake = await run(mtms.hsm.generateKeyPair('P-256'));
      const kmsIntake = await run(kms.hsm.generateKeyPair('P-256'));
      if (!mtmsIntake || !kmsIntake) throw new Error('key pairs expected');
      keep(mtmsIntake.handle);
      keep(kmsIntake.handle);

      const fromTerminal = encodeKeyEnvelope(wrapKeyForRecipient(mtmsIntake.publicKey, tk, CONTEXT, rng));
      const forKms = await run(mtms.hsm.translateTransportedKey(mtmsIntake.handle, fromTerminal, CONTEXT, kmsIntake.publicKey, CONTEXT));
      if (!forKms) throw new Error('translation expected');
      const tkHandle = keep(await run(kms.hsm.importTransportedKey(kmsIntake.handle, forKms, CONTEXT, { usage: 'K1', algorithm: 'A', modeOfUse: 'B', exportability: 'N' })));
      const tmk = keep(await run(kms.hsm.generateKey({ usage: 'K1', algorithm: 'A', modeOfUse: 'B', exportability: 'E', lengthBytes: 16 })));
      const mak = keep(await run(kms.hsm.generateKey({ usage: 'M6', algorithm: 'A', modeOfUse: 'C', exportability: 'E', lengthBytes: 16 })));
      const pik = keep(await run(kms.hsm.generateKey({ usage: 'P0', algorithm: 'A', modeOfUse: 'E', exportability: 'E', lengthBytes: 16 })));
      const strong = keep(await run(kms.hsm.generateKey({ usage: 'D0', algorithm: 'A', modeOfUse: 'B', exportability: 'N', lengthBytes: 32 })));

      await run(kms.hsm.exportKeyUnder(tkHandle, tmk, { keyUsage: 'K1', algorithm: 'A', modeOfUse: 'B', exportability: 'N' }));
      await run(kms.hsm.exportKeyUnder(tmk, pik, { keyUsage: 'P0', algorithm: 'A', modeOfUse: 'E', exportability: 'N' }));
      await run(kms.hsm.exportKeyUnder(tmk, strong, { keyUsage: 'D0', algorithm: 'A', modeOfUse: 'B', exportability: 'N' })); // refused
      await run(kms.hsm.exportKeyUnder(tmk, tmk, { keyUsage: 'K1', algorithm: 'A', modeOfUse: 'B', exportability: 'E' })); // refused
      await run(kms.hsm.exportKeyUnder(pik, mak, { keyUsage: 'M6', algorithm: 'A', modeOfUse: 'C', exportability: 'E' })); // refused
      const tag = await run(kms.hsm.mac(mak, DATA));
      if (!tag) throw new Error('MAC expected');
      await run(kms.hsm.verifyMac(mak, DATA, tag));
      await run(kms.hsm.verifyMac(mak, asciiToBytes('altered'), tag)); // refused
      await run(kms.hsm.mac(pik, DATA)); // refused
      const params = tkMacKdfParams(SERIAL);
      const tkTag = await run(kms.hsm.macWithDerivedKey(tkHandle, params, DATA));
      if (!tkTag) throw new Error('MAC expected');
      await run(kms.hsm.verifyMacWithDerivedKey(tkHandle, params, DATA, tkTag));
      await run(kms.hsm.verifyMacWithDerivedKey(tkHandle, tkMacKdfParams('PP2024000999'), DATA, tkTag)); // refused
      await run(kms.hsm.macWithDerivedKey(mak, params, DATA)); // refused
      for (const handle of handles) await run(kms.hsm.keyCheckValue(handle));
      await run(kms.hsm.importTransportedKey(kmsIntake.handle, fromTerminal, CONTEXT, { usage: 'K1', algorithm: 'A', modeOfUse: 'B', exportability: 'N' })); // refused
      await run(kms.hsm.keyCheckValue({ block: mak.block, kcv: pik.kcv })); // refused
      await run(mtms.hsm.mac(mak, DATA)); // refused: another LMK

      // Zone keys and PIN blocks (System C).
      const zmkKey = rng(32);
      const firstComponent = rng(32);
      const components = [firstComponent, xorBytes(zmkKey, firstComponent)].map((value) => ({ value, kcv: toHex(keyCheckValue(value)) }));
      const zmkAttributes = { usage: 'K0', algorithm: 'A', modeOfUse: 'B', exportability: 'N' } as const;
      const zmk = keep(await run(kms.hsm.importKeyComponents(zmkAttributes, components, toHex(keyCheckValue(zmkKey)))));
      await run(kms.hsm.importKeyComponents(zmkAttributes, [components[0], components[0]], toHex(keyCheckValue(zmkKey)))); // refused
      await run(kms.hsm.importKeyComponents(zmkAttributes, [components[0], { ...components[1], kcv: components[0].kcv }], toHex(keyCheckValue(zmkKey)))); // refused
      const zpk = await run(kms.hsm.generateZoneKey(zmk, { usage: 'P0', algorithm: 'A', modeOfUse: 'B', exportability: 'E', lengthBytes: 16 }));
      if (!zpk) throw new Error('zone key expected');
      keep(zpk.handle);
      keep(await run(kms.hsm.importKeyBlock(zmk, zpk.block, 'P0')));
      await run(kms.hsm.importKeyBlock(zmk, zpk.block, 'M6')); // refused
      await run(kms.hsm.generateZoneKey(zmk, { usage: 'D0', algorithm: 'A', modeOfUse: 'B', exportability: 'E', lengthBytes: 16 })); // refused
      const terminalPik = keep(await run(kms.hsm.generateKey({ usage: 'P0', algorithm: 'A', modeOfUse: 'B', exportability: 'E', lengthBytes: 16 })));
      const pvk = keep(await run(kms.hsm.generateKey({ usage: 'V0', algorithm: 'A', modeOfUse: 'C', exportability: 'N', lengthBytes: 16 })));
      const pinBlock = encipherPinBlockIso4((await kms.open(terminalPik)).key, PIN, PAN, rng);
      await run(kms.hsm.translatePinBlock(terminalPik, zpk.handle, pinBlock, PAN));
      await run(kms.hsm.translatePinBlock(terminalPik, zpk.handle, pinBlock, '5413330089604111')); // refused
      await run(kms.hsm.translatePinBlock(zpk.handle, mak, pinBlock, PAN)); // refused
      const pvv = (await run(kms.hsm.pinVerificationValue(terminalPik, pvk, pinBlock, PAN))) ?? new Uint8Array(16);
      await run(kms.hsm.verifyPin(terminalPik, pvk, pinBlock, PAN, pvv));
      await run(kms.hsm.verifyPin(terminalPik, pvk, encipherPinBlockIso4((await kms.open(terminalPik)).key, '7295', PAN, rng), PAN, pvv)); // refused
      await run(kms.hsm.verifyPin(terminalPik, pvk, pinBlock, '5413330089604111', pvv)); // refused

      // Card data under a terminal's TDK (POSP).
      const tdk = keep(await run(kms.hsm.generateKey({ usage: 'D0', algorithm: 'A', modeOfUse: 'B', exportability: 'E', lengthBytes: 16 })));
      const card = encipherCardData((await kms.open(tdk)).key, asciiToBytes(`${PAN}=30121010000`), rng);
      await run(kms.hsm.decipherCardData(tdk, card));
      await run(kms.hsm.decipherCardData(mak, card)); // refused
      await run(kms.hsm.decipherCardData(tdk, card.subarray(16))); // refused

      // AES DUKPT: a BDK and a transaction's working key derived from it (the gateway's side of the card reader).
      const bdk = keep(await run(kms.hsm.generateKey({ usage: 'B0', algorithm: 'A', modeOfUse: 'X', exportability: 'N', lengthBytes: 16 })));
      keep(await run(kms.hsm.deriveDukptWorkingKey(bdk, fromHex('123456789012345600000005'), 'data-encrypt')));
      await run(kms.hsm.deriveDukptWorkingKey(bdk, fromHex('12345678901234560001FFFF'), 'data-encrypt')); // refused
      await run(kms.hsm.deriveDukptWorkingKey(tdk, fromHex('123456789012345600000005'), 'data-encrypt')); // refused

      await run(kms.hsm.close());
      await run(kms.hsm.mac(mak, DATA)); // refused: closed

      const secrets: Uint8Array[] = [tk, deriveKeyCounterCmac(tk, params), zmkKey, ...components.map((c) => c.value), PIN_FIELD_HALF];
      const masterKeys = await Promise.all([mtms, kms].map(lmkOf));
      for (const lmk of masterKeys) if (lmk) secrets.push(lmk);
      for (const handle of handles) secrets.push((await (handle === mtmsIntake.handle ? mtms : kms).open(handle)).key);
      expect(secrets.length).toBe(6 + masterKeys.filter(Boolean).length + handles.length);
      expect(outputs.length).toBeGreaterThan(45);
      expect(findLeaks(outputs, secrets)).toEqual([]);
      expect(findLeaks([inspect(mtms.hsm, { showHidden: true, depth: 8 })], secrets)).toEqual([]);
    });
});

describe('X1: the leak scan', () => {
  it('the scan finds a key where one is (so an empty result above means something)', () => {
    const key = rng(16);
    expect(findLeaks([{ nested: { bytes: Uint8Array.of(1, ...key, 2) } }], [key])).toEqual(['result.0.nested.bytes']);
    expect(findLeaks([`key ${toHex(key).toLowerCase()}`], [key])).toEqual(['result.0']);
    expect(findLeaks([Buffer.from(key).toString('base64')], [key])).toEqual(['result.0']);
    expect(findLeaks([toHex(key.subarray(1))], [key])).toEqual([]);
  });
});
