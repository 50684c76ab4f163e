/**
 * What a new user meets at the command line: a wrong command line exits 2 (bad hex, a key of the
 * wrong length, a missing --data, a missing file, a malformed serial), the operation failing exits
 * 1, an unknown flag names the closest one, and the administration commands refuse to make a new,
 * empty database when run away from the host's data directory.
 */
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EXIT_FAILED, EXIT_USAGE } from '../../../bin/args';
import { caCommand } from '../../../bin/commands/ca';
import { cryptoCommand } from '../../../bin/commands/crypto';
import { runCommand } from '../../support/runCommand';

const KEY = '2B7E151628AED2A6ABF7158809CF4F3C';

describe('paypad crypto command lines', () => {
  const crypto = (...argv: string[]) => runCommand(cryptoCommand, argv);

  it('bad hex, a short key, a missing --data are usage errors (exit 2), with nothing on stdout', async () => {
    for (const argv of [
      ['cmac', '--key', 'ZZ', '--data', '00'],
      ['cmac', '--key', '00', '--data', '00'],
      ['cmac', '--key', KEY],
      ['cmac', '--key', KEY, '--data', '0'],
      ['kcv', '--key', KEY.slice(2)],
      ['tr31', 'unwrap', '--kbpk', 'nothex', '--block', 'D0000'],
      ['pinblock', 'decode', '--format', '4', '--key', KEY, '--block', 'XYZ', '--pan', '4111111111111111'],
    ]) {
      const run = await crypto(...argv);
      expect([run.code, run.out], argv.join(' ')).toEqual([EXIT_USAGE, '']);
      expect(run.err).toMatch(/^paypad: /);
    }
    expect((await crypto('cmac', '--key', KEY)).err).toMatch(/missing --data \(give --data "" to MAC the empty message\)/);
  });

  it('cmac of the empty message is asked for explicitly; a failing operation still exits 1', async () => {
    expect(await crypto('cmac', '--key', KEY, '--data', '')).toMatchObject({ code: 0, out: 'BB1D6929E95937287FA37D129B756746\n' });
    const tampered = await crypto('tr31', 'unwrap', '--kbpk', KEY, '--block', 'D0112P0AE00E0000' + '0'.repeat(96));
    expect(tampered.code).toBe(EXIT_FAILED);
  });

  it('an unknown flag is a usage error that names the closest one', async () => {
    const run = await crypto('cmac', '--key', KEY, '--dat', '00');
    expect(run).toMatchObject({ code: EXIT_USAGE, err: 'paypad: unknown flag --dat; did you mean --data?\n' });
    expect((await crypto('kcv', '--key', KEY, '--completely-else')).err).not.toMatch(/did you mean/);
  });
});

describe('paypad ca away from the data directory', () => {
  let cwd: string;
  const saved = { cwd: process.cwd(), url: process.env.DATABASE_URL, dir: process.env.PAYPAD_DATA_DIR };
  beforeEach(() => {
    cwd = mkdtempSync(join(tmpdir(), 'paypad-elsewhere-'));
    process.chdir(cwd);
    delete process.env.DATABASE_URL;
    delete process.env.PAYPAD_DATA_DIR;
  });
  afterEach(() => {
    process.chdir(saved.cwd);
    rmSync(cwd, { recursive: true, force: true });
  });
  afterAll(() => {
    if (saved.url !== undefined) process.env.DATABASE_URL = saved.url;
    if (saved.dir !== undefined) process.env.PAYPAD_DATA_DIR = saved.dir;
  });

  it('refuses with a clear message and creates nothing, instead of making a new empty database', async () => {
    for (const argv of [['list'], ['revoke', '--serial', '01'], ['crl']]) {
      const run = await runCommand(caCommand, argv);
      expect(run, argv.join(' ')).toMatchObject({ code: EXIT_USAGE, err: expect.stringMatching(/no paypad data directory at .*data \(so no database .*paypad\.sqlite\): run this command where the host runs, or say where its data directory is with --data-dir/) });
    }
    expect(readdirSync(cwd)).toEqual([]);
  });

  it('a malformed certificate serial or a CSR file that is not there is a usage error, without a stack trace', async () => {
    expect(await runCommand(caCommand, ['revoke', '--serial', 'zz'])).toMatchObject({ code: EXIT_USAGE, err: expect.stringMatching(/^paypad: --serial: /) });
    const csr = await runCommand(caCommand, ['issue', '--role', 'operator', '--name', 'x', '--out', join(cwd, 'out'), '--csr', join(cwd, 'missing.csr')]);
    expect(csr).toMatchObject({ code: EXIT_USAGE, err: expect.stringMatching(/^paypad: --csr: cannot read .*missing\.csr: ENOENT\n$/) });
    expect(existsSync(join(cwd, 'data'))).toBe(false);
  });
});
