/**
 * C2 by SMS: a payee texts the platform's number from the registered phone.
 *
 *   NAME <new name>   (or 改名 <new name>)   starts a name change; the code is texted back
 *   <six digits>                              confirms the newest pending registration or update of that number
 *   anything else                             the list of commands
 *
 * The sender's number is the payee's identity here, and the code texted to it is the proof, as on
 * every channel. Card numbers are not taken by SMS (a text crosses carriers' systems in clear and
 * stays on the phone): the reply points to the app, the web or the voice line. Texts from numbers
 * outside mainland China get no reply, so the number cannot be used to make the platform text
 * abroad at its expense.
 */
import { isPaypadError } from '../../../../shared/errors';
import { isMainlandMobileNumber } from '../../../../shared/mobileNumber';
import type { InboundSms, SmsGateway, SmsInbox } from '../../../sms/smsGateway';
import type { PayeeRegistry } from '../payeeRegistry';

export const SMS_HELP = 'paypad: text NAME and your new name to change the name on your registration, or the 6-digit code we sent you to confirm a change. Card changes: use the app, the web or call us.';

export type SmsCommand = { readonly kind: 'name'; readonly name: string } | { readonly kind: 'code'; readonly code: string } | { readonly kind: 'card' } | { readonly kind: 'help' };

export function parseSmsCommand(text: string): SmsCommand {
  const t = text.trim();
  if (/^\d{6}$/.test(t)) return { kind: 'code', code: t };
  const name = /^(?:NAME|改名)[\s:：]+(.+)$/iu.exec(t);
  if (name) return { kind: 'name', name: name[1] };
  if (/^(?:CARD|卡号|换卡)/iu.test(t)) return { kind: 'card' };
  return { kind: 'help' };
}

export function attachSmsCommands(inbox: SmsInbox, deps: { payees: PayeeRegistry; sms: SmsGateway }): void {
  inbox.onMessage(async ({ from, text }: InboundSms) => {
    const mobile = from.startsWith('+86') ? from.slice(3) : '';
    if (!isMainlandMobileNumber(mobile)) return;
    const reply = (message: string) => deps.sms.send(from, message);
    const command = parseSmsCommand(text);
    try {
      if (command.kind === 'name') {
        await deps.payees.startUpdate({ mobile, name: command.name }, 'sms');
        // The code went out in its own text; this one says what to do with it.
        await reply('paypad: to confirm the new name, reply with the 6-digit code we have just sent you.');
      } else if (command.kind === 'code') {
        const pending = await deps.payees.pendingFor(mobile);
        if (!pending) return void (await reply('paypad: there is no change waiting for a code on this number.'));
        const payee = await deps.payees.confirm(pending, command.code);
        await reply(`paypad: your registration is updated: ${payee.name}, card ${payee.maskedCard}.`);
      } else if (command.kind === 'card') {
        await reply('paypad: for your safety we do not take card numbers by SMS. Change your card in the app, on the web or by calling us.');
      } else {
        await reply(SMS_HELP);
      }
    } catch (e) {
      if (!isPaypadError(e) || e.code === 'INTERNAL' || e.code === 'DB_UNAVAILABLE') throw e;
      await reply(`paypad: ${e.message}`.slice(0, 670));
    }
  });
}
