/**
 * A simulated mail provider (X5): keeps what it would have sent, and plays a person mailing the
 * platform's address (`receive`), handing the mail to the inbound handler as a provider's webhook
 * would. Card data in what it keeps is masked as the SMS simulator masks it (X1). In memory, like
 * every simulator: the record of a party that does not exist.
 */
import { PaypadError } from '../../shared/errors';
import { assertMail, type InboundMail, type MailGateway } from '../mail/mailGateway';
import { maskCardData } from './smsGatewaySimulator';

export interface SentMail {
  readonly messageId: string;
  readonly to: string;
  readonly subject: string;
  readonly body: string;
  readonly sentAt: string;
}

export class MailGatewaySimulator implements MailGateway {
  readonly #sent: SentMail[] = [];
  readonly #now: () => Date;
  #inbound?: (mail: InboundMail) => Promise<void>;

  constructor(now: () => Date = () => new Date()) {
    this.#now = now;
  }

  async send(to: string, subject: string, body: string): Promise<string> {
    assertMail(to, subject, body);
    const messageId = `SIM-MAIL-${String(this.#sent.length + 1).padStart(6, '0')}`;
    this.#sent.push(Object.freeze({ messageId, to, subject: maskCardData(subject), body: maskCardData(body), sentAt: this.#now().toISOString() }));
    return messageId;
  }

  onMessage(handler: (mail: InboundMail) => Promise<void>): void {
    this.#inbound = handler;
  }

  /** Someone mails the platform: resolved once the handler is done (its replies are in sent()). MAIL_MESSAGE_INVALID as for send. */
  async receive(from: string, subject: string, body: string): Promise<void> {
    assertMail(from, subject, body);
    if (!this.#inbound) throw new PaypadError('MAIL_MESSAGE_INVALID', "nothing receives mail to the platform's address");
    await this.#inbound({ from, subject, body });
  }

  /** What was sent, oldest first; only to `to` when given. */
  sent(to?: string): readonly SentMail[] {
    return this.#sent.filter((m) => to === undefined || m.to === to);
  }
}
