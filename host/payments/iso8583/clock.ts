/**
 * The date and time fields of ISO 8583:1987: field 7 transmission date and time (MMDDhhmmss, in
 * UTC: the standard's "GMT"), fields 12 and 13 local transaction time (hhmmss) and date (MMDD) at
 * the card acceptor, and field 15 settlement date (MMDD). No year travels; the peer infers it.
 */

const two = (n: number): string => String(n).padStart(2, '0');

/** Field 7 for `date`. */
export function transmissionDateTime(date: Date): string {
  return `${two(date.getUTCMonth() + 1)}${two(date.getUTCDate())}${two(date.getUTCHours())}${two(date.getUTCMinutes())}${two(date.getUTCSeconds())}`;
}

/** Fields 12 and 13 for `date` at a card acceptor `utcOffsetMinutes` from UTC (480 for China). */
export function localTransactionTime(date: Date, utcOffsetMinutes: number): { localTime: string; localDate: string } {
  const local = new Date(date.getTime() + utcOffsetMinutes * 60_000);
  return {
    localTime: `${two(local.getUTCHours())}${two(local.getUTCMinutes())}${two(local.getUTCSeconds())}`,
    localDate: `${two(local.getUTCMonth() + 1)}${two(local.getUTCDate())}`,
  };
}
