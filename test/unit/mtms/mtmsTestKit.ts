/**
 * What the MTMS tests share: a terminal that makes its TK in clear (so the tests can look for it
 * where it must not be, X1) and wraps it for an intake key as the PIN pad does (A10), temporary
 * directories, and a dump of every row MTMS can write.
 * The envelope context is spelled out from docs/key-loading.md, not taken from the code under test.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Kysely, sql } from 'kysely';
import { afterAll, expect } from 'vitest';
import type { Schema } from '../../../host/db/schema';
import { asciiToBytes, type Rng, toHex } from '../../../shared/bytes';
import { keyCheckValue } from '../../../shared/crypto/kcv';
import { encodeKeyEnvelope, wrapKeyForRecipient } from '../../../shared/crypto/keyTransport';

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

export class TerminalWithTk {
  readonly tk = rng(16);
  constructor(readonly serial: string) {}

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
