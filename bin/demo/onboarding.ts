/**
 * `npm run demo:onboarding`: System A unattended (onboardingScenario.ts). Starts a host of its own
 * (a temporary data directory, every listener on a free loopback port, the demo customers C001
 * and C002 each with a KMS), onboards two terminals through the real CLIs, and prints each key's
 * check value as the terminal, MTMS and the KMS see it. Exit 0 when every party agrees, 1 when
 * not or when a step failed.
 *
 * SQLite unless DATABASE_URL is set; then the demo works in a fresh schema of that database
 * (paypad_demo_<random>, reached through search_path) and drops it at the end, so it never meets
 * another deployment's customers. Progress and the host's warnings go to stderr, the report to stdout.
 */
import { runDemo } from './demoHost';
import { KEY_NAMES, type OnboardingScenarioResult, runOnboardingScenario } from './onboardingScenario';

const USAGE = `Usage: npm run demo:onboarding

Starts a paypad host of its own, onboards two emulated terminals with the real CLIs (terminal 1
confirmed for C001, terminal 2 moved to C002 by the operator), loads their keys and prints every
key check value as the terminal, MTMS and the KMS see it. Exit 0 when they all agree.
Environment: DATABASE_URL (PostgreSQL; the demo uses a schema of its own and drops it),
LOG_LEVEL (the host's log on stderr, default error).`;

function formatReport(result: OnboardingScenarioResult): string {
  const lines = [`paypad onboarding demo: ${result.terminals.length} terminals (${result.terminalDriver})`];
  for (const c of result.customers) lines.push(`  customer ${c.code} ${c.name}, KMS ${c.kmsUrl}`);
  for (const t of result.terminals) {
    const how = t.reassociatedFrom === undefined ? `confirmed as MTMS showed it (A4, A5)` : `MTMS showed ${t.shownCustomer}; the operator entered ${t.customerCode}: re-associated (A6)`;
    lines.push('', `terminal ${t.serial}  customer ${t.customerCode} ${t.customerName}  ${how}`, `  delivery ${t.deliveryId}`);
    lines.push(`  ${'key'.padEnd(4)} ${'terminal'.padEnd(11)} ${'KMS'.padEnd(11)} MTMS`);
    for (const name of KEY_NAMES) {
      const k = t.keys[name];
      lines.push(`  ${name.padEnd(4)} ${(k.terminal ?? '-').padEnd(11)} ${(k.kms ?? '-').padEnd(11)} ${(name === 'TK' ? (k.mtms ?? '-') : '').padEnd(11)} ${k.agree ? 'match' : 'MISMATCH'}`);
    }
    for (const p of t.problems) lines.push(`  PROBLEM: ${p}`);
  }
  lines.push('', result.ok ? 'Every party holds the same keys: onboarding, TMK download and sign-on worked.' : 'Some check values disagree: see PROBLEM lines.');
  return lines.join('\n') + '\n';
}

process.exitCode = await runDemo(
  {
    name: 'demo:onboarding',
    usage: USAGE,
    demoData: true,
    async run({ host, workDir, progress }) {
      progress(`host ${host.url}, MTMS ${host.mtms.url}, KMS ${host.kms.running().map((k) => `${k.customerCode} ${k.url}`).join(', ')}`);
      return runOnboardingScenario({ host, workDir, progress });
    },
    report: formatReport,
  },
  process.argv.slice(2),
);
