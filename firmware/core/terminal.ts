/**
 * The PIN pad application of key loading (docs/key-loading.md; A1, A2, A10-A13, X2): what the
 * terminal answers on its local link, and how it loads keys from its KMS.
 *
 *   local link  serial (A2) | tk: make TK on first use (A1), answer the envelope for MTMS (A10),
 *               signed with the device identity key over MTMS's nonce when one is given (A8)
 *               | repair (A13): the serial must match; zeroize, new TK, key loading starts over
 *               | identity, certify: enrolment on the production line (deviceKey.ts, A8)
 *   KMS         downloadTmk (A11), signOn (A12)             (kmsClient.ts)
 *   POSP        lookupPayee (C3-C5), payByMobile (C6-C8)    (paymentClient.ts)
 *   TMS         openUpdates (B1-B7): the update client over this terminal's vault, and the
 *               triggers, to which every POSP answer passes its update notice (B6)
 *   status      serial, stage, sequence, each loaded slot's attributes and KCV (never key bytes)
 *
 * Portable: every bit of I/O goes through the HAL handed in (Storage, Rng, Http) and the device
 * root key the platform keeps (NVS on the ESP32, a file in the emulator), so the same code runs on
 * the board, in the Node emulator (`paypad terminal`) and in XS under test. Nothing is cached
 * but the identity, which never changes: every operation reads the vault and the state from
 * Storage, so a second process on the same storage (the emulator's `load-keys` beside `run`)
 * sees what the first wrote. Within one instance, operations run one at a time, in call order.
 * Runs in XS: no Node APIs.
 */
import { type Rng, fromHex, toHex } from 'shared/bytes';
import { publicKeyCheckValue } from 'shared/protocol/publicKeyCheck';
import { PaypadError, isPaypadError } from 'shared/errors';
import { enrolmentSignedBytes, tkIntakeSignedBytes } from 'shared/protocol/deviceIdentity';
import { LINK_VERSION, type LinkOp, type LinkRequest, type LinkResult } from 'shared/protocol/localLink';
import type { MobileLookupResponse, MobilePayResponse } from 'shared/protocol/transactions';
import type { Http } from '../hal/http';
import type { Storage } from '../hal/storage';
import { DeviceKey } from './deviceKey';
import { KmsClient } from './kmsClient';
import { type MobilePayment, PaymentClient } from './paymentClient';
import { KEY_SLOT_NAMES, type KeySlotName } from './keySlots';
import { type KeySlotInfo, KeyVault } from './keyVault';
import { type LinkRequestHandler, answerLinkFrame } from './localLinkService';
import { type TerminalIdentity, loadTerminalIdentity } from './terminalIdentity';
import { FRESH_STATE, readTerminalState, writeTerminalState } from './terminalState';
import { UpdateClient, type UpdateCheckResult } from './updateClient';
import { type UpdateSchedule, UpdateTriggers } from './updateTriggers';
import type { Clock } from '../hal/clock';
import type { Updater } from '../hal/updater';

/** What the terminal runs on: three HAL services and the platform's device root key. */
export interface TerminalDevice {
  readonly storage: Storage;
  readonly rng: Rng;
  readonly http: Http;
  /** The HAL secret that seals the vault's slots (keyVault.ts). */
  readonly rootKey: Uint8Array;
}

/** What program updates need beyond the terminal itself (firmware config, the platform's slots). */
export interface UpdateSetup {
  readonly updater: Updater;
  readonly clock: Clock;
  /** The terminal's model, as packages name it. */
  readonly model: string;
  /** The program packages replace. */
  readonly programName: string;
  /** The vendors' P-256 public keys (SEC 1 uncompressed) the firmware is built with. */
  readonly vendorKeys: readonly Uint8Array[];
  /** B5; none: only notices (B6) and explicit checks. */
  readonly schedule?: UpdateSchedule;
  /** Where a check started by a notice ends: its result or its error (the TMS has had its report). */
  readonly onNoticeCheck: (outcome: UpdateCheckResult | unknown) => void;
}

export interface TerminalUpdates {
  readonly client: UpdateClient;
  readonly triggers: UpdateTriggers;
}

/** Where key loading stands, read from the vault and the state. */
export type TerminalStage = 'no-tk' | 'tk' | 'tmk' | 'signed-on';

/** A loaded slot as anyone may see it: its TR-31 attributes and KCV (hex). */
export interface LoadedSlot {
  readonly slot: KeySlotName;
  readonly kcv: string;
  readonly keyUsage: string;
  readonly algorithm: string;
  readonly modeOfUse: string;
  readonly keyVersionNumber: string;
  readonly exportability: string;
}

/** A slot in status(): loaded, or occupied by a record that fails (its error code). */
export type SlotStatus = LoadedSlot | { readonly slot: KeySlotName; readonly error: string };

export interface TerminalStatus {
  readonly serial: string;
  readonly kmsUrl: string;
  /** Check value of the pinned MTMS intake key (shared/crypto/kcv publicKeyCheckValue). */
  readonly mtmsKeyCheck: string;
  readonly stage: TerminalStage;
  /** The last sequence number used towards the KMS; 0 when none since the current TK. */
  readonly lastSequence: number;
  /** Occupied slots only, in vault order. */
  readonly slots: readonly SlotStatus[];
}

export function loadedSlot(info: KeySlotInfo): LoadedSlot {
  const { slot, keyUsage, algorithm, modeOfUse, keyVersionNumber, exportability } = info;
  return { slot, kcv: toHex(info.kcv), keyUsage, algorithm, modeOfUse, keyVersionNumber, exportability };
}

export class Terminal implements LinkRequestHandler {
  readonly #identity: TerminalIdentity;
  readonly #storage: Storage;
  readonly #vault: KeyVault;
  readonly #device: DeviceKey;
  readonly #kms: KmsClient;
  readonly #payments: PaymentClient;
  readonly #http: Http;
  readonly #rng: Rng;
  #updates: { readonly triggers: UpdateTriggers; readonly done: UpdateSetup['onNoticeCheck'] } | undefined;
  #tail: Promise<unknown> = Promise.resolve();

  /** The manufactured terminal on `device`; TERMINAL_NOT_INITIALIZED before manufacture. */
  static open(device: TerminalDevice): Terminal {
    return new Terminal(device, loadTerminalIdentity(device.storage));
  }

  private constructor(device: TerminalDevice, identity: TerminalIdentity) {
    this.#identity = identity;
    this.#storage = device.storage;
    this.#http = device.http;
    this.#rng = device.rng;
    this.#vault = new KeyVault({ storage: device.storage, rng: device.rng, rootKey: device.rootKey, serial: identity.serial });
    this.#device = new DeviceKey(device.storage, device.rng, device.rootKey);
    this.#kms = new KmsClient({ identity, vault: this.#vault, storage: device.storage, http: device.http });
    this.#payments = new PaymentClient({ identity, vault: this.#vault, storage: device.storage, http: device.http, signedOn: () => this.isSignedOn() });
  }

  get serial(): string {
    return this.#identity.serial;
  }

  /** True once the vault's MAK belongs to its current TMK (A12): the terminal may talk to POSP and its TMS. */
  isSignedOn(): boolean {
    return this.#kms.signOnKeyId() === 'MAK';
  }

  status(): Promise<TerminalStatus> {
    return this.#exclusive(() => {
      const slots: SlotStatus[] = [];
      for (const slot of KEY_SLOT_NAMES) {
        try {
          const info = this.#vault.slotInfo(slot);
          if (info !== null) slots.push(loadedSlot(info));
        } catch (e) {
          // One bad record (VAULT_RECORD_INVALID) must not hide the others: status is for diagnosis.
          slots.push({ slot, error: isPaypadError(e) ? e.code : 'INTERNAL' });
        }
      }
      const loaded = (name: KeySlotName) => slots.some((s) => s.slot === name && !('error' in s));
      let stage: TerminalStage = 'no-tk';
      if (loaded('TK')) stage = 'tk';
      if (stage === 'tk' && loaded('TMK')) stage = this.#kms.signOnKeyId() === 'MAK' ? 'signed-on' : 'tmk';
      return {
        serial: this.#identity.serial,
        kmsUrl: this.#identity.kmsUrl,
        mtmsKeyCheck: publicKeyCheckValue(this.#identity.mtmsPublicKey),
        stage,
        lastSequence: readTerminalState(this.#storage).lastSeq,
        slots,
      };
    });
  }

  /** One local-link frame payload -> the answer frame (localLinkService.ts). */
  handleLinkFrame(payload: Uint8Array): Promise<Uint8Array> {
    return answerLinkFrame(this, payload);
  }

  handleLinkRequest(request: LinkRequest): Promise<LinkResult<LinkOp>> {
    return this.#exclusive((): LinkResult<LinkOp> => {
      const { serial } = this.#identity;
      switch (request.op) {
        case 'serial':
          return { v: LINK_VERSION, id: request.id, ok: true, serial };
        case 'tk': {
          // Unsigned without a nonce (nothing MTMS takes); signed, the device vouches for an envelope it made itself.
          const certificate = request.nonce === undefined ? undefined : this.#enrolledCertificate();
          this.#ensureTransportKey();
          const envelope = this.#vault.exportTransportKey(this.#identity.mtmsPublicKey);
          const tkEnvelope = toHex(envelope);
          if (request.nonce === undefined || certificate === undefined) return { v: LINK_VERSION, id: request.id, ok: true, serial, tkEnvelope };
          const signature = this.#device.sign(tkIntakeSignedBytes(serial, fromHex(request.nonce, 'nonce'), envelope));
          return { v: LINK_VERSION, id: request.id, ok: true, serial, tkEnvelope, signature: toHex(signature), certificate: toHex(certificate) };
        }
        case 'identity': {
          const publicKey = this.#device.publicKey();
          const signature = this.#device.sign(enrolmentSignedBytes(serial, fromHex(request.nonce, 'nonce'), publicKey));
          return { v: LINK_VERSION, id: request.id, ok: true, serial, publicKey: toHex(publicKey), signature: toHex(signature) };
        }
        case 'certify':
          this.#device.storeCertificate(fromHex(request.certificate, 'certificate'));
          return { v: LINK_VERSION, id: request.id, ok: true, serial };
        case 'repair':
          // The request names the serial it means to wipe: one that reached the wrong device does nothing.
          if (request.serial !== serial) {
            throw new PaypadError('TERMINAL_SERIAL_MISMATCH', `repair names serial ${request.serial}, this terminal is ${serial}; nothing was erased`);
          }
          this.#vault.repair();
          this.#restartKeyLoading();
          return { v: LINK_VERSION, id: request.id, ok: true, serial };
      }
    });
  }

  /** A11: see KmsClient.downloadTmk. */
  downloadTmk(): Promise<LoadedSlot> {
    return this.#exclusive(() => this.#kms.downloadTmk().then(loadedSlot));
  }

  /** A12: see KmsClient.signOn. */
  signOn(): Promise<LoadedSlot[]> {
    return this.#exclusive(() => this.#kms.signOn().then((slots) => slots.map(loadedSlot)));
  }

  /** C3-C5: see PaymentClient.lookupPayee. */
  lookupPayee(payeeMobile: string, payerMobile?: string): Promise<MobileLookupResponse> {
    return this.#exclusive(() => this.#payments.lookupPayee(payeeMobile, payerMobile)).then((answer) => this.#noticed(answer));
  }

  /** C6-C8: see PaymentClient.payByMobile; the caller wipes `payment.track2` afterwards. */
  payByMobile(payment: MobilePayment): Promise<MobilePayResponse> {
    return this.#exclusive(() => this.#payments.payByMobile(payment)).then((answer) => this.#noticed(answer));
  }

  /**
   * B1-B7: the update client over this terminal's identity and vault (it speaks to the TMS beside
   * its KMS under MAK, and authenticates downloads under DMK), and its triggers. From now on every
   * POSP answer's update notice goes to the triggers (B6); the check it starts runs beside
   * payments and ends in `setup.onNoticeCheck`. Call client.start() before the application runs.
   */
  openUpdates(setup: UpdateSetup): TerminalUpdates {
    const client = new UpdateClient({
      identity: this.#identity,
      vault: this.#vault,
      storage: this.#storage,
      http: this.#http,
      rng: this.#rng,
      clock: setup.clock,
      updater: setup.updater,
      model: setup.model,
      programName: setup.programName,
      vendorKeys: setup.vendorKeys,
      signedOn: () => this.isSignedOn(),
    });
    const { updater } = setup;
    const triggers = new UpdateTriggers({ client, storage: this.#storage, schedule: setup.schedule, runningVersion: () => updater.currentVersion });
    this.#updates = { triggers, done: setup.onNoticeCheck };
    return { client, triggers };
  }

  /** B6: the answer is the caller's at once; a notice in it starts a check that runs on its own. */
  #noticed<T extends { readonly updateNotice?: MobilePayResponse['updateNotice'] }>(answer: T): T {
    const updates = this.#updates;
    const check = updates?.triggers.notice(answer.updateNotice);
    if (updates !== undefined && check !== undefined) check.then(updates.done, updates.done);
    return answer;
  }

  /** The device certificate; DEVICE_CERT_INVALID before enrolment, when there is nothing to vouch with. */
  #enrolledCertificate(): Uint8Array {
    const certificate = this.#device.certificate();
    if (certificate === undefined) {
      throw new PaypadError('DEVICE_CERT_INVALID', 'this PIN pad has no device certificate: enrol it on the production line (paypad mtms device enrol)');
    }
    return certificate;
  }

  /** A1: TK is made the first time it is asked for. */
  #ensureTransportKey(): void {
    if (this.#vault.slotInfo('TK') !== null) return;
    this.#vault.generateTransportKey();
    this.#restartKeyLoading();
  }

  /**
   * A new TK means a new K_tkmac, so a new sequence (shared/protocol/sequence.ts: 0 after a new
   * TK), and nothing signed on. Written after the vault: a power cut between the two leaves the
   * old sequence number, which only skips numbers under the new key.
   */
  #restartKeyLoading(): void {
    writeTerminalState(this.#storage, FRESH_STATE);
  }

  /** Runs `work` after every operation called before it has finished, failed or not. */
  #exclusive<T>(work: () => T | Promise<T>): Promise<T> {
    const run = this.#tail.then(work);
    this.#tail = run.catch(() => undefined);
    return run;
  }
}
