/**
 * Between typed message objects and field values: numbers to fixed-width digits for the
 * builders, and required/optional field reads for the readers. A reader's complaint is
 * ISO8583_MALFORMED (the peer sent a message its type does not allow); a builder's is
 * ISO8583_FIELD_INVALID (our caller passed a value the field cannot carry). Readers take a message
 * as Packager.unpack returns it, every field already checked against its spec.
 */
import { PaypadError } from '../../../shared/errors';
import type { FieldValue } from './fieldSpec';
import type { Iso8583Message } from './packager';

/** `value` as exactly `length` digits, zero-filled on the left (ISO 8583 n fields are right-justified). */
export function digits(value: number | bigint, length: number, what: string): string {
  const valid = typeof value === 'bigint' ? value >= 0n : Number.isSafeInteger(value) && value >= 0;
  const text = valid ? value.toString() : '';
  if (!valid || text.length > length) {
    throw new PaypadError('ISO8583_FIELD_INVALID', `${what}: expected a whole number from 0 to ${'9'.repeat(length)}`);
  }
  return text.padStart(length, '0');
}

function malformed(message: Iso8583Message, text: string): PaypadError {
  return new PaypadError('ISO8583_MALFORMED', `ISO 8583 ${message.mti}: ${text}`);
}

export function expectMti(message: Iso8583Message, mti: string): void {
  if (message.mti !== mti) throw new PaypadError('ISO8583_MALFORMED', `ISO 8583: expected an ${mti}, got an ${message.mti}`);
}

function value(message: Iso8583Message, field: number): FieldValue | undefined {
  return message.fields[field];
}

export function optionalText(message: Iso8583Message, field: number): string | undefined {
  const v = value(message, field);
  if (v instanceof Uint8Array) throw malformed(message, `field ${field} must be text`);
  return v;
}

export function requireText(message: Iso8583Message, field: number): string {
  const v = optionalText(message, field);
  if (v === undefined) throw malformed(message, `field ${field} is required`);
  return v;
}

export function optionalBytes(message: Iso8583Message, field: number): Uint8Array | undefined {
  const v = value(message, field);
  if (typeof v === 'string') throw malformed(message, `field ${field} must be bytes`);
  return v;
}

/** Refuses a field the message type must not carry (track 2 in a response, say). */
export function forbid(message: Iso8583Message, ...fields: number[]): void {
  for (const field of fields) if (value(message, field) !== undefined) throw malformed(message, `field ${field} does not belong in this message`);
}

/** A numeric field as a number (counts, STANs: at most 10 digits, within safe integers). */
export function requireInteger(message: Iso8583Message, field: number): number {
  return Number(requireText(message, field));
}

/** A numeric amount field in minor units. */
export function requireAmount(message: Iso8583Message, field: number): bigint {
  return BigInt(requireText(message, field));
}
