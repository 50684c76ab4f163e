/**
 * A merchant of the browser tests' host: the merchant simulator (host/simulators/merchantSimulator),
 * enrolled in the platform's directory by its CSR, its webhook receiving the platform's signed
 * notifications, its texts to buyers going through the host's SMS gateway simulator.
 */
import type { RunningHost } from '../../../host/server';
import { MerchantSimulator } from '../../../host/simulators/merchantSimulator';

export async function startMerchant(host: RunningHost, legalName: string, receivingAccount: string): Promise<MerchantSimulator> {
  const identity = await MerchantSimulator.enrol(host.bills.merchants, { legalName, receivingAccount });
  const merchant = await MerchantSimulator.start({
    identity,
    platformUrl: host.url,
    platformCertificatePem: host.bills.identity.certificatePem,
    caCertificatePem: host.bills.identity.caCertificatePem,
    sms: host.mobile.sms,
  });
  await host.bills.merchants.setNotifyUrl(identity.merchantId, merchant.notifyUrl);
  return merchant;
}
