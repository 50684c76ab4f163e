/**
 * X2 with the PKCS#11 backend: a terminal's MAC is checked inside the token. K_tkmac is derived
 * from TK by the token (CKM_AES_CBC_ENCRYPT_DATA: host/hsm/pkcs11Hsm.ts derivedMac) into a
 * sensitive, non-extractable key object, and the message CMAC is made and verified with it there
 * (CKM_AES_CMAC). The test watches every call the HSM makes into the PKCS#11 library: neither TK
 * nor K_tkmac nor the MAK crosses that boundary in either direction, and the key objects the
 * commands work with cannot be read. Skipped where SoftHSM2 is not installed.
 */
import pkcs11js from 'pkcs11js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { utf8ToBytes } from '../../../shared/bytes';
import { aesCmac } from '../../../shared/crypto/cmac';
import { deriveKeyCounterCmac } from '../../../shared/crypto/kdf';
import { tkMacKdfParams } from '../../../shared/protocol/macEnvelope';
import type { Hsm, KeyHandle } from '../../../host/hsm/hsm';
import { createHsm } from '../../../host/hsm/index';
import { disposeSoftHsmToken, openWithToken, softHsmConfig, softHsmMissing } from '../../support/softHsmToken';
import { expectCode } from './hsmTestKit';

const SERIAL = 'PP2024000123';
const DATA = utf8ToBytes('PAYPAD-MAC-1\nPOST\n/kms/v1/terminals/PP2024000123/tmk\nPP2024000123\n1\nTK\n{}');

interface DerivedObject {
  readonly template: pkcs11js.Template;
  /** Whether the token refused to give out CKA_VALUE of the derived object. */
  readonly valueRefused: boolean;
  readonly sensitive: number;
  readonly extractable: number;
}

interface Watch {
  /** Every byte string that crossed the PKCS#11 boundary, either way. */
  readonly crossed: Uint8Array[];
  readonly calls: string[];
  /** What each C_DeriveKey made, read back from the token at once. */
  readonly derived: DerivedObject[];
}

let watch: Watch | undefined;
const OriginalPkcs11 = pkcs11js.PKCS11;

/**
 * pkcs11js puts the library calls on each instance, so the HSM's module is made from this subclass
 * (installed before the HSM opens): each call is recorded while `watch` is set.
 */
class WatchedPkcs11 extends OriginalPkcs11 {
  constructor() {
    super();
    const self = this as unknown as Record<string, (...args: unknown[]) => unknown>;
    const read = self.C_GetAttributeValue.bind(this) as (s: Buffer, o: Buffer, t: pkcs11js.Template) => pkcs11js.Template;
    for (const name of Object.getOwnPropertyNames(this).filter((n) => n.startsWith('C_'))) {
      const original = self[name].bind(this);
      self[name] = (...args: unknown[]) => {
        watch?.calls.push(name);
        if (watch) collectBytes(args, watch.crossed);
        const result = original(...args);
        if (watch) record(watch, name, args, result, read);
        return result;
      };
    }
  }
}

/** What came back from `name`; a derived object is read back at once (it is destroyed before the command ends). */
function record(w: Watch, name: string, args: unknown[], result: unknown, read: (s: Buffer, o: Buffer, t: pkcs11js.Template) => pkcs11js.Template): void {
  collectBytes(result, w.crossed);
  if (name !== 'C_DeriveKey') return;
  const [session, , , template] = args as [Buffer, unknown, unknown, pkcs11js.Template];
  const object = result as Buffer;
  let valueRefused = false;
  try {
    read(session, object, [{ type: pkcs11js.CKA_VALUE }]);
  } catch (e) {
    valueRefused = e instanceof pkcs11js.Pkcs11Error && e.code === pkcs11js.CKR_ATTRIBUTE_SENSITIVE;
  }
  const [sensitive, extractable] = read(session, object, [{ type: pkcs11js.CKA_SENSITIVE }, { type: pkcs11js.CKA_EXTRACTABLE }]);
  w.derived.push({ template, valueRefused, sensitive: (sensitive.value as Buffer)[0], extractable: (extractable.value as Buffer)[0] });
}

function collectBytes(value: unknown, into: Uint8Array[], seen = new Set<unknown>()): void {
  if (value === null || typeof value !== 'object' || seen.has(value)) return;
  seen.add(value);
  if (value instanceof Uint8Array) into.push(new Uint8Array(value));
  else for (const v of Object.values(value)) collectBytes(v, into, seen);
}

async function watchToken(run: () => Promise<void>): Promise<Watch> {
  const w: Watch = { crossed: [], calls: [], derived: [] };
  watch = w;
  try {
    await run();
  } finally {
    watch = undefined;
  }
  return w;
}

function containsBytes(haystack: Uint8Array, needle: Uint8Array): boolean {
  return Buffer.from(haystack).includes(Buffer.from(needle));
}

describe.skipIf(softHsmMissing() !== undefined)('X2: PKCS#11 HSM: terminal MACs are derived and checked inside the token', () => {
  let hsm: Hsm;
  let tkHandle: KeyHandle;
  let makHandle: KeyHandle;
  let tk: Uint8Array;
  let mak: Uint8Array;

  beforeAll(async () => {
    (pkcs11js as { PKCS11: typeof OriginalPkcs11 }).PKCS11 = WatchedPkcs11;
    const config = await softHsmConfig();
    hsm = await createHsm(config);
    tkHandle = await hsm.generateKey({ usage: 'K1', algorithm: 'A', modeOfUse: 'B', exportability: 'N', lengthBytes: 16 });
    makHandle = await hsm.generateKey({ usage: 'M6', algorithm: 'A', modeOfUse: 'C', exportability: 'E', lengthBytes: 16 });
    // The test oracle reads the keys back; the HSM under test must never need to.
    tk = (await openWithToken(config, tkHandle)).key;
    mak = (await openWithToken(config, makHandle)).key;
  });

  afterAll(async () => {
    await hsm?.close();
    await disposeSoftHsmToken();
    (pkcs11js as { PKCS11: typeof OriginalPkcs11 }).PKCS11 = OriginalPkcs11;
  });

  it('X2: K_tkmac is made by C_DeriveKey as a sensitive, non-extractable object; neither it nor TK crosses the boundary', async () => {
    const params = tkMacKdfParams(SERIAL);
    const kTkMac = deriveKeyCounterCmac(tk, params);
    const terminalTag = aesCmac(kTkMac, DATA);
    const wrongTag = terminalTag.slice();
    wrongTag[0] ^= 0x01;
    let tag: Uint8Array = new Uint8Array(0);
    const watched = await watchToken(async () => {
      tag = await hsm.macWithDerivedKey(tkHandle, params, DATA);
      await hsm.verifyMacWithDerivedKey(tkHandle, params, DATA, terminalTag);
      await expectCode(hsm.verifyMacWithDerivedKey(tkHandle, params, DATA, wrongTag), 'MAC_MISMATCH');
      await expectCode(hsm.verifyMacWithDerivedKey(tkHandle, tkMacKdfParams('PP2024000124'), DATA, terminalTag), 'MAC_MISMATCH');
    });
    expect(tag).toEqual(terminalTag);
    expect(watched.crossed.filter((b) => containsBytes(b, kTkMac) || containsBytes(b, tk))).toEqual([]);
    expect(watched.calls).not.toContain('C_CreateObject');
    expect(watched.calls).toContain('C_Verify');
    expect(watched.derived).toHaveLength(4);
    for (const object of watched.derived) {
      expect(object).toMatchObject({ valueRefused: true, sensitive: 1, extractable: 0 });
      expect(object.template).toContainEqual({ type: pkcs11js.CKA_EXTRACTABLE, value: false });
    }
  });

  it('X2: a MAK verifies a message MAC in the token (C_Verify); a wrong MAC is MAC_MISMATCH; the MAK never crosses', async () => {
    const tag = aesCmac(mak, DATA);
    const tampered = DATA.slice();
    tampered[3] ^= 0x20;
    const watched = await watchToken(async () => {
      await hsm.verifyMac(makHandle, DATA, tag);
      await expectCode(hsm.verifyMac(makHandle, tampered, tag), 'MAC_MISMATCH');
    });
    expect(watched.crossed.filter((b) => containsBytes(b, mak))).toEqual([]);
    expect(watched.calls.filter((c) => c === 'C_Verify')).toHaveLength(4); // the handle's block MAC and the message MAC, twice
  });

  it('X2: a derived MAC key longer than one CMAC block is refused (the token cannot join blocks), not made in the host', async () => {
    await expectCode(hsm.macWithDerivedKey(tkHandle, { ...tkMacKdfParams(SERIAL), lengthBytes: 32 }, DATA), 'HSM_COMMAND_UNSUPPORTED');
  });
});
