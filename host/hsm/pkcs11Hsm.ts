/**
 * The PKCS#11 HSM: the Hsm interface over a cryptographic token (SoftHSM2 in tests and CI; a
 * payShield, Luna or cloud HSM through its vendor's PKCS#11 library in production), through the
 * pkcs11js binding.
 *
 * The master key is two token objects per HSM instance, made on first use and never extractable
 * (CKA_SENSITIVE, not CKA_EXTRACTABLE): `<keyLabel>.lmk.wrap` (AES-256, wrap/unwrap only) and
 * `<keyLabel>.lmk.mac` (AES-256, CMAC only). A key the host keeps is a token key block:
 *
 *   TR-31 header (key context 1) || hex(body) || hex(CMAC under lmk.mac of header || body)
 *     body, AES key:   the key wrapped by lmk.wrap (RFC 5649 AES key wrap with padding)
 *     body, key pair:  the public key (65) || the private key wrapped by lmk.wrap (PKCS#8 inside)
 *
 * The header is TR-31's, so the attribute rules of keyPolicy.ts apply as in the software HSM; the
 * body is the token's own wrapping (a TR-31 payload's MAC covers the clear key, which the host
 * never sees here). Every command checks the block's CMAC inside the token before the header is
 * trusted, then unwraps the key into a session object that is destroyed before the command ends.
 *
 * Inside the token: key and key pair generation, wrapping under the LMK, the handle's CMAC, ECDH,
 * SHA-256 over the shared secret, RFC 5649 wrap/unwrap under a KEK, CMAC generation and
 * verification, K_tkmac's derivation (SP 800-108 with CMAC, through CKM_AES_CBC_ENCRYPT_DATA:
 * derivedMac says how) and every MAC under it, check values, AES-CBC deciphering of card data
 * (the clear card data comes out: POSP needs it for the authorisation), AES DUKPT working keys
 * from an AES-128 BDK (each derivation a key object of its own: deriveDukptWorkingKey). What passes through host
 * memory, briefly and wiped after use, because SoftHSM2 has no mechanism for it (a payment HSM
 * does each natively):
 *   - the key-transport KEK (SP 800-56C one-step KDF): the token digests the shared secret as a
 *     key object, but the digest (the KEK) is returned to the host, which loads it back as a
 *     session key to unwrap or wrap the transported key inside the token;
 *   - exportKeyUnder and generateZoneKey: the KBPK or ZMK and the key are read out of the token
 *     and the TR-31 block is assembled by shared/crypto/tr31 in the host (TR-31 version D MACs
 *     the clear key); importKeyBlock likewise opens the received block in the host;
 *   - importKeyComponents: the components arrive in clear and are combined in the host.
 * PIN blocks are refused (HSM_COMMAND_UNSUPPORTED): no PKCS#11 mechanism translates or verifies
 * a PIN block, so the PIN would be clear in host memory, and the PCI PIN Security Requirements
 * (Control Objective 1, Requirement 1) allow clear PINs only inside a secure cryptographic device.
 * The keys are checked first, so a caller's usage errors read the same on every backend.
 */
import pkcs11js from 'pkcs11js';
import { type Rng, concatBytes, constantTimeEqual, fromHex, toHex, wipe } from '../../shared/bytes';
import { assertEncipheredCardData, removeCardDataPadding } from '../../shared/crypto/cardData';
import { preparedMessage } from '../../shared/crypto/cmac';
import { dukptHostDerivationSteps, parseDukptKsn } from '../../shared/crypto/dukpt';
import { type KdfParams, kdfFixedInput } from '../../shared/crypto/kdf';
import { assertPublicKey, decodeKeyEnvelope, encodeKeyEnvelope, oneStepKek } from '../../shared/crypto/keyTransport';
import { type Tr31Header, type Tr31HeaderInit, type Tr31KeyPolicy, type UnwrappedKey, assertKeyBlockPolicy, unwrapKeyBlock, wrapKeyBlock } from '../../shared/crypto/tr31';
import { buildKeyBlockHeader, parseKeyBlockHeader } from '../../shared/crypto/tr31Header';
import { PaypadError, isPaypadError } from '../../shared/errors';
import { type GenerateKeyRequest, type Hsm, type KeyAttributes, type KeyHandle, type KeyPair, type ZoneKey, assertBytes, assertKeyHandle } from './hsm';
import { combineKeyComponents } from './keyComponents';
import {
  COMMAND_POLICIES,
  INTAKE_KEY_HEADER,
  STORAGE_CONTEXT,
  assertAesKeyLength,
  assertKeyAttributes,
  derivationPolicy,
  dukptWorkingKeyAttributes,
  exportHeader,
  headerOf,
  importPolicy,
  importedAttributes,
  zoneKeyExportHeader,
} from './keyPolicy';
import { assertPvv } from './pinVerification';
import { publicKeyCheckValue } from '../../shared/protocol/publicKeyCheck';

export interface Pkcs11HsmOptions {
  /** Path of the token's PKCS#11 library, e.g. /usr/lib/softhsm/libsofthsm2.so. */
  readonly library: string;
  /** The token's label (softhsm2-util --init-token --label). */
  readonly tokenLabel: string;
  /** The user PIN. */
  readonly pin: string;
  /** Names this HSM instance's master key objects in the token: one per KMS and one for MTMS. */
  readonly keyLabel: string;
  /** Pads exported TR-31 blocks; keys themselves come from the token's generator. */
  readonly rng: Rng;
}

type Session = Buffer;
type ObjectHandle = Buffer;

const CMAC_BYTES = 16;
/** RFC 5649: the wrapped form of an AES key is 8 bytes longer. */
const KWP_OVERHEAD = 8;
const KCV_BYTES = 5;
const P256_PUBLIC_KEY_BYTES = 65;
const SHARED_SECRET_BYTES = 32;
/** DER OID 1.2.840.10045.3.1.7 (prime256v1), the CKA_EC_PARAMS of a P-256 key. */
const P256_EC_PARAMS = Buffer.from('06082a8648ce3d030107', 'hex');
const KWP: pkcs11js.Mechanism = { mechanism: pkcs11js.CKM_AES_KEY_WRAP_PAD };
const CMAC: pkcs11js.Mechanism = { mechanism: pkcs11js.CKM_AES_CMAC };
const LABEL_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;

/** One loaded library per path, shared by every HSM instance of the process (C_Initialize is once per process). */
const modules = new Map<string, { module: pkcs11js.PKCS11; users: number }>();

function acquireModule(library: string): pkcs11js.PKCS11 {
  const known = modules.get(library);
  if (known) {
    known.users++;
    return known.module;
  }
  const module = new pkcs11js.PKCS11();
  try {
    module.load(library);
    module.C_Initialize();
  } catch (e) {
    throw new PaypadError('CONFIG_INVALID', `PKCS#11 library ${library} cannot be loaded: ${describe(e)}`);
  }
  modules.set(library, { module, users: 1 });
  return module;
}

function releaseModule(library: string): void {
  const known = modules.get(library);
  if (!known || --known.users > 0) return;
  modules.delete(library);
  known.module.C_Finalize();
  known.module.close();
}

/** Opens a session on the token labelled `tokenLabel`, logs in and finds (or makes) this instance's master key. */
export async function openPkcs11Hsm(options: Pkcs11HsmOptions): Promise<Hsm> {
  if (typeof options !== 'object' || options === null || typeof options.rng !== 'function') {
    throw new PaypadError('BAD_ARGUMENT', 'PKCS#11 HSM: expected { library, tokenLabel, pin, keyLabel, rng }');
  }
  for (const [name, value] of [['library', options.library], ['tokenLabel', options.tokenLabel], ['pin', options.pin]] as const) {
    if (typeof value !== 'string' || value.length === 0) throw new PaypadError('CONFIG_INVALID', `PKCS#11 HSM: ${name} is missing`);
  }
  if (typeof options.keyLabel !== 'string' || !LABEL_PATTERN.test(options.keyLabel)) {
    throw new PaypadError('CONFIG_INVALID', 'PKCS#11 HSM: keyLabel must be 1 to 64 letters, digits, dot, dash or underscore');
  }
  const module = acquireModule(options.library);
  let session: Session | undefined;
  try {
    const slot = module.C_GetSlotList(true).find((s) => module.C_GetTokenInfo(s).label.trim() === options.tokenLabel);
    if (!slot) throw new PaypadError('CONFIG_INVALID', `PKCS#11 HSM: no token labelled ${JSON.stringify(options.tokenLabel)}`);
    session = module.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
    try {
      module.C_Login(session, pkcs11js.CKU_USER, options.pin);
    } catch (e) {
      // The login state is the application's, shared by its sessions: a second instance finds it done.
      if (!(e instanceof pkcs11js.Pkcs11Error && e.code === pkcs11js.CKR_USER_ALREADY_LOGGED_IN)) {
        throw new PaypadError('CONFIG_INVALID', `PKCS#11 HSM: login to token ${JSON.stringify(options.tokenLabel)} failed: ${describe(e)}`);
      }
    }
    const lmkWrap = masterKey(module, session, `${options.keyLabel}.lmk.wrap`, 'wrap');
    const lmkMac = masterKey(module, session, `${options.keyLabel}.lmk.mac`, 'mac');
    return pkcs11Hsm(module, session, { lmkWrap, lmkMac }, options);
  } catch (e) {
    if (session) module.C_CloseSession(session);
    releaseModule(options.library);
    throw isPaypadError(e) ? e : tokenFailure(e);
  }
}

/** The token's AES-256 master key object called `label`, made on first use, never extractable. */
function masterKey(module: pkcs11js.PKCS11, session: Session, label: string, job: 'wrap' | 'mac'): ObjectHandle {
  const template: pkcs11js.Template = [
    { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
    { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_AES },
    { type: pkcs11js.CKA_LABEL, value: label },
  ];
  module.C_FindObjectsInit(session, template);
  const found = module.C_FindObjects(session, 2);
  module.C_FindObjectsFinal(session);
  if (found.length > 1) throw new PaypadError('HSM_LMK_INVALID', `the token holds two keys labelled ${label}`);
  if (found.length === 1) return found[0];
  return module.C_GenerateKey(session, { mechanism: pkcs11js.CKM_AES_KEY_GEN }, [
    ...template,
    { type: pkcs11js.CKA_VALUE_LEN, value: 32 },
    { type: pkcs11js.CKA_TOKEN, value: true },
    { type: pkcs11js.CKA_PRIVATE, value: true },
    { type: pkcs11js.CKA_SENSITIVE, value: true },
    { type: pkcs11js.CKA_EXTRACTABLE, value: false },
    { type: pkcs11js.CKA_ENCRYPT, value: false },
    { type: pkcs11js.CKA_DECRYPT, value: false },
    { type: pkcs11js.CKA_WRAP, value: job === 'wrap' },
    { type: pkcs11js.CKA_UNWRAP, value: job === 'wrap' },
    { type: pkcs11js.CKA_SIGN, value: job === 'mac' },
    { type: pkcs11js.CKA_VERIFY, value: job === 'mac' },
    { type: pkcs11js.CKA_DERIVE, value: false },
  ]);
}

interface MasterKey {
  readonly lmkWrap: ObjectHandle;
  readonly lmkMac: ObjectHandle;
}

/** A handle's parts once its CMAC has verified in the token. */
interface OpenedBlock {
  readonly header: Tr31Header;
  /** Key pairs only. */
  readonly publicKey?: Uint8Array;
  readonly wrapped: Buffer;
}

function pkcs11Hsm(module: pkcs11js.PKCS11, session: Session, lmk: MasterKey, options: Pkcs11HsmOptions): Hsm {
  let open = true;

  function assertOpen(): void {
    if (!open) throw new PaypadError('HSM_UNAVAILABLE', 'the HSM is closed');
  }

  /** Runs `command` with the token's errors turned into PaypadErrors; a PaypadError passes through. */
  function token<T>(command: () => T): T {
    assertOpen();
    try {
      return command();
    } catch (e) {
      throw isPaypadError(e) ? e : tokenFailure(e);
    }
  }

  /** Runs `use` with temporary session objects, destroyed however it ends. */
  function withObjects<T>(use: (keep: (o: ObjectHandle) => ObjectHandle) => T): T {
    const made: ObjectHandle[] = [];
    try {
      return use((o) => {
        made.push(o);
        return o;
      });
    } finally {
      for (const o of made) module.C_DestroyObject(session, o);
    }
  }

  /** The token's 16-byte AES-CMAC of `data` under `key`. */
  function cmac(key: ObjectHandle, data: Uint8Array): Buffer {
    module.C_SignInit(session, CMAC, key);
    return module.C_Sign(session, Buffer.from(data), Buffer.alloc(CMAC_BYTES));
  }

  /** The token's C_Verify of a full CMAC: false for a wrong MAC, which SoftHSM2 reports as an error. */
  function cmacVerifies(key: ObjectHandle, data: Uint8Array, mac: Uint8Array): boolean {
    module.C_VerifyInit(session, CMAC, key);
    try {
      return module.C_Verify(session, Buffer.from(data), Buffer.from(mac));
    } catch (e) {
      if (e instanceof pkcs11js.Pkcs11Error && (e.code === pkcs11js.CKR_SIGNATURE_INVALID || e.code === pkcs11js.CKR_SIGNATURE_LEN_RANGE)) return false;
      throw e;
    }
  }

  function aesKcv(key: ObjectHandle): string {
    const mac = cmac(key, new Uint8Array(16));
    try {
      return toHex(mac.subarray(0, KCV_BYTES));
    } finally {
      wipe(mac);
    }
  }

  function pairKcv(publicKey: Uint8Array): string {
    return publicKeyCheckValue(publicKey);
  }

  /** A token key block for `header` around `body`. */
  function seal(header: Tr31HeaderInit, body: Uint8Array): string {
    const bodyHex = toHex(body);
    const headerText = buildKeyBlockHeader({ ...header, keyContext: STORAGE_CONTEXT }, bodyHex.length + 2 * CMAC_BYTES);
    const mac = cmac(lmk.lmkMac, Buffer.concat([Buffer.from(headerText, 'latin1'), body]));
    return headerText + bodyHex + toHex(mac);
  }

  /** Checks the handle's shape and its CMAC in the token, then its attributes against `policy`. */
  function openBlock(handle: KeyHandle, what: string, policy: Tr31KeyPolicy | 'any'): OpenedBlock {
    assertKeyHandle(handle, what);
    const { header, headerLength, declaredLength } = parseKeyBlockHeader(handle.block);
    const block = handle.block;
    if (declaredLength !== block.length) throw new PaypadError('TR31_MALFORMED', `header says the block has ${declaredLength} characters, it has ${block.length}`);
    const bodyHex = block.slice(headerLength, block.length - 2 * CMAC_BYTES);
    if (bodyHex.length < 2 || !/^[0-9A-F]*$/.test(block.slice(headerLength)) || bodyHex.length % 2 !== 0) {
      throw new PaypadError('TR31_MALFORMED', 'body and MAC must be uppercase hex');
    }
    const body = Buffer.from(bodyHex, 'hex');
    const authentic = cmacVerifies(lmk.lmkMac, Buffer.concat([Buffer.from(block.slice(0, headerLength), 'latin1'), body]), Buffer.from(block.slice(-2 * CMAC_BYTES), 'hex'));
    if (!authentic) throw new PaypadError('TR31_MAC_MISMATCH', 'key block MAC does not verify: the block was altered or made by another HSM');
    // Authentic from here on.
    if (header.keyContext !== STORAGE_CONTEXT) throw new PaypadError('HSM_HANDLE_INVALID', `${what}: not a storage key block`);
    assertKeyBlockPolicy(header, policy === 'any' ? { usage: header.keyUsage, modesOfUse: [header.modeOfUse] } : policy);
    if (header.algorithm === 'E') {
      return { header, publicKey: new Uint8Array(body.subarray(0, P256_PUBLIC_KEY_BYTES)), wrapped: body.subarray(P256_PUBLIC_KEY_BYTES) };
    }
    return { header, wrapped: body };
  }

  /** The AES key of an opened block as a session object made with `template` (sessionAesTemplate(true) makes its value readable: exportKeyUnder only). */
  function unwrapAes(opened: OpenedBlock, keep: (o: ObjectHandle) => ObjectHandle, template = sessionAesTemplate(false)): ObjectHandle {
    if (opened.header.algorithm !== 'A') throw new PaypadError('TR31_USAGE_NOT_ALLOWED', `algorithm is ${opened.header.algorithm}, A is needed`);
    return keep(module.C_UnwrapKey(session, KWP, lmk.lmkWrap, opened.wrapped, template));
  }

  /** openBlock and unwrap, with the handle's kcv checked against the key's (HSM_HANDLE_INVALID). */
  function unwrapChecked(
    handle: KeyHandle,
    what: string,
    policy: Tr31KeyPolicy | 'any',
    keep: (o: ObjectHandle) => ObjectHandle,
    template = sessionAesTemplate(false),
  ): { key: ObjectHandle; header: Tr31Header; length: number } {
    const opened = openBlock(handle, what, policy);
    const key = unwrapAes(opened, keep, template);
    if (!constantTimeEqual(fromHex(aesKcv(key)), fromHex(handle.kcv))) {
      throw new PaypadError('HSM_HANDLE_INVALID', `${what}: the handle's kcv is not its key's check value`);
    }
    // RFC 5649 adds one 8-byte semiblock to an AES key (16, 24, 32 bytes); SoftHSM2 leaves an unwrapped key's CKA_VALUE_LEN at 0.
    return { key, header: opened.header, length: opened.wrapped.length - KWP_OVERHEAD };
  }

  function withAesKey<T>(handle: KeyHandle, what: string, policy: Tr31KeyPolicy | 'any', use: (key: ObjectHandle, header: Tr31Header) => T): T {
    return token(() =>
      withObjects((keep) => {
        const { key, header } = unwrapChecked(handle, what, policy, keep);
        return use(key, header);
      }),
    );
  }

  /** The intake private key as a session object (derive only) and its public key. */
  function withIntakeKey<T>(handle: KeyHandle, use: (privateKey: ObjectHandle, publicKey: Uint8Array, keep: (o: ObjectHandle) => ObjectHandle) => T): T {
    return token(() =>
      withObjects((keep) => {
        const opened = openBlock(handle, 'intake key', COMMAND_POLICIES.keyAgreement);
        const publicKey = opened.publicKey as Uint8Array;
        if (!constantTimeEqual(fromHex(pairKcv(publicKey)), fromHex(handle.kcv))) {
          throw new PaypadError('HSM_HANDLE_INVALID', "intake key: the handle's kcv is not its key's check value");
        }
        const privateKey = keep(module.C_UnwrapKey(session, KWP, lmk.lmkWrap, opened.wrapped, sessionPrivateKeyTemplate()));
        return use(privateKey, publicKey, keep);
      }),
    );
  }

  /**
   * The key-transport KEK for `privateKey` and `peerPublicKey` as a session object: ECDH and the
   * digest over Z run in the token, FixedInfo comes from shared/crypto/keyTransport.
   */
  function transportKek(
    privateKey: ObjectHandle,
    peerPublicKey: Uint8Array,
    fixedInfo: { partyU: Uint8Array; partyV: Uint8Array; context: Uint8Array },
    keep: (o: ObjectHandle) => ObjectHandle,
  ): ObjectHandle {
    const z = keep(
      module.C_DeriveKey(
        session,
        { mechanism: pkcs11js.CKM_ECDH1_DERIVE, parameter: ecdh(peerPublicKey) },
        privateKey,
        [
          { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
          { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_GENERIC_SECRET },
          { type: pkcs11js.CKA_VALUE_LEN, value: SHARED_SECRET_BYTES },
          { type: pkcs11js.CKA_TOKEN, value: false },
          { type: pkcs11js.CKA_SENSITIVE, value: true },
          { type: pkcs11js.CKA_EXTRACTABLE, value: false },
        ],
      ),
    );
    const kek = oneStepKek(
      (before, after) => {
        module.C_DigestInit(session, { mechanism: pkcs11js.CKM_SHA256 });
        module.C_DigestUpdate(session, Buffer.from(before));
        module.C_DigestKey(session, z);
        module.C_DigestUpdate(session, Buffer.from(after));
        // A copy: oneStepKek wipes what this returns after taking the KEK from it.
        return new Uint8Array(module.C_DigestFinal(session, Buffer.alloc(32)));
      },
      fixedInfo.partyU,
      fixedInfo.partyV,
      fixedInfo.context,
    );
    try {
      return keep(module.C_CreateObject(session, [...aesObjectTemplate(false, false), { type: pkcs11js.CKA_VALUE, value: Buffer.from(kek) }, { type: pkcs11js.CKA_WRAP, value: true }, { type: pkcs11js.CKA_UNWRAP, value: true }]));
    } finally {
      wipe(kek);
    }
  }

  /** The transported key of `envelope` (for `intakeKey`, `context`) as a session object. */
  function receive(intakeKey: KeyHandle, envelope: Uint8Array, context: Uint8Array, use: (key: ObjectHandle, keep: (o: ObjectHandle) => ObjectHandle) => KeyHandle | Uint8Array) {
    const decoded = decodeKeyEnvelope(envelope);
    return withIntakeKey(intakeKey, (privateKey, publicKey, keep) => {
      const kek = transportKek(privateKey, decoded.ephemeralPublicKey, { partyU: decoded.ephemeralPublicKey, partyV: publicKey, context }, keep);
      let key: ObjectHandle;
      try {
        key = keep(module.C_UnwrapKey(session, KWP, kek, Buffer.from(decoded.wrappedKey), sessionAesTemplate(false)));
      } catch (e) {
        if (e instanceof pkcs11js.Pkcs11Error) throw new PaypadError('KEY_UNWRAP_FAILED', 'key envelope: not for this key pair and context, or altered');
        throw e;
      }
      return use(key, keep);
    });
  }

  /** A storage handle for the AES session object `key`. */
  function sealAes(attributes: KeyAttributes, key: ObjectHandle): KeyHandle {
    const wrapped = module.C_WrapKey(session, KWP, lmk.lmkWrap, key, Buffer.alloc(64));
    return { block: seal(headerOf(attributes), wrapped), kcv: aesKcv(key) };
  }

  /** An AES session object holding `material` (which arrived in clear: components, a received block). */
  function loadAes(material: Uint8Array, keep: (o: ObjectHandle) => ObjectHandle): ObjectHandle {
    return keep(module.C_CreateObject(session, [...sessionAesTemplate(false), { type: pkcs11js.CKA_VALUE, value: Buffer.from(material) }]));
  }

  /** Checks both keys of a PIN command, then refuses it: see the module comment. */
  function refusePinCommand(pinKey: KeyHandle, pinPolicy: Tr31KeyPolicy, other: KeyHandle, otherName: string, otherPolicy: Tr31KeyPolicy, pinBlock: Uint8Array): never {
    assertBytes(pinBlock, 'PIN block');
    return token(() =>
      withObjects((keep) => {
        unwrapChecked(pinKey, 'PIN key', pinPolicy, keep);
        unwrapChecked(other, otherName, otherPolicy, keep);
        throw new PaypadError('HSM_COMMAND_UNSUPPORTED', 'a PKCS#11 token cannot keep a PIN inside its boundary: PIN blocks need a payment HSM (docs/payment-keys.md)');
      }),
    );
  }

  /**
   * K_tkmac (SP 800-108 counter mode, CMAC as PRF: shared/crypto/kdf) made inside the token as a
   * sensitive, non-extractable session key, then `use`d. SoftHSM2 has neither CKM_SP800_108_COUNTER_KDF
   * nor CKM_AES_CMAC as a derivation, so the one CMAC block K(1) = CMAC_K([1] || FixedInput) is
   * split where SP 800-38B §6.2 allows: the token enciphers L = CIPH_K(0^128) and the CBC chain
   * over every block but the last (AES outputs under K of public data, as a CMAC or check value
   * is), the host prepares the last block with its subkey, and the token's
   * CKM_AES_CBC_ENCRYPT_DATA derives CIPH_K(chain XOR last block) = K(1) straight into a key
   * object. K(1) never leaves the token. A derived key of more than one block would need the
   * token to join blocks (CKM_CONCATENATE_BASE_AND_KEY, which SoftHSM2 lacks), so it is refused.
   */
  function derivedMac<T>(baseKey: KeyHandle, derivation: KdfParams, use: (macKey: ObjectHandle) => T): T {
    const fixedInput = kdfFixedInput(derivation);
    assertAesKeyLength(derivation.lengthBytes);
    return token(() =>
      withObjects((keep) => {
        const { key } = unwrapChecked(baseKey, 'base key', derivationPolicy(baseKey), keep, deriveBaseTemplate());
        if (derivation.lengthBytes !== CMAC_BYTES) {
          throw new PaypadError('HSM_COMMAND_UNSUPPORTED', `a PKCS#11 token derives MAC keys of ${CMAC_BYTES} bytes, not ${derivation.lengthBytes}`);
        }
        const message = preparedMessage(concatBytes(new Uint8Array([1]), fixedInput), encipher(key, { mechanism: pkcs11js.CKM_AES_ECB }, new Uint8Array(CMAC_BYTES)));
        const head = message.subarray(0, message.length - CMAC_BYTES);
        const iv = head.length === 0 ? Buffer.alloc(CMAC_BYTES) : encipher(key, { mechanism: pkcs11js.CKM_AES_CBC, parameter: Buffer.alloc(CMAC_BYTES) }, head).subarray(-CMAC_BYTES);
        const last = Buffer.from(message.subarray(-CMAC_BYTES));
        let macKey: ObjectHandle;
        try {
          macKey = keep(
            module.C_DeriveKey(
              session,
              { mechanism: pkcs11js.CKM_AES_CBC_ENCRYPT_DATA, parameter: { type: pkcs11js.CK_PARAMS_AES_CBC, iv, data: last } as pkcs11js.IParams },
              key,
              [...aesObjectTemplate(false, true), { type: pkcs11js.CKA_EXTRACTABLE, value: false }, { type: pkcs11js.CKA_VALUE_LEN, value: CMAC_BYTES }],
            ),
          );
        } finally {
          wipe(message, iv, last);
        }
        return use(macKey);
      }),
    );
  }

  /** The token's AES encipherment of `data` under `key` (whole blocks, no padding). */
  function encipher(key: ObjectHandle, mechanism: pkcs11js.Mechanism, data: Uint8Array): Buffer {
    module.C_EncryptInit(session, mechanism, key);
    return module.C_Encrypt(session, Buffer.from(data), Buffer.alloc(data.length));
  }

  /**
   * A full 16-byte MAC (every paypad message MAC) is verified by the token (C_Verify). SoftHSM2
   * has no CKM_AES_CMAC_GENERAL, so a truncated one (8 to 15 bytes) is compared in the host, in
   * constant time, against the token's CMAC.
   */
  function verifyCmac(key: ObjectHandle, data: Uint8Array, mac: Uint8Array): void {
    if (mac.length < 8 || mac.length > CMAC_BYTES) throw new PaypadError('BAD_LENGTH', `CMAC: expected 8 to 16 bytes, got ${mac.length}`);
    let verified: boolean;
    if (mac.length === CMAC_BYTES) {
      verified = cmacVerifies(key, data, mac);
    } else {
      const full = cmac(key, data);
      verified = constantTimeEqual(full.subarray(0, mac.length), mac);
      wipe(full);
    }
    if (!verified) throw new PaypadError('MAC_MISMATCH', 'CMAC does not verify');
  }

  const hsm: Hsm = {
    async generateKey(request: GenerateKeyRequest): Promise<KeyHandle> {
      assertOpen();
      assertKeyAttributes(request);
      assertAesKeyLength(request.lengthBytes);
      return token(() =>
        withObjects((keep) => {
          const key = keep(module.C_GenerateKey(session, { mechanism: pkcs11js.CKM_AES_KEY_GEN }, [...sessionAesTemplate(false), { type: pkcs11js.CKA_VALUE_LEN, value: request.lengthBytes }]));
          return sealAes(request, key);
        }),
      );
    },

    async generateKeyPair(curve): Promise<KeyPair> {
      assertOpen();
      if (curve !== 'P-256') throw new PaypadError('BAD_ARGUMENT', 'key pair: only curve P-256 is supported');
      return token(() =>
        withObjects((keep) => {
          const pair = module.C_GenerateKeyPair(
            session,
            { mechanism: pkcs11js.CKM_EC_KEY_PAIR_GEN },
            [
              { type: pkcs11js.CKA_TOKEN, value: false },
              { type: pkcs11js.CKA_EC_PARAMS, value: P256_EC_PARAMS },
            ],
            [...sessionPrivateKeyTemplate(), { type: pkcs11js.CKA_EXTRACTABLE, value: true }],
          );
          keep(pair.publicKey);
          keep(pair.privateKey);
          const publicKey = ecPoint(module, session, pair.publicKey);
          const wrapped = module.C_WrapKey(session, KWP, lmk.lmkWrap, pair.privateKey, Buffer.alloc(512));
          return { handle: { block: seal(INTAKE_KEY_HEADER, Buffer.concat([publicKey, wrapped])), kcv: pairKcv(publicKey) }, publicKey };
        }),
      );
    },

    async importTransportedKey(intakeKey, envelope, context, attributes): Promise<KeyHandle> {
      assertOpen();
      assertKeyAttributes(attributes);
      return receive(intakeKey, envelope, context, (key) => sealAes(attributes, key)) as KeyHandle;
    },

    async translateTransportedKey(intakeKey, envelope, contextIn, recipientPublicKey, contextOut): Promise<Uint8Array> {
      assertOpen();
      return receive(intakeKey, envelope, contextIn, (key, keep) => {
        assertPublicKey(recipientPublicKey, 'recipient public key');
        const ephemeral = module.C_GenerateKeyPair(
          session,
          { mechanism: pkcs11js.CKM_EC_KEY_PAIR_GEN },
          [
            { type: pkcs11js.CKA_TOKEN, value: false },
            { type: pkcs11js.CKA_EC_PARAMS, value: P256_EC_PARAMS },
          ],
          sessionPrivateKeyTemplate(),
        );
        keep(ephemeral.publicKey);
        keep(ephemeral.privateKey);
        const ephemeralPublicKey = ecPoint(module, session, ephemeral.publicKey);
        const kek = transportKek(ephemeral.privateKey, recipientPublicKey, { partyU: ephemeralPublicKey, partyV: recipientPublicKey, context: contextOut }, keep);
        const wrappedKey = module.C_WrapKey(session, KWP, kek, key, Buffer.alloc(64));
        return encodeKeyEnvelope({ ephemeralPublicKey, wrappedKey: new Uint8Array(wrappedKey) });
      }) as Uint8Array;
    },

    async exportKeyUnder(kbpk, keyHandle, header): Promise<string> {
      return token(() =>
        withObjects((keep) => {
          const protection = unwrapChecked(kbpk, 'KBPK', COMMAND_POLICIES.wrapKeyBlock, keep, sessionAesTemplate(true));
          const opened = unwrapChecked(keyHandle, 'key', 'any', keep, sessionAesTemplate(true));
          // The rules are checked before any value leaves the token; then both keys are read for the TR-31 assembly.
          const exported = exportHeader(opened.header, opened.length, protection.length, header);
          const protectionKey = value(module, session, protection.key);
          const key = value(module, session, opened.key);
          try {
            if (constantTimeEqual(protectionKey, key)) throw new PaypadError('TR31_USAGE_NOT_ALLOWED', 'a key cannot be exported under itself');
            return wrapKeyBlock(protectionKey, exported, key, options.rng);
          } finally {
            wipe(protectionKey, key);
          }
        }),
      );
    },

    async importKeyComponents(attributes, components, kcv): Promise<KeyHandle> {
      assertOpen();
      assertKeyAttributes(attributes);
      const material = combineKeyComponents(components, kcv);
      try {
        return token(() => withObjects((keep) => sealAes(attributes, loadAes(material, keep))));
      } finally {
        wipe(material);
      }
    },

    async importKeyBlock(kek, block, usage): Promise<KeyHandle> {
      const policy = importPolicy(usage);
      return token(() =>
        withObjects((keep) => {
          const opened = unwrapChecked(kek, 'KEK', COMMAND_POLICIES.importUnderKek, keep, sessionAesTemplate(true));
          const kekValue = value(module, session, opened.key);
          let received: UnwrappedKey;
          try {
            received = unwrapKeyBlock(kekValue, block, policy);
          } finally {
            wipe(kekValue);
          }
          try {
            const attributes = importedAttributes(received.header, received.key.length, opened.length);
            return sealAes(attributes, loadAes(received.key, keep));
          } finally {
            wipe(received.key);
          }
        }),
      );
    },

    async generateZoneKey(zmk, request): Promise<ZoneKey> {
      assertOpen();
      assertKeyAttributes(request);
      assertAesKeyLength(request.lengthBytes);
      return token(() =>
        withObjects((keep) => {
          const opened = unwrapChecked(zmk, 'ZMK', COMMAND_POLICIES.exportUnderZmk, keep, sessionAesTemplate(true));
          const exported = zoneKeyExportHeader(request, opened.length);
          const key = keep(module.C_GenerateKey(session, { mechanism: pkcs11js.CKM_AES_KEY_GEN }, [...sessionAesTemplate(true), { type: pkcs11js.CKA_VALUE_LEN, value: request.lengthBytes }]));
          const zmkValue = value(module, session, opened.key);
          const keyValue = value(module, session, key);
          try {
            return { handle: sealAes(request, key), block: wrapKeyBlock(zmkValue, exported, keyValue, options.rng) };
          } finally {
            wipe(zmkValue, keyValue);
          }
        }),
      );
    },

    async translatePinBlock(sourceKey, destinationKey, pinBlock): Promise<Uint8Array> {
      return refusePinCommand(sourceKey, COMMAND_POLICIES.decipherPin, destinationKey, 'destination PIN key', COMMAND_POLICIES.encipherPin, pinBlock);
    },

    async pinVerificationValue(pinKey, pvk, pinBlock): Promise<Uint8Array> {
      return refusePinCommand(pinKey, COMMAND_POLICIES.decipherPin, pvk, 'PIN verification key', COMMAND_POLICIES.generatePvv, pinBlock);
    },

    async verifyPin(pinKey, pvk, pinBlock, _pan, pvv): Promise<void> {
      assertPvv(pvv);
      refusePinCommand(pinKey, COMMAND_POLICIES.decipherPin, pvk, 'PIN verification key', COMMAND_POLICIES.verifyPvv, pinBlock);
    },

    async decipherCardData(dataKey, enciphered): Promise<Uint8Array> {
      assertBytes(enciphered, 'enciphered card data');
      assertEncipheredCardData(enciphered);
      // CBC runs in the token (CKM_AES_CBC, no padding: SP 800-38A); only the clear card data, which the
      // caller needs for the authorisation anyway, comes out to have its padding removed.
      return withAesKey(dataKey, 'data key', COMMAND_POLICIES.decipherData, (key) => {
        module.C_DecryptInit(session, { mechanism: pkcs11js.CKM_AES_CBC, parameter: Buffer.from(enciphered.subarray(0, 16)) }, key);
        const padded = module.C_Decrypt(session, Buffer.from(enciphered.subarray(16)), Buffer.alloc(enciphered.length - 16));
        const data = removeCardDataPadding(new Uint8Array(padded));
        wipe(padded);
        return data;
      });
    },

    async mac(key, data): Promise<Uint8Array> {
      assertBytes(data, 'data');
      return withAesKey(key, 'MAC key', COMMAND_POLICIES.mac, (macKey) => new Uint8Array(cmac(macKey, data)));
    },

    async verifyMac(key, data, mac): Promise<void> {
      assertBytes(data, 'data');
      assertBytes(mac, 'MAC');
      withAesKey(key, 'MAC key', COMMAND_POLICIES.verifyMac, (macKey) => verifyCmac(macKey, data, mac));
    },

    async macWithDerivedKey(baseKey, derivation, data): Promise<Uint8Array> {
      assertBytes(data, 'data');
      return derivedMac(baseKey, derivation, (macKey) => new Uint8Array(cmac(macKey, data)));
    },

    async verifyMacWithDerivedKey(baseKey, derivation, data, mac): Promise<void> {
      assertBytes(data, 'data');
      assertBytes(mac, 'MAC');
      derivedMac(baseKey, derivation, (macKey) => verifyCmac(macKey, data, mac));
    },

    async deriveDukptWorkingKey(bdk, ksn, usage): Promise<KeyHandle> {
      assertBytes(ksn, 'KSN');
      parseDukptKsn(ksn);
      const attributes = dukptWorkingKeyAttributes(usage);
      // Every X9.24-3 derivation is AES-ECB of the derivation data under the parent key. For one
      // block that is CBC with a zero IV, which the token derives as a new key object
      // (CKM_AES_CBC_ENCRYPT_DATA), so no DUKPT key exists outside it. A longer BDK needs two-block
      // ECB derivations, which CBC is not and SoftHSM2 has no mechanism for: refused, not done in the host.
      return token(() =>
        withObjects((keep) => {
          const { key, length } = unwrapChecked(bdk, 'BDK', COMMAND_POLICIES.deriveDukpt, keep, deriveBaseTemplate());
          if (length !== CMAC_BYTES) {
            throw new PaypadError('HSM_COMMAND_UNSUPPORTED', 'the PKCS#11 HSM derives AES DUKPT keys from AES-128 BDKs only (one-block derivations inside the token)');
          }
          let current = key;
          for (const step of dukptHostDerivationSteps(length, ksn, usage)) {
            const parameter = { type: pkcs11js.CK_PARAMS_AES_CBC, iv: Buffer.alloc(CMAC_BYTES), data: Buffer.from(step.data) } as pkcs11js.IParams;
            current = keep(module.C_DeriveKey(session, { mechanism: pkcs11js.CKM_AES_CBC_ENCRYPT_DATA, parameter }, current, [...deriveBaseTemplate(), { type: pkcs11js.CKA_VALUE_LEN, value: step.lengthBytes }]));
          }
          return sealAes(attributes, current);
        }),
      );
    },

    async keyCheckValue(key): Promise<string> {
      assertOpen();
      assertKeyHandle(key, 'key');
      const { header } = parseKeyBlockHeader(key.block);
      if (header.algorithm === 'E') {
        return withIntakeKey(key, (_privateKey, publicKey) => pairKcv(publicKey));
      }
      return withAesKey(key, 'key', 'any', (material) => aesKcv(material));
    },

    async close(): Promise<void> {
      if (!open) return;
      open = false;
      try {
        module.C_CloseSession(session);
      } finally {
        releaseModule(options.library);
      }
    },
  };
  return Object.freeze(hsm);
}

/** A K_tkmac base key as a session object: enciphers the CMAC's L and chain, derives K_tkmac (derivedMac). */
function deriveBaseTemplate(): pkcs11js.Template {
  return sessionAesTemplate(false).concat([{ type: pkcs11js.CKA_ENCRYPT, value: true }, { type: pkcs11js.CKA_DERIVE, value: true }]);
}

/** An AES session object: MACs and check values; readable only when `reveal`. */
function sessionAesTemplate(reveal: boolean): pkcs11js.Template {
  return aesObjectTemplate(reveal, true).concat([{ type: pkcs11js.CKA_EXTRACTABLE, value: true }]);
}

function aesObjectTemplate(reveal: boolean, macs: boolean): pkcs11js.Template {
  return [
    { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
    { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_AES },
    { type: pkcs11js.CKA_TOKEN, value: false },
    { type: pkcs11js.CKA_SENSITIVE, value: !reveal },
    { type: pkcs11js.CKA_SIGN, value: macs },
    { type: pkcs11js.CKA_VERIFY, value: macs },
  ];
}

function sessionPrivateKeyTemplate(): pkcs11js.Template {
  return [
    { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PRIVATE_KEY },
    { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_EC },
    { type: pkcs11js.CKA_TOKEN, value: false },
    { type: pkcs11js.CKA_PRIVATE, value: true },
    { type: pkcs11js.CKA_SENSITIVE, value: true },
    { type: pkcs11js.CKA_DERIVE, value: true },
  ];
}

/** The uncompressed point of an EC public key object (CKA_EC_POINT is a DER OCTET STRING around it). */
function ecPoint(module: pkcs11js.PKCS11, session: Session, publicKey: ObjectHandle): Uint8Array {
  const [attribute] = module.C_GetAttributeValue(session, publicKey, [{ type: pkcs11js.CKA_EC_POINT }]);
  const der = attribute.value as Buffer;
  const point = der.length === P256_PUBLIC_KEY_BYTES + 2 && der[0] === 0x04 && der[1] === P256_PUBLIC_KEY_BYTES ? der.subarray(2) : der;
  if (point.length !== P256_PUBLIC_KEY_BYTES) throw new PaypadError('HSM_UNAVAILABLE', 'the token returned an EC point of an unexpected shape');
  return new Uint8Array(point);
}

function ecdh(peerPublicKey: Uint8Array): pkcs11js.ECDH1 {
  return { type: pkcs11js.CK_PARAMS_EC_DH, kdf: pkcs11js.CKD_NULL, publicData: Buffer.from(peerPublicKey) };
}

function value(module: pkcs11js.PKCS11, session: Session, key: ObjectHandle): Uint8Array {
  const [attribute] = module.C_GetAttributeValue(session, key, [{ type: pkcs11js.CKA_VALUE }]);
  const bytes = new Uint8Array(attribute.value as Buffer);
  wipe(attribute.value as Buffer);
  return bytes;
}


function describe(e: unknown): string {
  return e instanceof Error ? e.message.split('\n')[0].slice(0, 200) : String(e).slice(0, 200);
}

/** A token error no command expects: the device failed or was removed. */
function tokenFailure(e: unknown): PaypadError {
  return new PaypadError('HSM_UNAVAILABLE', `the PKCS#11 token failed: ${describe(e)}`);
}
