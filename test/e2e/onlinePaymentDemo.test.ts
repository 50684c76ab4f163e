/**
 * `npm run demo:online-payment` (E1-E9) runs System E unattended and exits 0 with every step ok:
 * the order paid through the checkout API with the emulated PIN pad and the PIN by phone, the
 * merchant notified, the card data deleted, the payer texted, the ledger verified, then
 * insufficient funds refused; then the buyer's phone client (`paypad phone`) enrolled with a bound
 * card finds a second order by its transaction code and pays it, with the same results checked.
 * Its output names no card number but the masked one. The scenario is bin/demo/onlinePaymentScenario.ts.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { TEST_CARDS } from '../../host/simulators/testCards';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

describe('npm run demo:online-payment', () => {
  it('E1-E9: every step ok, exit 0, at the checkout and from the phone; the output shows only masked card numbers', async () => {
    const run = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile('npm', ['run', '--silent', 'demo:online-payment'], { cwd: ROOT, timeout: 120_000 }, (error, stdout, stderr) => {
        resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
      });
    });
    expect(run.code, run.stderr).toBe(0);
    const lines = run.stdout.split('\n');
    const steps = lines.flatMap((l, i) => (/^(ok|FAIL) /.test(l) ? [{ name: l.replace(/^ok\s+/, ''), detail: lines[i + 1].trim() }] : []));
    const results = ['merchant notified (E8)', 'card data deleted (E7)', 'payer texted (E9)', 'ledger balances'];
    expect(steps.map((s) => s.name)).toEqual([
      'key ceremony',
      'card reader',
      'order created (E1, E2)',
      'checkout opened (E3, E4)',
      'paid (E4-E6)',
      ...results,
      'order created (E1, E2)',
      'checkout opened (E3, E4)',
      'insufficient funds',
      'phone enrolled, card bound (E3)',
      'order created (E1, E2)',
      'phone found the order by its code (E3)',
      'paid from the phone (E3, E6)',
      ...results,
    ]);
    // E3: what the phone showed is the second order the merchant created: its merchant, amount and code.
    const code = / transaction code (\d{4} \d{4} \d{4})$/.exec(steps[steps.findIndex((s) => s.name === 'phone enrolled, card bound (E3)') + 1].detail)?.[1];
    expect(code).toBeDefined();
    const found = steps.find((s) => s.name === 'phone found the order by its code (E3)')?.detail;
    expect(found).toBe(`the phone shows Tea House Ltd, "Two tea cups", CNY 128.00, code ${code}, created`);
    // Each payment's own reference reaches the merchant and the text; the phone's PIN block alone was kept, then deleted.
    const references = steps.filter((s) => s.name.startsWith('paid')).map((s) => / reference ([0-9A-F]+)$/.exec(s.detail)?.[1]);
    expect(references).toHaveLength(2);
    expect(new Set(references).size).toBe(2);
    for (const [i, reference] of references.entries()) {
      expect(reference).toBeDefined();
      expect(steps.filter((s) => s.name === 'merchant notified (E8)')[i].detail).toContain(`reference ${reference}`);
      expect(steps.filter((s) => s.name === 'payer texted (E9)')[i].detail).toMatch(new RegExp(`^paypad: CNY 128\\.00 paid to Tea House Ltd with card 622202\\*{9}0017, order MO-[0-9a-f]+, reference ${reference}\\.$`));
    }
    expect(steps.filter((s) => s.name === 'card data deleted (E7)').map((s) => s.detail.split(',')[0])).toEqual(['track 2 and PIN block', 'PIN block']);
    expect(run.stdout).toContain('622202*********0017');
    for (const card of [TEST_CARDS.unionPay, TEST_CARDS.insufficientFunds]) expect(run.stdout + run.stderr).not.toContain(card.pan);
  }, 150_000);
});
