/**
 * `npm run demo:online-payment` (E1-E9) runs System E unattended and exits 0 with every step ok:
 * the order paid through the checkout API with the emulated PIN pad and the PIN by phone, the
 * merchant notified, the card data deleted, the payer texted, then insufficient funds refused.
 * Its output names no card number but the masked one. The scenario is bin/demo/onlinePaymentScenario.ts.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { TEST_CARDS } from '../../host/simulators/testCards';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

describe('npm run demo:online-payment', () => {
  it('E1-E9: every step ok, exit 0; the output shows only masked card numbers', async () => {
    const run = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile('npm', ['run', '--silent', 'demo:online-payment'], { cwd: ROOT, timeout: 120_000 }, (error, stdout, stderr) => {
        resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
      });
    });
    expect(run.code, run.stderr).toBe(0);
    const steps = run.stdout.split('\n').filter((l) => /^(ok|FAIL) /.test(l));
    expect(steps.map((l) => l.replace(/^ok\s+/, ''))).toEqual([
      'key ceremony',
      'card reader',
      'order created (E1, E2)',
      'checkout opened (E3, E4)',
      'paid (E4-E6)',
      'merchant notified (E8)',
      'card data deleted (E7)',
      'payer texted (E9)',
      'order created (E1, E2)',
      'checkout opened (E3, E4)',
      'insufficient funds',
    ]);
    expect(run.stdout).toContain('622202*********0017');
    for (const card of [TEST_CARDS.unionPay, TEST_CARDS.insufficientFunds]) expect(run.stdout + run.stderr).not.toContain(card.pan);
  }, 150_000);
});
