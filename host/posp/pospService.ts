/**
 * POSP, the acquiring front end of one customer (docs/payments.md; SPEC C3-C8, X1, X2): the
 * terminal transaction protocol's two requests, answered MAC'd.
 *
 * Where it runs: beside that customer's KMS, in its process, on its listener and with its HSM.
 * The terminal's MAK, PIK and TDK exist only as that HSM's handles in kms_terminals (a second copy
 * elsewhere would be a second place to lose them), and the terminal numbers its transactions from
 * the sequence it uses towards the KMS, which the KMS keeps in the same row: so POSP reads the
 * terminal from the KMS's store and advances the same last_seq (pospStore.ts).
 *
 *   lookup  C4, C5: the platform's payee lookup for this terminal and merchant (rate-limited there)
 *   pay     C6-C8: mobilePayment.ts
 *
 * The link's terminal id (ISO 8583 field 41, 8 characters) is derived from customer code and
 * serial: the leftmost 4 bytes of SHA-256 over "<customer>|<serial>", in hex, so every POSP
 * process names a terminal alike without a table.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { type Rng, toHex, utf8ToBytes } from '../../shared/bytes';
import { PaypadError } from '../../shared/errors';
import type { ReceivedRequest } from '../../shared/protocol/macEnvelope';
import type { UpdateNotice } from '../../shared/protocol/updateMessages';
import { TRANSACTION_MAX_BODY_BYTES, TRANSACTION_VERSION, type MobileLookupResponse, validateTransactionMessage, type TransactionMessageName, type TransactionMessage } from '../../shared/protocol/transactions';
import type { Hsm, KeyHandle } from '../hsm/hsm';
import type { KmsStore, TerminalRecord } from '../kms/kmsStore';
import { TK_ATTRIBUTES } from '../kms/kmsService';
import type { DecoyKeys, TerminalReply } from '../kms/terminalEnvelope';
import type { MobilePaymentPlatform } from '../payments/mobile/platform';
import type { AuthorisationLedger } from './authorisationLedger';
import type { CardAuthoriser } from './cardAuthoriser';
import { payByMobile } from './mobilePayment';
import type { PospStore } from './pospStore';
import { answerOnce } from './terminalExchange';

const STRICT_UTF8 = new TextDecoder('utf-8', { fatal: true });
const MERCHANT_ID = /^[0-9A-Za-z ]{15}$/;

export interface PospService {
  readonly customerCode: string;
  /** C3-C5: a parsed terminal request (shared/protocol parseRequest). Throws only while unauthenticated (MAC_MISMATCH). */
  lookup(request: ReceivedRequest): Promise<TerminalReply>;
  /** C6-C8: as lookup. */
  pay(request: ReceivedRequest): Promise<TerminalReply>;
}

/**
 * B6: where POSP learns that a terminal has a program update waiting (the TMS, host/tms/updateNotices).
 * A notice taken is delivered: it rides in the answer POSP stores and sends, under its MAC.
 */
export interface UpdateNoticeSource {
  take(customerCode: string, serial: string, at: Date): Promise<UpdateNotice | undefined>;
}

export interface PospServiceOptions {
  readonly customerCode: string;
  /** The KMS's HSM: the terminal's key handles open only there. */
  readonly hsm: Hsm;
  /** The KMS's store: the terminal's keys and sequence. */
  readonly kmsStore: KmsStore;
  readonly store: PospStore;
  readonly platform: MobilePaymentPlatform;
  readonly authoriser: CardAuthoriser;
  readonly ledger: AuthorisationLedger;
  /** The zone PIN key shared with the card network (P0, mode B or E), in this HSM. */
  readonly zonePinKey: KeyHandle;
  /** ISO 8583 field 42 of this customer's merchant, 15 characters; also the platform's merchant id. */
  readonly merchantId: string;
  readonly rng: Rng;
  readonly clock?: () => Date;
  /** B6: update notices to hand the terminal in its next answer (none when not given). */
  readonly updateNotices?: UpdateNoticeSource;
}

export async function openPospService(options: PospServiceOptions): Promise<PospService> {
  const { customerCode, hsm, kmsStore, store } = options;
  if (!MERCHANT_ID.test(options.merchantId)) throw new PaypadError('CONFIG_INVALID', 'POSP merchant id: expected 15 letters, digits or spaces (ISO 8583 field 42)');
  const clock = options.clock ?? (() => new Date());
  // Made fresh at each start, never stored or sent: no MAC under them verifies (kms/terminalEnvelope).
  const decoy: DecoyKeys = {
    tk: await hsm.generateKey({ ...TK_ATTRIBUTES, lengthBytes: 16 }),
    mak: await hsm.generateKey({ usage: 'M6', algorithm: 'A', modeOfUse: 'C', exportability: 'N', lengthBytes: 16 }),
  };
  const payment = { ...options, clock };

  const terminalOf = async (request: ReceivedRequest): Promise<TerminalRecord> =>
    (await kmsStore.terminal(customerCode, request.serial)) ?? {
      customerCode,
      serial: request.serial,
      generation: 0,
      lastSeq: 0,
      tkDeliveryId: '',
      intakeSequence: 0,
      tk: decoy.tk,
      updatedAt: clock(),
    };

  const handle = async <N extends TransactionMessageName>(
    request: ReceivedRequest,
    route: string,
    name: N,
    act: (terminal: TerminalRecord, message: TransactionMessage<N>) => Promise<object>,
  ): Promise<TerminalReply> => {
    const terminal = await terminalOf(request);
    return answerOnce(hsm, store, {
      request,
      route,
      terminal,
      decoy,
      clock,
      read: () => readTransaction(name, request.body),
      act: async (message) => {
        const answer = await act(terminal, message);
        const notice = await options.updateNotices?.take(customerCode, terminal.serial, clock());
        return notice === undefined ? answer : { ...answer, updateNotice: notice };
      },
    });
  };

  return {
    customerCode,

    lookup: (request) =>
      handle(request, 'mobile/lookup', 'mobileLookupRequest', async (_terminal, message): Promise<MobileLookupResponse> => {
        const query = { mobile: message.payeeMobile, terminalId: request.serial, merchantId: options.merchantId };
        const found = await options.platform.lookupPayee(message.payerMobile === undefined ? query : { ...query, payerMobile: message.payerMobile });
        return validateTransactionMessage('mobileLookupResponse', { v: TRANSACTION_VERSION, lookupId: found.lookupId, maskedName: found.maskedName, expiresAt: found.expiresAt });
      }),

    pay: (request) =>
      handle(request, 'mobile/pay', 'mobilePayRequest', async (terminal, message) => {
        const keys = terminal.workingKeys;
        if (keys === undefined) throw new PaypadError('KMS_KEY_STATE', `terminal ${terminal.serial} is not signed on`);
        return payByMobile(payment, { serial: terminal.serial, seq: request.seq, linkTerminalId: linkTerminalId(customerCode, terminal.serial), keys }, message);
      }),
  };
}

/** ISO 8583 field 41 of a terminal (see the module comment). */
export function linkTerminalId(customerCode: string, serial: string): string {
  return toHex(sha256(utf8ToBytes(`${customerCode}|${serial}`)).subarray(0, 4));
}

/** The body as the named transaction message: PROTOCOL_MALFORMED (or BAD_JSON) naming the field, PAYLOAD_TOO_LARGE past the limit. */
function readTransaction<N extends TransactionMessageName>(name: N, body: Uint8Array): TransactionMessage<N> {
  if (body.length > TRANSACTION_MAX_BODY_BYTES) throw new PaypadError('PAYLOAD_TOO_LARGE', `the ${name} body exceeds ${TRANSACTION_MAX_BODY_BYTES} bytes`);
  let json: unknown;
  try {
    json = JSON.parse(STRICT_UTF8.decode(body));
  } catch {
    throw new PaypadError('BAD_JSON', `the ${name} body is not UTF-8 JSON`);
  }
  return validateTransactionMessage(name, json);
}
