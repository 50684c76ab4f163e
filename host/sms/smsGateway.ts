/**
 * Sending a text message to a mobile phone: payee notifications (C9: the amount and the payer's
 * mobile number), the payer's success message (C8), registration updates by SMS (C2). A real
 * adapter calls an SMS provider's HTTP API; host/simulators/smsGatewaySimulator.ts records what it
 * would have sent (X5). Callers go through the outbox (ARCHITECTURE §5), so a gateway that is down
 * delays a message and loses none.
 */
import { PaypadError } from '../../shared/errors';

export interface SmsGateway {
  /**
   * Hands `text` to the provider for `to`; resolves to the provider's message id. SMS_MESSAGE_INVALID
   * for a bad number or text (nothing sent), SMS_GATEWAY_UNAVAILABLE when the provider cannot be
   * reached or refuses for now (try again later).
   */
  send(to: string, text: string): Promise<string>;
}

/** A text a phone sent to the platform's number (mobile-originated), as the SMS provider hands it over. */
export interface InboundSms {
  /** E.164. */
  readonly from: string;
  readonly text: string;
}

/**
 * The SMS provider's inbound side: it calls the handler for each text sent to the platform's
 * number (a real provider does so by webhook). One handler; a second replaces the first.
 */
export interface SmsInbox {
  onMessage(handler: (sms: InboundSms) => Promise<void>): void;
}

/** ITU-T E.164: '+', a country code, at most 15 digits in all; what SMS providers' APIs take. */
const E164 = /^\+[1-9]\d{6,14}$/;
/**
 * Ten concatenated segments of 67 UCS-2 characters (3GPP TS 23.040 §9.2.3.24.1 takes 6 octets of
 * each 140 for the concatenation header): a Chinese text longer than this is not a notification.
 */
export const MAX_SMS_CHARS = 670;

/** SMS_MESSAGE_INVALID unless `to` is an E.164 number and `text` 1 to MAX_SMS_CHARS characters. */
export function assertSmsMessage(to: string, text: string): void {
  if (typeof to !== 'string' || !E164.test(to)) throw new PaypadError('SMS_MESSAGE_INVALID', 'to: expected an E.164 number such as +8613800138000');
  if (typeof text !== 'string' || text.trim().length === 0 || text.length > MAX_SMS_CHARS) {
    throw new PaypadError('SMS_MESSAGE_INVALID', `text: expected 1 to ${MAX_SMS_CHARS} characters`);
  }
}
