/** C5: `paypad serve` says where the mobile platform is and shows the demo payees as a POS would. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../host/config';
import { readyBanner } from '../../../host/readyBanner';
import { startHost } from '../../../host/server';
import { captureLogger } from './helpers/captureLogger';

describe('the ready banner: mobile payments', () => {
  const dir = mkdtempSync(join(tmpdir(), 'paypad-banner-mobile-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('C5: names /mobile and the demo payees with their names masked', async () => {
    const config = loadConfig({ PAYPAD_DATA_DIR: dir, PAYPAD_PORT: '0', PAYPAD_MTMS_PORT: '0', PAYPAD_KMS_BASE_PORT: '0', PAYPAD_DEMO_DATA: '1' });
    const host = await startHost(config, { logger: captureLogger('silent').logger });
    try {
      const banner = await readyBanner(host, dir);
      expect(banner).toContain(`  Mobile    ${host.url}/mobile`);
      expect(banner).toContain('Demo payees (C5, as a POS shows them): 13800138000 王*明, 15800158000 L* L**\n');
      expect(banner).not.toContain('王小明');
    } finally {
      await host.close({ graceMs: 0 });
    }
  });
});
