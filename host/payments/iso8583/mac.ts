/**
 * The MAC of an acquirer-link message: AES-CMAC (NIST SP 800-38B) under the zone MAC key,
 * truncated to its leftmost 8 bytes (SP 800-38B: a tag of at least 64 bits), carried in
 * field 64, or in field 128 when the message has a secondary bitmap (ISO 8583:1987: the MAC
 * is the last data element). It covers the packed message from the MTI up to, not including,
 * the MAC field, so the bitmap bit of the MAC field itself is covered too.
 *
 * The key never comes here: the caller passes a MessageAuthenticator, in production the HSM's
 * mac/verifyMac bound to the zone MAC key handle (hsmMessageAuthenticator), which compares in
 * constant time. A mismatch is MAC_MISMATCH.
 */
import { PaypadError } from '../../../shared/errors';
import type { Hsm, KeyHandle } from '../../hsm/hsm';
import type { Iso8583Message, Packager } from './packager';

export const MAC_BYTES = 8;

export interface MessageAuthenticator {
  /** The CMAC of `data` (at least MAC_BYTES long; the leftmost MAC_BYTES are used). */
  mac(data: Uint8Array): Promise<Uint8Array>;
  /** Throws MAC_MISMATCH unless `mac` is the leftmost bytes of the CMAC of `data`; constant time. */
  verifyMac(data: Uint8Array, mac: Uint8Array): Promise<void>;
}

/** The HSM's CMAC under one zone MAC key (TR-31 usage M6). */
export function hsmMessageAuthenticator(hsm: Hsm, zoneMacKey: KeyHandle): MessageAuthenticator {
  return {
    mac: (data) => hsm.mac(zoneMacKey, data),
    verifyMac: (data, mac) => hsm.verifyMac(zoneMacKey, data, mac),
  };
}

/** 64 for a message with only a primary bitmap, 128 for one with a secondary bitmap. */
function macField(message: Iso8583Message): 64 | 128 {
  const secondary = Object.entries(message.fields).some(([key, value]) => value !== undefined && Number(key) > 64 && Number(key) !== 128);
  return secondary ? 128 : 64;
}

/** The bytes the MAC covers: the packed message without its trailing MAC value. */
function macInput(packager: Packager, message: Iso8583Message): Uint8Array {
  const packed = packager.pack(message);
  return packed.subarray(0, packed.length - MAC_BYTES);
}

/** `message` with its MAC field set. The message must not carry a MAC already. */
export async function signMessage(packager: Packager, message: Iso8583Message, authenticator: MessageAuthenticator): Promise<Iso8583Message> {
  if (message.fields[64] !== undefined || message.fields[128] !== undefined) {
    throw new PaypadError('ISO8583_FIELD_INVALID', 'message already carries a MAC (field 64 or 128)');
  }
  const field = macField(message);
  const placeholder = { mti: message.mti, fields: { ...message.fields, [field]: new Uint8Array(MAC_BYTES) } };
  const mac = await authenticator.mac(macInput(packager, placeholder));
  if (!(mac instanceof Uint8Array) || mac.length < MAC_BYTES) {
    throw new PaypadError('BAD_LENGTH', `MAC: expected at least ${MAC_BYTES} bytes from the authenticator`);
  }
  return Object.freeze({ mti: message.mti, fields: Object.freeze({ ...placeholder.fields, [field]: mac.slice(0, MAC_BYTES) }) });
}

/**
 * Checks the MAC of a message as unpacked from the link. ISO8583_MALFORMED when the MAC is missing
 * or in the wrong field for the message's bitmaps; MAC_MISMATCH when it does not verify.
 */
export async function verifyMessage(packager: Packager, message: Iso8583Message, authenticator: MessageAuthenticator): Promise<void> {
  const field = macField(message);
  const other = field === 64 ? 128 : 64;
  const mac = message.fields[field];
  if (message.fields[other] !== undefined) {
    throw new PaypadError('ISO8583_MALFORMED', `ISO 8583 message: a MAC belongs in field ${field} for this bitmap, not field ${other}`);
  }
  if (!(mac instanceof Uint8Array) || mac.length !== MAC_BYTES) {
    throw new PaypadError('ISO8583_MALFORMED', `ISO 8583 message: no ${MAC_BYTES}-byte MAC in field ${field}`);
  }
  await authenticator.verifyMac(macInput(packager, message), mac);
}
