/**
 * The TMS under test (host/tms): beside a KMS on a migrated database and a software HSM, with a
 * vendor key, a package of a test image and signed-on terminals simulated from shared/crypto
 * that speak the update protocol (shared/protocol/update*) the way firmware/core does.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { sha256 } from '@noble/hashes/sha2.js';
import { asciiToBytes, toHex } from '../../../shared/bytes';
import { aesCmac } from '../../../shared/crypto/cmac';
import { p256PublicKey } from '../../../shared/crypto/primitives';
import { type HeaderMap, type MacKeyId, parseRequest, type ReceivedRequest, signRequest, verifyResponse } from '../../../shared/protocol/macEnvelope';
import { type Manifest, signManifest } from '../../../shared/protocol/updateManifest';
import { tmsQueryPath, tmsSessionConfirmPath, tmsSessionImagePath, tmsSessionsPath, tmsStatusPath } from '../../../shared/protocol/updateMessages';
import type { Database, Dialect } from '../../../host/db/database';
import { createKmsStore } from '../../../host/kms/kmsStore';
import { type KmsService, openKmsService } from '../../../host/kms/kmsService';
import type { StoredPackage } from '../../../host/tms/packageStore';
import { createTms, type Tms } from '../../../host/tms/tms';
import { openTmsService, type TmsService } from '../../../host/tms/tmsService';
import { openTestHsm, rng, type TestHsm } from '../hsm/hsmTestKit';
import { type Reply, SimulatedTerminal } from '../kms/terminalSim';
import { useMigratedDatabase } from '../../store/helpers/testDatabase';

export const CUSTOMER = 'ACME';
export const MODEL = 'PP-ESP32';
export const PROGRAM = 'paypad-firmware';

export interface TmsUnderTest {
  readonly database: Database;
  readonly hsm: TestHsm;
  readonly kms: KmsService;
  readonly tms: Tms;
  readonly service: TmsService;
  readonly vendor: { readonly privateKey: Uint8Array; readonly publicKey: Uint8Array };
  readonly dataDir: string;
  /** Sets the clock every part reads. */
  setNow(at: Date): void;
}

export function useTms(dialect: Dialect, start = new Date('2026-12-06T10:00:00Z')): () => TmsUnderTest {
  const database = useMigratedDatabase(dialect);
  let under: TmsUnderTest | undefined;
  beforeAll(async () => {
    let now = start;
    const clock = () => now;
    const hsm = await openTestHsm();
    const kms = await openKmsService({ customerCode: CUSTOMER, hsm: hsm.hsm, store: createKmsStore(database().db), clock });
    const dataDir = mkdtempSync(join(tmpdir(), 'paypad-tms-'));
    const tms = createTms(database().db, dataDir, clock);
    const service = await openTmsService({ customerCode: CUSTOMER, hsm: hsm.hsm, kmsStore: createKmsStore(database().db), db: database().db, tms, clock });
    const privateKey = rng(32);
    const vendor = { privateKey, publicKey: p256PublicKey(privateKey) };
    await tms.packages.addVendorKey('Test Vendor', vendor.publicKey, clock());
    under = { database: database(), hsm, kms, tms, service, vendor, dataDir, setNow: (at) => (now = at) };
  });
  afterAll(async () => {
    await under?.hsm.hsm.close();
  });
  return () => {
    if (!under) throw new Error('the TMS is made in beforeAll');
    return under;
  };
}

/** A package of `image`, signed by the test vendor and stored. */
export async function storePackage(t: Pick<TmsUnderTest, 'tms' | 'vendor'>, image: Uint8Array, fields: Partial<Manifest> = {}): Promise<StoredPackage> {
  const version = fields.version ?? '1.1.0';
  const manifest: Manifest = {
    v: 1,
    name: PROGRAM,
    version,
    models: [MODEL],
    size: image.length,
    sha256: toHex(sha256(image)),
    minimumVersion: '1.0.0',
    securityCounter: 1,
    metadataVersion: await t.tms.packages.nextMetadataVersion(fields.name ?? PROGRAM),
    expires: '2027-06-01T00:00:00Z',
    ...fields,
  };
  return t.tms.packages.addPackage(signManifest(manifest, t.vendor.privateKey, t.vendor.publicKey), image, new Date());
}

let serials = 0;

/** A signed-on terminal of the KMS beside the TMS, speaking the update protocol. */
export class UpdatingTerminal extends SimulatedTerminal {
  /** A MAC'd update request with the next sequence number (or `seq`). */
  async request(method: 'GET' | 'POST', path: string, message?: object | Uint8Array, options: { seq?: number; keyId?: MacKeyId } = {}): Promise<{ parsed: ReceivedRequest }> {
    const seq = options.seq ?? ++this.seq;
    const body = message === undefined ? new Uint8Array(0) : message instanceof Uint8Array ? message : asciiToBytes(JSON.stringify(message));
    const keyId = options.keyId ?? 'MAK';
    const key = this.macKey(keyId);
    const headers = await signRequest({ method, path, serial: this.serial, seq, keyId }, body, (data) => aesCmac(key, data));
    return { parsed: parseRequest(method, path, headers, body) };
  }

  /** The reply's JSON once its MAC verified under MAK for that request. */
  async answer(request: { parsed: ReceivedRequest }, reply: Reply): Promise<Record<string, unknown>> {
    await verifyResponse({ status: reply.status, serial: this.serial, seq: request.parsed.seq }, reply.headers as HeaderMap, reply.body, (data) => aesCmac(this.macKey('MAK'), data));
    return JSON.parse(new TextDecoder().decode(reply.body)) as Record<string, unknown>;
  }

  query = (installed = '1.0.0', model = MODEL) => this.request('POST', tmsQueryPath(this.serial), { v: 1, model, installed: [{ name: PROGRAM, version: installed }], trigger: 'schedule' });
  sessions = (deployment: string, packageDigest: string, tData: Uint8Array) => this.request('POST', tmsSessionsPath(this.serial), { v: 1, deployment, packageDigest, tData: toHex(tData) });
  confirm = (sessionId: string, sac: Uint8Array) => this.request('POST', tmsSessionConfirmPath(this.serial, sessionId), { v: 1, sac: toHex(sac) });
  image = (sessionId: string) => this.request('GET', tmsSessionImagePath(this.serial, sessionId));
  status = (report: object) => this.request('POST', tmsStatusPath(this.serial), { v: 1, ...report });

  dmk(): Uint8Array {
    const key = this.workingKeys.get('DMK');
    if (!key) throw new Error('the terminal has no DMK');
    return key;
  }
}

/** A new terminal taken through TK delivery, TMK download and sign-on at `kms`. */
export async function signedOnTerminal(kms: KmsService): Promise<UpdatingTerminal> {
  const serial = `PP-TMS-${String(++serials).padStart(4, '0')}`;
  const terminal = new UpdatingTerminal(serial);
  await kms.receiveTk(terminal.delivery(kms.intakePublicKey().publicKey, CUSTOMER, `d-${serial}`));
  const tmk = await terminal.sign('tmk');
  terminal.acceptTmk(await terminal.verified(tmk, await kms.downloadTmk(tmk.parsed)));
  const signOn = await terminal.sign('sign-on');
  terminal.acceptWorkingKeys(await terminal.verified(signOn, await kms.signOn(signOn.parsed), terminal.macKey('TK')));
  return terminal;
}

