/**
 * The operator's local-link client (host/operator/linkClient, tcpLink) against the firmware's own
 * link session on loopback TCP, and against a raw socket that misbehaves on purpose: split and
 * joined frames, refusals, answers to the wrong request, garbage, oversized frames, silence and a
 * peer that hangs up mid-frame (A2, A10, A13).
 */
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { EnrolmentLink, TerminalLink } from '../../../host/operator/linkClient';
import { connectTcpLink, formatLinkAddress, parseLinkAddress } from '../../../host/operator/tcpLink';
import { PaypadError } from '../../../shared/errors';
import { decodeLinkFrame, encodeFrame, encodeLinkMessage, FrameDecoder, LINK_VERSION, MAX_FRAME_BYTES } from '../../../shared/protocol/localLink';
import { utf8ToBytes } from '../../../shared/bytes';
import { type FakeTerminal, startFakeTerminal } from './support/fakeTerminal';

const opened: TerminalLink[] = [];
const servers: (FakeTerminal | RawTerminal)[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((l) => l.close()));
});
afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

async function link(address: string, timeoutMs?: number): Promise<TerminalLink & EnrolmentLink> {
  const l = await connectTcpLink(parseLinkAddress(address), { timeoutMs });
  opened.push(l);
  return l;
}

async function failure(promise: Promise<unknown>): Promise<PaypadError> {
  try {
    await promise;
  } catch (e) {
    if (e instanceof PaypadError) return e;
    throw e;
  }
  throw new Error('expected a failure');
}

interface RawTerminal {
  readonly address: string;
  /** The next connection's socket and the request frames it receives (parsed JSON). */
  accept(): Promise<{ socket: Socket; requests: AsyncIterator<{ id: number; op: string }> }>;
  close(): Promise<void>;
}

async function rawTerminal(): Promise<RawTerminal> {
  const waiting: ((s: Socket) => void)[] = [];
  const sockets: Socket[] = [];
  const server: Server = createServer((socket) => {
    sockets.push(socket);
    waiting.shift()?.(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const t: RawTerminal = {
    address: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    async accept() {
      const socket = await new Promise<Socket>((resolve) => waiting.push(resolve));
      const decoder = new FrameDecoder();
      const queue: { id: number; op: string }[] = [];
      const wake: (() => void)[] = [];
      socket.on('data', (chunk: Buffer) => {
        for (const frame of decoder.push(new Uint8Array(chunk))) queue.push(decodeLinkFrame(frame) as { id: number; op: string });
        wake.splice(0).forEach((w) => w());
      });
      socket.on('error', () => undefined);
      const requests: AsyncIterator<{ id: number; op: string }> = {
        async next() {
          while (queue.length === 0) await new Promise<void>((resolve) => wake.push(resolve));
          return { value: queue.shift()!, done: false };
        },
      };
      return { socket, requests };
    },
    close: () =>
      new Promise<void>((resolve) => {
        sockets.forEach((s) => s.destroy());
        server.close(() => resolve());
      }),
  };
  servers.push(t);
  return t;
}

const NONCE = 'C3'.repeat(32);
const answer = (socket: Socket, message: object) => socket.write(encodeFrame(utf8ToBytes(JSON.stringify(message))));

describe('A2/A10/A13 link client against the firmware link session', () => {
  it('reads the serial, the TK envelope (hex as sent) and repairs, with ids counting up', async () => {
    const terminal = await startFakeTerminal({ serial: 'PP-0001' });
    servers.push(terminal);
    const l = await link(terminal.address);
    expect(await l.readSerial()).toBe('PP-0001');
    const tk = await l.readTkEnvelope(NONCE);
    expect(tk).toMatchObject({ serial: 'PP-0001', tkEnvelope: terminal.envelopes[0], signature: expect.stringMatching(/^[0-9A-F]{128}$/), certificate: expect.any(String) });
    expect(await l.repair('PP-0001')).toBe('PP-0001');
    expect(terminal.requests.map((r) => [r.id, r.op])).toEqual([
      [1, 'serial'],
      [2, 'tk'],
      [3, 'repair'],
    ]);
    expect(terminal.requests[1]).toMatchObject({ nonce: NONCE });
  });

  it('A8 enrolment: reads the identity key signed over the nonce and hands the certificate over, as sent', async () => {
    const terminal = await startFakeTerminal({ serial: 'PP-0001' });
    servers.push(terminal);
    const l = await link(terminal.address);
    expect(await l.readIdentity(NONCE)).toMatchObject({ serial: 'PP-0001', publicKey: expect.stringMatching(/^04[0-9A-F]{128}$/), signature: expect.stringMatching(/^[0-9A-F]{128}$/) });
    expect(await l.certify('30'.repeat(400))).toBe('PP-0001');
    expect((await l.readTkEnvelope(NONCE)).certificate).toBe('30'.repeat(400));
    expect(terminal.requests.map((r) => r.op)).toEqual(['identity', 'certify', 'tk']);
  });

  it("a terminal's typed refusal is LINK_REFUSED with its code, and the link stays usable", async () => {
    const terminal = await startFakeTerminal({ serial: 'PP-0001' });
    servers.push(terminal);
    const l = await link(terminal.address);
    const e = await failure(l.repair('PP-0002'));
    expect(e).toMatchObject({ code: 'LINK_REFUSED', remoteCode: 'BAD_ARGUMENT', party: 'terminal' });
    expect(e.message).toMatch(/terminal refused: BAD_ARGUMENT: this terminal is PP-0001, not PP-0002/);
    expect(await l.readSerial()).toBe('PP-0001');
  });

  it('requests issued together are sent one at a time and each gets its own answer', async () => {
    const terminal = await startFakeTerminal({ serial: 'PP-0001' });
    servers.push(terminal);
    const l = await link(terminal.address);
    const [a, b, c] = await Promise.all([l.readSerial(), l.readTkEnvelope(NONCE), l.readSerial()]);
    expect([a, b.serial, c]).toEqual(['PP-0001', 'PP-0001', 'PP-0001']);
  });
});

describe('link client against a misbehaving peer', () => {
  it('reassembles an answer sent one byte at a time', async () => {
    const raw = await rawTerminal();
    const accepted = raw.accept();
    const l = await link(raw.address);
    const pending = l.readSerial();
    const { socket, requests } = await accepted;
    const { value } = await requests.next();
    const bytes = encodeLinkMessage({ v: LINK_VERSION, id: value.id, ok: true, serial: 'PP-0001' });
    for (const byte of bytes) socket.write(new Uint8Array([byte]));
    expect(await pending).toBe('PP-0001');
  });

  it('an error answer with id null (our request unreadable to the terminal) is LINK_REFUSED', async () => {
    const raw = await rawTerminal();
    const accepted = raw.accept();
    const l = await link(raw.address);
    const pending = l.readSerial();
    const { socket, requests } = await accepted;
    await requests.next();
    answer(socket, { v: 1, id: null, ok: false, error: { code: 'PROTOCOL_MALFORMED', message: 'linkRequest.op: unknown' } });
    expect(await failure(pending)).toMatchObject({ code: 'LINK_REFUSED', remoteCode: 'PROTOCOL_MALFORMED' });
  });

  it.each([
    ['an answer to another request id', (id: number) => ({ v: 1, id: id + 7, ok: true, serial: 'PP-0001' }), 'PROTOCOL_MALFORMED', /answered request/],
    ['an answer of the wrong shape', (id: number) => ({ v: 1, id, ok: true, serial: 'lower case' }), 'PROTOCOL_MALFORMED', /linkResponse\.serial/],
    ['an answer of another version', (id: number) => ({ v: 2, id, ok: true, serial: 'PP-0001' }), 'PROTOCOL_UNSUPPORTED_VERSION', /./],
  ])('%s fails the request and the link', async (_name, build, code, message) => {
    const raw = await rawTerminal();
    const accepted = raw.accept();
    const l = await link(raw.address);
    const pending = l.readSerial();
    const { socket, requests } = await accepted;
    const { value } = await requests.next();
    answer(socket, build(value.id));
    const e = await failure(pending);
    expect(e.code).toBe(code);
    expect(e.message).toMatch(message);
    // The stream cannot be trusted after that: the next request fails at once with the same error.
    expect(await failure(l.readSerial())).toBe(e);
  });

  it('a frame that is not JSON fails the link with PROTOCOL_MALFORMED', async () => {
    const raw = await rawTerminal();
    const accepted = raw.accept();
    const l = await link(raw.address);
    const pending = l.readSerial();
    const { socket, requests } = await accepted;
    await requests.next();
    socket.write(encodeFrame(utf8ToBytes('{"v":1,')));
    expect((await failure(pending)).code).toBe('PROTOCOL_MALFORMED');
  });

  it('a frame length above the protocol maximum is LINK_FRAME_TOO_LARGE', async () => {
    const raw = await rawTerminal();
    const accepted = raw.accept();
    const l = await link(raw.address);
    const pending = l.readSerial();
    const { socket, requests } = await accepted;
    await requests.next();
    socket.write(new Uint8Array([(MAX_FRAME_BYTES + 1) >> 8, (MAX_FRAME_BYTES + 1) & 0xff]));
    expect((await failure(pending)).code).toBe('LINK_FRAME_TOO_LARGE');
  });

  it('an unsolicited frame while nothing is asked fails the link', async () => {
    const raw = await rawTerminal();
    const accepted = raw.accept();
    const l = await link(raw.address);
    const { socket } = await accepted;
    answer(socket, { v: 1, id: 1, ok: true, serial: 'PP-0001' });
    await new Promise((resolve) => socket.once('close', resolve));
    expect(await failure(l.readSerial())).toMatchObject({ code: 'PROTOCOL_MALFORMED', message: expect.stringMatching(/no request was waiting/) });
  });

  it('a silent terminal is LINK_TIMEOUT, and the link is closed so a late answer cannot be misread', async () => {
    const raw = await rawTerminal();
    const accepted = raw.accept();
    const l = await link(raw.address, 100);
    const pending = l.readTkEnvelope(NONCE);
    const { socket } = await accepted;
    const e = await failure(pending);
    expect(e).toMatchObject({ code: 'LINK_TIMEOUT', message: expect.stringMatching(/did not answer 'tk' within 100 ms/) });
    await new Promise((resolve) => (socket.closed ? resolve(undefined) : socket.once('close', resolve)));
    expect(await failure(l.readSerial())).toBe(e);
  });

  it('a terminal hanging up mid-frame is LINK_UNAVAILABLE and says so', async () => {
    const raw = await rawTerminal();
    const accepted = raw.accept();
    const l = await link(raw.address);
    const pending = l.readSerial();
    const { socket, requests } = await accepted;
    const { value } = await requests.next();
    const bytes = encodeLinkMessage({ v: LINK_VERSION, id: value.id, ok: true, serial: 'PP-0001' });
    socket.end(bytes.subarray(0, 5));
    expect(await failure(pending)).toMatchObject({ code: 'LINK_UNAVAILABLE', message: expect.stringMatching(/closed the link in the middle of a frame/) });
  });
});

describe('link address and connection', () => {
  it('parses HOST:PORT and [IPv6]:PORT, and refuses anything else', () => {
    expect(parseLinkAddress('127.0.0.1:7001')).toEqual({ host: '127.0.0.1', port: 7001 });
    expect(parseLinkAddress('bench-3.local:65535')).toEqual({ host: 'bench-3.local', port: 65535 });
    expect(parseLinkAddress('[::1]:7001')).toEqual({ host: '::1', port: 7001 });
    expect(formatLinkAddress({ host: '::1', port: 7001 })).toBe('[::1]:7001');
    for (const bad of ['127.0.0.1', ':7001', '127.0.0.1:0', '127.0.0.1:65536', 'host:port', '::1:7001', 'a b:1', '']) {
      expect(() => parseLinkAddress(bad), bad).toThrow(expect.objectContaining({ code: 'BAD_ARGUMENT' }));
    }
  });

  it('a refused connection is LINK_UNAVAILABLE naming the address', async () => {
    const raw = await rawTerminal();
    const address = raw.address;
    await raw.close();
    const e = await failure(connectTcpLink(parseLinkAddress(address)));
    expect(e).toMatchObject({ code: 'LINK_UNAVAILABLE', message: expect.stringMatching(new RegExp(`${address}: ECONNREFUSED`)) });
  });
});
