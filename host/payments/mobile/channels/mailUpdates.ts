/**
 * C2 by e-mail: anyone may mail the platform asking to change the name on a registration; the
 * change happens only when the code texted to the registered number comes back (by SMS reply, or
 * the data channel). The platform keeps no e-mail addresses, so the address proves nothing and is
 * told nothing it did not know: the reply names the number masked.
 *
 *   Subject: UPDATE 13800138000
 *   name: 王小明
 *
 * Card numbers are refused by mail (mail is stored in clear in mailboxes and relays).
 */
import { PaypadError, isPaypadError } from '../../../../shared/errors';
import { maskMobileNumber } from '../../../../shared/mobileNumber';
import type { InboundMail, MailGateway } from '../../../mail/mailGateway';
import type { PayeeRegistry } from '../payeeRegistry';

export interface MailUpdate {
  readonly mobile: string;
  readonly name: string;
}

/** MOBILE_COMMAND_INVALID unless the subject is "UPDATE <mobile>" and the body has a "name:" line and no card line. */
export function parseMailUpdate(mail: InboundMail): MailUpdate {
  const subject = /^\s*(?:re:\s*)?update\s+(\d{11})\s*$/i.exec(mail.subject);
  if (!subject) throw new PaypadError('MOBILE_COMMAND_INVALID', 'the subject must be UPDATE and the registered mobile number, e.g. "UPDATE 13800138000"');
  const lines = mail.body.split(/\r?\n/).map((l) => l.trim());
  if (lines.some((l) => /^(?:card|pan|卡号)\s*[:：]/iu.test(l))) throw new PaypadError('MOBILE_COMMAND_INVALID', 'card numbers are not taken by e-mail: change your card in the app, on the web or by calling us');
  const name = lines.map((l) => /^(?:name|姓名)\s*[:：]\s*(.+)$/iu.exec(l)?.[1]).find((n) => n !== undefined);
  if (!name) throw new PaypadError('MOBILE_COMMAND_INVALID', 'the mail must have a line "name: <new name>"');
  return { mobile: subject[1], name };
}

export function attachMailUpdates(mail: MailGateway, deps: { payees: PayeeRegistry }): void {
  mail.onMessage(async (inbound) => {
    let reply: string;
    try {
      const update = parseMailUpdate(inbound);
      await deps.payees.startUpdate(update, 'email');
      reply = `We have texted a code to ${maskMobileNumber(update.mobile)}. The change is made when the code is sent back from that phone (reply to the text with it). If you did not ask for this, do nothing.`;
    } catch (e) {
      if (!isPaypadError(e) || e.code === 'INTERNAL' || e.code === 'DB_UNAVAILABLE') throw e;
      reply = `Your request was not accepted: ${e.message}`;
    }
    await mail.send(inbound.from, 'Re: your paypad registration', reply);
  });
}
