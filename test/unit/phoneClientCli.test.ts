/**
 * `paypad phone` refuses a wrong command line with exit 2 before it touches anything, and a phone
 * that is not enrolled with exit 1 and the code PHONE_NOT_ENROLLED (D1); card numbers and PINs
 * are never taken from a flag.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { EXIT_FAILED, EXIT_USAGE } from '../../bin/args';
import { phoneCommand } from '../../bin/commands/phone';
import { runCommand } from '../support/runCommand';

const dir = mkdtempSync(join(tmpdir(), 'paypad-phone-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const home = join(dir, 'phone');
const url = 'http://127.0.0.1:9';

describe('paypad phone command line', () => {
  it('D1: wrong flags exit 2 and make no element key', async () => {
    for (const argv of [
      ['enrol', '--mobile', '1391234567'],
      ['confirm', '--code', '12345'],
      ['bind-card', '--expiry', '3013', '--holder', 'Li Lei'],
      ['bind-card', '--pan', '6222021000000000017', '--expiry', '3012', '--holder', 'Li Lei'],
      ['pay', '--bill', 'B'.padEnd(21, 'A'), '--pin', '1234'],
      ['watch', '--count', '0'],
    ]) {
      const run = await runCommand(phoneCommand, [...argv, '--home', home, '--url', url]);
      expect(run.code, argv.join(' ')).toBe(EXIT_USAGE);
    }
    expect(existsSync(join(home, 'element.key'))).toBe(false);
  });

  it('D1: a phone that was never enrolled says so (exit 1, PHONE_NOT_ENROLLED)', async () => {
    const run = await runCommand(phoneCommand, ['bills', '--home', home, '--url', url]);
    expect(run.code).toBe(EXIT_FAILED);
    expect(run.err).toContain('PHONE_NOT_ENROLLED');
  });
});
