/**
 * The terminal's side of program updates (SPEC B1-B4, B7; docs/updates.md "On the terminal"):
 *
 *   check(trigger)  B1 query -> B2 offer -> the vendor's signature and the manifest's checks ->
 *                   download sessions (B3 + B4, updateSession.ts) from where the slot's image ends ->
 *                   the whole image's SHA-256, the signature and checks again -> the slot switch ->
 *                   restart. One check at a time: a second trigger while one runs gets the same
 *                   promise (B7: a schedule and a notice at once download once).
 *   start()         at every start, before the application: a new program on trial confirms itself
 *                   and reports success; a start after a rollback reports 402.
 *
 * A lost connection during the download opens a new session (fresh authentication) and goes on from
 * the progress record, up to SESSIONS per check; a power cut leaves the record for the next check,
 * which resumes. Every stage is reported to the TMS with its numbered code (updateCodes.ts); a report
 * that cannot be delivered does not change the outcome. The old program keeps running on any
 * refusal: nothing is switched before every check passed.
 * Runs in XS: no Node APIs.
 */
import { type Rng, fromHex, toHex } from 'shared/bytes';
import { createSha256, sha256 } from 'shared/crypto/primitives';
import { PaypadError, isPaypadError } from 'shared/errors';
import { type UpdateStage, type UpdateStatus, UPDATE_CODE_OTHER, UPDATE_OK, updateFailureCode } from 'shared/protocol/updateCodes';
import { type Manifest, type OpenedManifest, checkManifestFor, openSignedManifest } from 'shared/protocol/updateManifest';
import { UPDATE_PROTOCOL_VERSION, type UpdateOffer, type UpdateTrigger, tmsQueryPath, tmsStatusPath } from 'shared/protocol/updateMessages';
import type { Clock } from '../hal/clock';
import type { Http, HttpResponse } from '../hal/http';
import type { Storage } from '../hal/storage';
import type { Updater } from '../hal/updater';
import type { KeyVault } from './keyVault';
import type { TerminalIdentity } from './terminalIdentity';
import { type SignedTmsRequest, authenticateTmsAnswer, readTmsAnswer, signTmsRequest } from './tmsExchange';
import { clearDownload, clearInstall, readAccepted, readDownload, readInstall, writeAccepted, writeDownload, writeInstall } from './updateProgress';
import { type SessionDevice, type SessionTarget, runDownloadSession } from './updateSession';

/** New sessions per check after a lost connection, before the check gives up until the next trigger. */
const SESSIONS = 3;
/** Bytes read back from the slot per step when the whole image is hashed before the switch. */
const READ_BACK_BYTES = 4096;

export interface UpdateClientOptions {
  readonly identity: TerminalIdentity;
  readonly vault: KeyVault;
  readonly storage: Storage;
  readonly http: Http;
  readonly rng: Rng;
  readonly clock: Clock;
  readonly updater: Updater;
  /** The terminal's model, as packages name it. */
  readonly model: string;
  /** The program packages replace (e.g. "paypad-firmware"). */
  readonly programName: string;
  /** The vendor's P-256 public keys the firmware is built with (SEC 1 uncompressed). */
  readonly vendorKeys: readonly Uint8Array[];
  /** True when the vault's MAK belongs to its current TMK (signed on). */
  readonly signedOn: () => boolean;
}

export type UpdateCheckResult =
  | { readonly outcome: 'none' }
  /** Switched: the terminal restarts into `version` (on a device restart() does not return). */
  | { readonly outcome: 'installed'; readonly version: string };

/** The offer being worked on, once its manifest verified. */
interface Work {
  readonly deployment: string;
  readonly opened: OpenedManifest;
}

export class UpdateClient {
  readonly #o: UpdateClientOptions;
  #running: Promise<UpdateCheckResult> | undefined;

  constructor(options: UpdateClientOptions) {
    this.#o = options;
  }

  /** B1-B4 once; B7: while a check runs, every trigger joins it. */
  check(trigger: UpdateTrigger): Promise<UpdateCheckResult> {
    if (this.#running !== undefined) return this.#running;
    const running = Promise.resolve()
      .then(() => {
        if (!this.#o.signedOn()) throw new PaypadError('TERMINAL_STATE', 'the terminal is not signed on: no MAK to talk to the TMS with (A12)');
        return this.#query(trigger);
      })
      .then((offer) => (offer.offer === undefined ? { outcome: 'none' as const } : this.#install(offer.offer)));
    this.#running = running;
    const done = (): void => {
      this.#running = undefined;
    };
    running.then(done, done);
    return running;
  }

  /**
   * At every start, before the application runs. After a switch: a program on trial confirms
   * itself and reports success (and its security counter becomes the floor); a start that found
   * the trial never confirmed reports 402 from the previous program. A switch a power cut stopped
   * short left the old program running and the download record whole: the next check finishes it.
   */
  start(): Promise<void> {
    const { updater, storage } = this.#o;
    const install = readInstall(storage);
    if (updater.startKind === 'trial') {
      updater.confirm();
      if (install === undefined) return Promise.resolve();
      const floors = readAccepted(storage);
      writeAccepted(storage, { ...floors, securityCounter: Math.max(floors.securityCounter, install.securityCounter) });
      clearInstall(storage);
      clearDownload(storage);
      return this.#report(install.deployment, install.packageDigest, 'confirm', 'success', UPDATE_OK);
    }
    if (updater.startKind === 'rolledBack' && install !== undefined) {
      clearInstall(storage);
      clearDownload(storage);
      const failure = new PaypadError('UPDATE_NOT_CONFIRMED', `version ${install.version} did not confirm itself: ${updater.currentVersion} runs again`);
      return this.#report(install.deployment, install.packageDigest, 'confirm', 'failed', updateFailureCode(failure.code), failure);
    }
    if (install !== undefined && install.version !== updater.currentVersion) clearInstall(storage);
    return Promise.resolve();
  }

  #query(trigger: UpdateTrigger): Promise<UpdateOffer> {
    const { identity, vault, storage, model, programName, updater } = this.#o;
    const body = { v: UPDATE_PROTOCOL_VERSION, model, installed: [{ name: programName, version: updater.currentVersion }], trigger };
    return Promise.resolve()
      .then(() => signTmsRequest(vault, storage, identity.serial, 'POST', tmsQueryPath(identity.serial), body))
      .then((request) => this.#send(request).then((response) => readTmsAnswer(request, response, 'updateOffer')));
  }

  #install(offer: NonNullable<UpdateOffer['offer']>): Promise<UpdateCheckResult> {
    let work: Work | undefined;
    let stage: UpdateStage = 'verify';
    return Promise.resolve()
      .then(() => {
        work = { deployment: offer.deployment, opened: this.#verifyManifest(offer.package) };
        return work;
      })
      .then((verified) => {
        const floors = readAccepted(this.#o.storage);
        if (verified.opened.manifest.metadataVersion > floors.metadataVersion) writeAccepted(this.#o.storage, { ...floors, metadataVersion: verified.opened.manifest.metadataVersion });
        stage = 'download';
        return this.#download(verified);
      })
      .then(() => {
        stage = 'verify';
        return this.#verifyImage(offer.package);
      })
      .then((opened) => {
        stage = 'install';
        return this.#switch(offer.deployment, opened);
      })
      .catch((e: unknown) => {
        // A package whose signature did not verify is still named to the TMS by its digest.
        const digest = work?.opened.packageDigest ?? toHex(sha256(fromHex(offer.package.manifest)));
        const code = updateFailureCode(isPaypadError(e) ? e.code : 'INTERNAL');
        return this.#report(offer.deployment, digest, stageOf(stage, e), 'failed', code, e, readDownload(this.#o.storage)?.written).then(() => {
          throw e;
        });
      });
  }

  /** The vendor's signature first, then every check against this terminal (updateManifest.ts). */
  #verifyManifest(signed: NonNullable<UpdateOffer['offer']>['package']): OpenedManifest {
    const opened = openSignedManifest(signed, this.#o.vendorKeys);
    this.#checkManifest(opened.manifest);
    return opened;
  }

  #checkManifest(manifest: Manifest): void {
    const { model, programName, updater, storage, clock } = this.#o;
    if (manifest.name !== programName) throw new PaypadError('UPDATE_MODEL_MISMATCH', `package ${manifest.name} is not for program ${programName}`);
    const floors = readAccepted(storage);
    checkManifestFor(manifest, { model, version: updater.currentVersion, securityCounter: floors.securityCounter, metadataVersion: floors.metadataVersion }, clock.now());
  }

  /** Sessions until the slot holds the whole image; resumes from the progress record of the same package. */
  #download(work: Work): Promise<void> {
    const { storage, updater } = this.#o;
    const { manifest, packageDigest } = work.opened;
    const progress = readDownload(storage);
    const target: SessionTarget = { deployment: work.deployment, packageDigest, size: manifest.size, written: 0 };
    if (progress !== undefined && progress.packageDigest === packageDigest && progress.size === manifest.size && this.#resumed(manifest.size, progress.written)) {
      target.written = progress.written;
    } else {
      updater.begin(manifest.size);
      writeDownload(storage, { deployment: work.deployment, packageDigest, size: manifest.size, written: 0 });
    }
    const report = this.#report(work.deployment, packageDigest, 'download', 'downloading', UPDATE_OK, undefined, target.written);
    // A slot that already holds the whole image (a power cut during the switch) needs no session.
    return target.written === target.size ? report : report.then(() => this.#sessions(target, SESSIONS));
  }

  #resumed(size: number, written: number): boolean {
    try {
      this.#o.updater.resume(size, written);
      return true;
    } catch (e) {
      if (isPaypadError(e, 'UPDATE_STATE') || isPaypadError(e, 'UPDATE_UNSUPPORTED')) return false;
      throw e;
    }
  }

  #sessions(target: SessionTarget, left: number): Promise<void> {
    const device: SessionDevice = this.#o;
    return runDownloadSession(device, target).catch((e: unknown) => {
      const lost = isPaypadError(e, 'HTTP_FAILED') || isPaypadError(e, 'HTTP_TIMEOUT');
      if (!lost || left <= 1) throw e;
      return this.#sessions(target, left - 1);
    });
  }

  /**
   * Before the switch: the whole image as the slot holds it against the manifest, and the signature
   * and every check again. An image that is not the manifest's is forgotten, so the next check
   * downloads it afresh rather than finding the same bytes again.
   */
  #verifyImage(signed: NonNullable<UpdateOffer['offer']>['package']): Promise<OpenedManifest> {
    const { storage } = this.#o;
    return Promise.resolve()
      .then(() => this.#verifyManifest(signed))
      .then((opened) => {
        const download = readDownload(storage);
        if (download === undefined || download.written !== opened.manifest.size) throw new PaypadError('UPDATE_IMAGE_MISMATCH', 'the slot does not hold the whole image');
        if (this.#wholeImageDigest(opened.manifest.size) !== opened.manifest.sha256) {
          clearDownload(storage);
          throw new PaypadError('UPDATE_IMAGE_MISMATCH', "the image's SHA-256 is not the manifest's: not installed");
        }
        return opened;
      });
  }

  /** The switch is recorded, reported, made (on trial), and the terminal restarts into it. */
  #switch(deployment: string, { manifest, packageDigest }: OpenedManifest): Promise<UpdateCheckResult> {
    const { storage, updater } = this.#o;
    writeInstall(storage, { deployment, packageDigest, version: manifest.version, from: updater.currentVersion, securityCounter: manifest.securityCounter });
    return this.#report(deployment, packageDigest, 'install', 'installing', UPDATE_OK).then(() => {
      updater.complete(manifest.version);
      updater.restart();
      return { outcome: 'installed' as const, version: manifest.version };
    });
  }

  /** SHA-256 of the slot's image as it is in flash, read back through the Updater. */
  #wholeImageDigest(size: number): string {
    const hash = createSha256();
    for (let offset = 0; offset < size; offset += READ_BACK_BYTES) hash.update(this.#o.updater.read(offset, Math.min(READ_BACK_BYTES, size - offset)));
    return toHex(hash.digest());
  }

  #send(request: SignedTmsRequest): Promise<HttpResponse> {
    const { http, identity, vault } = this.#o;
    return http
      .request({ method: request.method, url: identity.kmsUrl + request.path, headers: request.headers, body: request.body, tls: { trustAnchor: identity.trustAnchor } })
      .then((response) => {
        authenticateTmsAnswer(vault, identity.serial, request, response);
        return response;
      });
  }

  /** Reports a stage to the TMS; a report that cannot be delivered is dropped (the outcome stands). */
  #report(deployment: string, packageDigest: string, stage: UpdateStage, status: UpdateStatus, code: number, error?: unknown, offset?: number): Promise<void> {
    const { identity, vault, storage, updater } = this.#o;
    const body: Record<string, unknown> = { v: UPDATE_PROTOCOL_VERSION, deployment, packageDigest, stage, status, code, version: updater.currentVersion };
    if (code === UPDATE_CODE_OTHER && isPaypadError(error)) body.error = error.code;
    if (offset !== undefined) body.offset = offset;
    return Promise.resolve()
      .then(() => signTmsRequest(vault, storage, identity.serial, 'POST', tmsStatusPath(identity.serial), body))
      .then((request) => this.#send(request).then((response) => readTmsAnswer(request, response, 'updateStatusAck')))
      .then(
        () => undefined,
        () => undefined,
      );
  }
}

/** A failure during a session's authentication is reported at that stage, not as a download failure. */
function stageOf(stage: UpdateStage, e: unknown): UpdateStage {
  if (stage !== 'download' || !isPaypadError(e)) return stage;
  const code = e.code;
  return code === 'UPDATE_AUTH_FAILED' || code === 'TMS_REFUSED' || code === 'KEY_UNWRAP_FAILED' || code.startsWith('TR31_') ? 'authenticate' : stage;
}
