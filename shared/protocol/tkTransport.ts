/**
 * The key-transport context of a terminal's TK (docs/key-loading.md): the vault wraps TK for
 * MTMS with it, MTMS's HSM opens and re-wraps with it, the KMS's HSM imports with it. Binding the
 * serial means an envelope captured for one terminal cannot be presented as another's.
 */
import { asciiToBytes } from '../bytes';
import { serial as serialField } from './fields';

export const TK_TRANSPORT_CONTEXT_PREFIX = 'paypad-tk|';

export function tkTransportContext(serial: string): Uint8Array {
  return asciiToBytes(TK_TRANSPORT_CONTEXT_PREFIX + serialField(serial, 'serial'));
}
