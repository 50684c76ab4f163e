/**
 * `npm run demo:bill-payment` runs System D unattended (D1-D8) through `paypad phone` against a
 * host of its own and exits 0 with every step ok. It runs on PostgreSQL too when DATABASE_URL is
 * set (in a schema of its own). The scenario itself is bin/demo/billPaymentScenario.ts; the second
 * test shows it fails a step instead of passing when the merchant is never told.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runBillPaymentScenario } from '../../bin/demo/billPaymentScenario';
import { loadConfig } from '../../host/config';
import { startHost } from '../../host/server';
import { captureLogger } from '../unit/host/helpers/captureLogger';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
// About twenty CLI processes one after another: seconds each on a loaded machine.
const RUN_TIMEOUT_MS = 300_000;

const STEPS = [
  'phone enrolled, two cards bound (D1)',
  'signed order pushed to the phone (D2, D3)',
  'card with too little money: the user is told (D6)',
  'another card, PIN entered: paid (D4, D6)',
  'merchant receives the signed result (D5)',
  'buyer texted by the merchant (D5)',
  'ledger balances',
  'refusal: phone -> platform -> merchant -> buyer (D7)',
  "paying for another's order (D8)",
  'ledger still balances',
];

describe('npm run demo:bill-payment', () => {
  it('D1-D8: enrol, push, insufficient funds then another card, merchant and buyer told, refusal, paying for another; every step ok; exit 0', async () => {
    const run = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile('npm', ['run', '--silent', 'demo:bill-payment'], { cwd: ROOT, timeout: RUN_TIMEOUT_MS }, (error, stdout, stderr) => {
        resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
      });
    });
    expect(run.code, run.stderr).toBe(0);
    const results = run.stdout.split('\n').filter((l) => /^(ok {2}|FAIL) {2}/.test(l));
    expect(results).toEqual(STEPS.map((name) => `ok    ${name}`));
    expect(run.stdout).toMatch(/arrived as new/);
    expect(run.stdout).toMatch(/#1 bill\.payment_declined, response 51; #2 bill\.paid, 622202\*{9}0017, reference \w+/);
    expect(run.stdout).toMatch(/#1 bill\.refused, reason payer/);
    expect(run.stdout).toMatch(/paid for another by \+86\d{11}/);
    // Card numbers only masked, the PIN nowhere.
    expect(`${run.stdout}${run.stderr}`).not.toMatch(/6222021000000000017|6222021000000000025/);
  }, RUN_TIMEOUT_MS);

  it('D5: a merchant that never gets the result fails its steps: the scenario does not pass', async () => {
    const root = mkdtempSync(join(tmpdir(), 'paypad-e2e-billdemo-'));
    const config = loadConfig({ PAYPAD_HOST: '127.0.0.1', PAYPAD_DATA_DIR: join(root, 'data'), PAYPAD_PORT: '0', PAYPAD_MTMS_PORT: '0', PAYPAD_KMS_BASE_PORT: '0', PAYPAD_DEMO_DATA: '1' });
    const host = await startHost(config, { logger: captureLogger('silent').logger });
    host.bills.demoMerchant()?.down();
    try {
      const result = await runBillPaymentScenario({ host, workDir: join(root, 'work'), deliveryTimeoutMs: 2_000 });
      expect(result.ok).toBe(false);
      const failed = result.steps.filter((s) => !s.ok).map((s) => s.name);
      expect(failed).toEqual(['merchant receives the signed result (D5)', 'buyer texted by the merchant (D5)', 'refusal: phone -> platform -> merchant -> buyer (D7)', "paying for another's order (D8)"]);
      expect(result.steps.find((s) => s.name.startsWith('another card'))?.ok).toBe(true);
    } finally {
      await host.close({ graceMs: 0 });
      rmSync(root, { recursive: true, force: true });
    }
  }, RUN_TIMEOUT_MS);
});
