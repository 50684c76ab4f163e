/**
 * A mobile payment platform on a test database, wired to the one simulated network (testCards.ts)
 * and the SMS simulator, with a clock the test moves by hand. `register` walks C1 the way a payee
 * would: start, read the code off the simulated phone, confirm.
 */
import { randomBytes } from 'node:crypto';
import type { Database } from '../../../host/db/database';
import { createMobilePayments, type MobilePayments } from '../../../host/payments/mobile/mobilePayments';
import type { PayeeLookupLimits } from '../../../host/payments/mobile/lookupBuckets';
import type { Payee } from '../../../host/payments/mobile/payeeRegistry';
import { SmsGatewaySimulator } from '../../../host/simulators/smsGatewaySimulator';
import { createTestPaymentNetwork, type TestPaymentNetwork } from '../../../host/simulators/testCards';

export interface MobileFixture {
  readonly mobile: MobilePayments;
  readonly network: TestPaymentNetwork;
  readonly sms: SmsGatewaySimulator;
  now(): Date;
  advance(ms: number): void;
  /** The last code texted to `mobile` (11 digits). */
  lastCode(mobile: string): string;
  register(name: string, mobile: string, pan: string): Promise<Payee>;
}

export async function createMobileFixture(database: Database, limits?: PayeeLookupLimits, start = '2026-12-06T09:00:00.000Z'): Promise<MobileFixture> {
  let now = Date.parse(start);
  const clock = () => new Date(now);
  const network = await createTestPaymentNetwork({ now: clock });
  const sms = new SmsGatewaySimulator(clock);
  const mobile = createMobilePayments({ database, provider: network.provider, sms, cardVaultKey: new Uint8Array(randomBytes(32)), limits, clock });
  const lastCode = (number: string) => {
    const codes = sms.sent(`+86${number}`).flatMap((m) => /code is (\d{6})/.exec(m.text)?.[1] ?? []);
    const code = codes.at(-1);
    if (!code) throw new Error(`no code was texted to ${number}`);
    return code;
  };
  return {
    mobile,
    network,
    sms,
    now: clock,
    advance: (ms) => void (now += ms),
    lastCode,
    async register(name, number, pan) {
      const pending = await mobile.payees.startRegistration({ name, mobile: number, pan }, 'data');
      return mobile.payees.confirm(pending.registrationId, lastCode(number));
    },
  };
}

/** A mobile number nobody in a test has used: 139 and eight digits from a counter. */
let numbers = 0;
export function freshMobile(): string {
  return `139${String(++numbers + (process.pid % 1000) * 10_000).padStart(8, '0')}`;
}
