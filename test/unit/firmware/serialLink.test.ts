/**
 * The local link over a board's UART without the board: SerialTransmitter against a model of
 * Moddable's ESP32 Serial transmit FIFO (fakeUart.ts), and SerialLink's sessions and quiet-line
 * resynchronisation. uartTerminal.test.ts runs the terminal core through both.
 */
import { describe, expect, it } from 'vitest';
import { toHex } from '../../../shared/bytes';
import { isPaypadError } from '../../../shared/errors';
import { MAX_FRAME_BYTES, encodeFrame } from '../../../shared/protocol/localLink';
import { BACKLOG_MAX, type LinkConnection, type LinkStream, QUIET_MS, SerialLink } from '../../../firmware/hal/moddable/serialLink';
import { SerialTransmitter } from '../../../firmware/hal/moddable/serialTransmitter';
import { FIFO, FakeUart, manualClock, settle } from './fakeUart';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    return isPaypadError(e) ? e.code : `not a PaypadError: ${String(e)}`;
  }
  return undefined;
}

describe('SerialTransmitter: never more than the FIFO has room for', () => {
  it('writes nothing before the port reports room, then a FIFO at a time, in order', () => {
    const uart = new FakeUart();
    const tx = new SerialTransmitter((b) => uart.write(b), 8192);
    const data = Uint8Array.from({ length: 300 }, (_, i) => i & 0xff);
    tx.send(data);
    expect(uart.sent).toHaveLength(0);
    tx.writable(FIFO);
    expect(uart.sent).toHaveLength(FIFO);
    while (tx.queued > 0) tx.writable(uart.drain(50));
    expect(Uint8Array.from(uart.sent)).toEqual(data);
  });

  it('writes at once from the room left over, and queues the rest behind earlier bytes', () => {
    const uart = new FakeUart();
    const tx = new SerialTransmitter((b) => uart.write(b), 8192);
    tx.writable(FIFO);
    tx.send(new Uint8Array(100).fill(1));
    tx.send(new Uint8Array(100).fill(2));
    expect(uart.sent).toHaveLength(FIFO);
    tx.writable(uart.drain());
    expect(uart.sent).toEqual([...new Array(100).fill(1), ...new Array(100).fill(2)]);
  });

  it('X2: a largest local-link answer goes out whole through room reports of any size', () => {
    const uart = new FakeUart();
    const tx = new SerialTransmitter((b) => uart.write(b), BACKLOG_MAX);
    const frame = encodeFrame(new Uint8Array(MAX_FRAME_BYTES).fill(0x41));
    tx.send(frame);
    for (const n of [1, 7, 128, 3, 64]) tx.writable(uart.drain(n));
    while (tx.queued > 0) tx.writable(uart.drain(37));
    expect(toHex(Uint8Array.from(uart.sent))).toBe(toHex(frame));
  });

  it('copies what it is given: a caller reusing its buffer cannot change bytes still queued', () => {
    const uart = new FakeUart();
    const tx = new SerialTransmitter((b) => uart.write(b), 8192);
    const answer = new Uint8Array([1, 2, 3]);
    tx.send(answer);
    answer.fill(9);
    tx.writable(FIFO);
    expect(uart.sent).toEqual([1, 2, 3]);
  });

  it('refuses bytes past its capacity with LINK_OVERRUN and keeps what it had', () => {
    const uart = new FakeUart();
    const tx = new SerialTransmitter((b) => uart.write(b), 200);
    tx.send(new Uint8Array(150));
    expect(codeOf(() => tx.send(new Uint8Array(51)))).toBe('LINK_OVERRUN');
    expect(tx.queued).toBe(150);
  });

  it('a port that fails a write loses the queue (no frame can be finished) and reports the failure', () => {
    const tx = new SerialTransmitter(() => {
      throw new Error('uart failed');
    }, 8192);
    tx.send(new Uint8Array(10));
    expect(() => tx.writable(FIFO)).toThrow('uart failed');
    expect(tx.queued).toBe(0);
  });

  it('treats a nonsensical room report as no room', () => {
    const uart = new FakeUart();
    const tx = new SerialTransmitter((b) => uart.write(b), 8192);
    tx.send(new Uint8Array(10));
    for (const room of [-1, 0, 1.5, Number.NaN]) tx.writable(room);
    expect(uart.sent).toHaveLength(0);
  });
});

/** A session that records what it got and answers when told to. */
class RecordingSession implements LinkConnection {
  readonly chunks: Uint8Array[] = [];
  #release: (() => void)[] = [];
  hold = false;
  constructor(readonly stream: LinkStream) {}
  receive(chunk: Uint8Array): Promise<void> {
    this.chunks.push(chunk);
    if (!this.hold) return Promise.resolve();
    return new Promise((resolve) => this.#release.push(resolve));
  }
  answerAll(): void {
    for (const release of this.#release.splice(0)) release();
  }
}

describe('SerialLink: sessions on a line that has no connections', () => {
  function setup() {
    const clock = manualClock();
    const sessions: RecordingSession[] = [];
    const sent: Uint8Array[] = [];
    const link = new SerialLink({
      connect: (stream) => {
        const session = new RecordingSession(stream);
        sessions.push(session);
        return session;
      },
      transmit: (bytes) => sent.push(bytes),
      scheduler: clock,
    });
    return { clock, sessions, sent, link };
  }

  it('A2: bytes close together belong to one session; a quiet line starts the next one afresh', async () => {
    const { clock, sessions, link } = setup();
    link.receive(new Uint8Array([0, 5]));
    clock.advance(QUIET_MS - 1);
    link.receive(new Uint8Array([1, 2]));
    await settle();
    expect(sessions).toHaveLength(1);
    expect(sessions[0].chunks).toHaveLength(2);
    clock.advance(QUIET_MS);
    expect(link.active).toBe(false);
    link.receive(new Uint8Array([0, 1]));
    expect(sessions).toHaveLength(2);
    expect(sessions[1].chunks).toEqual([new Uint8Array([0, 1])]);
  });

  it('A2: a request still being answered keeps its session, however long it takes', async () => {
    const { clock, sessions, link } = setup();
    link.receive(new Uint8Array([0, 1, 0x7b]));
    sessions[0].hold = true;
    link.receive(new Uint8Array([0, 1]));
    clock.advance(QUIET_MS * 10);
    expect(link.active).toBe(true);
    sessions[0].answerAll();
    await settle();
    expect(clock.pending).toBe(1); // armed again once the answer is out
    clock.advance(QUIET_MS);
    expect(link.active).toBe(false);
  });

  it('answers go to the transmitter; a session hanging up changes nothing until the line is quiet', async () => {
    const { clock, sessions, sent, link } = setup();
    link.receive(new Uint8Array([1]));
    sessions[0].stream.write(new Uint8Array([9, 9]));
    sessions[0].stream.close();
    expect(sent).toEqual([new Uint8Array([9, 9])]);
    link.receive(new Uint8Array([2]));
    expect(sessions).toHaveLength(1);
    await settle();
    clock.advance(QUIET_MS);
    link.receive(new Uint8Array([3]));
    expect(sessions).toHaveLength(2);
  });

  it('a peer that floods the line past BACKLOG_MAX is not read until it pauses', async () => {
    const { clock, sessions, link } = setup();
    link.receive(new Uint8Array(1));
    sessions[0].hold = true;
    link.receive(new Uint8Array(BACKLOG_MAX - 1));
    link.receive(new Uint8Array(1));
    link.receive(new Uint8Array(FIFO));
    expect(sessions[0].chunks.map((c) => c.length)).toEqual([1, BACKLOG_MAX - 1]);
    sessions[0].answerAll();
    await settle();
    link.receive(new Uint8Array(4)); // still flooding: still dropped
    expect(sessions[0].chunks).toHaveLength(2);
    clock.advance(QUIET_MS);
    link.receive(new Uint8Array(2));
    expect(sessions).toHaveLength(2);
    expect(sessions[1].chunks).toEqual([new Uint8Array(2)]);
  });
});
