/**
 * Storage: small named byte values that survive a reboot (key vault slots, onboarding state,
 * sequence counters).
 *
 * On the ESP32 this is NVS through Moddable's `preference` module, so the contract carries NVS
 * limits: namespace and key names of at most 15 characters (ESP-IDF NVS_KEY_NAME_MAX_SIZE is 16
 * including the terminating NUL) and values of at most 4000 bytes (Moddable preference, ESP32).
 * Every adapter enforces the same limits, so code that runs in the emulator also fits the device.
 *
 * Values are bytes and nothing else: the key vault encrypts before it stores, and a string or
 * number would be a second encoding to get wrong. Writes are whole-value replacements; NVS
 * commits each one on its own, so callers that need two values to change together keep them in
 * one value.
 */

/** Longest namespace or key name, in characters (ESP-IDF NVS, 15 + NUL). */
export const STORAGE_NAME_MAX = 15;
/** Largest value, in bytes (Moddable `preference` on ESP32). */
export const STORAGE_VALUE_MAX = 4000;

/**
 * Names are ASCII letters, digits, `_`, `-` and `.`: they become C strings in NVS and file names
 * in the emulator, so nothing that needs escaping in either.
 */
const NAME = /^[A-Za-z0-9_.-]+$/;

export interface Storage {
  /** The stored bytes, or undefined when the key was never set or was deleted. */
  get(namespace: string, key: string): Uint8Array | undefined;
  /** Replaces the value. Throws PaypadError STORAGE_LIMIT or STORAGE_FAILED (flash full, I/O). */
  set(namespace: string, key: string, value: Uint8Array): void;
  /** Removes the key; removing a missing key is not an error. */
  delete(namespace: string, key: string): void;
  /** The keys present in a namespace, in no particular order. */
  keys(namespace: string): string[];
}

/**
 * Why `name` cannot be a namespace or key name, or undefined when it can. Adapters throw
 * PaypadError('STORAGE_LIMIT', reason); the reason never contains value bytes.
 */
export function storageNameProblem(what: 'namespace' | 'key', name: string): string | undefined {
  if (typeof name !== 'string' || name.length === 0) return `storage ${what}: expected a non-empty string`;
  if (name.length > STORAGE_NAME_MAX) return `storage ${what}: ${name.length} characters, at most ${STORAGE_NAME_MAX}`;
  if (!NAME.test(name)) return `storage ${what}: only letters, digits, '_', '-' and '.' are allowed`;
  return undefined;
}

/** Why `value` cannot be stored, or undefined when it can. */
export function storageValueProblem(value: Uint8Array): string | undefined {
  if (!(value instanceof Uint8Array)) return 'storage value: expected Uint8Array';
  // An empty value would be a second way to say "absent"; delete() is the one way.
  if (value.length === 0) return 'storage value: empty, use delete()';
  if (value.length > STORAGE_VALUE_MAX) return `storage value: ${value.length} bytes, at most ${STORAGE_VALUE_MAX}`;
  return undefined;
}
