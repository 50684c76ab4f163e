/**
 * The PIN pad as a secure card reader (E4; docs/card-readers.md): a swipe leaves the device only
 * as an AES DUKPT card read (shared/protocol/cardReadMessages) — track 2 enciphered under the
 * transaction's data-encrypt key, the PIN (when asked for) as an ISO 9564-1 format 4 block under
 * its PIN-encryption key, the whole read MAC'd under its MAC-generation key, all three derived
 * under one KSN (ANSI X9.24-3-2017 §6.5) — so neither the checkout page nor the gateway's front
 * end ever holds the track in clear; only the gateway's HSM deciphers it.
 *
 * The DUKPT state (the future key registers and the counter, shared/crypto/dukptTerminal) is the
 * device's secret: it lives in Storage only sealed with AES key wrap with padding (RFC 5649,
 * authenticated) under a key derived from the device root key, and each read stores the advanced
 * state BEFORE any of the transaction's keys is used (X9.24-3 §6.5.1: a counter is never used
 * twice, a power cut included). The registers are in memory only for the one synchronous call
 * that uses them, then wiped.
 *
 * Synchronous on purpose (docs/firmware.md "Stack"): no async frame around key work; the caller
 * awaits the swipe and the PIN, then calls sealCardRead from the event loop.
 * Runs in XS: no Node APIs.
 */
import { type Rng, asciiToBytes, wipe } from 'shared/bytes';
import { encipherCardData } from 'shared/crypto/cardData';
import { aesCmac } from 'shared/crypto/cmac';
import type { DukptWorkingKeyRequest } from 'shared/crypto/dukptTerminal';
import { DukptTerminal } from 'shared/crypto/dukptTerminal';
import { deriveKeyCounterCmac } from 'shared/crypto/kdf';
import { aesKeyUnwrapPadded, aesKeyWrapPadded } from 'shared/crypto/keyWrap';
import { encipherPinBlockIso4 } from 'shared/crypto/pinblock';
import { PaypadError, isPaypadError } from 'shared/errors';
import { type EncryptedCardRead, cardReadMacInput } from 'shared/protocol/cardReadMessages';
import { readTrack2 } from 'shared/track2';
import type { Storage } from '../hal/storage';

/** Where the reader keeps its sealed DUKPT state (NVS namespace and key, at most 15 characters). */
export const CARD_READER_NAMESPACE = 'cardreader';
export const DUKPT_STATE_KEY = 'dukpt';

const STATE_SEAL_LABEL = 'DUKPT state seal';
const STATE_SEAL_CONTEXT = 'paypad card reader';

/** Working keys of one read, in this order; the PIN key only when a PIN is to be enciphered. */
const READ_KEYS: readonly DukptWorkingKeyRequest[] = Object.freeze([Object.freeze({ usage: 'data-encrypt' as const }), Object.freeze({ usage: 'mac-generation' as const })]);
const READ_KEYS_WITH_PIN: readonly DukptWorkingKeyRequest[] = Object.freeze([...READ_KEYS, Object.freeze({ usage: 'pin-encryption' as const })]);

export interface SecureCardReaderOptions {
  readonly storage: Storage;
  readonly rng: Rng;
  /** The device root key (HAL secret): the DUKPT state is sealed under a key derived from it. Not kept. */
  readonly rootKey: Uint8Array;
}

export class SecureCardReader {
  readonly #storage: Storage;
  readonly #rng: Rng;
  readonly #sealKey: Uint8Array;

  constructor(options: SecureCardReaderOptions) {
    if (typeof options !== 'object' || options === null || typeof options.storage !== 'object' || typeof options.rng !== 'function') {
      throw new PaypadError('BAD_ARGUMENT', 'secure card reader: expected { storage, rng, rootKey }');
    }
    this.#storage = options.storage;
    this.#rng = options.rng;
    this.#sealKey = deriveKeyCounterCmac(options.rootKey, { label: asciiToBytes(STATE_SEAL_LABEL), context: asciiToBytes(STATE_SEAL_CONTEXT), lengthBytes: 16 });
  }

  /**
   * Key injection: the initial key fills the future key registers, sealed into Storage (replacing
   * any earlier state). The caller wipes `initialKey`; the device never keeps it. Returns the first counter.
   */
  loadInitialKey(initialKey: Uint8Array, initialKeyId: Uint8Array): number | null {
    const terminal = DukptTerminal.load(initialKey, initialKeyId);
    return this.#keep(terminal);
  }

  /** True when the reader holds DUKPT keys (an initial key was loaded and the counter is not exhausted). */
  hasKeys(): boolean {
    if (this.#storage.get(CARD_READER_NAMESPACE, DUKPT_STATE_KEY) === undefined) return false;
    const terminal = this.#restore();
    const counter = terminal.counter;
    terminal.destroy();
    return counter !== null;
  }

  /** The next transaction counter (null when exhausted); CARD_READ_FAILED with no keys loaded. */
  counter(): number | null {
    const terminal = this.#restore();
    const counter = terminal.counter;
    terminal.destroy();
    return counter;
  }

  /**
   * Seals `track2` (the bytes between the sentinels; the caller wipes them) and, when given, the
   * PIN for read `readId`. CARD_DATA_INVALID for a track that is not track 2 (nothing consumed);
   * CARD_READ_FAILED when no keys were loaded; DUKPT_COUNTER_EXHAUSTED after the last counter.
   */
  sealCardRead(readId: string, track2: Uint8Array, pin?: string): EncryptedCardRead {
    const { pan } = readTrack2(track2);
    const terminal = this.#restore();
    let ksn: Uint8Array;
    let keys: Uint8Array[];
    try {
      const next = terminal.nextTransactionKeys(pin === undefined ? READ_KEYS : READ_KEYS_WITH_PIN);
      ksn = next.ksn;
      keys = next.keys;
      // Stored before any key of this counter is used: a restart goes on from the next one.
      this.#keep(terminal);
    } finally {
      terminal.destroy();
    }
    try {
      const track = encipherCardData(keys[0], track2, this.#rng);
      const pinBlock = pin === undefined ? undefined : encipherPinBlockIso4(keys[2], pin, pan, this.#rng);
      const unsigned = { readId, ksn, track2: track, panLast4: pan.slice(-4), ...(pinBlock === undefined ? {} : { pinBlock }) };
      const mac = aesCmac(keys[1], cardReadMacInput(unsigned));
      return { ...unsigned, mac };
    } finally {
      wipe(...keys);
    }
  }

  /** Erases the reader's keys (decommissioning, a tamper response). */
  zeroize(): void {
    this.#storage.delete(CARD_READER_NAMESPACE, DUKPT_STATE_KEY);
  }

  #keep(terminal: DukptTerminal): number | null {
    const state = terminal.encodeState();
    try {
      this.#storage.set(CARD_READER_NAMESPACE, DUKPT_STATE_KEY, aesKeyWrapPadded(this.#sealKey, state));
    } finally {
      wipe(state);
    }
    return terminal.counter;
  }

  #restore(): DukptTerminal {
    const sealed = this.#storage.get(CARD_READER_NAMESPACE, DUKPT_STATE_KEY);
    if (sealed === undefined) throw new PaypadError('CARD_READ_FAILED', 'secure card reader: no DUKPT keys loaded (inject an initial key first)');
    let state: Uint8Array;
    try {
      state = aesKeyUnwrapPadded(this.#sealKey, sealed);
    } catch (e) {
      if (isPaypadError(e, 'KEY_UNWRAP_FAILED')) throw new PaypadError('DUKPT_STATE_INVALID', 'secure card reader: the stored DUKPT state does not open under this device\'s root key');
      throw e;
    }
    try {
      return DukptTerminal.restore(state);
    } finally {
      wipe(state);
    }
  }
}
