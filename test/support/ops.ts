/**
 * The operations table both engines run: op name -> the REAL shared/ function behind a JSON edge
 * (hex strings in, uppercase hex out). The XS suite (test/xs) runs it in Node and in XS and wants
 * identical outcomes; bench/xs-crypto measures it. Randomness comes only from `seed` (./opsRng).
 * Runs in XS: no Node APIs.
 */
import { fromHex, toHex } from '../../shared/bytes';
import { aesCbcDecrypt, aesCbcEncrypt, aesEcbDecrypt, aesEcbEncrypt } from '../../shared/crypto/aes';
import { decipherCardData, encipherCardData } from '../../shared/crypto/cardData';
import { aesCmac, verifyAesCmac } from '../../shared/crypto/cmac';
import { type KcvMethod, keyCheckValue } from '../../shared/crypto/kcv';
import { deriveKeyCounterCmac, kdfCounterCmacRaw } from '../../shared/crypto/kdf';
import { type DukptKeyType, type DukptKeyUsage, dukptDerivationKey, dukptHostWorkingKey, dukptInitialKey } from '../../shared/crypto/dukpt';
import { createDukptTerminal } from '../../shared/crypto/dukptTerminal';
import { aesKeyUnwrap, aesKeyUnwrapPadded, aesKeyWrap, aesKeyWrapPadded } from '../../shared/crypto/keyWrap';
import { decodeKeyEnvelope, encodeKeyEnvelope, generateP256KeyPair, unwrapKeyAsRecipient, wrapKeyForRecipient } from '../../shared/crypto/keyTransport';
import { verifyP256Sha256 } from '../../shared/crypto/ecdsa';
import { decipherPinBlockIso4, encipherPinBlockIso4 } from '../../shared/crypto/pinblock';
import { type Tr31HeaderInit, type Tr31KeyPolicy, deriveKeyBlockKeys, unwrapKeyBlock, wrapKeyBlock } from '../../shared/crypto/tr31';
import { buildKeyBlockHeader, parseKeyBlockHeader } from '../../shared/crypto/tr31Header';
import { isMainlandMobileNumber, maskMobileNumber } from '../../shared/mobileNumber';
import { isLuhnValid, luhnCheckDigit, maskPan } from '../../shared/pan';
import { readTrack2 } from '../../shared/track2';
import { type Json, type Op, defineOp } from './opsRunner';
import { type RngArgs, rngFromArgs } from './opsRng';

type KeyData = { key: string; data: string };
type KeyIvData = KeyData & { iv: string };
type KekData = { kek: string; data: string };

const keyData = ({ key, data }: KeyData) => ({ key: fromHex(key, 'key'), data: fromHex(data, 'data') });
const keyIvData = ({ key, iv, data }: KeyIvData) => ({ key: fromHex(key, 'key'), iv: fromHex(iv, 'iv'), data: fromHex(data, 'data') });
const kekData = ({ kek, data }: KekData) => ({ kek: fromHex(kek, 'kek'), data: fromHex(data, 'data') });

export const ops: Record<string, Op> = {
  // FIPS 197 AES, unpadded (shared/crypto/aes.ts)
  'aes.ecb.encrypt': defineOp(keyData, ({ key, data }) => toHex(aesEcbEncrypt(key, data))),
  'aes.ecb.decrypt': defineOp(keyData, ({ key, data }) => toHex(aesEcbDecrypt(key, data))),
  'aes.cbc.encrypt': defineOp(keyIvData, ({ key, iv, data }) => toHex(aesCbcEncrypt(key, iv, data))),
  'aes.cbc.decrypt': defineOp(keyIvData, ({ key, iv, data }) => toHex(aesCbcDecrypt(key, iv, data))),

  // SP 800-38B AES-CMAC (shared/crypto/cmac.ts)
  cmac: defineOp(keyData, ({ key, data }) => toHex(aesCmac(key, data))),
  'cmac.verify': defineOp(
    (a: KeyData & { mac: string }) => ({ ...keyData(a), mac: fromHex(a.mac, 'mac') }),
    ({ key, data, mac }) => (verifyAesCmac(key, data, mac), true),
  ),

  // X9.24-1 / legacy key check values (shared/crypto/kcv.ts)
  kcv: defineOp(
    ({ key, method }: { key: string; method: KcvMethod }) => ({ key: fromHex(key, 'key'), method }),
    ({ key, method }) => toHex(keyCheckValue(key, method)),
  ),

  // FIPS 186-5 ECDSA P-256 / SHA-256 verification (shared/crypto/ecdsa.ts)
  'ecdsa.verify': defineOp(
    (a: { publicKey: string; message: string; signature: string }) => ({
      publicKey: fromHex(a.publicKey, 'publicKey'),
      message: fromHex(a.message, 'message'),
      signature: fromHex(a.signature, 'signature'),
    }),
    ({ publicKey, message, signature }) => verifyP256Sha256(publicKey, message, signature),
  ),

  // SP 800-108r1 counter-mode KDF with CMAC (shared/crypto/kdf.ts)
  'kdf.deriveKeyCounterCmac': defineOp(
    (a: { key: string; label: string; context: string; lengthBytes: number }) => ({
      key: fromHex(a.key, 'key'),
      params: { label: fromHex(a.label, 'label'), context: fromHex(a.context, 'context'), lengthBytes: a.lengthBytes },
    }),
    ({ key, params }) => toHex(deriveKeyCounterCmac(key, params)),
  ),
  'kdf.counterCmacRaw': defineOp(
    (a: { key: string; fixedInput: string; lengthBytes: number }) => ({
      key: fromHex(a.key, 'key'),
      fixedInput: fromHex(a.fixedInput, 'fixed input'),
      lengthBytes: a.lengthBytes,
    }),
    ({ key, fixedInput, lengthBytes }) => toHex(kdfCounterCmacRaw(key, fixedInput, lengthBytes)),
  ),

  // RFC 3394 / RFC 5649 AES key wrap (shared/crypto/keyWrap.ts)
  'keyWrap.wrap': defineOp(kekData, ({ kek, data }) => toHex(aesKeyWrap(kek, data))),
  'keyWrap.unwrap': defineOp(kekData, ({ kek, data }) => toHex(aesKeyUnwrap(kek, data))),
  'keyWrap.wrapPadded': defineOp(kekData, ({ kek, data }) => toHex(aesKeyWrapPadded(kek, data))),
  'keyWrap.unwrapPadded': defineOp(kekData, ({ kek, data }) => toHex(aesKeyUnwrapPadded(kek, data))),

  // ISO 9564-1 format 4 PIN blocks (shared/crypto/pinblock.ts)
  'pinblock.iso4.encipher': defineOp(
    (a: { key: string; pin: string; pan: string } & RngArgs) => ({ key: fromHex(a.key, 'key'), pin: a.pin, pan: a.pan, rng: rngFromArgs(a) }),
    ({ key, pin, pan, rng }) => toHex(encipherPinBlockIso4(key, pin, pan, rng)),
  ),
  'pinblock.iso4.decipher': defineOp(
    (a: { key: string; block: string; pan: string }) => ({ key: fromHex(a.key, 'key'), block: fromHex(a.block, 'block'), pan: a.pan }),
    ({ key, block, pan }) => decipherPinBlockIso4(key, block, pan),
  ),

  // Card data under TDK, IV || AES-CBC (shared/crypto/cardData.ts), and track 2 read from it (shared/track2.ts)
  'cardData.encipher': defineOp(
    (a: { key: string; data: string } & RngArgs) => ({ key: fromHex(a.key, 'key'), data: fromHex(a.data, 'data'), rng: rngFromArgs(a) }),
    ({ key, data, rng }) => toHex(encipherCardData(key, data, rng)),
  ),
  'cardData.decipher': defineOp(
    (a: { key: string; enciphered: string }) => ({ key: fromHex(a.key, 'key'), enciphered: fromHex(a.enciphered, 'enciphered') }),
    ({ key, enciphered }) => toHex(decipherCardData(key, enciphered)),
  ),
  'track2.read': defineOp(({ track }: { track: string }) => fromHex(track, 'track'), (track) => ({ ...readTrack2(track) })),

  // ISO/IEC 7812-1 PANs: the Luhn check digit and PCI DSS 6/4 masking (shared/pan.ts)
  'pan.isLuhnValid': defineOp(({ number }: { number: string }) => number, (number) => isLuhnValid(number)),
  'pan.luhnCheckDigit': defineOp(({ payload }: { payload: string }) => payload, (payload) => luhnCheckDigit(payload)),
  'pan.mask': defineOp(({ pan }: { pan: string }) => pan, (pan) => maskPan(pan)),

  // Mainland-China mobile numbers: the number check at the POS and on the platform (shared/mobileNumber.ts, C4)
  'mobile.isMainland': defineOp(({ number }: { number: string }) => number, (number) => isMainlandMobileNumber(number)),
  'mobile.mask': defineOp(({ number }: { number: string }) => number, (number) => maskMobileNumber(number)),

  // TR-31 / X9.143 key blocks, version D (shared/crypto/tr31.ts, tr31Header.ts)
  'tr31.wrap': defineOp(
    (a: { kbpk: string; header: string | Tr31HeaderInit; key: string; maskedKeyLength?: number } & RngArgs) => ({
      kbpk: fromHex(a.kbpk, 'kbpk'),
      header: a.header,
      key: fromHex(a.key, 'key'),
      rng: rngFromArgs(a),
      opts: a.maskedKeyLength === undefined ? {} : { maskedKeyLength: a.maskedKeyLength },
    }),
    ({ kbpk, header, key, rng, opts }) => wrapKeyBlock(kbpk, header, key, rng, opts),
  ),
  'tr31.unwrap': defineOp(
    (a: { kbpk: string; block: string; policy: Tr31KeyPolicy }) => ({ kbpk: fromHex(a.kbpk, 'kbpk'), block: a.block, policy: a.policy }),
    ({ kbpk, block, policy }) => {
      const { key, header } = unwrapKeyBlock(kbpk, block, policy);
      return { key: toHex(key), header: header as unknown as Json };
    },
  ),
  'tr31.deriveKeys': defineOp(
    ({ kbpk }: { kbpk: string }) => fromHex(kbpk, 'kbpk'),
    (kbpk) => {
      const { kbek, kbmk } = deriveKeyBlockKeys(kbpk);
      return { kbek: toHex(kbek), kbmk: toHex(kbmk) };
    },
  ),
  'tr31.parseHeader': defineOp(
    ({ text }: { text: string }) => text,
    (text) => parseKeyBlockHeader(text) as unknown as Json,
  ),
  'tr31.buildHeader': defineOp(
    (a: { init: Tr31HeaderInit; bodyLength: number }) => a,
    ({ init, bodyLength }) => buildKeyBlockHeader(init, bodyLength),
  ),

  // ANSI X9.24-3-2017 AES DUKPT (shared/crypto/dukpt.ts, dukptTerminal.ts): the host from the BDK,
  // the device's future key registers through `count` transactions from its initial key
  'dukpt.initialKey': defineOp(
    (a: { bdk: string; initialKeyId: string }) => ({ bdk: fromHex(a.bdk, 'bdk'), initialKeyId: fromHex(a.initialKeyId, 'initialKeyId') }),
    ({ bdk, initialKeyId }) => toHex(dukptInitialKey(bdk, initialKeyId)),
  ),
  'dukpt.derivationKey': defineOp(
    (a: { initialKey: string; ksn: string }) => ({ initialKey: fromHex(a.initialKey, 'initialKey'), ksn: fromHex(a.ksn, 'ksn') }),
    ({ initialKey, ksn }) => toHex(dukptDerivationKey(initialKey, ksn)),
  ),
  'dukpt.hostWorkingKey': defineOp(
    (a: { bdk: string; ksn: string; usage: DukptKeyUsage; keyType?: DukptKeyType }) => ({ bdk: fromHex(a.bdk, 'bdk'), ksn: fromHex(a.ksn, 'ksn'), usage: a.usage, keyType: a.keyType }),
    ({ bdk, ksn, usage, keyType }) => toHex(dukptHostWorkingKey(bdk, ksn, usage, keyType)),
  ),
  'dukpt.terminal': defineOp(
    (a: { initialKey: string; initialKeyId: string; usage: DukptKeyUsage; keyType?: DukptKeyType; count: number }) => ({
      initialKey: fromHex(a.initialKey, 'initialKey'),
      initialKeyId: fromHex(a.initialKeyId, 'initialKeyId'),
      usage: a.usage,
      keyType: a.keyType,
      count: a.count,
    }),
    ({ initialKey, initialKeyId, usage, keyType, count }) => {
      const terminal = createDukptTerminal(initialKey, initialKeyId);
      const transactions: Json[] = [];
      for (let i = 0; i < count; i++) {
        const { ksn, key } = terminal.nextTransaction(usage, keyType);
        transactions.push({ ksn: toHex(ksn), key: toHex(key) });
      }
      return { transactions, state: toHex(terminal.encodeState()) };
    },
  ),

  // SP 800-56A one-pass ECDH P-256 + RFC 5649 key transport (shared/crypto/keyTransport.ts)
  'keyTransport.generateP256KeyPair': defineOp(
    (a: RngArgs) => rngFromArgs(a),
    (rng) => {
      const { privateKey, publicKey } = generateP256KeyPair(rng);
      return { privateKey: toHex(privateKey), publicKey: toHex(publicKey) };
    },
  ),
  'keyTransport.wrapKeyForRecipient': defineOp(
    (a: { recipientPublicKey: string; key: string; context: string } & RngArgs) => ({
      recipientPublicKey: fromHex(a.recipientPublicKey, 'recipient public key'),
      key: fromHex(a.key, 'key'),
      context: fromHex(a.context, 'context'),
      rng: rngFromArgs(a),
    }),
    ({ recipientPublicKey, key, context, rng }) => toHex(encodeKeyEnvelope(wrapKeyForRecipient(recipientPublicKey, key, context, rng))),
  ),
  'keyTransport.unwrapKeyAsRecipient': defineOp(
    (a: { recipientPrivateKey: string; envelope: string; context: string }) => ({
      recipientPrivateKey: fromHex(a.recipientPrivateKey, 'recipient private key'),
      envelope: fromHex(a.envelope, 'envelope'),
      context: fromHex(a.context, 'context'),
    }),
    ({ recipientPrivateKey, envelope, context }) => toHex(unwrapKeyAsRecipient(recipientPrivateKey, decodeKeyEnvelope(envelope), context)),
  ),
};
