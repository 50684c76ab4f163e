/**
 * `paypad tms`: the vendor's and the TMS operator's commands (SPEC B1-B7; docs/updates.md): a
 * vendor key, signing and storing a package, groups, deployments (deploy, status, halt, resume)
 * and the inventory. Like `paypad mtms`, it works on the database and data directory the running
 * host uses (--data-dir / PAYPAD_DATA_DIR, DATABASE_URL): the TMS beside each KMS reads packages
 * and deployments from there at every query, so a change here is live at once. Host modules load
 * lazily: other commands stay fast.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fromHex, toHex } from '../../shared/bytes';
import { type Command, commandGroup, EXIT_OK, flagValue, parseFlags, required, UsageError, withFlagArguments } from '../args';
import { withHostDatabase } from '../hostDatabase';
import type { DeploymentPhase, DeploymentPlan } from '../../host/tms/deploymentPlan';
import type { Deployment, DeploymentTerminal } from '../../host/tms/deploymentStore';
import type { Tms } from '../../host/tms/tms';

const DATA_DIR_HELP = `  --data-dir DIR   the host's data directory (PAYPAD_DATA_DIR, default ./data); the database is
                   DATABASE_URL (postgres://...) or, unset, SQLite in the data directory`;
const PRIVATE_KEY_FILE = 'vendor.key';
const PUBLIC_KEY_FILE = 'vendor.pub';
const DAY_MS = 86_400_000;

function print(text: string): number {
  process.stdout.write(text.endsWith('\n') ? text : text + '\n');
  return EXIT_OK;
}

async function withTms<T>(dataDirFlag: string | undefined, fn: (tms: Tms) => Promise<T>): Promise<T> {
  const { createTms } = await import('../../host/tms/tms');
  return withHostDatabase(dataDirFlag, (database, config) => withFlagArguments(fn(createTms(database.db, config.dataDir))));
}

function list(value: string | undefined, flag: string): string[] {
  if (value === undefined) return [];
  const items = value.split(',').map((s) => s.trim());
  if (items.some((s) => s === '')) throw new UsageError(`--${flag} takes a comma-separated list without empty items`);
  return items;
}

function wholeNumber(value: string | undefined, flag: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (!/^(0|[1-9][0-9]{0,8})$/.test(value)) throw new UsageError(`--${flag} must be a whole number, got '${value}'`);
  return Number(value);
}

function instant(value: string | undefined, flag: string): Date | undefined {
  if (value === undefined) return undefined;
  const at = new Date(value);
  if (!/^\d{4}-\d{2}-\d{2}T/.test(value) || Number.isNaN(at.getTime())) throw new UsageError(`--${flag} must be an ISO 8601 time such as 2026-12-24T22:00:00Z, got '${value}'`);
  return at;
}

const vendorKey: Command = {
  summary: "make a vendor's package-signing key pair (ECDSA P-256) and trust its public key",
  help: `Usage: paypad tms vendor-key --name NAME --out DIR [--data-dir DIR]

Writes DIR/${PRIVATE_KEY_FILE} (the private key, hex, mode 0600: the vendor keeps it) and
DIR/${PUBLIC_KEY_FILE} (the SEC 1 public key, hex: build it into the firmware's vendor keys), and
adds the public key to the TMS's trusted vendor keys. Prints the key id packages name it by.

  --name NAME      the vendor, 1-64 of A-Z a-z 0-9 space . _ -
  --out DIR        where to write the two files (made if missing; existing files are never replaced)
${DATA_DIR_HELP}`,
  async run(argv) {
    const f = parseFlags(argv, { name: { type: 'string' }, out: { type: 'string' }, 'data-dir': { type: 'string' } });
    const name = required(f.name, 'name');
    const out = required(f.out, 'out');
    const [{ randomBytes }, { mkdir }, { p256PublicKey }, { isValidP256PrivateKey }, { writeNewFile, SECRET_FILE_MODE }] = await Promise.all([
      import('node:crypto'),
      import('node:fs/promises'),
      import('../../shared/crypto/primitives'),
      import('../../shared/crypto/p256'),
      import('../../host/files'),
    ]);
    let privateKey = new Uint8Array(randomBytes(32));
    while (!isValidP256PrivateKey(privateKey)) privateKey = new Uint8Array(randomBytes(32));
    const publicKey = p256PublicKey(privateKey);
    return withTms(f['data-dir'], async (tms) => {
      const key = await tms.packages.addVendorKey(name, publicKey, new Date());
      await mkdir(out, { recursive: true, mode: 0o700 });
      await writeNewFile(join(out, PRIVATE_KEY_FILE), `${toHex(privateKey)}\n`, SECRET_FILE_MODE);
      await writeNewFile(join(out, PUBLIC_KEY_FILE), `${toHex(publicKey)}\n`, SECRET_FILE_MODE);
      return print(`vendor key ${key.keyId} (${key.name}) trusted; private key ${join(out, PRIVATE_KEY_FILE)}, public key ${join(out, PUBLIC_KEY_FILE)}`);
    });
  },
};

const packageCommand: Command = {
  summary: 'sign a program image with the vendor key and store the package in the TMS',
  help: `Usage: paypad tms package --image FILE --name NAME --version X.Y.Z --models M1,M2 --vendor-key DIR
                          [--minimum-version X.Y.Z] [--security-counter N] [--expires-days N] [--data-dir DIR]

The manifest (name, version, models, size, SHA-256, minimum version, security counter, and a
metadata version one above the program's last, expiring after --expires-days) is signed with
DIR/${PRIVATE_KEY_FILE}; the TMS checks the signature against its trusted vendor keys and keeps the
image in its data directory (0600). Prints the package id.

  --image FILE            the program image (an ESP32 app image, a mod archive, or any bytes)
  --name NAME             the program, e.g. paypad-firmware
  --version X.Y.Z         its version
  --models M1,M2          the terminal models it is for
  --vendor-key DIR        the directory \`paypad tms vendor-key\` wrote
  --minimum-version V     the oldest installed version it may replace (default 0.0.0)
  --security-counter N    never installed where the terminal holds a higher one (default 0)
  --expires-days N        how long terminals accept the manifest (default 90)
${DATA_DIR_HELP}`,
  async run(argv) {
    const f = parseFlags(argv, {
      image: { type: 'string' },
      name: { type: 'string' },
      version: { type: 'string' },
      models: { type: 'string' },
      'vendor-key': { type: 'string' },
      'minimum-version': { type: 'string' },
      'security-counter': { type: 'string' },
      'expires-days': { type: 'string' },
      'data-dir': { type: 'string' },
    });
    const image = new Uint8Array(await readFile(required(f.image, 'image')));
    const keyDir = required(f['vendor-key'], 'vendor-key');
    const privateKey = fromHex((await readFile(join(keyDir, PRIVATE_KEY_FILE), 'utf8')).trim(), PRIVATE_KEY_FILE);
    const [{ sha256, p256PublicKey }, { signManifest }] = await Promise.all([import('../../shared/crypto/primitives'), import('../../shared/protocol/updateManifest')]);
    const expiresDays = wholeNumber(f['expires-days'], 'expires-days', 90);
    if (expiresDays < 1) throw new UsageError('--expires-days must be at least 1');
    return withTms(f['data-dir'], async (tms) => {
      const name = required(f.name, 'name');
      const manifest = {
        v: 1 as const,
        name,
        version: required(f.version, 'version'),
        models: list(required(f.models, 'models'), 'models'),
        size: image.length,
        sha256: toHex(sha256(image)),
        minimumVersion: f['minimum-version'] ?? '0.0.0',
        securityCounter: wholeNumber(f['security-counter'], 'security-counter', 0),
        metadataVersion: await tms.packages.nextMetadataVersion(name),
        expires: new Date(Date.now() + expiresDays * DAY_MS).toISOString().replace(/\.\d{3}Z$/, 'Z'),
      };
      const stored = await tms.packages.addPackage(signManifest(manifest, privateKey, p256PublicKey(privateKey)), image, new Date());
      const m = stored.manifest;
      return print(`package ${stored.id}: ${m.name} ${m.version} for ${m.models.join(', ')}, ${m.size} bytes, SHA-256 ${m.sha256}, metadata version ${m.metadataVersion}, expires ${m.expires}`);
    });
  },
};

const groupAdd: Command = {
  summary: 'put terminals in a named group (targeting and phases)',
  help: `Usage: paypad tms group add --group NAME --serials S1,S2 [--data-dir DIR]
${DATA_DIR_HELP}`,
  async run(argv) {
    const f = parseFlags(argv, { group: { type: 'string' }, serials: { type: 'string' }, 'data-dir': { type: 'string' } });
    const group = required(f.group, 'group');
    const serials = list(required(f.serials, 'serials'), 'serials');
    return withTms(f['data-dir'], async (tms) => {
      await tms.deployments.addToGroup(group, serials);
      return print(`group ${group}: added ${serials.join(', ')}`);
    });
  },
};

function phasesOf(percent: string | undefined, groups: string | undefined): DeploymentPhase[] {
  if (percent !== undefined && groups !== undefined) throw new UsageError('give --phases (percentages) or --phase-groups, not both');
  if (groups !== undefined) return groups.split(';').map((p) => ({ groups: list(p, 'phase-groups') }));
  return list(percent ?? '100', 'phases').map((p) => ({ percent: wholeNumber(p, 'phases', 0) }));
}

const deploy: Command = {
  summary: 'target a package at serials, groups or models, in phases',
  help: `Usage: paypad tms deploy --package ID [--serials S1,S2] [--groups G1,G2] [--models M1,M2]
                         [--phases 10,50,100 | --phase-groups pilot;shops,depots] [--failure-threshold PCT]
                         [--kpi-points N] [--kpi-min-transactions N] [--not-before ISO] [--not-after ISO]
                         [--window HH:MM-HH:MM] [--mode forced|attempt] [--data-dir DIR]

  --phases            cumulative percentages of the sorted targets, the last 100 (default 100)
  --phase-groups      one phase per ';'-separated list of groups (targets in none go last)
  --failure-threshold a phase halts once more than this % of its terminals failed (default 10)
  --kpi-points        ...or once the new version's decline or timeout rate is this many points above
                      the old version's at the same merchants (default 5)
  --kpi-min-transactions  payments each version needs in the phase before rates are compared (default 20)
  --not-before, --not-after   the effective window (ISO 8601)
  --window            the daily maintenance window, UTC (e.g. 22:00-04:00)
  --mode              forced: installed at once and offered again after a failure; attempt: one try (default)
${DATA_DIR_HELP}`,
  async run(argv) {
    const f = parseFlags(argv, {
      package: { type: 'string' },
      serials: { type: 'string' },
      groups: { type: 'string' },
      models: { type: 'string' },
      phases: { type: 'string' },
      'phase-groups': { type: 'string' },
      'failure-threshold': { type: 'string' },
      'kpi-points': { type: 'string' },
      'kpi-min-transactions': { type: 'string' },
      'not-before': { type: 'string' },
      'not-after': { type: 'string' },
      window: { type: 'string' },
      mode: { type: 'string' },
      'data-dir': { type: 'string' },
    });
    const { parseMaintenanceWindow } = await import('../../host/tms/deploymentPlan');
    const mode = f.mode ?? 'attempt';
    if (mode !== 'forced' && mode !== 'attempt') throw new UsageError(`--mode is forced or attempt, got '${mode}'`);
    const notBefore = instant(f['not-before'], 'not-before');
    const notAfter = instant(f['not-after'], 'not-after');
    const plan: DeploymentPlan = {
      packageId: wholeNumber(required(f.package, 'package'), 'package', 0),
      targets: { serials: list(f.serials, 'serials'), groups: list(f.groups, 'groups'), models: list(f.models, 'models') },
      phases: phasesOf(f.phases, f['phase-groups']),
      failureThresholdPercent: wholeNumber(f['failure-threshold'], 'failure-threshold', 10),
      kpiLimits: { maxRateIncreasePoints: wholeNumber(f['kpi-points'], 'kpi-points', 5), minTransactions: wholeNumber(f['kpi-min-transactions'], 'kpi-min-transactions', 20) },
      ...(notBefore === undefined ? {} : { notBefore }),
      ...(notAfter === undefined ? {} : { notAfter }),
      ...(f.window === undefined ? {} : { maintenanceWindow: flagValue('window', () => parseMaintenanceWindow(f.window as string)) }),
      mode,
    };
    return withTms(f['data-dir'], async (tms) => {
      const d = await tms.deploy(plan);
      const terminals = await tms.deployments.terminals(d.id);
      return print(`deployment ${d.id}: package ${d.packageId}, ${terminals.length} terminals now in ${d.phases.length} phase(s), ${d.state}`);
    });
  },
};

function describeDeployment(d: Deployment): string {
  const phase = `phase ${d.currentPhase + 1} of ${d.phases.length}`;
  return `deployment ${d.id}: package ${d.packageId}, ${d.mode}, ${d.state}, ${phase}${d.haltReason === undefined ? '' : ` (halted: ${d.haltReason})`}`;
}

function describeTerminal(t: DeploymentTerminal): string {
  return `  ${t.serial.padEnd(16)} phase ${t.phase + 1}  ${t.status}${t.code === undefined ? '' : ` ${t.code}`}  ${t.updatedAt.toISOString()}`;
}

const status: Command = {
  summary: 'deployments, or one with every terminal, its status and code, and the payment comparison',
  help: `Usage: paypad tms status [--deployment ID] [--data-dir DIR]

Without --deployment, lists the packages and deployments. With it, advances or halts the deployment
as its terminals' reports and payment results call for, then shows it.
${DATA_DIR_HELP}`,
  async run(argv) {
    const f = parseFlags(argv, { deployment: { type: 'string' }, 'data-dir': { type: 'string' } });
    return withTms(f['data-dir'], async (tms) => {
      if (f.deployment === undefined) {
        const lines = (await tms.packages.list()).map((p) => `package ${p.id}: ${p.manifest.name} ${p.manifest.version} (${p.manifest.models.join(', ')}), expires ${p.manifest.expires}`);
        for (const d of await tms.deployments.list()) lines.push(describeDeployment(d));
        return print(lines.length === 0 ? 'no packages or deployments' : lines.join('\n'));
      }
      const r = await tms.report(wholeNumber(f.deployment, 'deployment', 0));
      const k = r.paymentKpis;
      const rates = (x: typeof k.newVersion) => `${x.ended} payments, ${x.declined} declined, ${x.timedOut} timed out`;
      return print([describeDeployment(r.deployment), ...r.terminals.map(describeTerminal), `  payments: new version ${rates(k.newVersion)}; older versions ${rates(k.oldVersion)}`].join('\n'));
    });
  },
};

const halt: Command = {
  summary: 'halt a running deployment: no terminal is offered its package until it is resumed',
  help: `Usage: paypad tms halt --deployment ID [--reason TEXT] [--data-dir DIR]
${DATA_DIR_HELP}`,
  async run(argv) {
    const f = parseFlags(argv, { deployment: { type: 'string' }, reason: { type: 'string' }, 'data-dir': { type: 'string' } });
    const id = wholeNumber(required(f.deployment, 'deployment'), 'deployment', 0);
    return withTms(f['data-dir'], async (tms) => print(describeDeployment(await tms.halt(id, f.reason ?? 'halted by an operator'))));
  },
};

const resume: Command = {
  summary: 'resume a halted deployment (failures before the resume no longer count)',
  help: `Usage: paypad tms resume --deployment ID [--data-dir DIR]
${DATA_DIR_HELP}`,
  async run(argv) {
    const f = parseFlags(argv, { deployment: { type: 'string' }, 'data-dir': { type: 'string' } });
    const id = wholeNumber(required(f.deployment, 'deployment'), 'deployment', 0);
    return withTms(f['data-dir'], async (tms) => print(describeDeployment(await tms.resume(id))));
  },
};

const inventory: Command = {
  summary: "every terminal's model and program versions as it last reported them",
  help: `Usage: paypad tms inventory [--data-dir DIR]
${DATA_DIR_HELP}`,
  async run(argv) {
    const f = parseFlags(argv, { 'data-dir': { type: 'string' } });
    return withTms(f['data-dir'], async (tms) => {
      const lines = (await tms.inventoryEntries()).map((e) => `${e.serial.padEnd(16)} ${e.customerCode.padEnd(8)} ${e.model.padEnd(12)} ${Object.entries(e.versions).map(([n, v]) => `${n} ${v}`).join(', ')}  ${e.reportedAt.toISOString()}`);
      return print(lines.length === 0 ? 'no terminal has reported yet' : lines.join('\n'));
    });
  },
};

export const tmsCommand: Command = commandGroup('TMS: vendor keys, packages, groups, deployments, inventory (program updates)', 'Usage: paypad tms <command> [...]', {
  'vendor-key': vendorKey,
  package: packageCommand,
  group: commandGroup('terminal groups', 'Usage: paypad tms group <command> [...]', { add: groupAdd }),
  deploy,
  status,
  halt,
  resume,
  inventory,
});
