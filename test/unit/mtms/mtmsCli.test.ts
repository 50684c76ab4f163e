/**
 * `paypad mtms` (A3, A7, A9): the administrator's commands against a SQLite data directory, as a
 * person would type them; bad command lines are usage errors (exit 2) and refused operations are
 * typed failures (exit 1).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createDatabase } from '../../../host/db/database';
import { createOutboxStore, enqueue } from '../../../host/outbox/outboxStore';
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

  it('--serials and --serial are one flag for serial lists; the outbox shows why a pending message waits', async () => {
    await run('customer', 'add', '--code', 'ACME', '--name', 'Acme Bank', '--kms-url', 'https://127.0.0.1:8790');
    expect(await run('serial', 'add', '--serials', 'PP-0101,PP-0102', '--customer', 'ACME')).toMatchObject({ code: 0, stdout: 'registered 2 serials for customer ACME\n' });
    expect(await run('order', 'create', '--customer', 'ACME', '--serial', 'PP-0102,PP-0103')).toMatchObject({ code: 0 });
    expect(await run('serial', 'add', '--serial', 'PP-0104', '--serials', 'PP-0105', '--customer', 'ACME')).toMatchObject({ code: 2, stderr: expect.stringMatching(/give the serials once/) });

    const database = createDatabase({ dialect: 'sqlite', file: join(dataDir, 'paypad.sqlite') });
    try {
      const box = createOutboxStore(database.db, database.dialect);
      await enqueue(database.db, { topic: 'kms.tk', idempotencyKey: 'tk-cli-1', destination: 'ACME', payload: { n: 1 } });
      const claimed = await box.claim({ topics: ['kms.tk'], now: new Date(), leaseMs: 10_000 });
      await box.recordFailure(claimed!, 'MTMS_DELIVERY_FAILED: the KMS of ACME is unreachable: ECONNREFUSED', new Date(Date.now() + 60_000), new Date());
    } finally {
      await database.close();
    }
    const outbox = await run('outbox');
    expect(outbox.stdout).toMatch(/pending messages whose last attempt failed/);
    expect(outbox.stdout).toMatch(/tk-cli-1\s+1 attempts/);
    expect(outbox.stdout).toContain('MTMS_DELIVERY_FAILED: the KMS of ACME is unreachable: ECONNREFUSED');
  });

  it('away from the data directory every command refuses (exit 2) instead of making a new empty database', async () => {
    const { code, out, err } = await runCommand(mtmsCommand, ['customer', 'add', '--code', 'ACME', '--name', 'A', '--kms-url', 'https://127.0.0.1:8790', '--data-dir', join(dataDir, 'nowhere')]);
    expect({ code, out }).toEqual({ code: 2, out: '' });
    expect(err).toMatch(/no paypad data directory at .*nowhere/);
    expect(existsSync(join(dataDir, 'nowhere'))).toBe(false);
  });

  it('refused operations are typed failures with exit 1', async () => {
    await run('customer', 'add', '--code', 'ACME', '--name', 'Acme Bank', '--kms-url', 'https://127.0.0.1:8790');
    expect(await run('customer', 'add', '--code', 'ACME', '--name', 'Again', '--kms-url', 'https://127.0.0.1:8790')).toMatchObject({ code: 1, stderr: expect.stringMatching(/^paypad: MTMS_CUSTOMER_EXISTS: /) });
    expect(await run('serial', 'add', '--serial', 'PP-0001', '--customer', 'NOSUCH')).toMatchObject({ code: 1, stderr: expect.stringMatching(/MTMS_CUSTOMER_UNKNOWN/) });
    expect(await run('order', 'transfer', '--id', '99')).toMatchObject({ code: 1, stderr: expect.stringMatching(/MTMS_ORDER_UNKNOWN/) });
    expect(await run('outbox', '--retry', '99')).toMatchObject({ code: 1, stderr: expect.stringMatching(/OUTBOX_ROW_UNKNOWN/) });
  });

  it('bad command lines are usage errors with exit 2', async () => {
    for (const argv of [
      ['customer', 'add', '--code', 'ACME', '--name', 'Acme'],
      ['serial', 'add', '--serial', 'A,,B', '--customer', 'ACME'],
      ['serial', 'add', '--serial', 'pp-lower', '--customer', 'ACME'],
      ['customer', 'add', '--code', 'BETA', '--name', 'Beta', '--kms-url', 'http://127.0.0.1:8790'],
      ['order', 'transfer', '--id', 'one'],
      ['order', 'transfer', '--id', '0'],
      ['order', 'ship'],
      ['outbox', '--bogus'],
      ['device', 'enrol', '--mtms', 'https://127.0.0.1:8781', '--cert', 'c', '--key', 'k', '--ca', 'a'],
      ['device', 'enrol', '--link', 'not an address', '--mtms', 'https://127.0.0.1:8781', '--cert', 'c', '--key', 'k', '--ca', 'a'],
    ]) {
      expect((await run(...argv)).code, argv.join(' ')).toBe(2);
    }
    const help = await run('order', 'transfer', '--help');
    expect(help).toMatchObject({ code: 0, stdout: expect.stringContaining('Usage: paypad mtms order transfer --id N') });
    expect(await run('device', 'enrol', '--help')).toMatchObject({ code: 0, stdout: expect.stringContaining('Usage: paypad mtms device enrol --link HOST:PORT') });
  });
});
