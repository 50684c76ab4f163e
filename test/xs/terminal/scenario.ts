/**
 * The key-loading scenario of docs/key-loading.md "Flow", steps 1-5, as the tests and the e2e run
 * it against an EmulatedTerminal of either engine: the operator reads the serial and the TK
 * envelope over the TCP local link (A2, A10; the real operator client, host/operator/tcpLink),
 * MTMS delivers the TK to the KMS (A5-A7, played by the fake KMS), then the terminal loads its
 * TMK and signs on (A11, A12).
 */
import { PaypadError } from '../../../shared/errors';
import { connectTcpLink } from '../../../host/operator/tcpLink';
import type { EmulatedTerminal, LoadKeysResult } from './emulatedTerminal';
import type { FakeKms } from './fakeKms';

export interface OperatorView {
  readonly serial: string;
  /** The envelope as the operator relays it (hex), never opened on the way (A10). */
  readonly tkEnvelope: string;
}

/** A2, A10: what the operating terminal reads over the local link. */
export async function readOverLink(terminal: Pick<EmulatedTerminal, 'linkHost' | 'linkPort'>): Promise<OperatorView> {
  const link = await connectTcpLink({ host: terminal.linkHost, port: terminal.linkPort });
  try {
    const serial = await link.readSerial();
    const { serial: tkSerial, tkEnvelope } = await link.readTkEnvelope();
    if (tkSerial !== serial) throw new PaypadError('PROTOCOL_MALFORMED', `the tk answer names ${tkSerial}, the serial answer ${serial}`);
    return { serial, tkEnvelope };
  } finally {
    await link.close();
  }
}

/** Steps 1-5: link, TK delivery, TMK download and sign-on. */
export async function onboard(terminal: EmulatedTerminal, kms: FakeKms): Promise<OperatorView & { loaded: LoadKeysResult }> {
  const view = await readOverLink(terminal);
  kms.receiveTransportKey(view.serial, view.tkEnvelope);
  return { ...view, loaded: await terminal.loadKeys() };
}
