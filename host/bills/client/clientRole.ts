/**
 * The client gateway in the host process (`paypad serve`): its own HSM (a master key file in the
 * data directory, or its key label in the PKCS#11 token), the simulated card network's zone PIN
 * key entered into it (zonePinKey.ts), and the gateway on the host's database. The bill role
 * mounts `gateway.router` at /bills/client and hands the host's HTTP server to `gateway.attach`.
 */
import { join } from 'node:path';
import type { Database } from '../../db/database';
import { createHsm, type HsmBackend, roleHsmConfig, systemRng } from '../../hsm/index';
import type { Logger } from '../../log';
import type { SmsGateway } from '../../sms/smsGateway';
import type { TestPaymentNetwork } from '../../simulators/testCards';
import type { BillPlatform } from '../billPlatform';
import { type BillClientGateway, createBillClientGateway } from './gateway';
import { enterZonePinKey } from './zonePinKey';

export const BILL_CLIENT_LMK_FILE = 'bill-client-lmk.key';

export interface BillClientRoleOptions {
  readonly dataDir: string;
  readonly hsm: HsmBackend;
  readonly database: Database;
  /** The card network the platform's acquirer link reaches: its provider verifies bound cards, its zone PIN key takes the PIN blocks. */
  readonly network: TestPaymentNetwork;
  readonly platform: BillPlatform;
  readonly sms: SmsGateway;
  readonly logger: Logger;
  readonly clock?: () => Date;
}

/** The gateway, started (its texts sent in the background); `close` also closes its HSM. */
export async function startBillClientGateway(options: BillClientRoleOptions): Promise<BillClientGateway> {
  const hsm = await createHsm(roleHsmConfig(options.hsm, { lmkFile: join(options.dataDir, BILL_CLIENT_LMK_FILE), keyLabel: 'paypad-bill-client' }));
  try {
    const gateway = createBillClientGateway({
      db: options.database.db,
      dialect: options.database.dialect,
      hsm,
      zonePinKey: await enterZonePinKey(hsm, options.network.zonePinKey, systemRng),
      platform: options.platform,
      provider: options.network.provider,
      sms: options.sms,
      logger: options.logger,
      clock: options.clock,
    });
    gateway.start();
    return {
      ...gateway,
      async close() {
        await gateway.close();
        await hsm.close();
      },
    };
  } catch (e) {
    await hsm.close();
    throw e;
  }
}
