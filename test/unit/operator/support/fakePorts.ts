/**
 * In-memory ports for the onboarding flow (host/operator/onboarding): a terminal link, MTMS and
 * a scripted operator, each recording what the flow did with it, in one shared event log so tests
 * can check the order (A4 before A5: the envelope is read only after a confirmation).
 */
import { PaypadError } from '../../../../shared/errors';
import { MESSAGE_VERSION, type CustomerInfo, type TkIntakeReceipt, validateMessage } from '../../../../shared/protocol/messages';
import type { TerminalLink } from '../../../../host/operator/linkClient';
import type { MtmsPort, TkUpload } from '../../../../host/operator/mtmsClient';
import type { OperatorPrompt } from '../../../../host/operator/prompt';
import { PeerRefusal } from '../../../../host/operator/refusal';

export const ENVELOPE = 'A1'.repeat(90);
export const NEW_ENVELOPE = 'B2'.repeat(90);
/** The device's signature and certificate: the station relays them and never parses them (A8). */
export const DEVICE_CERTIFICATE = '30'.repeat(300);
export const nonceNo = (n: number) => n.toString(16).toUpperCase().padStart(64, '0');
export const signatureOver = (nonce: string) => `5A${nonce}${'00'.repeat(31)}`;

export function fakeLink(events: string[], options: { serial: string; tkSerial?: string; serialAfterRepair?: string }): TerminalLink & { closed: boolean } {
  let serial = options.serial;
  let envelope = ENVELOPE;
  return {
    closed: false,
    async readSerial() {
      events.push('link.serial');
      return serial;
    },
    async readTkEnvelope(nonce) {
      events.push('link.tk');
      return { serial: options.tkSerial ?? serial, tkEnvelope: envelope, signature: signatureOver(nonce), certificate: DEVICE_CERTIFICATE };
    },
    async repair(s) {
      events.push(`link.repair ${s}`);
      if (s !== serial) throw new PeerRefusal('terminal', 'BAD_ARGUMENT', 'not this terminal');
      envelope = NEW_ENVELOPE;
      serial = options.serialAfterRepair ?? serial;
      return s;
    },
    async close() {
      this.closed = true;
    },
  };
}

export interface FakeMtmsPort extends MtmsPort {
  readonly uploads: TkUpload[];
  /** Errors the next calls of a method throw, first one first. */
  readonly failures: { lookup: Error[]; customerName: Error[]; uploadTk: Error[] };
  /** The customer the upload receipts name when no code is sent; the serial's by default. */
  receiptCustomer?: string;
}

export function fakeMtmsPort(events: string[], table: { customers: Record<string, string>; serials: Record<string, string> }): FakeMtmsPort {
  const info = (serial: string, code: string): CustomerInfo => {
    const name = table.customers[code];
    if (name === undefined) throw new PeerRefusal('MTMS', 'MTMS_CUSTOMER_UNKNOWN', `there is no customer ${code}`, 404);
    return validateMessage('customerInfo', { v: MESSAGE_VERSION, serial, customerCode: code, customerName: name });
  };
  const customerOf = (serial: string): string => {
    const code = table.serials[serial];
    if (code === undefined) throw new PeerRefusal('MTMS', 'MTMS_SERIAL_UNKNOWN', `serial ${serial} is not in the MTMS serial table`, 404);
    return code;
  };
  let challenges = 0;
  const port: FakeMtmsPort = {
    uploads: [],
    async tkChallenge(serial) {
      events.push(`mtms.tkChallenge ${serial}`);
      return validateMessage('deviceChallenge', { v: MESSAGE_VERSION, serial, nonce: nonceNo(++challenges), expiresAt: '2026-12-06T01:05:00.000Z' });
    },
    failures: { lookup: [], customerName: [], uploadTk: [] },
    async lookup(serial) {
      events.push(`mtms.lookup ${serial}`);
      const failure = port.failures.lookup.shift();
      if (failure) throw failure;
      return info(serial, customerOf(serial));
    },
    async customerName(serial, code) {
      events.push(`mtms.customerName ${serial} ${code}`);
      const failure = port.failures.customerName.shift();
      if (failure) throw failure;
      customerOf(serial);
      return info(serial, code);
    },
    async uploadTk(upload): Promise<TkIntakeReceipt> {
      events.push(`mtms.uploadTk ${upload.serial} ${upload.customerCode ?? '-'}`);
      port.uploads.push(upload);
      const failure = port.failures.uploadTk.shift();
      if (failure) throw failure;
      const customerCode = upload.customerCode ?? port.receiptCustomer ?? customerOf(upload.serial);
      return validateMessage('tkIntakeReceipt', { v: MESSAGE_VERSION, serial: upload.serial, customerCode, deliveryId: 'tk-1' });
    },
  };
  return port;
}

/** Answers in order; each question asked is logged as "ask.<kind> <detail>". */
export interface ScriptedOperator extends OperatorPrompt {
  readonly said: string[];
}

export function scriptedOperator(events: string[], answers: { repair?: boolean[]; customer?: boolean[]; codes?: (string | undefined)[]; entered?: boolean[] }): ScriptedOperator {
  const next = <T>(list: T[] | undefined, what: string): T => {
    if (list === undefined || list.length === 0) throw new PaypadError('INTERNAL', `the test gave no answer for ${what}`);
    return list.shift() as T;
  };
  const said: string[] = [];
  return {
    said,
    say: (line) => void said.push(line),
    async confirmRepair(serial) {
      events.push(`ask.repair ${serial}`);
      return next(answers.repair, 'the repair');
    },
    async confirmCustomer(info) {
      events.push(`ask.customer ${info.serial} ${info.customerCode} ${info.customerName}`);
      return next(answers.customer, 'the customer');
    },
    async enterCustomerCode(serial) {
      events.push(`ask.code ${serial}`);
      return next(answers.codes, 'a customer code');
    },
    async confirmEnteredCustomer(info) {
      events.push(`ask.entered ${info.serial} ${info.customerCode} ${info.customerName}`);
      return next(answers.entered, 'the entered customer');
    },
  };
}
