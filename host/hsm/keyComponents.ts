/**
 * Forming a key from components at a key ceremony: split knowledge and dual control (ANSI
 * X9.24-1:2017), each custodian holding one component, the key being their XOR. The rules are
 * written once here and both HSM backends apply them before the key is kept.
 *
 * Each component is checked against the check value on its custodian's form, so a mistyped
 * component is caught and named before the others are combined with it; the combined key is
 * checked against the check value the other party (the bank) sent with the key.
 */
import { constantTimeEqual, fromHex, wipe } from '../../shared/bytes';
import { keyCheckValue } from '../../shared/crypto/kcv';
import { PaypadError } from '../../shared/errors';
import type { KeyComponent } from './hsm';
import { assertAesKeyLength } from './keyPolicy';

const MIN_COMPONENTS = 2;
const MAX_COMPONENTS = 3;
const KCV_HEX = /^[0-9A-Fa-f]{10}$/;

function invalid(message: string): never {
  throw new PaypadError('KEY_COMPONENTS_INVALID', message);
}

/** KCV_MISMATCH unless `key`'s CMAC check value is `kcv` (hex, either case). */
function assertCheckValue(key: Uint8Array, kcv: string, what: string): void {
  if (typeof kcv !== 'string' || !KCV_HEX.test(kcv)) invalid(`${what}: the check value must be 10 hex digits (the CMAC KCV)`);
  const computed = keyCheckValue(key, 'cmac');
  try {
    if (!constantTimeEqual(computed, fromHex(kcv))) {
      throw new PaypadError('KCV_MISMATCH', `${what}: the check value does not match; nothing was stored`);
    }
  } finally {
    wipe(computed);
  }
}

/**
 * The key the components make, after every check; the caller keeps it in its HSM and wipes it.
 * KEY_COMPONENTS_INVALID for a count other than 2 or 3, a component given twice (it would cancel
 * out of the XOR) or a zero key; BAD_LENGTH for lengths that are not one AES key length;
 * KCV_MISMATCH naming the component, or the combined key, whose check value differs.
 */
export function combineKeyComponents(components: readonly KeyComponent[], kcv: string): Uint8Array {
  if (!Array.isArray(components) || components.length < MIN_COMPONENTS || components.length > MAX_COMPONENTS) {
    invalid(`a key is entered as ${MIN_COMPONENTS} or ${MAX_COMPONENTS} components`);
  }
  components.forEach((component, i) => {
    if (typeof component !== 'object' || component === null || !(component.value instanceof Uint8Array)) {
      invalid(`component ${i + 1}: expected { value: bytes, kcv: 10 hex digits }`);
    }
  });
  const length = components[0].value.length;
  assertAesKeyLength(length);
  components.forEach((component, i) => {
    if (component.value.length !== length) throw new PaypadError('BAD_LENGTH', `component ${i + 1} is ${component.value.length} bytes, component 1 is ${length}`);
    for (let j = 0; j < i; j++) {
      if (constantTimeEqual(components[j].value, component.value)) invalid(`components ${j + 1} and ${i + 1} are the same: they would cancel out`);
    }
    assertCheckValue(component.value, component.kcv, `component ${i + 1}`);
  });
  const key = new Uint8Array(length);
  for (const component of components) for (let b = 0; b < length; b++) key[b] ^= component.value[b];
  try {
    if (key.every((b) => b === 0)) invalid('the components combine to a zero key');
    assertCheckValue(key, kcv, 'the combined key');
    return key;
  } catch (e) {
    wipe(key);
    throw e;
  }
}
