/**
 * ISO 9564-1:2017 PIN block format 4: the AES PIN block (16 bytes).
 *
 *   plain text PIN field  C=4 | N | PIN digits | fill 'A' to nibble 16 | 8 random bytes
 *   PAN field             M | PAN (left-padded with '0' to 12 digits) | '0' pad to 32 nibbles
 *                         M = PAN length - 12, or 0 when the PAN has 12 digits or fewer
 *   enciphered block      E(K, E(K, PIN field) XOR PAN field)
 *
 * Unlike formats 0 and 3 the PAN is not truncated: every digit (up to 19) goes into the field,
 * and the double encipherment means neither field is ever XORed in clear with the other.
 * Example (ep2, test/vectors/pinblock.json): key C1D0F8FB4958670DBA40AB1F3752EF0D,
 * PAN 432198765432109870, PIN 1234 -> CC17F65586BFD0953010226C4FC5B3CA.
 *
 * PINs exist in clear only inside the PIN-entry module and HSM functions (ARCHITECTURE §3), so
 * every intermediate buffer is wiped here, and no message carries a PIN, a PAN or their lengths.
 * The returned PIN is a JS string, which cannot be wiped: keep its lifetime short.
 */
import { type Rng, randomBytes, wipe, xorBytes } from '../bytes';
import { PaypadError } from '../errors';
import { AES_BLOCK, aesEcbDecrypt, aesEcbEncrypt, assertAesKey } from './aes';

const CONTROL_FORMAT_4 = 0x4;
const FILL_NIBBLE = 0xa;
const PIN_MIN_DIGITS = 4;
const PIN_MAX_DIGITS = 12;
const PAN_MAX_DIGITS = 19;
/** The PAN field always holds at least 12 digits; shorter PANs are left-padded with zeros. */
const PAN_FIELD_MIN_DIGITS = 12;
/** The right half of the plain text PIN field is random (bytes 8..15). */
const RANDOM_FILL_OFFSET = 8;
const RANDOM_FILL_BYTES = 8;

/**
 * Enciphers `pin` for `pan` under the AES PIN key. The random half of the PIN field comes from
 * `rng`, so the same PIN and PAN give a different block each time.
 */
export function encipherPinBlockIso4(key: Uint8Array, pin: string, pan: string, rng: Rng): Uint8Array {
  assertAesKey(key, 'PIN key');
  assertPin(pin);
  const panField = buildPanField(pan);
  const random = randomBytes(rng, RANDOM_FILL_BYTES, 'the PIN block fill');
  const pinField = buildPinField(pin, random);
  try {
    return encipherFields(key, pinField, panField);
  } finally {
    wipe(random, pinField, panField);
  }
}

/** Deciphers a format 4 block for `pan` and returns the PIN digits; checks every fixed field. */
export function decipherPinBlockIso4(key: Uint8Array, block: Uint8Array, pan: string): string {
  return withPinFieldIso4(key, block, pan, readPin);
}

/**
 * PIN translation (ISO 9564-1:2017, format 4 on both sides): deciphers `block` under
 * `sourceKey` for `pan`, checks it, and enciphers the same plain text PIN field under
 * `destinationKey` for the same PAN. The field, random half included, is carried over as it is,
 * so translating back under the source key gives the original block. For an HSM: the clear PIN
 * field exists only in buffers wiped before this returns.
 */
export function translatePinBlockIso4(sourceKey: Uint8Array, destinationKey: Uint8Array, block: Uint8Array, pan: string): Uint8Array {
  assertAesKey(destinationKey, 'destination PIN key');
  return withPinFieldIso4(sourceKey, block, pan, (pinField, panField) => encipherFields(destinationKey, pinField, panField));
}

/**
 * Deciphers a format 4 block for `pan`, checks every fixed field of the plain text PIN field,
 * and runs `use` with that field and the PAN field; both are wiped however `use` ends. For HSM
 * functions (PIN verification) that must work on the PIN without it ever becoming a string.
 */
export function withPinFieldIso4<T>(key: Uint8Array, block: Uint8Array, pan: string, use: (pinField: Uint8Array, panField: Uint8Array) => T): T {
  assertAesKey(key, 'PIN key');
  if (!(block instanceof Uint8Array) || block.length !== AES_BLOCK) {
    const got = block instanceof Uint8Array ? `${block.length} bytes` : typeof block;
    throw new PaypadError('BAD_LENGTH', `PIN block: expected ${AES_BLOCK} bytes, got ${got}`);
  }
  const panField = buildPanField(pan);
  const intermediate = aesEcbDecrypt(key, block);
  const chained = xorBytes(intermediate, panField);
  const pinField = aesEcbDecrypt(key, chained);
  try {
    assertPinField(pinField);
    return use(pinField, panField);
  } finally {
    wipe(intermediate, chained, pinField, panField);
  }
}

/** E(K, E(K, PIN field) XOR PAN field): the format 4 encipherment. */
function encipherFields(key: Uint8Array, pinField: Uint8Array, panField: Uint8Array): Uint8Array {
  const intermediate = aesEcbEncrypt(key, pinField);
  const chained = xorBytes(intermediate, panField);
  try {
    return aesEcbEncrypt(key, chained);
  } finally {
    wipe(intermediate, chained);
  }
}

function assertPin(pin: string): void {
  if (typeof pin !== 'string' || pin.length < PIN_MIN_DIGITS || pin.length > PIN_MAX_DIGITS || !isDigits(pin)) {
    throw new PaypadError('PIN_INVALID', `PIN: expected ${PIN_MIN_DIGITS} to ${PIN_MAX_DIGITS} decimal digits`);
  }
}

function buildPanField(pan: string): Uint8Array {
  if (typeof pan !== 'string' || pan.length < 1 || pan.length > PAN_MAX_DIGITS || !isDigits(pan)) {
    throw new PaypadError('PAN_INVALID', `PAN: expected 1 to ${PAN_MAX_DIGITS} decimal digits`);
  }
  const field = new Uint8Array(AES_BLOCK);
  const digits = pan.length < PAN_FIELD_MIN_DIGITS ? '0'.repeat(PAN_FIELD_MIN_DIGITS - pan.length) + pan : pan;
  setNibble(field, 0, digits.length - PAN_FIELD_MIN_DIGITS);
  for (let i = 0; i < digits.length; i++) setNibble(field, 1 + i, digits.charCodeAt(i) - 48);
  return field;
}

function buildPinField(pin: string, random: Uint8Array): Uint8Array {
  const field = new Uint8Array(AES_BLOCK);
  setNibble(field, 0, CONTROL_FORMAT_4);
  setNibble(field, 1, pin.length);
  for (let i = 0; i < pin.length; i++) setNibble(field, 2 + i, pin.charCodeAt(i) - 48);
  for (let n = 2 + pin.length; n < 2 * RANDOM_FILL_OFFSET; n++) setNibble(field, n, FILL_NIBBLE);
  field.set(random, RANDOM_FILL_OFFSET);
  return field;
}

/**
 * A wrong key or PAN decrypts to noise, which these checks reject with high probability; the
 * message never says which field failed, so it leaks nothing about the PIN (not even its length).
 */
function assertPinField(field: Uint8Array): void {
  let valid = getNibble(field, 0) === CONTROL_FORMAT_4;
  const length = getNibble(field, 1);
  valid &&= length >= PIN_MIN_DIGITS && length <= PIN_MAX_DIGITS;
  for (let n = 2; valid && n < 2 * RANDOM_FILL_OFFSET; n++) valid = n < 2 + length ? getNibble(field, n) <= 9 : getNibble(field, n) === FILL_NIBBLE;
  if (!valid) throw new PaypadError('PIN_BLOCK_INVALID', 'PIN block: not a valid ISO 9564-1 format 4 block for this key and PAN');
}

/** The PIN digits of a checked plain text PIN field. */
function readPin(field: Uint8Array): string {
  let pin = '';
  for (let i = 0; i < getNibble(field, 1); i++) pin += String.fromCharCode(48 + getNibble(field, 2 + i));
  return pin;
}

function isDigits(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

function setNibble(bytes: Uint8Array, index: number, value: number): void {
  const i = index >> 1;
  bytes[i] = index & 1 ? (bytes[i] & 0xf0) | value : (bytes[i] & 0x0f) | (value << 4);
}

function getNibble(bytes: Uint8Array, index: number): number {
  return index & 1 ? bytes[index >> 1] & 0x0f : bytes[index >> 1] >> 4;
}
