/**
 * One customer's KMS (docs/key-loading.md; SPEC A7, A11-A13, X1, X2): it receives terminals' TKs
 * from MTMS, then hands each terminal its TMK under TK and its working keys under TMK. Every key
 * is made and wrapped inside this instance's HSM; the store holds only HSM handles (X1).
 *
 * Decisions:
 * - A TMK request always issues a NEW TMK and drops the working keys issued under the old one:
 *   a terminal asks again only when it lost or refused the last answer, and a KMS that re-sent an
 *   old TMK would have to keep a key the terminal may never have received. After it, the
 *   terminal signs on again. TMK requests are MAC'd under K_tkmac only.
 * - Sign-on issues four new working keys each time (a re-sign-on rotates them); it is MAC'd under
 *   K_tkmac, or under the current MAK once the terminal has one.
 * - One sequence per terminal covers both MAC keys and starts again at 0 only with a new TK (A13),
 *   which replaces every key derived from the old one.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { fromHex, toHex } from '../../shared/bytes';
import type { Tr31HeaderInit } from '../../shared/crypto/tr31';
import { PaypadError } from '../../shared/errors';
import type { ReceivedRequest } from '../../shared/protocol/macEnvelope';
import { type KmsTkDelivery, type KmsTkDeliveryAck, type SignOnResponse, type TmkResponse, MESSAGE_VERSION, WORKING_KEY_NAMES, type WorkingKeyName, validateMessage } from '../../shared/protocol/messages';
import { tkTransportContext } from '../../shared/protocol/tkTransport';
import type { GenerateKeyRequest, Hsm, KeyAttributes, KeyHandle, ModeOfUse } from '../hsm/hsm';
import type { DeliveryRecord, IntakeKey, KmsStore, TerminalRecord, WorkingKeys } from './kmsStore';
import { type DecoyKeys, type TerminalReply, exchange, readBody } from './terminalEnvelope';

/** TK as the KMS keeps it: wraps the TMK, derives K_tkmac, never leaves the HSM (exportability N). */
export const TK_ATTRIBUTES: KeyAttributes = { usage: 'K1', algorithm: 'A', modeOfUse: 'B', exportability: 'N' };

/**
 * The keys the KMS makes (docs/key-loading.md "Keys"; firmware/core/keySlots). Exportable (E) so
 * the HSM may wrap them for the terminal; AES-128, as the TK that protects the TMK. The PIK is kept
 * as mode B because POSP, beside this KMS, deciphers with it when it translates a PIN block to the
 * zone PIN key (host/posp; X9.143:2021 §6.3.3: a PIN translation source must be allowed to decrypt).
 */
const KEY_SPECS: Readonly<Record<'TMK' | WorkingKeyName, GenerateKeyRequest>> = {
  TMK: { usage: 'K1', algorithm: 'A', modeOfUse: 'B', exportability: 'E', lengthBytes: 16 },
  PIK: { usage: 'P0', algorithm: 'A', modeOfUse: 'B', exportability: 'E', lengthBytes: 16 },
  MAK: { usage: 'M6', algorithm: 'A', modeOfUse: 'C', exportability: 'E', lengthBytes: 16 },
  TDK: { usage: 'D0', algorithm: 'A', modeOfUse: 'B', exportability: 'E', lengthBytes: 16 },
  DMK: { usage: 'K0', algorithm: 'A', modeOfUse: 'B', exportability: 'E', lengthBytes: 16 },
};

/**
 * The mode each key reaches the terminal with, where it is narrower than the KMS's own: the PIK
 * only encrypts PIN blocks on the PIN pad (E), never deciphers one (keySlots.ts).
 */
const DELIVERED_MODE: Readonly<Partial<Record<'TMK' | WorkingKeyName, ModeOfUse>>> = { PIK: 'E' };

/**
 * The header a key travels to the terminal with: its own usage and algorithm, its mode narrowed
 * where DELIVERED_MODE says, exportability N (X9.143:2021 §6.3.5: the terminal may never export it
 * again) and key context 2, exchange only (§6.2), so the block cannot pass as one of the terminal's
 * storage records.
 */
function deliveryHeader(name: 'TMK' | WorkingKeyName): Tr31HeaderInit {
  const spec = KEY_SPECS[name];
  return { keyUsage: spec.usage, algorithm: spec.algorithm, modeOfUse: DELIVERED_MODE[name] ?? spec.modeOfUse, exportability: 'N', keyContext: '2' };
}

export interface IntakePublicKey {
  /** Uncompressed SEC 1 P-256 point (65 bytes) that MTMS addresses TK envelopes to. */
  readonly publicKey: Uint8Array;
  /** Leftmost 5 bytes of SHA-256 of the public key, hex (host/hsm KeyHandle.kcv for key pairs). */
  readonly kcv: string;
}

export interface KmsService {
  readonly customerCode: string;
  intakePublicKey(): IntakePublicKey;
  /**
   * A7/A13: imports the TK envelope for this KMS's intake key and installs it unless the serial
   * holds the TK of a newer intake ('superseded': nothing changes). 'duplicate' for a delivery id
   * applied before, 'superseded' again for one found superseded before (nothing changes).
   * @throws DELIVERY_CONFLICT when that id came with another serial, envelope or intake sequence,
   * KMS_CUSTOMER_MISMATCH for another customer's delivery, KEY_UNWRAP_FAILED when the envelope
   * is not for this KMS or this serial.
   */
  receiveTk(delivery: KmsTkDelivery): Promise<KmsTkDeliveryAck>;
  /**
   * A11: a parsed terminal request (shared/protocol parseRequest). Throws while unauthenticated:
   * MAC_MISMATCH alike for a wrong MAC, an unknown serial and a MAK the terminal does not have.
   */
  downloadTmk(request: ReceivedRequest): Promise<TerminalReply>;
  /** A12: as downloadTmk. */
  signOn(request: ReceivedRequest): Promise<TerminalReply>;
}

export interface KmsServiceOptions {
  readonly customerCode: string;
  readonly hsm: Hsm;
  readonly store: KmsStore;
  readonly clock?: () => Date;
}

/**
 * The service of one KMS instance. Its intake key pair is made in its HSM on first start and kept
 * in the store; a stored key its HSM cannot open (another LMK file) stops the start.
 */
export async function openKmsService(options: KmsServiceOptions): Promise<KmsService> {
  const { customerCode, hsm, store } = options;
  const clock = options.clock ?? (() => new Date());
  const intake = await loadIntakeKey(options, clock);
  // Made fresh at each start, never stored or sent: no MAC under them can verify (terminalEnvelope).
  const decoy: DecoyKeys = { tk: await hsm.generateKey({ ...TK_ATTRIBUTES, lengthBytes: 16 }), mak: await hsm.generateKey(KEY_SPECS.MAK) };

  // A serial this KMS holds no TK for is answered as a wrong MAC, after the same work (no oracle).
  const terminalOf = async (request: ReceivedRequest): Promise<TerminalRecord> =>
    (await store.terminal(customerCode, request.serial)) ?? {
      customerCode,
      serial: request.serial,
      generation: 0,
      lastSeq: 0,
      tkDeliveryId: '',
      intakeSequence: 0,
      tk: decoy.tk,
      updatedAt: clock(),
    };

  const issue = async (name: 'TMK' | WorkingKeyName, kbpk: KeyHandle): Promise<{ handle: KeyHandle; block: string }> => {
    const spec = KEY_SPECS[name];
    const handle = await hsm.generateKey(spec);
    return { handle, block: await hsm.exportKeyUnder(kbpk, handle, deliveryHeader(name)) };
  };

  const lostRace = (request: ReceivedRequest) =>
    new PaypadError('PROTOCOL_REPLAY', `sequence ${request.seq} of terminal ${request.serial} was accepted by another request first, or its keys changed meanwhile`);

  return {
    customerCode,

    intakePublicKey: () => ({ publicKey: intake.publicKey.slice(), kcv: intake.handle.kcv }),

    async receiveTk(input) {
      const delivery = validateMessage('kmsTkDelivery', input);
      if (delivery.customerCode !== customerCode) {
        throw new PaypadError('KMS_CUSTOMER_MISMATCH', `delivery ${delivery.deliveryId} is for customer ${delivery.customerCode}; this KMS serves ${customerCode}`);
      }
      const envelope = fromHex(delivery.envelope, 'envelope');
      const envelopeSha256 = toHex(sha256(envelope));
      const ack = (outcome: KmsTkDeliveryAck['outcome']): KmsTkDeliveryAck => ({ v: MESSAGE_VERSION, deliveryId: delivery.deliveryId, outcome });
      // A resend gets the answer the first copy got; 'superseded' stays 'superseded'. An inbox row
      // from before deliveries carried a sequence (0) has none to compare.
      const duplicate = (first: DeliveryRecord): KmsTkDeliveryAck => {
        const sequenceDiffers = first.intakeSequence !== 0 && first.intakeSequence !== delivery.intakeSequence;
        if (first.serial !== delivery.serial || first.envelopeSha256 !== envelopeSha256 || sequenceDiffers) {
          throw new PaypadError('DELIVERY_CONFLICT', `delivery ${delivery.deliveryId} was received before with another serial, envelope or intake sequence`);
        }
        return ack(first.outcome === 'superseded' ? 'superseded' : 'duplicate');
      };
      // A retry of an applied delivery is answered without opening the envelope again.
      const seen = await store.delivery(customerCode, delivery.deliveryId);
      if (seen !== undefined) return duplicate(seen);
      const tk = await hsm.importTransportedKey(intake.handle, envelope, tkTransportContext(delivery.serial), TK_ATTRIBUTES);
      const result = await store.applyTkDelivery({
        customerCode,
        deliveryId: delivery.deliveryId,
        serial: delivery.serial,
        envelopeSha256,
        intakeSequence: delivery.intakeSequence,
        tk,
        at: clock(),
      });
      return result.outcome === 'duplicate' ? duplicate(result.delivery) : ack(result.outcome);
    },

    async downloadTmk(request) {
      const terminal = await terminalOf(request);
      return exchange(hsm, {
        request,
        terminal,
        decoy,
        allowedKeys: ['TK'],
        act: async (): Promise<TmkResponse> => {
          readBody('tmkRequest', request.body);
          const tmk = await issue('TMK', terminal.tk);
          const stored = await store.storeTmk({ customerCode, serial: terminal.serial, generation: terminal.generation, seq: request.seq, tmk: tmk.handle, at: clock() });
          if (!stored) throw lostRace(request);
          return validateMessage('tmkResponse', { v: MESSAGE_VERSION, tmkBlock: tmk.block, kcv: tmk.handle.kcv });
        },
      });
    },

    async signOn(request) {
      const terminal = await terminalOf(request);
      return exchange(hsm, {
        request,
        terminal,
        decoy,
        allowedKeys: ['TK', 'MAK'],
        act: async (): Promise<SignOnResponse> => {
          readBody('signOnRequest', request.body);
          const tmk = terminal.tmk;
          if (tmk === undefined) throw new PaypadError('KMS_KEY_STATE', `terminal ${terminal.serial} has no TMK: download it first`);
          const handles: Partial<Record<WorkingKeyName, KeyHandle>> = {};
          const keys: { name: WorkingKeyName; block: string; kcv: string }[] = [];
          for (const name of WORKING_KEY_NAMES) {
            const key = await issue(name, tmk);
            handles[name] = key.handle;
            keys.push({ name, block: key.block, kcv: key.handle.kcv });
          }
          const stored = await store.storeWorkingKeys({
            customerCode,
            serial: terminal.serial,
            generation: terminal.generation,
            tmkBlock: tmk.block,
            seq: request.seq,
            keys: handles as WorkingKeys,
            at: clock(),
          });
          if (!stored) throw lostRace(request);
          return validateMessage('signOnResponse', { v: MESSAGE_VERSION, keys });
        },
      });
    },
  };
}

async function loadIntakeKey(options: KmsServiceOptions, clock: () => Date): Promise<IntakeKey> {
  const { customerCode, hsm, store } = options;
  let intake = await store.intakeKey(customerCode);
  if (intake === undefined) {
    const pair = await hsm.generateKeyPair('P-256');
    intake = await store.keepIntakeKey(customerCode, { handle: pair.handle, publicKey: pair.publicKey }, clock());
  }
  try {
    await hsm.keyCheckValue(intake.handle);
  } catch (e) {
    throw Object.assign(
      new PaypadError('CONFIG_INVALID', `the intake key of KMS ${customerCode} does not open in this HSM: its master key file is not the one the key was made under`),
      { cause: e },
    );
  }
  return intake;
}
