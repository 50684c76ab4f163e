/**
 * What `paypad serve` tells the person who started it, once every listener is up: where each
 * listener is, where the CA certificate and the demo operator's certificate are, and what to try
 * next. Plain text for stderr; the same facts go to the JSON log as "paypad host ready".
 */
import { existsSync } from 'node:fs';
import { join, relative } from 'node:path';
import { caDirectory, CA_CERT_FILE } from './ca/caStorage';
import { DEMO_CUSTOMERS, operatorDirectory } from './demoData';
import { listCustomers } from './kmsFleet';
import type { RunningHost } from './server';
import { IDENTITY_FILES } from './tls/identity';

export async function readyBanner(host: RunningHost, cwd = process.cwd()): Promise<string> {
  const shown = (path: string) => {
    const rel = relative(cwd, path);
    return rel.startsWith('..') || rel === '' ? path : rel;
  };
  const customers = await listCustomers(host.database.db);
  const lines = [
    `paypad host ready (${host.database.dialect}${host.config.database.dialect === 'sqlite' ? ` ${shown(host.config.database.file)}` : ''})`,
    `  HTTP      ${host.url.padEnd(26)} try: curl ${host.url}/healthz`,
    `  MTMS      ${host.mtms.url.padEnd(26)} mutual TLS; CA certificate ${shown(join(caDirectory(host.config.dataDir), CA_CERT_FILE))}`,
  ];
  for (const customer of customers) {
    const running = host.kms.get(customer.code);
    const failure = host.kms.failures().get(customer.code);
    const where = running?.url ?? (failure ? 'NOT RUNNING' : `external ${customer.kmsUrl}`);
    lines.push(`  KMS ${customer.code.padEnd(5)} ${where.padEnd(26)} ${customer.name}${failure ? `: ${failure}` : ''}`);
  }
  if (customers.length === 0) lines.push('  no customers yet: `paypad mtms customer add` records one and its KMS starts here within seconds');

  const demo = DEMO_CUSTOMERS.filter((d) => customers.some((c) => c.code === d.code));
  const operatorDir = operatorDirectory(host.config.dataDir);
  if (demo.length > 0) {
    lines.push(`Demo serials: ${demo.map((d) => `${d.serials.join(' ')} (${d.code}${d.asOrder ? ', a production order' : ''})`).join('; ')}`);
  }
  if (existsSync(join(operatorDir, IDENTITY_FILES.cert))) {
    lines.push(`Operator certificate: ${shown(join(operatorDir, IDENTITY_FILES.cert))} with ${IDENTITY_FILES.key} and ${IDENTITY_FILES.ca} beside it`);
  }
  lines.push(
    'Next: docs/onboarding.md takes a terminal through key loading against this host, command by command;',
    '      `npm run demo:onboarding` runs two terminals through it unattended (on a host of its own).',
    'Stop with Ctrl-C.',
  );
  return lines.join('\n') + '\n';
}
