/**
 * MTMS for the operator tests: the real MTMS routes (host/mtms/router: paths, the operator
 * client-certificate gate, error statuses) over real loopback HTTPS with certificates from the
 * paypad CA (host/ca), in front of an in-memory service that keeps a serial table and records
 * every upload. The service is a stand-in for host/mtms/mtmsService (no HSM, no outbox): the
 * operator's side is what is under test; the full e2e runs the real one.
 */
import express from 'express';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CertificateAuthority, IssuedIdentity } from '../../../../host/ca/authority';
import { ensureCa } from '../../../../host/ca/caStorage';
import type { CertSubject } from '../../../../host/ca/roles';
import { migrateToLatest } from '../../../../host/db/migrate';
import { errorHandler } from '../../../../host/http/errors';
import { createLogger } from '../../../../host/log';
import type { MtmsService } from '../../../../host/mtms/mtmsService';
import type { OperatorIdentity } from '../../../../host/mtms/mtmsTables';
import type { IdentityFiles } from '../../../../host/operator/operatorIdentity';
import { createMtmsRouter } from '../../../../host/mtms/router';
import type { TlsIdentity } from '../../../../host/tls/identity';
import { PaypadError } from '../../../../shared/errors';
import { MESSAGE_VERSION, type TkIntakeRequest, validateMessage } from '../../../../shared/protocol/messages';
import { type RunningHttps, startHttps, tempDirs } from '../../ca/fixtures';
import { createTestStore, type TestStore } from '../../../store/helpers/testDatabase';

export interface RecordedUpload {
  readonly request: TkIntakeRequest;
  readonly operator: OperatorIdentity;
  readonly deliveryId: string;
}

export interface MtmsState {
  /** name per customer code */
  readonly customers: Map<string, string>;
  /** customer code per serial */
  readonly serials: Map<string, string>;
  readonly uploads: RecordedUpload[];
  /** Every customer-name question: [serial, code]. */
  readonly nameQuestions: [string, string][];
}

export interface PkiFixture {
  readonly ca: CertificateAuthority;
  issue(subject: CertSubject): Promise<TlsIdentity>;
  /** Writes an identity's three PEM files into a fresh directory, as the CLI takes them. */
  files(identity: TlsIdentity): IdentityFiles;
  /** A directory removed by cleanup(). */
  dir(): string;
  cleanup(): Promise<void>;
}

export async function createPki(): Promise<PkiFixture> {
  const dirs = tempDirs();
  const store: TestStore = await createTestStore('sqlite');
  const database = store.open();
  await migrateToLatest(database);
  const ca = await ensureCa({ dataDir: dirs.make('paypad-operator-ca-'), db: database.db });
  return {
    ca,
    issue: async (subject) => toIdentity(await ca.issue({ subject })),
    files(identity) {
      const dir = join(dirs.make('paypad-operator-id-'), 'id');
      mkdirSync(dir);
      const paths = { cert: join(dir, 'cert.pem'), key: join(dir, 'key.pem'), ca: join(dir, 'ca.pem') };
      writeFileSync(paths.cert, identity.certPem);
      writeFileSync(paths.key, identity.keyPem, { mode: 0o600 });
      writeFileSync(paths.ca, identity.caPem);
      return paths;
    },
    dir: () => dirs.make('paypad-operator-'),
    async cleanup() {
      await store.destroy();
      dirs.cleanup();
    },
  };
}

function toIdentity(issued: IssuedIdentity): TlsIdentity {
  if (issued.keyPem === undefined) throw new Error('expected a CA-generated key');
  return { certPem: issued.certPem, keyPem: issued.keyPem, caPem: issued.caPem };
}

export interface FakeMtms {
  readonly url: string;
  readonly state: MtmsState;
  readonly server: RunningHttps;
  close(): Promise<void>;
}

/** MTMS on 127.0.0.1 presenting `identity` (role mtms, or another role to test the client's check). */
export async function startFakeMtms(pki: PkiFixture, identity: TlsIdentity, seed: { customers: [string, string][]; serials: [string, string][] }): Promise<FakeMtms> {
  const state: MtmsState = { customers: new Map(seed.customers), serials: new Map(seed.serials), uploads: [], nameQuestions: [] };
  const app = express();
  app.use(createMtmsRouter({ service: fakeService(state), revocation: pki.ca }));
  app.use(errorHandler(createLogger({ level: 'silent' })));
  const server = await startHttps(identity, app);
  return { url: server.url, state, server, close: () => server.close() };
}

function fakeService(state: MtmsState): MtmsService {
  const customerOf = (serial: string): string => {
    const code = state.serials.get(serial);
    if (code === undefined) throw new PaypadError('MTMS_SERIAL_UNKNOWN', `serial ${serial} is not in the MTMS serial table`);
    return code;
  };
  const info = (serial: string, code: string) => {
    const name = state.customers.get(code);
    if (name === undefined) throw new PaypadError('MTMS_CUSTOMER_UNKNOWN', `there is no customer ${code}`);
    return validateMessage('customerInfo', { v: MESSAGE_VERSION, serial, customerCode: code, customerName: name });
  };
  let challenges = 0;
  return {
    intakePublicKey: () => {
      throw new PaypadError('INTERNAL', 'not part of the operator tests');
    },
    // A8: the device's part is MTMS's to check (test/unit/mtms/deviceIdentity.test.ts); here a nonce is only counted out.
    async deviceChallenge(serial) {
      const nonce = (++challenges).toString(16).toUpperCase().padStart(64, '0');
      return validateMessage('deviceChallenge', { v: MESSAGE_VERSION, serial, nonce, expiresAt: new Date(Date.now() + 300_000).toISOString() });
    },
    enrolDevice: () => Promise.reject(new PaypadError('INTERNAL', 'not part of the operator tests')),
    transferOrder: () => Promise.reject(new PaypadError('INTERNAL', 'not part of the operator tests')),
    async lookup(serial) {
      return info(serial, customerOf(serial));
    },
    async customerNameFor(serial, customerCode) {
      customerOf(serial);
      state.nameQuestions.push([serial, customerCode]);
      return info(serial, customerCode);
    },
    async intakeTk(input, operator) {
      const request = validateMessage('tkIntakeRequest', input);
      const current = customerOf(request.serial);
      const target = request.customerCode ?? current;
      info(request.serial, target);
      // As MTMS does: the same envelope for the same customer again is the same intake.
      const again = state.uploads.find((u) => u.request.tkEnvelope === request.tkEnvelope && (u.request.customerCode ?? current) === target);
      const deliveryId = again?.deliveryId ?? `tk-${state.uploads.length + 1}`;
      if (again === undefined) state.uploads.push({ request, operator, deliveryId });
      state.serials.set(request.serial, target);
      return validateMessage('tkIntakeReceipt', { v: MESSAGE_VERSION, serial: request.serial, customerCode: target, deliveryId });
    },
  };
}
