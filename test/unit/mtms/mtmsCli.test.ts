/**
 * `paypad mtms` (A3, A7, A9): the administrator's commands against a SQLite data directory, as a
 * person would type them; bad command lines are usage errors (exit 2) and refused operations are
 * typed failures (exit 1).
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { mtmsCommand } from '../../../bin/commands/mtms';
import { tempDir } from './mtmsTestKit';
import { runCommand } from '../../support/runCommand';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

describe('paypad mtms', () => {
  let dataDir: string;
  const savedUrl = process.env.DATABASE_URL;

  beforeEach(async () => {
    dataDir = await tempDir('paypad-mtms-cli-');
    // The CLI follows DATABASE_URL; these runs use SQLite in the temporary data directory.
    delete process.env.DATABASE_URL;
  });
  afterEach(() => {
    if (savedUrl !== undefined) process.env.DATABASE_URL = savedUrl;
    vi.restoreAllMocks();
  });

  async function run(...argv: string[]): Promise<Run> {
    const { code, out, err } = await runCommand(mtmsCommand, [...argv, ...(argv.includes('--help') ? [] : ['--data-dir', dataDir])]);
    return { code, stdout: out, stderr: err };
  }

  it('A7/A3/A9 adds a customer, serials and an order, then transfers it and shows the outbox', async () => {
    expect(await run('customer', 'add', '--code', 'ACME', '--name', 'Acme Bank', '--kms-url', 'https://127.0.0.1:8790')).toMatchObject({
      code: 0,
      stdout: 'added customer ACME (Acme Bank), KMS https://127.0.0.1:8790 over https-mtls\n',
    });
    expect(await run('serial', 'add', '--serial', 'PP-0001,PP-0002', '--customer', 'ACME')).toMatchObject({ code: 0, stdout: 'registered 2 serials for customer ACME\n' });
    const created = await run('order', 'create', '--customer', 'ACME', '--serials', 'PP-0002,PP-0003');
    expect(created).toMatchObject({ code: 0, stdout: 'created production order 1 for customer ACME with 2 serials\n' });
    const transfer = await run('order', 'transfer', '--id', '1');
    expect(transfer.code).toBe(0);
    expect(transfer.stdout).toMatch(/^order 1 for ACME: 0 sent\n/);
    expect(transfer.stdout).toMatch(/PP-0002\s+no-tk/);
    expect(transfer.stdout).toMatch(/PP-0003\s+no-tk/);
    const outbox = await run('outbox');
    expect(outbox).toMatchObject({ code: 0 });
    expect(outbox.stdout).toMatch(/^TOPIC\s+STATE\s+COUNT\n/);
  });

  it('refused operations are typed failures with exit 1', async () => {
    await run('customer', 'add', '--code', 'ACME', '--name', 'Acme Bank', '--kms-url', 'https://127.0.0.1:8790');
    expect(await run('customer', 'add', '--code', 'ACME', '--name', 'Again', '--kms-url', 'https://127.0.0.1:8790')).toMatchObject({ code: 1, stderr: expect.stringMatching(/^paypad: MTMS_CUSTOMER_EXISTS: /) });
    expect(await run('customer', 'add', '--code', 'BETA', '--name', 'Beta', '--kms-url', 'http://127.0.0.1:8790')).toMatchObject({ code: 1, stderr: expect.stringMatching(/BAD_ARGUMENT: KMS URL must use https/) });
    expect(await run('serial', 'add', '--serial', 'PP-0001', '--customer', 'NOSUCH')).toMatchObject({ code: 1, stderr: expect.stringMatching(/MTMS_CUSTOMER_UNKNOWN/) });
    expect(await run('order', 'transfer', '--id', '99')).toMatchObject({ code: 1, stderr: expect.stringMatching(/MTMS_ORDER_UNKNOWN/) });
    expect(await run('outbox', '--retry', '99')).toMatchObject({ code: 1, stderr: expect.stringMatching(/OUTBOX_ROW_UNKNOWN/) });
  });

  it('bad command lines are usage errors with exit 2', async () => {
    for (const argv of [
      ['customer', 'add', '--code', 'ACME', '--name', 'Acme'],
      ['serial', 'add', '--serial', 'A,,B', '--customer', 'ACME'],
      ['order', 'transfer', '--id', 'one'],
      ['order', 'transfer', '--id', '0'],
      ['order', 'ship'],
      ['outbox', '--bogus'],
    ]) {
      expect((await run(...argv)).code, argv.join(' ')).toBe(2);
    }
    const help = await run('order', 'transfer', '--help');
    expect(help).toMatchObject({ code: 0, stdout: expect.stringContaining('Usage: paypad mtms order transfer --id N') });
  });
});
