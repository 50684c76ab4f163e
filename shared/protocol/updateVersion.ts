/**
 * Program versions (SPEC B1, B4): MAJOR.MINOR.PATCH, each a decimal 0..65535 without leading zero,
 * ordered numerically part by part (1.10.0 is above 1.9.3). No pre-release or build suffix: a
 * terminal must order every version it is offered, and "no downgrade" needs a total order.
 * Runs in XS: no Node APIs.
 */
import { PaypadError } from '../errors';
import { string } from './validate';

const PART = '(0|[1-9][0-9]{0,4})';
export const programVersion = string({
  min: 5,
  max: 17,
  pattern: new RegExp(`^${PART}\\.${PART}\\.${PART}$`),
  describe: 'MAJOR.MINOR.PATCH, each 0 to 65535',
});

/** A program's name: what a package replaces on the terminal (e.g. "paypad-firmware"). */
export const programName = string({ min: 1, max: 32, pattern: /^[a-z0-9][a-z0-9._-]*$/, describe: '1 to 32 of a-z 0-9 . _ - starting with a letter or digit' });

/** A terminal model, as printed on its label and kept in its identity (e.g. "PP-ESP32"). */
export const terminalModel = string({ min: 1, max: 32, pattern: /^[A-Za-z0-9][A-Za-z0-9._-]*$/, describe: '1 to 32 of A-Z a-z 0-9 . _ -' });

function parts(version: string): number[] {
  programVersion(version, 'program version');
  const out: number[] = [];
  for (const part of version.split('.')) {
    const n = Number(part);
    if (n > 65535) throw new PaypadError('PROTOCOL_MALFORMED', 'program version: each part must be at most 65535');
    out.push(n);
  }
  return out;
}

/** Negative when a < b, 0 when equal, positive when a > b. PROTOCOL_MALFORMED for a malformed version. */
export function compareVersions(a: string, b: string): number {
  const x = parts(a);
  const y = parts(b);
  for (let i = 0; i < 3; i++) if (x[i] !== y[i]) return x[i] - y[i];
  return 0;
}
