/**
 * System B end to end on the host `paypad serve` runs (host/server startHost: every KMS with POSP
 * and the TMS beside it, the simulated acquirer, the mobile platform and its demo payees), the
 * scenario `npm run demo:update` prints (bin/demo/updateScenario.ts): two emulated terminals run
 * the firmware's own update code; `paypad tms` signs and deploys a package; one terminal is
 * updated by its schedule (B5), the other by the notice the TMS had POSP put in its payment answer
 * (B6); each restarts into the new program, which confirms itself and reports its version. The
 * TMS's per-terminal status, reports and inventory must match what the terminals did.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UPDATE_PROGRAM, UPDATE_SERIALS, runUpdateScenario } from '../../bin/demo/updateScenario';
import { loadConfig } from '../../host/config';
import { createLogger } from '../../host/log';
import { type RunningHost, startHost } from '../../host/server';
import { createTms } from '../../host/tms/tms';

let root: string;
let host: RunningHost;

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'paypad-e2e-update-'));
  const config = loadConfig({ PAYPAD_HOST: '127.0.0.1', PAYPAD_DATA_DIR: join(root, 'data'), PAYPAD_PORT: '0', PAYPAD_MTMS_PORT: '0', PAYPAD_KMS_BASE_PORT: '0', PAYPAD_DEMO_DATA: '1' }, process.cwd());
  host = await startHost(config, { logger: createLogger({ level: 'silent' }) });
}, 60_000);

afterAll(async () => {
  await host?.close({ graceMs: 0 });
  rmSync(root, { recursive: true, force: true });
});

describe('program updates through paypad serve (B1-B7)', () => {
  it('B5, B6: one terminal updates on its schedule, the other on the notice in its payment answer; both restart into 1.1.0, confirm, and the TMS shows success and the new version', async () => {
    const result = await runUpdateScenario({ host, workDir: join(root, 'work') });
    expect(result.steps.filter((s) => !s.ok)).toEqual([]);
    expect(result.steps.map((s) => s.name)).toEqual(['keys', 'package', 'deploy', 'B5 schedule', 'B6 notice', 'restart 1', 'restart 2', 'status', 'inventory']);

    // The TMS's own records, read from the host's database.
    const tms = createTms(host.database.db, host.config.dataDir);
    const report = await tms.report(result.deploymentId);
    expect(report.deployment.state).toBe('completed');
    expect(report.terminals.map((t) => [t.serial, t.status])).toEqual(UPDATE_SERIALS.map((s) => [s, 'success']));
    for (const serial of UPDATE_SERIALS) {
      expect((await tms.inventory.entry(serial))?.versions).toEqual({ [UPDATE_PROGRAM]: '1.1.0' });
      expect((await tms.inventory.reports(result.deploymentId, serial)).map((r) => [r.stage, r.code])).toEqual([
        ['download', 0],
        ['install', 0],
        ['confirm', 0],
      ]);
    }
  }, 120_000);
});
