/**
 * E-mail to and from the platform (C2: a payee may ask for an update by e-mail, CN101976403A
 * [0038]). A real adapter is a mail provider's API (inbound by webhook, outbound by its send
 * call); host/simulators/mailGatewaySimulator.ts stands in for it (X5).
 */
import { PaypadError } from '../../shared/errors';

export interface InboundMail {
  readonly from: string;
  readonly subject: string;
  /** Plain text. */
  readonly body: string;
}

export interface MailGateway {
  /** Sends a plain-text mail; resolves to the provider's message id. MAIL_MESSAGE_INVALID for a bad address or text. */
  send(to: string, subject: string, body: string): Promise<string>;
  /** The handler for each mail sent to the platform's address. One handler; a second replaces the first. */
  onMessage(handler: (mail: InboundMail) => Promise<void>): void;
}

/** An address as the platform answers to it: local@domain, no display name, at most 254 characters (RFC 5321 §4.5.3.1.3). */
const ADDRESS = /^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})+$/;
export const MAX_MAIL_BODY_CHARS = 8_192;
const MAX_SUBJECT_CHARS = 200;

/** MAIL_MESSAGE_INVALID unless the address, subject and body are ones the platform handles. */
export function assertMail(address: string, subject: string, body: string): void {
  if (typeof address !== 'string' || address.length > 254 || !ADDRESS.test(address)) throw new PaypadError('MAIL_MESSAGE_INVALID', 'address: expected local@domain');
  if (typeof subject !== 'string' || subject.length > MAX_SUBJECT_CHARS) throw new PaypadError('MAIL_MESSAGE_INVALID', `subject: at most ${MAX_SUBJECT_CHARS} characters`);
  if (typeof body !== 'string' || body.length > MAX_MAIL_BODY_CHARS) throw new PaypadError('MAIL_MESSAGE_INVALID', `body: at most ${MAX_MAIL_BODY_CHARS} characters`);
}
