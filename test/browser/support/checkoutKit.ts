/**
 * What the checkout page's browser tests drive besides the page: the online payment's actors
 * (bin/demo/onlinePaymentActors.ts, shared with the demo), the readers' state in memory.
 */
import type { RunningHost } from '../../../host/server';
import { connectEmulatedReader as connectReader, type EmulatedReader } from '../../../bin/demo/onlinePaymentActors';
import { MemoryStorage } from '../../support/memoryStorage';

export { type EmulatedReader, type GatewayMerchant, loadReaderBdk, startGatewayMerchant, track2Of } from '../../../bin/demo/onlinePaymentActors';

export function connectEmulatedReader(host: RunningHost, bdk: Uint8Array, readerId: string, card: string | undefined, pin: string): Promise<EmulatedReader> {
  return connectReader(host, bdk, readerId, card, pin, new MemoryStorage());
}
