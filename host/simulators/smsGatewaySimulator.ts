/**
 * A simulated SMS provider (X5): takes messages the way a provider's HTTP API does and keeps what
 * it would have sent, for tests to read and, later, an operator to list. It keeps each text with
 * card data masked first (X1): any run of 12 to 19 digits, plain or grouped by spaces or hyphens,
 * that is not an E.164 number ('+' first) is a PAN to it and shows only its first six and last four;
 * the digits after "PIN" or "密码" become '****'. Messages live in memory: they are the record of
 * a party that does not exist, and a test wants an empty outbox at its start. `receive` plays a
 * phone texting the platform's number: the text goes to the inbox handler (SmsInbox).
 */
import { PaypadError } from '../../shared/errors';
import { maskPan } from '../../shared/pan';
import { assertSmsMessage, type InboundSms, type SmsGateway, type SmsInbox } from '../sms/smsGateway';

export interface SentSms {
  readonly messageId: string;
  /** E.164. */
  readonly to: string;
  /** The text as sent, card data masked. */
  readonly text: string;
  readonly sentAt: string;
}

const PAN_LIKE = /(?<![+\d])\d(?:[ -]?\d){11,18}(?!\d)/g;
const PIN_LIKE = /(\bPIN\b|密码)(\W{0,3})\d{4,12}(?!\d)/giu;

export class SmsGatewaySimulator implements SmsGateway, SmsInbox {
  readonly #sent: SentSms[] = [];
  readonly #now: () => Date;
  #available = true;
  #inbound?: (sms: InboundSms) => Promise<void>;

  constructor(now: () => Date = () => new Date()) {
    this.#now = now;
  }

  async send(to: string, text: string): Promise<string> {
    assertSmsMessage(to, text);
    if (!this.#available) throw new PaypadError('SMS_GATEWAY_UNAVAILABLE', 'the SMS provider is not answering; try again later');
    const messageId = `SIM-SMS-${String(this.#sent.length + 1).padStart(6, '0')}`;
    this.#sent.push(Object.freeze({ messageId, to, text: maskCardData(text), sentAt: this.#now().toISOString() }));
    return messageId;
  }

  /** What was sent, oldest first; only to `to` when given. */
  sent(to?: string): readonly SentSms[] {
    return this.#sent.filter((m) => to === undefined || m.to === to);
  }

  onMessage(handler: (sms: InboundSms) => Promise<void>): void {
    this.#inbound = handler;
  }

  /**
   * A phone texts the platform's number: handed to the inbox handler as the provider would, and
   * resolved once it is handled (its replies are in sent()). SMS_MESSAGE_INVALID as for send.
   */
  async receive(from: string, text: string): Promise<void> {
    assertSmsMessage(from, text);
    if (!this.#inbound) throw new PaypadError('SMS_GATEWAY_UNAVAILABLE', 'nothing receives texts to the platform\'s number');
    await this.#inbound({ from, text });
  }

  /** Makes the provider refuse every message (SMS_GATEWAY_UNAVAILABLE) until made available again. */
  setAvailable(available: boolean): void {
    this.#available = available;
  }
}

/** `text` with PAN-like digit runs masked 6/4 and the digits after "PIN" or "密码" starred out. */
export function maskCardData(text: string): string {
  return text
    .replace(PAN_LIKE, (run) => maskPan(run.replace(/[ -]/g, '')))
    .replace(PIN_LIKE, (_match, label: string, gap: string) => `${label}${gap}****`);
}
