/**
 * `paypad terminal pay mobile` command lines (C3-C8, X1): what is wrong with a command line exits 2
 * before anything is sent, with nothing on stdout. The PIN has no flag; a number failing the rule
 * (C4) is a wrong flag; a script must give every answer when standard input is not a terminal.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { EXIT_USAGE } from '../../../bin/args';
import { terminalCommand } from '../../../bin/commands/terminal';
import { runCommand } from '../../support/runCommand';

const dir = mkdtempSync(join(tmpdir(), 'paypad-pay-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const pay = (...argv: string[]) => runCommand(terminalCommand, ['pay', 'mobile', '--state-dir', join(dir, 'terminal'), ...argv]);
const FULL = ['--payee', '13800138000', '--amount', '2500', '--card', 'unionPay', '--pin-stdin', '--yes'];

describe('paypad terminal pay mobile: command-line errors exit 2 and send nothing', () => {
  it('X1: the PIN is never a flag: --pin is an unknown flag', async () => {
    const run = await pay(...FULL, '--pin', '1234');
    expect(run).toMatchObject({ code: EXIT_USAGE, out: '' });
    expect(run.err).toMatch(/Unknown option '--pin'/);
  });

  it('C4: a payee number failing the rule is a wrong flag with the rule\'s code', async () => {
    const run = await pay(...FULL.map((a) => (a === '13800138000' ? '12345678901' : a)));
    expect(run).toMatchObject({ code: EXIT_USAGE, out: '' });
    expect(run.err).toMatch(/--payee: MOBILE_NUMBER_INVALID/);
  });

  it.each([
    ['an amount of zero', ['--amount', '0'], /--amount: expected whole minor units/],
    ['an amount with a decimal point', ['--amount', '25.00'], /--amount: expected whole minor units/],
    ['a currency that is not ISO 4217 alphabetic', ['--currency', 'yuan'], /--currency: expected an ISO 4217 code/],
    ['a payer number failing the rule', ['--payer', '1390013900'], /--payer: expected an 11-digit/],
    ['a card that is neither a test card nor a file', ['--card', 'gold'], /--card: 'gold' is neither a test card/],
  ])('%s', async (_name, change, message) => {
    const argv = [...FULL];
    for (let i = 0; i < change.length; i += 2) {
      const at = argv.indexOf(change[i]);
      if (at >= 0) argv[at + 1] = change[i + 1];
      else argv.push(change[i], change[i + 1]);
    }
    const run = await pay(...argv);
    expect(run).toMatchObject({ code: EXIT_USAGE, out: '' });
    expect(run.err).toMatch(message);
  });

  it('a card file without track 2 is a wrong flag; its content is not echoed', async () => {
    const file = join(dir, 'track1-only.txt');
    writeFileSync(file, '%B6222021000000000017^ZHANG/SAN^30121011234?\n');
    const run = await pay(...FULL.map((a) => (a === 'unionPay' ? file : a)));
    expect(run).toMatchObject({ code: EXIT_USAGE, out: '' });
    expect(run.err).toMatch(/no track 2 in the file/);
    expect(run.err).not.toContain('6222021000000000017');
  });

  it('without a terminal on standard input every answer must be a flag: the missing ones are named', async () => {
    const run = await pay('--payee', '13800138000');
    expect(run).toMatchObject({ code: EXIT_USAGE, out: '' });
    expect(run.err).toMatch(/standard input is not a terminal: give --amount, --card, --pin-stdin, --yes/);
  });
});
