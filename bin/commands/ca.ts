/**
 * `paypad ca`: the CA center (A8) from the command line: make the CA, issue role certificates,
 * revoke them, list the register and print the CRL. It uses the data directory and database the
 * host uses (--data-dir / PAYPAD_DATA_DIR, DATABASE_URL), so a revocation here reaches every
 * host process that shares the database. Host modules load lazily: other commands stay fast.
 */
import { readFile, mkdir } from 'node:fs/promises';
import { resolve } from 'node:path';
import { type Command, commandGroup, EXIT_OK, flagValue, parseFlags, required, UsageError } from '../args';
import type { CertificateAuthority } from '../../host/ca/authority';
import { hostConfig, withHostDatabase } from '../hostDatabase';

const DATA_DIR_HELP = `  --data-dir DIR   the host's data directory; the CA lives in DIR/ca (PAYPAD_DATA_DIR, default ./data)
The register of issued certificates is in the host database: DATABASE_URL (postgres://...) or,
unset, SQLite in the data directory.`;

function print(text: string): number {
  process.stdout.write(text.endsWith('\n') ? text : text + '\n');
  return EXIT_OK;
}

/** Opens the host database (bin/hostDatabase.ts), loads the CA, runs `fn`, closes. */
async function withCa<T>(dataDirFlag: string | undefined, fn: (ca: CertificateAuthority) => Promise<T>): Promise<T> {
  const { openCa } = await import('../../host/ca/caStorage');
  return withHostDatabase(dataDirFlag, async (database, config) => fn(await openCa(config.dataDir, database.db)));
}

const init: Command = {
  summary: 'make the CA key and self-signed certificate (once per deployment)',
  help: `Usage: paypad ca init [--name CN] [--data-dir DIR]

Creates DIR/ca/ca-key.pem (ECDSA P-256, mode 0600) and DIR/ca/ca.pem (10 years). Refuses to
replace an existing CA. Prints the CA certificate: give it to every party as ca.pem.
  --name CN        the CA's common name (default "paypad CA")
${DATA_DIR_HELP}`,
  async run(argv) {
    const f = parseFlags(argv, { name: { type: 'string' }, 'data-dir': { type: 'string' } });
    const config = await hostConfig(f['data-dir']);
    const { initCa, DEFAULT_CA_NAME } = await import('../../host/ca/caStorage');
    const keys = await initCa(config.dataDir, f.name ?? DEFAULT_CA_NAME);
    return print(keys.certificate.toString('pem'));
  },
};

const issue: Command = {
  summary: 'issue a certificate for an operator, MTMS or a customer KMS',
  help: `Usage: paypad ca issue --role operator|mtms|kms --name NAME [--customer CODE] --out DIR
                       [--san HOST[,HOST...]] [--csr FILE] [--data-dir DIR]

Issues a 1-year ECDSA P-256 certificate with subject CN=NAME, OU=ROLE (and O=CODE for a KMS)
and writes DIR/cert.pem, DIR/key.pem (mode 0600) and DIR/ca.pem. Never overwrites files.
  --role ROLE      operator (client only), mtms or kms (client and server)
  --name NAME      the subject's common name
  --customer CODE  the customer a KMS serves (required for kms, refused otherwise)
  --san HOSTS      DNS names / IP addresses a server answers on (default localhost,127.0.0.1)
  --csr FILE       certify the key of this PKCS#10 request instead of making one; no key.pem
${DATA_DIR_HELP}`,
  async run(argv) {
    const f = parseFlags(argv, {
      role: { type: 'string' },
      name: { type: 'string' },
      customer: { type: 'string' },
      san: { type: 'string' },
      csr: { type: 'string' },
      out: { type: 'string' },
      'data-dir': { type: 'string' },
    });
    const { isCertRole, CERT_ROLES } = await import('../../host/ca/roles');
    const role = required(f.role, 'role');
    if (!isCertRole(role)) throw new UsageError(`--role must be one of ${CERT_ROLES.join(', ')}, got '${role}'`);
    // A device's key never leaves it: its certificate comes from enrolment, where it proves the key.
    if (role === 'device') throw new UsageError('device certificates are issued at enrolment, for the key the device made: paypad mtms device enrol --link HOST:PORT ...');
    const name = required(f.name, 'name');
    const out = resolve(required(f.out, 'out'));
    if (role === 'kms' && f.customer === undefined) throw new UsageError('--customer is required for a kms certificate');
    const hosts = f.san?.split(',').map((h) => h.trim());
    const csrFile = f.csr;
    const csrPem = csrFile === undefined ? undefined : await readFile(csrFile, 'utf8').catch((e: NodeJS.ErrnoException) => {
      throw new UsageError(`--csr: cannot read ${csrFile}: ${e.code ?? e.message}`);
    });
    const { assertIdentityTarget, writeIdentity } = await import('../../host/tls/identity');
    await assertIdentityTarget(out, csrPem === undefined);
    return withCa(f['data-dir'], async (ca) => {
      const issued = await ca.issue({ subject: { role, name, ...(f.customer === undefined ? {} : { customerCode: f.customer }) }, hosts, csrPem });
      await mkdir(out, { recursive: true, mode: 0o700 });
      const paths = await writeIdentity(out, issued);
      return print(`issued ${issued.record.subject} serial ${issued.record.serial}, valid until ${issued.record.notAfter.toISOString()}\n${paths.map((p) => `  wrote ${p}`).join('\n')}`);
    });
  },
};

const revoke: Command = {
  summary: 'revoke a certificate by serial',
  help: `Usage: paypad ca revoke --serial HEX [--reason REASON] [--data-dir DIR]

Revocation is final and takes effect on every host sharing the database within seconds.
  --reason REASON  unspecified (default), keyCompromise, cACompromise, affiliationChanged,
                   superseded, cessationOfOperation, privilegeWithdrawn (RFC 5280 §5.3.1)
${DATA_DIR_HELP}`,
  async run(argv) {
    const f = parseFlags(argv, { serial: { type: 'string' }, reason: { type: 'string' }, 'data-dir': { type: 'string' } });
    const { isRevocationReason, normalizeSerial, REVOCATION_REASONS } = await import('../../host/ca/certificates');
    const given = required(f.serial, 'serial');
    const serial = flagValue('serial', () => normalizeSerial(given));
    const reason = f.reason ?? 'unspecified';
    if (!isRevocationReason(reason)) throw new UsageError(`--reason must be one of ${REVOCATION_REASONS.join(', ')}, got '${reason}'`);
    return withCa(f['data-dir'], async (ca) => {
      const revoked = await ca.revoke(serial, reason);
      return print(`revoked ${revoked.subject} serial ${revoked.serial} (${reason}) at ${revoked.revokedAt?.toISOString()}`);
    });
  },
};

const list: Command = {
  summary: 'list every certificate the CA issued, with its status',
  help: `Usage: paypad ca list [--data-dir DIR]\n\nOne line per certificate: serial, status, not-after, subject.\n${DATA_DIR_HELP}`,
  async run(argv) {
    const f = parseFlags(argv, { 'data-dir': { type: 'string' } });
    return withCa(f['data-dir'], async (ca) => {
      const now = new Date();
      const rows = (await ca.list()).map((c) => {
        const status = c.revokedAt ? `revoked:${c.revocationReason}` : c.notAfter < now ? 'expired' : 'valid';
        return `${c.serial.padEnd(32)}  ${status.padEnd(28)}  ${c.notAfter.toISOString()}  ${c.subject}`;
      });
      return print([`${'SERIAL'.padEnd(32)}  ${'STATUS'.padEnd(28)}  ${'NOT AFTER'.padEnd(24)}  SUBJECT`, ...rows].join('\n'));
    });
  },
};

const crl: Command = {
  summary: 'print a freshly signed CRL (PEM) of revoked certificates',
  help: `Usage: paypad ca crl [--data-dir DIR]

Prints an X.509 v2 CRL valid for 7 days, for \`openssl verify -crl_check -CRLfile\` and other
relying parties.
${DATA_DIR_HELP}`,
  async run(argv) {
    const f = parseFlags(argv, { 'data-dir': { type: 'string' } });
    return withCa(f['data-dir'], async (ca) => print(await ca.crlPem()));
  },
};

export const caCommand = commandGroup('the certificate authority: init, issue, revoke, list, crl', 'Usage: paypad ca <command> [...]', { init, issue, revoke, list, crl });
