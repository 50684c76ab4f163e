/**
 * Every `npm run demo:*` (bin/demo/demoHost.ts runDemo) takes no arguments: --help prints its usage
 * on stdout and exits 0; anything else is refused on stderr with the usage and exit 2, before a
 * host starts.
 */
import { describe, expect, it } from 'vitest';
import { runDemoCommand } from './support/demoCommand';

const DEMOS = ['demo:onboarding', 'demo:update', 'demo:mobile-payment', 'demo:bill-payment', 'demo:online-payment'];

describe('the demos\' command line', () => {
  it.each(DEMOS)('%s: --help prints the usage and exits 0; an argument is refused with the usage and exit 2', async (script) => {
    const help = await runDemoCommand(script, ['--help'], 60_000);
    expect(help.code, help.stderr).toBe(0);
    expect(help.stdout).toMatch(new RegExp(`^Usage: npm run ${script}\\n`));
    const wrong = await runDemoCommand(script, ['--fast'], 60_000);
    expect(wrong.code).toBe(2);
    expect(wrong.stdout).toBe('');
    expect(wrong.stderr).toMatch(new RegExp(`^${script}: takes no arguments\\n\\nUsage: npm run ${script}\\n`));
    expect(wrong.stderr).not.toMatch(/starting a host/);
  }, 120_000);
});
