/**
 * A8: the production line's enrolment flow (host/operator/deviceEnrolment) over the real link
 * client and the firmware's link session: serial, MTMS challenge, the identity signed over it,
 * the certificate MTMS answers handed to the terminal, in that order; a device that answers for
 * another serial stops the flow before MTMS certifies anything. MTMS's checks have their own tests
 * (test/unit/mtms/deviceIdentity.test.ts); here it is a recording fake.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { enrolTerminal } from '../../../host/operator/deviceEnrolment';
import type { EnrolmentPort } from '../../../host/operator/mtmsClient';
import { connectTcpLink } from '../../../host/operator/tcpLink';
import { x509 } from '../../../host/ca/x509';
import { fromHex, toHex } from '../../../shared/bytes';
import { MESSAGE_VERSION, validateMessage } from '../../../shared/protocol/messages';
import { createPki, type PkiFixture } from './support/fakeMtms';
import { type FakeTerminal, startFakeTerminal } from './support/fakeTerminal';

const opened: { close(): Promise<void> }[] = [];
afterAll(async () => {
  await Promise.all(opened.map((o) => o.close()));
});

/** MTMS as the station sees it: one nonce per challenge, a real certificate of the test CA for the key sent. */
function recordingMtms(pki: PkiFixture, events: string[]): EnrolmentPort {
  return {
    async deviceChallenge(serial) {
      events.push(`mtms.challenge ${serial}`);
      return validateMessage('deviceChallenge', { v: MESSAGE_VERSION, serial, nonce: '7E'.repeat(32), expiresAt: '2026-12-06T01:30:00.000Z' });
    },
    async enrolDevice(request) {
      events.push(`mtms.enrol ${request.serial} ${request.nonce.slice(0, 4)}`);
      const issued = await pki.ca.issue({ subject: { role: 'operator', name: `device ${request.serial}` } });
      return validateMessage('deviceCertificate', { v: MESSAGE_VERSION, serial: request.serial, certificate: toHex(new Uint8Array(new x509.X509Certificate(issued.certPem).rawData)) });
    },
  };
}

async function station(terminal: FakeTerminal) {
  const [host, port] = terminal.address.split(':');
  const link = await connectTcpLink({ host, port: Number(port) });
  opened.push(link);
  return link;
}

describe('A8 enrolment on the production line', () => {
  it('A8: reads the serial, asks MTMS for a challenge, has the terminal sign its identity over it, and hands it the certificate MTMS answers', async () => {
    const pki = await createPki();
    opened.push({ close: () => pki.cleanup() });
    const terminal = await startFakeTerminal({ serial: 'PP-0001' });
    opened.push(terminal);
    const events: string[] = [];
    const result = await enrolTerminal(await station(terminal), recordingMtms(pki, events));
    expect(events).toEqual(['mtms.challenge PP-0001', 'mtms.enrol PP-0001 7E7E']);
    expect(terminal.requests.map((r) => r.op)).toEqual(['serial', 'identity', 'certify']);
    expect(terminal.requests[1]).toMatchObject({ nonce: '7E'.repeat(32) });
    const certified = (terminal.requests[2] as { certificate: string }).certificate;
    expect(result).toEqual({
      serial: 'PP-0001',
      deviceCertSerial: new x509.X509Certificate(fromHex(certified)).serialNumber.toUpperCase().replace(/^(00)+/, ''),
      publicKeyCheck: expect.stringMatching(/^[0-9A-F]{10}$/),
    });
  });

  it('A8: a device that answers the identity request for another serial is refused before MTMS certifies anything', async () => {
    const pki = await createPki();
    opened.push({ close: () => pki.cleanup() });
    const terminal = await startFakeTerminal({ serial: 'PP-0001', identitySerial: 'PP-0002' });
    opened.push(terminal);
    const events: string[] = [];
    await expect(enrolTerminal(await station(terminal), recordingMtms(pki, events))).rejects.toMatchObject({ code: 'PROTOCOL_MALFORMED', message: expect.stringMatching(/answered serial PP-0002/) });
    expect(events).toEqual(['mtms.challenge PP-0001']);
    expect(terminal.requests.map((r) => r.op)).toEqual(['serial', 'identity']);
  });
});
