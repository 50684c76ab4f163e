/**
 * What the MTMS tests share: a terminal that makes its TK in clear (so the tests can look for it
 * where it must not be, X1) and wraps it for an intake key as the PIN pad does (A10), with a
 * device identity key certified by a test CA and signing each upload over MTMS's nonce (A8),
 * temporary directories, and a dump of every row MTMS can write.
 * The envelope context is spelled out from docs/key-loading.md, not taken from the code under test.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Kysely, sql } from 'kysely';
import { afterAll, expect } from 'vitest';
import type { CertificateAuthority } from '../../../host/ca/authority';
import { ensureCa } from '../../../host/ca/caStorage';
import { x509 } from '../../../host/ca/x509';
import type { Schema } from '../../../host/db/schema';
import type { MtmsService } from '../../../host/mtms/mtmsService';
import type { OperatorIdentity } from '../../../host/mtms/mtmsTables';
import { asciiToBytes, fromHex, type Rng, toHex } from '../../../shared/bytes';
import { signP256Sha256 } from '../../../shared/crypto/ecdsa';
import { keyCheckValue } from '../../../shared/crypto/kcv';
import { encodeKeyEnvelope, generateP256KeyPair, type P256KeyPair, wrapKeyForRecipient } from '../../../shared/crypto/keyTransport';
import { tkIntakeSignedBytes } from '../../../shared/protocol/deviceIdentity';
import { MESSAGE_VERSION } from '../../../shared/protocol/messages';

export const rng: Rng = (n) => new Uint8Array(randomBytes(n));

export const MTMS_TABLES = ['mtms_customers', 'mtms_orders', 'mtms_serials', 'mtms_tk_intakes', 'mtms_intake_keys', 'outbox', 'audit_log'] as const;

const directories: string[] = [];
afterAll(async () => {
  await Promise.all(directories.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

export async function tempDir(prefix = 'paypad-mtms-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  directories.push(dir);
  return dir;
}

/** The host's own CA code on a fresh data directory, its register in `db`: it certifies test devices. */
export async function testCa(db: Kysely<Schema>): Promise<CertificateAuthority> {
  return ensureCa({ dataDir: await tempDir('paypad-mtms-ca-'), db });
}

export class TerminalWithTk {
  readonly tk = rng(16);
  /** The device identity key pair (A8); a real PIN pad never lets the private key out. */
  readonly identity: P256KeyPair;
  /** DER, once enrol() has run. */
  certificate: Uint8Array | undefined;
  constructor(
    readonly serial: string,
    identity: P256KeyPair = generateP256KeyPair(rng),
  ) {
    this.identity = identity;
  }

  /** The same device after a repair (A13): a new TK, the same identity key and certificate. */
  repaired(): TerminalWithTk {
    const after = new TerminalWithTk(this.serial, this.identity);
    after.certificate = this.certificate;
    return after;
  }

  /** The CA certifies the identity key, role device, CN = serial, as enrolment ends (the enrolment checks have their own tests). */
  async enrol(ca: CertificateAuthority): Promise<string> {
    const issued = await ca.issue({ subject: { role: 'device', name: this.serial }, publicKey: this.identity.publicKey });
    this.certificate = new Uint8Array(new x509.X509Certificate(issued.certPem).rawData);
    return issued.record.serial;
  }

  /** The device's part of an upload: `tkEnvelope` signed over `nonce` (hex), with its certificate. */
  vouch(tkEnvelope: string, nonce: string): { nonce: string; deviceSignature: string; deviceCertificate: string } {
    if (this.certificate === undefined) throw new Error(`terminal ${this.serial} is not enrolled`);
    const signature = signP256Sha256(this.identity.privateKey, tkIntakeSignedBytes(this.serial, fromHex(nonce), fromHex(tkEnvelope)));
    return { nonce, deviceSignature: toHex(signature), deviceCertificate: toHex(this.certificate) };
  }

  /** A tkIntakeRequest as the station sends it: a TK challenge from `service`, then the signed envelope. */
  async signedRequest(service: MtmsService, operator: OperatorIdentity, tkEnvelope: string, extra: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
    const { nonce } = await service.deviceChallenge(this.serial, 'tk', operator);
    return { v: MESSAGE_VERSION, serial: this.serial, tkEnvelope, confirmed: true, ...this.vouch(tkEnvelope, nonce), ...extra };
  }

  /** The CMAC KCV of the TK (X9.24-1), as MTMS and the KMS record it. */
  get kcv(): string {
    return toHex(keyCheckValue(this.tk, 'cmac'));
  }

  /** The TK as an envelope for `recipient`, context paypad-tk|<serial> unless another is given. */
  envelopeFor(recipient: Uint8Array, context = `paypad-tk|${this.serial}`): string {
    return toHex(encodeKeyEnvelope(wrapKeyForRecipient(recipient, this.tk, asciiToBytes(context), rng)));
  }
}

/** Every row of every table MTMS writes, as JSON text. */
export async function dumpRows(db: Kysely<Schema>): Promise<string> {
  const out: Record<string, unknown[]> = {};
  for (const table of MTMS_TABLES) {
    const { rows } = await sql<Record<string, unknown>>`select * from ${sql.table(table)}`.execute(db);
    out[table] = rows;
  }
  return JSON.stringify(out);
}

/** X1: the terminal's TK appears in no row, as hex in either case or as base64. */
export async function expectNoClearTk(db: Kysely<Schema>, terminals: readonly TerminalWithTk[]): Promise<void> {
  const dump = await dumpRows(db);
  expect(terminals.length).toBeGreaterThan(0);
  for (const t of terminals) {
    const hex = toHex(t.tk);
    expect(dump).not.toContain(hex);
    expect(dump).not.toContain(hex.toLowerCase());
    expect(dump).not.toContain(Buffer.from(t.tk).toString('base64').replace(/=+$/, ''));
  }
}
