/**
 * The key-loading scenario of docs/key-loading.md "Flow", steps 1-5, as the tests and the e2e run
 * it against an EmulatedTerminal of either engine: the terminal is enrolled (A8: its identity key
 * certified by a test CA), the operator reads the serial and the TK envelope, signed by the device
 * over a nonce, over the TCP local link (A2, A8, A10; the real operator client, host/operator/tcpLink),
 * MTMS delivers the TK to the KMS (A5-A7, played by the fake KMS), then the terminal loads its
 * TMK and signs on (A11, A12).
 */
import { randomBytes, verify, X509Certificate } from 'node:crypto';
import { fromHex, toHex } from '../../../shared/bytes';
import { PaypadError } from '../../../shared/errors';
import { tkIntakeSignedBytes } from '../../../shared/protocol/deviceIdentity';
import { connectTcpLink } from '../../../host/operator/tcpLink';
import type { EmulatedTerminal, LoadKeysResult } from './emulatedTerminal';
import type { FakeKms } from '../../support/fakeKms';
import { makeTestPki, type TestPki } from './testPki';

let deviceCa: Promise<TestPki> | undefined;
/** One certificate per identity key, so terminals made alike (Node and XS) keep byte-identical state. */
const certified = new Map<string, Promise<Uint8Array>>();

function deviceCertificate(serial: string, publicKey: string): Promise<Uint8Array> {
  const key = `${serial}|${publicKey}`;
  let cert = certified.get(key);
  if (cert === undefined) {
    cert = (deviceCa ??= makeTestPki('paypad device test CA')).then((ca) => ca.certifyDevice(serial, fromHex(publicKey)));
    certified.set(key, cert);
  }
  return cert;
}

export interface OperatorView {
  readonly serial: string;
  /** The envelope as the operator relays it (hex), never opened on the way (A10). */
  readonly tkEnvelope: string;
}

/**
 * A2, A8, A10: what the operating terminal reads over the local link, the terminal enrolled first
 * (identity + certify) and its signature over the envelope and nonce checked with OpenSSL.
 */
export async function readOverLink(terminal: Pick<EmulatedTerminal, 'linkHost' | 'linkPort'>): Promise<OperatorView> {
  const link = await connectTcpLink({ host: terminal.linkHost, port: terminal.linkPort });
  try {
    const serial = await link.readSerial();
    const identity = await link.readIdentity(toHex(randomBytes(32)));
    await link.certify(toHex(await deviceCertificate(serial, identity.publicKey)));
    const nonce = randomBytes(32);
    const { serial: tkSerial, tkEnvelope, signature, certificate } = await link.readTkEnvelope(toHex(nonce));
    if (tkSerial !== serial) throw new PaypadError('PROTOCOL_MALFORMED', `the tk answer names ${tkSerial}, the serial answer ${serial}`);
    const signed = tkIntakeSignedBytes(serial, nonce, fromHex(tkEnvelope));
    if (!verify('sha256', signed, { key: new X509Certificate(fromHex(certificate)).publicKey, dsaEncoding: 'ieee-p1363' }, fromHex(signature))) {
      throw new PaypadError('DEVICE_SIGNATURE_INVALID', `terminal ${serial}: its signature over the TK envelope does not verify`);
    }
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
