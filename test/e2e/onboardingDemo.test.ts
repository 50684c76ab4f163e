/**
 * Issue 3 item 9: `npm run demo:onboarding` runs System A unattended (A2-A7, A11, A12) and exits 0
 * with every party's key check values printed and equal. It runs on PostgreSQL too when
 * DATABASE_URL is set (in a schema of its own). The scenario itself is bin/demo/onboardingScenario.ts.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runOnboardingScenario } from '../../bin/demo/onboardingScenario';
import { cliTerminalDriver, type TerminalDriver } from '../../bin/demo/terminalDriver';
import { loadConfig } from '../../host/config';
import { startHost } from '../../host/server';
import { captureLogger } from '../unit/host/helpers/captureLogger';
import { runDemoCommand } from './support/demoCommand';

// Each runs about a dozen CLI processes one after another: seconds each on a loaded machine.

describe('npm run demo:onboarding (issue 3 item 9)', () => {
  it('A2-A7, A11, A12: two terminals onboarded through the real CLIs; terminal, MTMS and KMS print the same KCVs; exit 0', async () => {
    const run = await runDemoCommand('demo:onboarding', [], 240_000);
    expect(run.code, run.stderr).toBe(0);
    // Progress on stderr: the host, then its MTMS and each customer's KMS, before the first step.
    expect(run.stderr).toMatch(/^- starting a host in \S+ on (sqlite|postgres).*\n- host http:\/\/127\.0\.0\.1:\d+, MTMS https:\/\/127\.0\.0\.1:\d+, KMS C001 https:\/\/127\.0\.0\.1:\d+, C002 https:\/\/127\.0\.0\.1:\d+\n/);

    const blocks = run.stdout.split('\n\n').filter((b) => b.startsWith('terminal '));
    expect(blocks).toHaveLength(2);
    expect(blocks[0]).toMatch(/^terminal PP-[0-9A-F]{6} {2}customer C001 Acme Acquiring {2}confirmed as MTMS showed it/);
    expect(blocks[1]).toMatch(/^terminal PP-[0-9A-F]{6} {2}customer C002 Borealis Bank {2}MTMS showed C001; the operator entered C002: re-associated/);
    for (const block of blocks) {
      const rows = Object.fromEntries(
        block
          .split('\n')
          .map((line) => line.trim().split(/\s+/))
          .filter(([name]) => ['TK', 'TMK', 'PIK', 'MAK', 'TDK', 'DMK'].includes(name))
          .map(([name, ...values]) => [name, values]),
      );
      expect(Object.keys(rows)).toEqual(['TK', 'TMK', 'PIK', 'MAK', 'TDK', 'DMK']);
      // TK: terminal, KMS and MTMS; the others: terminal and KMS. Each a 5-byte CMAC KCV.
      const [tkTerminal, tkKms, tkMtms, tkVerdict] = rows.TK;
      expect(tkTerminal).toMatch(/^[0-9A-F]{10}$/);
      expect([tkKms, tkMtms, tkVerdict]).toEqual([tkTerminal, tkTerminal, 'match']);
      const seen = new Set<string>([tkTerminal]);
      for (const name of ['TMK', 'PIK', 'MAK', 'TDK', 'DMK']) {
        const [terminal, kms, verdict] = rows[name];
        expect(terminal).toMatch(/^[0-9A-F]{10}$/);
        expect([kms, verdict]).toEqual([terminal, 'match']);
        seen.add(terminal);
      }
      // Six different keys, not one key printed six times.
      expect(seen.size).toBe(6);
    }
    expect(run.stdout).not.toMatch(/MISMATCH|PROBLEM/);
    expect(run.stdout).toMatch(/Every party holds the same keys/);
  }, 240_000);

  it('the scenario reports a disagreement instead of passing: a terminal that misreports its PIK check value fails the run', async () => {
    const root = mkdtempSync(join(tmpdir(), 'paypad-e2e-scenario-'));
    const config = loadConfig({ PAYPAD_DATA_DIR: join(root, 'data'), PAYPAD_PORT: '0', PAYPAD_MTMS_PORT: '0', PAYPAD_KMS_BASE_PORT: '0', PAYPAD_DEMO_DATA: '1' });
    const host = await startHost(config, { logger: captureLogger('silent').logger });
    // The real terminal, except that the second one's load-keys answer carries a wrong PIK KCV.
    const real = cliTerminalDriver();
    let started = 0;
    const lying: TerminalDriver = {
      name: 'lying terminal',
      async start(t) {
        const terminal = await real.start(t);
        if (++started === 1) return terminal;
        return { ...terminal, loadKeys: async () => ({ ...(await terminal.loadKeys()), PIK: '0000000000' }) };
      },
    };
    try {
      const result = await runOnboardingScenario({ host, workDir: join(root, 'terminals'), terminals: lying });
      expect(result.ok).toBe(false);
      expect(result.terminals[0].problems).toEqual([]);
      expect(result.terminals[1].keys.PIK).toMatchObject({ terminal: '0000000000', agree: false });
      expect(result.terminals[1].keys.MAK.agree).toBe(true);
      expect(result.terminals[1].problems).toEqual([expect.stringMatching(/^PIK: /)]);
    } finally {
      await host.close({ graceMs: 0 });
      rmSync(root, { recursive: true, force: true });
    }
  }, 240_000);
});
