/**
 * HTTP status of each failure a KMS route reports. The status is part of a terminal response's
 * MAC input (shared/protocol/macEnvelope), so it is decided here, before the response is signed,
 * not by the app's error handler afterwards.
 */
import type { ErrorCode } from '../../shared/errors';
import { httpStatusOf } from '../http/errors';

const KMS_STATUS: Partial<Record<ErrorCode, number>> = {
  // RFC 9110 §15.5.2: the request's credentials (its MAC) do not verify.
  MAC_MISMATCH: 401,
  KMS_TERMINAL_UNKNOWN: 404,
  // RFC 9110 §15.5.10: authentic, but in conflict with the stored state.
  PROTOCOL_REPLAY: 409,
  KMS_KEY_STATE: 409,
  DELIVERY_CONFLICT: 409,
  KMS_CUSTOMER_MISMATCH: 403,
  // The HSM's master key or a stored handle is unusable: the KMS is at fault, not the caller.
  HSM_UNAVAILABLE: 503,
  HSM_HANDLE_INVALID: 500,
  HSM_LMK_INVALID: 500,
};

export function kmsHttpStatus(code: ErrorCode): number {
  return KMS_STATUS[code] ?? httpStatusOf(code);
}
