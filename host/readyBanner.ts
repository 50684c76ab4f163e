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
import { DEMO_PAYEES } from './payments/mobile/mobileRole';
import { maskPayeeName } from './payments/mobile/payeeName';
import type { RunningHost } from './server';
import { IDENTITY_FILES } from './tls/identity';

/**
 * The demo serials with the customer each belongs to now, from the serial table: an operator may
 * have moved one to another customer (A6) since the demo data was added.
 */
async function demoSerialsNow(host: RunningHost): Promise<string | undefined> {
  const records = (await Promise.all(DEMO_CUSTOMERS.flatMap((d) => d.serials).map((s) => host.mtms.store.serial(s)))).filter((r) => r !== undefined);
  if (records.length === 0) return undefined;
  const byCustomer = new Map<string, string[]>();
  const byOrder = new Map<number, string[]>();
  for (const r of records) {
    byCustomer.set(r.customerCode, [...(byCustomer.get(r.customerCode) ?? []), r.serial]);
    if (r.orderId !== undefined) byOrder.set(r.orderId, [...(byOrder.get(r.orderId) ?? []), r.serial]);
  }
  const owners = [...byCustomer].map(([code, serials]) => `${serials.join(' ')} (${code})`);
  const orders = [...byOrder].map(([id, serials]) => `production order ${id}: ${serials.join(' ')}`);
  return [...owners, ...orders].join('; ');
}

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
  lines.push(`  Mobile    ${`${host.url}/mobile`.padEnd(26)} mobile-number payments on the simulated card network (docs/mobile-payments.md)`);

  const demoSerials = await demoSerialsNow(host);
  const operatorDir = operatorDirectory(host.config.dataDir);
  if (demoSerials !== undefined) lines.push(`Demo serials: ${demoSerials}`);
  const demoPayees = (await Promise.all(DEMO_PAYEES.map((p) => host.mobile.mobile.payees.payee(p.mobile)))).filter((p) => p !== undefined);
  if (demoPayees.length > 0) lines.push(`Demo payees (C5, as a POS shows them): ${demoPayees.map((p) => `${p.mobile} ${maskPayeeName(p.name)}`).join(', ')}`);
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
