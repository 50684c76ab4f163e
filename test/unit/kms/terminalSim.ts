/**
 * A PIN pad simulated from shared/crypto for KMS tests: it makes its TK in clear (so the test can
 * look for it where it must not be, X1), wraps it for an intake key as the terminal and MTMS would
 * (A10), signs requests under K_tkmac or MAK (X2) and checks what the KMS sends back (A11, A12).
 * The envelope context is spelled out from docs/key-loading.md, not taken from the code under test.
 */
import { randomBytes } from 'node:crypto';
import { expect } from 'vitest';
import { type Rng, asciiToBytes, toHex } from '../../../shared/bytes';
import { aesCmac } from '../../../shared/crypto/cmac';
import { keyCheckValue } from '../../../shared/crypto/kcv';
import { deriveKeyCounterCmac } from '../../../shared/crypto/kdf';
import { encodeKeyEnvelope, wrapKeyForRecipient } from '../../../shared/crypto/keyTransport';
import { type Tr31KeyPolicy, unwrapKeyBlock } from '../../../shared/crypto/tr31';
import { type HeaderMap, type MacKeyId, type ReceivedRequest, parseRequest, signRequest, tkMacKdfParams, verifyResponse } from '../../../shared/protocol/macEnvelope';
import { type KmsTkDelivery, type SignOnResponse, type TmkResponse, type WorkingKeyName, validateMessage } from '../../../shared/protocol/messages';

export const rng: Rng = (n) => new Uint8Array(randomBytes(n));

let intakeSequences = 0;
/** The next intake sequence, as MTMS numbers its intakes: strictly increasing (A7, A13). */
export const nextIntakeSequence = (): number => ++intakeSequences;

/** What the terminal's vault would accept for each key (firmware/core/keySlots, docs/key-loading.md). */
export const POLICIES: Readonly<Record<'TMK' | WorkingKeyName, Tr31KeyPolicy>> = {
  TMK: { usage: 'K1', modesOfUse: ['B'], algorithm: 'A' },
  PIK: { usage: 'P0', modesOfUse: ['E'], algorithm: 'A' },
  MAK: { usage: 'M6', modesOfUse: ['C'], algorithm: 'A' },
  TDK: { usage: 'D0', modesOfUse: ['B'], algorithm: 'A' },
  DMK: { usage: 'K0', modesOfUse: ['B'], algorithm: 'A' },
};

export type TerminalRoute = 'tmk' | 'sign-on';

export interface SignedRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: Record<string, string>;
  readonly body: Uint8Array;
  /** As the KMS router parses it. */
  readonly parsed: ReceivedRequest;
}

export interface Reply {
  readonly status: number;
  readonly headers: HeaderMap;
  readonly body: Uint8Array;
}

export class SimulatedTerminal {
  readonly serial: string;
  readonly tk: Uint8Array;
  tmk: Uint8Array | undefined;
  readonly workingKeys = new Map<WorkingKeyName, Uint8Array>();
  /** The last sequence number used; persisted "before sending" (sequence.ts). */
  seq = 0;

  constructor(serial: string) {
    this.serial = serial;
    this.tk = rng(16);
  }

  /** The clear keys this terminal holds, as hex, for the X1 checks. */
  secrets(): string[] {
    const keys = [this.tk, this.tkMacKey(), ...(this.tmk ? [this.tmk] : []), ...this.workingKeys.values()];
    return keys.map(toHex);
  }

  tkMacKey(): Uint8Array {
    return deriveKeyCounterCmac(this.tk, tkMacKdfParams(this.serial));
  }

  macKey(keyId: MacKeyId): Uint8Array {
    if (keyId === 'TK') return this.tkMacKey();
    const mak = this.workingKeys.get('MAK');
    if (!mak) throw new Error('the simulated terminal has no MAK');
    return mak;
  }

  /**
   * MTMS's delivery of this terminal's TK to the KMS whose intake public key is given (A7, A10),
   * as a new intake (the next sequence) unless `intakeSequence` is given.
   */
  delivery(intakePublicKey: Uint8Array, customerCode: string, deliveryId: string, contextSerial = this.serial, intakeSequence = nextIntakeSequence()): KmsTkDelivery {
    const envelope = encodeKeyEnvelope(wrapKeyForRecipient(intakePublicKey, this.tk, asciiToBytes(`paypad-tk|${contextSerial}`), rng));
    return { v: 1, deliveryId, serial: this.serial, envelope: toHex(envelope), customerCode, intakeSequence };
  }

  path(route: TerminalRoute): string {
    return `/kms/v1/terminals/${this.serial}/${route}`;
  }

  /** A MAC'd request with the next sequence number (or `seq`), body {"v":1} unless given. */
  async sign(route: TerminalRoute, options: { keyId?: MacKeyId; seq?: number; body?: Uint8Array; macKey?: Uint8Array } = {}): Promise<SignedRequest> {
    const keyId = options.keyId ?? 'TK';
    const seq = options.seq ?? ++this.seq;
    const body = options.body ?? asciiToBytes('{"v":1}');
    const path = this.path(route);
    const key = options.macKey ?? this.macKey(keyId);
    const headers = await signRequest({ method: 'POST', path, serial: this.serial, seq, keyId }, body, (data) => aesCmac(key, data));
    return { method: 'POST', path, headers, body, parsed: parseRequest('POST', path, headers, body) };
  }

  /** Checks the reply's MAC under `keyId` (as it was when the request was sent) and returns its JSON. */
  async verified(request: SignedRequest, reply: Reply, key: Uint8Array = this.macKey(request.parsed.keyId)): Promise<unknown> {
    await verifyResponse({ status: reply.status, serial: this.serial, seq: request.parsed.seq }, reply.headers, reply.body, (data) => aesCmac(key, data));
    return JSON.parse(new TextDecoder().decode(reply.body));
  }

  /** A11 as the vault does it: unwrap under TK with the TMK policy, then compare the KCV. */
  acceptTmk(message: unknown): TmkResponse {
    const response = validateMessage('tmkResponse', message);
    const { key, header } = unwrapKeyBlock(this.tk, response.tmkBlock, POLICIES.TMK);
    expect(header.exportability).toBe('N');
    expect(toHex(keyCheckValue(key, 'cmac'))).toBe(response.kcv);
    this.tmk = key;
    this.workingKeys.clear();
    return response;
  }

  /** A12: every working key unwraps under TMK with its own usage and matches its KCV. */
  acceptWorkingKeys(message: unknown): SignOnResponse {
    const response = validateMessage('signOnResponse', message);
    if (!this.tmk) throw new Error('the simulated terminal has no TMK');
    for (const item of response.keys) {
      const { key } = unwrapKeyBlock(this.tmk, item.block, POLICIES[item.name]);
      expect(toHex(keyCheckValue(key, 'cmac'))).toBe(item.kcv);
      this.workingKeys.set(item.name, key);
    }
    return response;
  }
}

/** An error reply's code, after checking it is an error body. */
export function errorCodeOf(reply: Reply): string {
  const body = validateMessage('errorBody', JSON.parse(new TextDecoder().decode(reply.body)));
  return body.error.code;
}
