/**
 * The simulated outside parties of the platform, driven over HTTP so a person trying `npm start`
 * can play a payee's phone, mailbox and call (X5: the SMS provider, mail provider and voice
 * platform simulators). Mounted beside the data channel at /mobile, callers on the host's machine
 * only (the texts hold live codes). A real deployment has no such routes: its payees have phones.
 *
 *   GET  /mobile/v1/simulated-phones/:e164/texts            what the phone received (codes included)
 *   POST /mobile/v1/simulated-phones/:e164/send  {text}      the phone texts the platform (C2 SMS commands)
 *   POST /mobile/v1/simulated-mail  {from, subject, body}   someone mails the platform; answers its reply
 *   POST /mobile/v1/simulated-calls {from, keys: [...]}     someone calls and keys digits; answers the transcript
 */
import express, { type Request, type Router } from 'express';
import { PaypadError } from '../../../shared/errors';
import type { MailGatewaySimulator } from '../../simulators/mailGatewaySimulator';
import type { SmsGatewaySimulator } from '../../simulators/smsGatewaySimulator';
import type { VoicePlatformSimulator } from '../../simulators/voicePlatformSimulator';
import { loopbackOnly } from './router';

export function createSimulatorRouter(sims: { sms: SmsGatewaySimulator; mail: MailGatewaySimulator; voice: VoicePlatformSimulator }): Router {
  const router = express.Router();
  const local = loopbackOnly("the simulated phones, mail and calls (verification codes among them) are for the host's machine only");
  const field = (req: Request, name: string): unknown => {
    if (typeof req.body !== 'object' || req.body === null || Array.isArray(req.body)) throw new PaypadError('BAD_REQUEST', 'expected a JSON object body');
    return (req.body as Record<string, unknown>)[name];
  };

  router.get('/v1/simulated-phones/:phone/texts', local, (req, res) => {
    res.set('Cache-Control', 'no-store').json({ simulator: 'SmsGatewaySimulator', texts: sims.sms.sent(String(req.params.phone)) });
  });

  router.post('/v1/simulated-phones/:phone/send', local, async (req, res) => {
    await sims.sms.receive(String(req.params.phone), field(req, 'text') as string);
    res.set('Cache-Control', 'no-store').json({ simulator: 'SmsGatewaySimulator', replies: sims.sms.sent(String(req.params.phone)).slice(-3) });
  });

  router.post('/v1/simulated-mail', local, async (req, res) => {
    const from = field(req, 'from') as string;
    await sims.mail.receive(from, field(req, 'subject') as string, field(req, 'body') as string);
    res.json({ simulator: 'MailGatewaySimulator', reply: sims.mail.sent(from).at(-1) });
  });

  router.post('/v1/simulated-calls', local, async (req, res) => {
    res.json({ simulator: 'VoicePlatformSimulator', ...(await sims.voice.call(field(req, 'from') as string, field(req, 'keys') as string[])) });
  });
  return router;
}
