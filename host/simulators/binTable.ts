/**
 * The card schemes' BIN table, as the simulated provider routes with it: which scheme and which
 * issuing bank a PAN belongs to, by the longest BIN (issuer identification number, ISO/IEC 7812-1)
 * that prefixes it. Since ISO/IEC 7812-1:2017 BINs are 8 digits, and schemes still publish 6-digit
 * ones; a bank may also hold a 7-digit sub-range. An 8-digit entry inside a 6-digit one is a
 * different issuer's range carved out of it, so the longest match wins, whatever the table order.
 */
import { PaypadError } from '../../shared/errors';
import { isPanShaped } from '../../shared/pan';
import { CARD_SCHEMES, type CardScheme } from '../payments/paymentProvider';

export interface BinRange {
  /** 6, 7 or 8 leading digits of the PAN. */
  readonly bin: string;
  readonly scheme: CardScheme;
  /** The issuing bank's identifier in the simulated network. */
  readonly bankId: string;
}

const MIN_BIN_DIGITS = 6;
const MAX_BIN_DIGITS = 8;

export class BinTable {
  readonly #byBin = new Map<string, BinRange>();

  /** BIN_TABLE_INVALID for a BIN that is not 6 to 8 digits, an unknown scheme, or a BIN listed twice. */
  constructor(ranges: readonly BinRange[]) {
    for (const range of ranges) {
      if (typeof range?.bin !== 'string' || !/^\d{6,8}$/.test(range.bin)) {
        throw new PaypadError('BIN_TABLE_INVALID', `BIN table: a BIN must be ${MIN_BIN_DIGITS} to ${MAX_BIN_DIGITS} digits`);
      }
      if (!CARD_SCHEMES.includes(range.scheme)) {
        throw new PaypadError('BIN_TABLE_INVALID', `BIN table: BIN ${range.bin} names no known scheme (${CARD_SCHEMES.join(', ')})`);
      }
      if (typeof range.bankId !== 'string' || range.bankId.length === 0) {
        throw new PaypadError('BIN_TABLE_INVALID', `BIN table: BIN ${range.bin} names no bank`);
      }
      if (this.#byBin.has(range.bin)) throw new PaypadError('BIN_TABLE_INVALID', `BIN table: BIN ${range.bin} is listed twice`);
      this.#byBin.set(range.bin, Object.freeze({ bin: range.bin, scheme: range.scheme, bankId: range.bankId }));
    }
  }

  /** The range with the longest BIN that prefixes `pan`, or undefined when no scheme issued it. PAN_INVALID unless 8 to 19 digits. */
  lookup(pan: string): BinRange | undefined {
    if (!isPanShaped(pan)) throw new PaypadError('PAN_INVALID', 'BIN lookup: a PAN is 8 to 19 digits');
    for (let length = Math.min(MAX_BIN_DIGITS, pan.length); length >= MIN_BIN_DIGITS; length--) {
      const range = this.#byBin.get(pan.slice(0, length));
      if (range) return range;
    }
    return undefined;
  }
}
