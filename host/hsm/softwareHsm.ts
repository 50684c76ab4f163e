/**
 * The software HSM: every key is a TR-31 version D block under a local master key (LMK, AES-256)
 * read from a file (lmkFile.ts). Keys are in clear only inside the functions below, in buffers
 * wiped before each command returns or throws (as far as JavaScript allows: the AES and P-256
 * libraries keep their own short-lived copies).
 *
 * Private keys are stored the same way as secret keys: a TR-31 block, usage K3 (asymmetric key
 * pair for key agreement), algorithm E, mode X, payload the RFC 5915 ECPrivateKey
 * (ecPrivateKey.ts). X9.143 defines those attributes for exactly this key, so one format with one
 * integrity check (the block's CMAC over header and key) covers every key, and the usage rules of
 * keyPolicy.ts apply to private keys as to the rest, instead of a second record format with its
 * own MAC and its own attribute encoding.
 *
 * Each KMS and MTMS opens its own instance with its own LMK file: they are separate HSMs, and a
 * handle made by one is refused by the others (TR31_MAC_MISMATCH).
 *
 * PIN translation and verification run here too, the plain text PIN field in wiped buffers inside
 * one command. This HSM is the host process, so it is a stand-in for development, tests and the
 * simulators, not a secure cryptographic device: a deployment that handles real PINs puts a payment
 * HSM behind the Hsm interface (docs/payment-keys.md).
 */
import { type Rng, constantTimeEqual, fromHex, toHex, wipe } from '../../shared/bytes';
import { decipherCardData } from '../../shared/crypto/cardData';
import { aesCmac, verifyAesCmac } from '../../shared/crypto/cmac';
import { dukptHostWorkingKey, parseDukptKsn } from '../../shared/crypto/dukpt';
import { keyCheckValue as aesKeyCheckValue } from '../../shared/crypto/kcv';
import { publicKeyCheckValue } from '../../shared/protocol/publicKeyCheck';
import { translatePinBlockIso4 } from '../../shared/crypto/pinblock';
import { type KdfParams, deriveKeyCounterCmac } from '../../shared/crypto/kdf';
import {
  decodeKeyEnvelope,
  encodeKeyEnvelope,
  generateP256KeyPair,
  unwrapKeyAsRecipient,
  wrapKeyForRecipient,
} from '../../shared/crypto/keyTransport';
import { type Tr31Header, type Tr31HeaderInit, type Tr31KeyPolicy, unwrapKeyBlock, wrapKeyBlock } from '../../shared/crypto/tr31';
import { parseKeyBlockHeader } from '../../shared/crypto/tr31Header';
import { PaypadError } from '../../shared/errors';
import { decodeP256PrivateKey, encodeP256PrivateKey } from './ecPrivateKey';
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
import { assertPvv, pinVerificationValueOf, verifyPinAgainstPvv } from './pinVerification';
import { LMK_BYTES, loadOrCreateLmk } from './lmkFile';

export interface SoftwareHsmOptions {
  /** Created with mode 0600 (and its directory 0700) on first use. */
  readonly lmkFile: string;
  /** Cryptographically secure: it makes every key, the LMK included. */
  readonly rng: Rng;
}

const KCV_BYTES = 5;

/** Opens (creating on first use) the LMK file and returns the HSM that keeps its keys under it. */
export async function openSoftwareHsm(options: SoftwareHsmOptions): Promise<Hsm> {
  if (typeof options !== 'object' || options === null || typeof options.rng !== 'function') {
    throw new PaypadError('BAD_ARGUMENT', 'software HSM: expected { lmkFile, rng }');
  }
  return softwareHsm(await loadOrCreateLmk(options.lmkFile, options.rng), options.rng);
}

/** The HSM over `lmk`, which it owns from here on (close() wipes it). Kept in a closure, not a property. */
function softwareHsm(lmk: Uint8Array, rng: Rng): Hsm {
  if (lmk.length !== LMK_BYTES) throw new PaypadError('HSM_LMK_INVALID', `the master key must be ${LMK_BYTES} bytes`);
  let open = true;

  function assertOpen(): void {
    if (!open) throw new PaypadError('HSM_UNAVAILABLE', 'the HSM is closed');
  }

  function randomBytes(length: number): Uint8Array {
    const bytes = rng(length);
    if (!(bytes instanceof Uint8Array) || bytes.length !== length) throw new PaypadError('RNG_FAILED', `rng must return ${length} bytes`);
    return bytes;
  }

  /** A storage block under the LMK for `material`, with its check value. */
  function seal(header: Tr31HeaderInit, material: Uint8Array): KeyHandle {
    const block = wrapKeyBlock(lmk, { ...header, keyContext: STORAGE_CONTEXT }, material, randomBytes);
    return { block, kcv: checkValueOf(header.algorithm, material) };
  }

  /**
   * Runs `use` with the key in `handle`, after checking that the block is authentic under this
   * LMK, satisfies `policy` ('any' for commands that take every usage), is a storage block and
   * carries the handle's kcv.
   * The key is wiped however `use` ends.
   */
  function withKey<T>(handle: KeyHandle, what: string, policy: Tr31KeyPolicy | 'any', use: (key: Uint8Array, header: Tr31Header) => T): T {
    assertOpen();
    assertKeyHandle(handle, what);
    const needs = policy === 'any' ? ownPolicy(handle.block) : policy;
    const { key, header } = unwrapKeyBlock(lmk, handle.block, needs);
    try {
      // Invariant: blocks under the LMK are storage blocks; the handle's kcv is its key's.
      if (header.keyContext !== STORAGE_CONTEXT) throw new PaypadError('HSM_HANDLE_INVALID', `${what}: not a storage key block`);
      if (!constantTimeEqual(fromHex(checkValueOf(header.algorithm, key)), fromHex(handle.kcv))) {
        throw new PaypadError('HSM_HANDLE_INVALID', `${what}: the handle's kcv is not its key's check value`);
      }
      return use(key, header);
    } finally {
      wipe(key);
    }
  }

  /** Opens the ECDH intake key and runs `use` with its private scalar. */
  function withIntakeKey<T>(handle: KeyHandle, use: (privateKey: Uint8Array) => T): T {
    return withKey(handle, 'intake key', COMMAND_POLICIES.keyAgreement, (der) => {
      const { privateKey } = decodeP256PrivateKey(der);
      try {
        return use(privateKey);
      } finally {
        wipe(privateKey);
      }
    });
  }

  function receive(intake: KeyHandle, envelope: Uint8Array, context: Uint8Array): Uint8Array {
    const decoded = decodeKeyEnvelope(envelope);
    return withIntakeKey(intake, (privateKey) => unwrapKeyAsRecipient(privateKey, decoded, context));
  }

  function derivedMac<T>(baseKey: KeyHandle, derivation: KdfParams, use: (macKey: Uint8Array) => T): T {
    if (typeof derivation !== 'object' || derivation === null) throw new PaypadError('BAD_ARGUMENT', 'derivation: expected { label, context, lengthBytes }');
    assertAesKeyLength(derivation.lengthBytes);
    return withKey(baseKey, 'base key', derivationPolicy(baseKey), (key) => {
      const macKey = deriveKeyCounterCmac(key, derivation);
      try {
        return use(macKey);
      } finally {
        wipe(macKey);
      }
    });
  }

  const hsm: Hsm = {
    async generateKey(request: GenerateKeyRequest): Promise<KeyHandle> {
      assertOpen();
      assertKeyAttributes(request);
      assertAesKeyLength(request.lengthBytes);
      const key = randomBytes(request.lengthBytes);
      try {
        return seal(headerOf(request), key);
      } finally {
        wipe(key);
      }
    },

    async generateKeyPair(curve): Promise<KeyPair> {
      assertOpen();
      if (curve !== 'P-256') throw new PaypadError('BAD_ARGUMENT', 'key pair: only curve P-256 is supported');
      const pair = generateP256KeyPair(randomBytes);
      const der = encodeP256PrivateKey(pair.privateKey, pair.publicKey);
      try {
        return { handle: seal(INTAKE_KEY_HEADER, der), publicKey: pair.publicKey };
      } finally {
        wipe(der, pair.privateKey);
      }
    },

    async importTransportedKey(intakeKey, envelope, context, attributes): Promise<KeyHandle> {
      assertOpen();
      assertKeyAttributes(attributes);
      const key = receive(intakeKey, envelope, context);
      try {
        return seal(headerOf(attributes), key);
      } finally {
        wipe(key);
      }
    },

    async translateTransportedKey(intakeKey, envelope, contextIn, recipientPublicKey, contextOut): Promise<Uint8Array> {
      assertOpen();
      const key = receive(intakeKey, envelope, contextIn);
      try {
        return encodeKeyEnvelope(wrapKeyForRecipient(recipientPublicKey, key, contextOut, randomBytes));
      } finally {
        wipe(key);
      }
    },

    async exportKeyUnder(kbpk, keyHandle, header): Promise<string> {
      return withKey(kbpk, 'KBPK', COMMAND_POLICIES.wrapKeyBlock, (protectionKey) =>
        withKey(keyHandle, 'key', 'any', (key, keyHeader) => {
          const exported = exportHeader(keyHeader, key.length, protectionKey.length, header);
          if (constantTimeEqual(protectionKey, key)) throw new PaypadError('TR31_USAGE_NOT_ALLOWED', 'a key cannot be exported under itself');
          return wrapKeyBlock(protectionKey, exported, key, randomBytes);
        }),
      );
    },

    async importKeyComponents(attributes, components, kcv): Promise<KeyHandle> {
      assertOpen();
      assertKeyAttributes(attributes);
      const key = combineKeyComponents(components, kcv);
      try {
        return seal(headerOf(attributes), key);
      } finally {
        wipe(key);
      }
    },

    async importKeyBlock(kek, block, usage): Promise<KeyHandle> {
      const policy = importPolicy(usage);
      return withKey(kek, 'KEK', COMMAND_POLICIES.importUnderKek, (kekKey) => {
        const { key, header } = unwrapKeyBlock(kekKey, block, policy);
        try {
          return seal(headerOf(importedAttributes(header, key.length, kekKey.length)), key);
        } finally {
          wipe(key);
        }
      });
    },

    async generateZoneKey(zmk, request): Promise<ZoneKey> {
      assertOpen();
      assertKeyAttributes(request);
      assertAesKeyLength(request.lengthBytes);
      return withKey(zmk, 'ZMK', COMMAND_POLICIES.exportUnderZmk, (zmkKey) => {
        const exported = zoneKeyExportHeader(request, zmkKey.length);
        const key = randomBytes(request.lengthBytes);
        try {
          return { handle: seal(headerOf(request), key), block: wrapKeyBlock(zmkKey, exported, key, randomBytes) };
        } finally {
          wipe(key);
        }
      });
    },

    async translatePinBlock(sourceKey, destinationKey, pinBlock, pan): Promise<Uint8Array> {
      assertBytes(pinBlock, 'PIN block');
      return withKey(sourceKey, 'source PIN key', COMMAND_POLICIES.decipherPin, (source) =>
        withKey(destinationKey, 'destination PIN key', COMMAND_POLICIES.encipherPin, (destination) => translatePinBlockIso4(source, destination, pinBlock, pan)),
      );
    },

    async pinVerificationValue(pinKey, pvk, pinBlock, pan): Promise<Uint8Array> {
      assertBytes(pinBlock, 'PIN block');
      return withKey(pinKey, 'PIN key', COMMAND_POLICIES.decipherPin, (pin) =>
        withKey(pvk, 'PIN verification key', COMMAND_POLICIES.generatePvv, (verification) => pinVerificationValueOf(verification, pin, pinBlock, pan)),
      );
    },

    async verifyPin(pinKey, pvk, pinBlock, pan, pvv): Promise<void> {
      assertBytes(pinBlock, 'PIN block');
      assertPvv(pvv);
      withKey(pinKey, 'PIN key', COMMAND_POLICIES.decipherPin, (pin) =>
        withKey(pvk, 'PIN verification key', COMMAND_POLICIES.verifyPvv, (verification) => verifyPinAgainstPvv(verification, pin, pinBlock, pan, pvv)),
      );
    },

    async decipherCardData(dataKey, enciphered): Promise<Uint8Array> {
      assertBytes(enciphered, 'enciphered card data');
      return withKey(dataKey, 'data key', COMMAND_POLICIES.decipherData, (key) => decipherCardData(key, enciphered));
    },

    async mac(key, data): Promise<Uint8Array> {
      assertBytes(data, 'data');
      return withKey(key, 'MAC key', COMMAND_POLICIES.mac, (macKey) => aesCmac(macKey, data));
    },

    async verifyMac(key, data, mac): Promise<void> {
      assertBytes(data, 'data');
      assertBytes(mac, 'MAC');
      withKey(key, 'MAC key', COMMAND_POLICIES.verifyMac, (macKey) => verifyAesCmac(macKey, data, mac));
    },

    async macWithDerivedKey(baseKey, derivation, data): Promise<Uint8Array> {
      assertBytes(data, 'data');
      return derivedMac(baseKey, derivation, (macKey) => aesCmac(macKey, data));
    },

    async verifyMacWithDerivedKey(baseKey, derivation, data, mac): Promise<void> {
      assertBytes(data, 'data');
      assertBytes(mac, 'MAC');
      derivedMac(baseKey, derivation, (macKey) => verifyAesCmac(macKey, data, mac));
    },

    async deriveDukptWorkingKey(bdk, ksn, usage): Promise<KeyHandle> {
      assertBytes(ksn, 'KSN');
      parseDukptKsn(ksn);
      const attributes = dukptWorkingKeyAttributes(usage);
      return withKey(bdk, 'BDK', COMMAND_POLICIES.deriveDukpt, (key) => {
        const working = dukptHostWorkingKey(key, ksn, usage);
        try {
          return seal(headerOf(attributes), working);
        } finally {
          wipe(working);
        }
      });
    },

    async keyCheckValue(key): Promise<string> {
      return withKey(key, 'key', 'any', (material, header) => checkValueOf(header.algorithm, material));
    },

    async close(): Promise<void> {
      if (!open) return;
      open = false;
      wipe(lmk);
    },
  };
  return Object.freeze(hsm);
}

/**
 * Check value of key material as stored: the CMAC KCV of an AES key (X9.24-1:2017 §7.7.2); for a
 * key pair (algorithm E, an RFC 5915 ECPrivateKey) the leftmost 5 bytes of SHA-256 over its public key.
 */
function checkValueOf(algorithm: string, material: Uint8Array): string {
  if (algorithm === 'A') return toHex(aesKeyCheckValue(material, 'cmac'));
  if (algorithm !== 'E') throw new PaypadError('HSM_HANDLE_INVALID', `no check value is defined for algorithm ${algorithm}`);
  const { privateKey, publicKey } = decodeP256PrivateKey(material);
  wipe(privateKey);
  return publicKeyCheckValue(publicKey);
}


/** A policy the block's own header satisfies: for commands that accept any key, the MAC check alone decides. */
function ownPolicy(block: string): Tr31KeyPolicy {
  const { header } = parseKeyBlockHeader(block);
  return { usage: header.keyUsage, modesOfUse: [header.modeOfUse], algorithm: header.algorithm };
}
