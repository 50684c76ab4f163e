/**
 * The phone client gateway on a test database, served over loopback as the host serves it (JSON
 * parser first, the one error handler last, the push channel on the server's upgrade), with the
 * simulated card network, the SMS simulator, a software HSM and the BillPlatform test double; and
 * phones: the client core with the CLI's element and state files in a directory of their own.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import express from 'express';
import { createBillClientGateway, type BillClientGateway } from '../../../host/bills/client/gateway';
import type { Database } from '../../../host/db/database';
import type { Hsm, KeyHandle } from '../../../host/hsm/hsm';
import { openSoftwareHsm, systemRng } from '../../../host/hsm/index';
import { createListenerApp } from '../../../host/http/errors';
import { listen, listenerUrl } from '../../../host/http/listener';
import { createLogger } from '../../../host/log';
import { SmsGatewaySimulator } from '../../../host/simulators/smsGatewaySimulator';
import { createTestPaymentNetwork, type TestPaymentNetwork } from '../../../host/simulators/testCards';
import { type Rng, toHex, xorBytes } from '../../../shared/bytes';
import { keyCheckValue } from '../../../shared/crypto/kcv';
import { createPhoneClient, type PhoneClient, type PhoneTransport } from '../../../shared/client/phoneClient';
import { fileStateStore, openFileElement } from '../../../bin/commands/phoneElement';
import { fetchTransport } from '../../../bin/commands/phoneTransport';
import { type BillPlatformDouble, createBillPlatformDouble } from '../../support/billPlatformDouble';

export interface BillClientFixture {
  readonly url: string;
  readonly gateway: BillClientGateway;
  readonly platform: BillPlatformDouble;
  readonly network: TestPaymentNetwork;
  readonly sms: SmsGatewaySimulator;
  readonly hsm: Hsm;
  /** A phone with its own directory (element.key, phone.json); `wrap` may watch or alter its traffic. */
  phone(wrap?: (transport: PhoneTransport) => PhoneTransport): Promise<{ client: PhoneClient; home: string }>;
  /** The last code texted to `e164`. */
  lastCode(e164: string): string;
  close(): Promise<void>;
}

/**
 * The network's zone PIN key entered into the gateway's HSM as a key ceremony would: two XOR
 * components with their check values (in the host, the acquirer link's ceremony does this).
 */
async function enterZonePinKey(hsm: Hsm, zonePinKey: Uint8Array, rng: Rng): Promise<KeyHandle> {
  const first = rng(zonePinKey.length);
  const components = [first, xorBytes(zonePinKey, first)].map((value) => ({ value, kcv: toHex(keyCheckValue(value, 'cmac')) }));
  return hsm.importKeyComponents({ usage: 'P0', algorithm: 'A', modeOfUse: 'E', exportability: 'N' }, components, toHex(keyCheckValue(zonePinKey, 'cmac')));
}

export async function createBillClientFixture(database: Database): Promise<BillClientFixture> {
  const dir = mkdtempSync(join(tmpdir(), 'paypad-billclient-'));
  const logger = createLogger({ level: 'silent' });
  const network = await createTestPaymentNetwork();
  const sms = new SmsGatewaySimulator();
  const hsm = await openSoftwareHsm({ lmkFile: join(dir, 'lmk.key'), rng: systemRng });
  const platform = createBillPlatformDouble(network.provider);
  const gateway = createBillClientGateway({
    db: database.db, dialect: database.dialect, hsm, zonePinKey: await enterZonePinKey(hsm, network.zonePinKey, systemRng), platform, provider: network.provider, sms, logger,
  });
  const app = createListenerApp(logger, (a) => {
    a.use(express.json());
    a.use('/bills/client', gateway.router);
  });
  const server: Server = await listen(createServer(app), '127.0.0.1', 0, 'test');
  gateway.attach(server);
  const url = listenerUrl(server, 'http');
  let phones = 0;
  return {
    url, gateway, platform, network, sms, hsm,
    async phone(wrap = (t) => t) {
      const home = join(dir, `phone-${++phones}`);
      const element = await openFileElement(home, true);
      return { client: createPhoneClient({ element, store: fileStateStore(home), transport: wrap(fetchTransport(url)) }), home };
    },
    lastCode(e164) {
      const code = sms.sent(e164).flatMap((m) => /code is (\d{6})/.exec(m.text)?.[1] ?? []).at(-1);
      if (!code) throw new Error(`no code was texted to ${e164}`);
      return code;
    },
    async close() {
      await gateway.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await hsm.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A number nobody else in the run uses: 137 and eight digits. */
let numbers = 0;
export function freshPhoneNumber(): string {
  return `137${String(++numbers + (process.pid % 1000) * 10_000).padStart(8, '0')}`;
}
