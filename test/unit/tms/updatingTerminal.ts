/**
 * A signed-on terminal that speaks the update protocol (shared/protocol/update*), played from
 * shared/crypto as firmware/core does, and the test vendor's packages. No vitest here: the TMS
 * benchmark (bench/tms.ts) drives the same terminal.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { asciiToBytes, toHex } from '../../../shared/bytes';
import { aesCmac } from '../../../shared/crypto/cmac';
import { type HeaderMap, type MacKeyId, parseRequest, type ReceivedRequest, signRequest, verifyResponse } from '../../../shared/protocol/macEnvelope';
import { type Manifest, signManifest } from '../../../shared/protocol/updateManifest';
import { tmsQueryPath, tmsSessionConfirmPath, tmsSessionImagePath, tmsSessionsPath, tmsStatusPath } from '../../../shared/protocol/updateMessages';
import type { KmsService } from '../../../host/kms/kmsService';
import type { StoredPackage } from '../../../host/tms/packageStore';
import type { Tms } from '../../../host/tms/tms';
import { type Reply, SimulatedTerminal } from '../kms/terminalSim';

export const CUSTOMER = 'ACME';
export const MODEL = 'PP-ESP32';
export const PROGRAM = 'paypad-firmware';

export interface TestVendor {
  readonly privateKey: Uint8Array;
  readonly publicKey: Uint8Array;
}

/** A package of `image`, signed by the test vendor and stored. */
export async function storePackage(t: { readonly tms: Tms; readonly vendor: TestVendor }, image: Uint8Array, fields: Partial<Manifest> = {}): Promise<StoredPackage> {
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
