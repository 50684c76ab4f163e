/**
 * `npm run demo:update`: System B unattended (updateScenario.ts; CN102707972A's scenario). Starts a
 * host of its own (a temporary data directory, every listener on a free loopback port, the demo
 * customers with a KMS, POSP and the TMS each), gives two emulated terminals their keys, signs and
 * deploys a new program with `paypad tms`, and updates one terminal by its schedule and the other
 * by the notice in its payment answer; both restart into the new program and report it. Exit 0
 * when every step did what it should, 1 otherwise.
 *
 * SQLite unless DATABASE_URL is set; then the demo works in a fresh schema of that database and
 * drops it at the end. Progress and the host's warnings go to stderr, the report to stdout.
 */
import { runDemo } from './demoHost';
import { type UpdateScenarioResult, runUpdateScenario } from './updateScenario';

const USAGE = `Usage: npm run demo:update

Starts a paypad host of its own, gives two emulated terminals their keys, signs a new program with
a vendor key and deploys it with paypad tms, then updates terminal 1 on its schedule and terminal 2
on the notice in its payment answer; both restart into the new program and report its version.
Exit 0 when every step worked.
Environment: DATABASE_URL (PostgreSQL; the demo uses a schema of its own and drops it),
LOG_LEVEL (the host's log on stderr, default error).`;

function formatReport(result: UpdateScenarioResult): string {
  const lines = [`paypad program update demo: deployment ${result.deploymentId}`, ''];
  for (const s of result.steps) lines.push(`${s.ok ? 'ok  ' : 'FAIL'}  ${s.name}`, ...s.detail.split('\n').map((l) => `      ${l}`));
  lines.push('', result.ok ? 'Both terminals run the new program: one updated by its schedule, one by the notice.' : 'Some step did not do what it should: see FAIL lines.');
  return lines.join('\n') + '\n';
}

process.exitCode = await runDemo({ name: 'demo:update', usage: USAGE, demoData: true, run: runUpdateScenario, report: formatReport }, process.argv.slice(2));
