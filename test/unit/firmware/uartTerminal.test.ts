/**
 * The terminal core's local link (A1, A2, A10, A13) over the board's UART path as uartLink.ts
 * wires it (SerialLink sessions, SerialTransmitter into a model of the ESP32 FIFO), after a first
 * boot as main.ts runs it: device root key from the Rng, identity through provisionTerminal.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { concatBytes, fromHex, toHex, utf8ToBytes } from '../../../shared/bytes';
import { decodeKeyEnvelope, generateP256KeyPair, unwrapKeyAsRecipient } from '../../../shared/crypto/keyTransport';
import { FrameDecoder, decodeLinkFrame, encodeFrame } from '../../../shared/protocol/localLink';
import { tkTransportContext } from '../../../shared/protocol/tkTransport';
import { LocalLinkSession } from '../../../firmware/core/localLinkService';
import { Terminal } from '../../../firmware/core/terminal';
import { provisionTerminal } from '../../../firmware/core/terminalIdentity';
import type { Http } from '../../../firmware/hal/http';
import { ensureDeviceRootKey } from '../../../firmware/hal/moddable/rootKey';
import { BACKLOG_MAX, QUIET_MS, SerialLink } from '../../../firmware/hal/moddable/serialLink';
import { SerialTransmitter } from '../../../firmware/hal/moddable/serialTransmitter';
import { MemoryStorage } from '../../support/memoryStorage';
import { seededRng } from '../../support/opsRng';
import { FIFO, FakeUart, manualClock, settle } from './fakeUart';

describe('the terminal core on the UART link, first boot as main.ts runs it (A1, A2, A10, A13)', () => {
  const SERIAL = 'PP-UART-0007';
  const mtms = generateP256KeyPair(seededRng(new TextEncoder().encode('uart mtms')));
  const noHttp: Http = { request: () => Promise.reject(new Error('no KMS in this test')) };
  let clock: ReturnType<typeof manualClock>;

  afterEach(() => clock?.advance(QUIET_MS * 10));

  function board() {
    const storage = new MemoryStorage();
    const rng = seededRng(new TextEncoder().encode('uart board'));
    const rootKey = ensureDeviceRootKey(storage, rng);
    // DER-shaped bytes: the trust anchor only matters to TLS, which this test never reaches.
    provisionTerminal(storage, { serial: SERIAL, mtmsPublicKey: mtms.publicKey, kmsUrl: 'https://kms.example:8443', trustAnchor: new Uint8Array([0x30, 0]) });
    const terminal = Terminal.open({ storage, rng, http: noHttp, rootKey });
    rootKey.fill(0);
    clock = manualClock();
    const uart = new FakeUart();
    const tx = new SerialTransmitter((b) => uart.write(b), BACKLOG_MAX);
    const link = new SerialLink({ connect: (stream) => new LocalLinkSession(terminal, stream), transmit: (b) => tx.send(b), scheduler: clock });
    const decoder = new FrameDecoder();
    tx.writable(FIFO);
    /** The operating terminal's side: everything the line carried, as answers. */
    const answers = async (): Promise<Record<string, unknown>[]> => {
      await settle();
      while (tx.queued > 0 || uart.inFifo > 0) tx.writable(uart.drain());
      const frames = decoder.push(Uint8Array.from(uart.sent.splice(0)));
      return frames.map((f) => decodeLinkFrame(f) as Record<string, unknown>);
    };
    /** The operator pauses: the terminal finishes what it got, then the line stays quiet. */
    const pause = async (): Promise<void> => {
      await settle();
      clock.advance(QUIET_MS);
    };
    return { link, answers, pause };
  }

  const request = (body: object) => encodeFrame(utf8ToBytes(JSON.stringify({ v: 1, ...body })));

  it('A2: a serial request split across FIFO-sized reads is answered with the manufactured serial', async () => {
    const { link, answers } = board();
    const bytes = request({ id: 1, op: 'serial' });
    for (let i = 0; i < bytes.length; i += 5) link.receive(bytes.slice(i, i + 5));
    expect(await answers()).toEqual([{ v: 1, id: 1, ok: true, serial: SERIAL }]);
  });

  it('A1, A10: the tk answer crosses the UART and opens only with MTMS\'s key for this serial', async () => {
    const { link, answers } = board();
    link.receive(request({ id: 7, op: 'tk' }));
    const [answer] = await answers();
    expect(answer).toMatchObject({ id: 7, ok: true, serial: SERIAL });
    const envelope = decodeKeyEnvelope(fromHex(answer.tkEnvelope as string));
    expect(unwrapKeyAsRecipient(mtms.privateKey, envelope, tkTransportContext(SERIAL))).toHaveLength(16);
    expect(() => unwrapKeyAsRecipient(mtms.privateKey, envelope, tkTransportContext('PP-UART-0008'))).toThrow();
  });

  it('A2: a frame cut short by a stopped operator program is forgotten once the line is quiet', async () => {
    const { link, answers, pause } = board();
    link.receive(request({ id: 1, op: 'serial' }).slice(0, 9));
    await pause();
    link.receive(request({ id: 2, op: 'serial' }));
    expect(await answers()).toEqual([{ v: 1, id: 2, ok: true, serial: SERIAL }]);
  });

  it('A2: an impossible length prefix is answered LINK_FRAME_TOO_LARGE, the rest of the burst ignored, and the next request after a pause served', async () => {
    const { link, answers, pause } = board();
    link.receive(concatBytes(new Uint8Array([0xff, 0xff]), request({ id: 3, op: 'serial' })));
    const first = await answers();
    expect(first).toHaveLength(1);
    expect(first[0]).toMatchObject({ id: null, ok: false, error: { code: 'LINK_FRAME_TOO_LARGE' } });
    link.receive(request({ id: 4, op: 'serial' }));
    expect(await answers()).toEqual([]);
    await pause();
    link.receive(request({ id: 5, op: 'serial' }));
    expect(await answers()).toEqual([{ v: 1, id: 5, ok: true, serial: SERIAL }]);
  });

  it('A13: a repair naming another serial erases nothing and says so over the UART', async () => {
    const { link, answers } = board();
    link.receive(request({ id: 1, op: 'tk' }));
    const [tk] = await answers();
    link.receive(request({ id: 2, op: 'repair', serial: 'PP-OTHER-0001' }));
    link.receive(request({ id: 3, op: 'tk' }));
    const [repair, again] = await answers();
    expect(repair).toMatchObject({ id: 2, ok: false, error: { code: 'TERMINAL_SERIAL_MISMATCH' } });
    // Same TK still in the vault: a fresh envelope of it still opens to the same key.
    const open = (a: Record<string, unknown>) =>
      toHex(unwrapKeyAsRecipient(mtms.privateKey, decodeKeyEnvelope(fromHex(a.tkEnvelope as string)), tkTransportContext(SERIAL)));
    expect(open(again)).toBe(open(tk));
  });
});
