/**
 * `npm run demo:update` runs System B unattended (bin/demo/updateScenario.ts) on a host of its own
 * and exits 0 with every step ok. It runs on PostgreSQL too when DATABASE_URL is set (in a schema
 * of its own). Its command line is test/e2e/demoCommandLine.test.ts; what the scenario's steps do
 * to the TMS's records, test/e2e/programUpdate.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { runDemoCommand } from './support/demoCommand';

// Two terminals get keys and update, a dozen CLI processes: seconds each on a loaded machine.
const RUN_TIMEOUT_MS = 240_000;

describe('npm run demo:update', () => {
  it('B5, B6: keys, package, deploy, one terminal updated by its schedule and one by the notice, both restarted; every step ok; exit 0', async () => {
    const run = await runDemoCommand('demo:update', [], RUN_TIMEOUT_MS);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/^paypad program update demo: deployment \d+\n/);
    const results = run.stdout.split('\n').filter((l) => /^(ok {2}|FAIL) {2}/.test(l));
    expect(results).toEqual(['keys', 'package', 'deploy', 'B5 schedule', 'B6 notice', 'restart 1', 'restart 2', 'status', 'inventory'].map((name) => `ok    ${name}`));
    expect(run.stdout).toMatch(/Both terminals run the new program: one updated by its schedule, one by the notice\.\n$/);
    expect(run.stderr).toMatch(/^- starting a host in \S+ on (sqlite|postgres)/);
  }, RUN_TIMEOUT_MS);
});
