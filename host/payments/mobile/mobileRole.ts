/**
 * The mobile payment platform in the host process (`paypad serve`): on the simulated card network,
 * SMS provider, mail provider and voice platform (X5: host/simulators, the same fakes every test
 * uses), with the payees' update channels attached to them (channels/), the card vault key
 * from the data directory, its texts sent by an outbox worker, its data channel mounted at
 * /mobile, and, with demo data on, two registered payees to pay at a terminal right away:
 *
 *   13800138000  王小明      shown as 王*明        receiving card 622202*********0058 (East Harbour)
 *   15800158000  Li Lei      shown as L* L**       receiving card 411111******0003 (West Lake)
 *
 * The POSP takes `platform` and `network.provider` from here, so a terminal's payment and the
 * reconciliation that follows meet the same provider.
 */
import express from 'express';
import { isPaypadError } from '../../../shared/errors';
import type { Database } from '../../db/database';
import type { Logger } from '../../log';
import type { RoleModule } from '../../roles';
import { MailGatewaySimulator } from '../../simulators/mailGatewaySimulator';
import { SmsGatewaySimulator } from '../../simulators/smsGatewaySimulator';
import { createTestPaymentNetwork, TEST_CARDS, type TestPaymentNetwork } from '../../simulators/testCards';
import { VoicePlatformSimulator } from '../../simulators/voicePlatformSimulator';
import { loadOrCreateCardVaultKey } from './cardVaultKey';
import { attachMailUpdates } from './channels/mailUpdates';
import { attachSmsCommands } from './channels/smsCommands';
import { attachVoiceMenu } from './channels/voiceMenu';
import { createMobilePayments, type MobilePayments } from './mobilePayments';
import { createMobileRouter } from './router';
import { createSimulatorRouter } from './simulatorRoutes';

export const DEMO_PAYEES = Object.freeze([
  { name: '王小明', mobile: '13800138000', pan: TEST_CARDS.payee.pan },
  { name: 'Li Lei', mobile: '15800158000', pan: TEST_CARDS.visa.pan },
]);

export interface RunningMobilePayments {
  readonly mobile: MobilePayments;
  readonly network: TestPaymentNetwork;
  readonly sms: SmsGatewaySimulator;
  readonly mail: MailGatewaySimulator;
  readonly voice: VoicePlatformSimulator;
  /** Mounted at /mobile by the host app. */
  readonly role: RoleModule;
  /** The numbers registered as demo payees on this start (empty when they were there already or demo data is off). */
  readonly demoPayeesAdded: readonly string[];
  close(): Promise<void>;
}

export async function startMobilePayments(options: { dataDir: string; database: Database; logger: Logger; demoData: boolean }): Promise<RunningMobilePayments> {
  const network = await createTestPaymentNetwork();
  const sms = new SmsGatewaySimulator();
  const mobile = createMobilePayments({ database: options.database, provider: network.provider, sms, cardVaultKey: await loadOrCreateCardVaultKey(options.dataDir), logger: options.logger });
  const mail = new MailGatewaySimulator();
  const voice = new VoicePlatformSimulator();
  attachSmsCommands(sms, { payees: mobile.payees, sms });
  attachMailUpdates(mail, { payees: mobile.payees });
  attachVoiceMenu(voice, { payees: mobile.payees });
  const demoPayeesAdded = options.demoData ? await ensureDemoPayees(mobile, sms) : [];
  mobile.texts.start();
  const role: RoleModule = { name: 'mobile', mountPath: '/mobile', createRouter: () => express.Router().use(createMobileRouter(mobile), createSimulatorRouter({ sms, mail, voice })) };
  return { mobile, network, sms, mail, voice, role, demoPayeesAdded, close: () => mobile.texts.stop() };
}

/** Registers each demo payee the way a payee would (card check, code read off the simulated phone), unless registered. */
async function ensureDemoPayees(mobile: MobilePayments, sms: SmsGatewaySimulator): Promise<string[]> {
  const added: string[] = [];
  for (const p of DEMO_PAYEES) {
    if (await mobile.payees.payee(p.mobile)) continue;
    const pending = await mobile.payees.startRegistration(p, 'data');
    const code = /code is (\d{6})/.exec(sms.sent(`+86${p.mobile}`).at(-1)?.text ?? '')?.[1] ?? '';
    try {
      await mobile.payees.confirm(pending.registrationId, code);
      added.push(p.mobile);
    } catch (e) {
      // Another host on the same database registered it a moment ago.
      if (!isPaypadError(e, 'PAYEE_EXISTS')) throw e;
    }
  }
  return added;
}
