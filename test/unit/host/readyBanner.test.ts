/**
 * The ready banner tells the person who started the host which customer each demo serial belongs
 * to now: after an operator moved one to another customer (A6), a restart shows the move.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../host/config';
import { readyBanner } from '../../../host/readyBanner';
import { startHost } from '../../../host/server';
import { captureLogger } from './helpers/captureLogger';

describe('the ready banner', () => {
  const dir = mkdtempSync(join(tmpdir(), 'paypad-banner-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('A6: shows each demo serial under the customer it belongs to now, after a restart too', async () => {
    const config = loadConfig({ PAYPAD_DATA_DIR: dir, PAYPAD_PORT: '0', PAYPAD_MTMS_PORT: '0', PAYPAD_KMS_BASE_PORT: '0', PAYPAD_DEMO_DATA: '1' });
    const first = await startHost(config, { logger: captureLogger('silent').logger });
    try {
      expect(await readyBanner(first, dir)).toContain('Demo serials: PP-1001 PP-1002 PP-1003 (C001); PP-2001 PP-2002 (C002); production order 1: PP-2001 PP-2002\n');
      // What an operator's re-association (A6) leaves in the serial table.
      await sql`update mtms_serials set customer_code = 'C002' where serial = 'PP-1002'`.execute(first.database.db);
    } finally {
      await first.close({ graceMs: 0 });
    }
    const second = await startHost(config, { logger: captureLogger('silent').logger });
    try {
      expect(await readyBanner(second, dir)).toContain('Demo serials: PP-1001 PP-1003 (C001); PP-1002 PP-2001 PP-2002 (C002); production order 1: PP-2001 PP-2002\n');
    } finally {
      await second.close({ graceMs: 0 });
    }
  });
});
