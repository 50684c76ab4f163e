/**
 * Typed errors for everything in shared/ and firmware/core.
 *
 * Every failure carries a stable `code` that callers, tests and HTTP responses rely on; the
 * message is for people. Messages never include key, PIN or PAN values (X1).
 * Runs in XS and Node: no Node APIs.
 */
export type ErrorCode =
  // encoding and input shape
  | 'BAD_HEX'
  | 'BAD_LENGTH'
  | 'BAD_ARGUMENT'
  // keys and MACs
  | 'KEY_LENGTH'
  | 'MAC_MISMATCH'
  | 'KEY_UNWRAP_FAILED'
  // TR-31 key blocks
  | 'TR31_MALFORMED'
  | 'TR31_UNSUPPORTED'
  | 'TR31_MAC_MISMATCH'
  | 'TR31_USAGE_NOT_ALLOWED'
  | 'TR31_KEY_LENGTH'
  // ISO 9564 PIN blocks
  | 'PIN_INVALID'
  | 'PAN_INVALID'
  | 'PIN_BLOCK_INVALID'
  // ECDH key transport
  | 'PUBLIC_KEY_INVALID'
  | 'KEY_ENVELOPE_UNSUPPORTED';

export class PaypadError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string) {
    super(message);
    this.name = 'PaypadError';
    this.code = code;
  }
}

/** True when `e` is a PaypadError, optionally with the given code. Works across bundles. */
export function isPaypadError(e: unknown, code?: ErrorCode): e is PaypadError {
  if (typeof e !== 'object' || e === null) return false;
  const err = e as { name?: unknown; code?: unknown };
  return err.name === 'PaypadError' && typeof err.code === 'string' && (code === undefined || err.code === code);
}
