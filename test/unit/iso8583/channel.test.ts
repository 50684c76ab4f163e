/**
 * The acquirer link over real loopback TCP: 2-byte length framing however the bytes are cut,
 * responses matched to requests, a timeout the caller can reverse on, and a connection ended on
 * oversize, slow or cut frames (C8, X2).
 */
import { type Server, type Socket, connect, createServer } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { concatBytes } from '../../../shared/bytes';
import { FrameDecoder, encodeFrame } from '../../../shared/protocol/localLink';
import {
  ACQUIRER_LINK_FIELDS,
  APPROVED,
  type AcquirerLinkClient,
  type AcquirerLinkServer,
  type Iso8583Message,
  REVERSAL_REASON_TIMEOUT,
  buildFinancialRequest,
  buildFinancialResponse,
  buildReversalRequest,
  buildReversalResponse,
  connectAcquirerLink,
  createPackager,
  listenAcquirerLink,
  readFinancialRequest,
  readFinancialResponse,
  readReversalRequest,
  readReversalResponse,
  signMessage,
  verifyMessage,
} from '../../../host/payments/iso8583/index';
import { TEST_ZONE_MAC_KEY, cmacAuthenticator, purchase } from './fixtures';

const link = createPackager(ACQUIRER_LINK_FIELDS);
const zone = cmacAuthenticator(TEST_ZONE_MAC_KEY);
const code = (c: string) => expect.objectContaining({ name: 'PaypadError', code: c });
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const FRAME_TIMEOUT_MS = 400;
const REQUEST_TIMEOUT_MS = 1_000;

/** A bank simulator's answer: checks the MAC, approves, MACs the answer; `delayFor` per STAN. */
let delayFor: (stan: number) => number | 'never';
let serverErrors: unknown[];
let server: AcquirerLinkServer;
let clients: AcquirerLinkClient[];

async function bank(request: Iso8583Message): Promise<Iso8583Message | undefined> {
  await verifyMessage(link, request, zone);
  const stan = Number(request.fields[11]);
  const delay = delayFor(stan);
  if (delay === 'never') return undefined;
  await sleep(delay);
  if (request.mti === '0400') return signMessage(link, buildReversalResponse(readReversalRequest(request), APPROVED), zone);
  const payment = readFinancialRequest(request);
  return signMessage(link, buildFinancialResponse(payment, { rrn: `RRN${String(stan).padStart(9, '0')}`, authId: 'OK0001', responseCode: APPROVED }), zone);
}

beforeEach(async () => {
  delayFor = () => 0;
  serverErrors = [];
  clients = [];
  server = await listenAcquirerLink({ packager: link, handler: bank, frameTimeoutMs: FRAME_TIMEOUT_MS, onError: (e) => serverErrors.push(e) });
});

afterEach(async () => {
  for (const client of clients) client.close();
  await server.close();
});

async function client(port = server.port): Promise<AcquirerLinkClient> {
  const c = await connectAcquirerLink({ host: '127.0.0.1', port, packager: link, requestTimeoutMs: REQUEST_TIMEOUT_MS, frameTimeoutMs: FRAME_TIMEOUT_MS });
  clients.push(c);
  return c;
}

const signedPurchase = (changes: Partial<typeof purchase> = {}) => signMessage(link, buildFinancialRequest({ ...purchase, ...changes }), zone);

/** A raw TCP peer: what it receives, as frames, and when the other side closed it. */
function rawPeer(socket: Socket) {
  const decoder = new FrameDecoder();
  const frames: Uint8Array[] = [];
  const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
  socket.on('data', (chunk) => frames.push(...decoder.push(new Uint8Array(chunk))));
  socket.on('error', () => {});
  socket.setNoDelay(true);
  return { socket, frames, closed };
}

async function rawClient() {
  const socket = connect({ host: '127.0.0.1', port: server.port });
  await new Promise((resolve) => socket.once('connect', resolve));
  return rawPeer(socket);
}

async function until(condition: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200 && !condition(); i++) await sleep(10);
  if (!condition()) throw new Error(`timed out waiting for ${what}`);
}

/** A bank that misbehaves: `onRequest` gets the raw socket once the client's first frame arrives. */
async function misbehavingBank(onRequest: (socket: Socket) => void): Promise<Server & { port: number }> {
  const fake = createServer((socket) => {
    socket.once('data', () => onRequest(socket));
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve) => fake.listen(0, '127.0.0.1', resolve));
  const address = fake.address();
  return Object.assign(fake, { port: typeof address === 'object' && address ? address.port : 0 });
}

describe('C8: requests and responses over loopback TCP', () => {
  it('C8: a MAC\'d purchase is answered with a MAC\'d 0210 that verifies', async () => {
    const c = await client();
    const response = await c.request(await signedPurchase());
    await verifyMessage(link, response, zone);
    expect(readFinancialResponse(response)).toMatchObject({ stan: 42, approved: true, rrn: 'RRN000000042' });
  });

  it('C8: twenty concurrent requests answered in reverse order are each matched to their own request', async () => {
    delayFor = (stan) => (20 - stan) * 10;
    const c = await client();
    const responses = await Promise.all(
      Array.from({ length: 20 }, async (_, stan) => readFinancialResponse(await c.request(await signedPurchase({ stan, amountMinor: BigInt(1000 + stan) })))),
    );
    responses.forEach((response, stan) => expect([response.stan, response.amountMinor]).toEqual([stan, BigInt(1000 + stan)]));
  });

  it('C8: the same STAN from two terminals is two requests; the same STAN twice from one terminal is refused while the first is open', async () => {
    delayFor = () => 50;
    const c = await client();
    const [a, b] = await Promise.all([c.request(await signedPurchase()), c.request(await signedPurchase({ terminalId: 'TERM0002' }))]);
    expect([readFinancialResponse(a).terminalId, readFinancialResponse(b).terminalId]).toEqual(['TERM0001', 'TERM0002']);
    const first = c.request(await signedPurchase());
    await expect(c.request(await signedPurchase())).rejects.toThrow(code('ACQUIRER_LINK_DUPLICATE_REQUEST'));
    await first;
  });

  it('C8: no answer within the timeout rejects with ACQUIRER_LINK_TIMEOUT; the reversal is answered, and the late 0210 is dropped', async () => {
    delayFor = (stan) => (stan === 42 ? REQUEST_TIMEOUT_MS + 100 : 0);
    const c = await client();
    const started = Date.now();
    await expect(c.request(await signedPurchase())).rejects.toThrow(code('ACQUIRER_LINK_TIMEOUT'));
    expect(Date.now() - started).toBeGreaterThanOrEqual(REQUEST_TIMEOUT_MS - 5);
    const reversal = await signMessage(link, buildReversalRequest(purchase, { stan: 43, transmissionDateTime: '1206013115', reasonCode: REVERSAL_REASON_TIMEOUT }), zone);
    const answer = readReversalResponse(await c.request(reversal));
    expect(answer).toMatchObject({ stan: 43, responseCode: '00', original: { mti: '0200', stan: 42 } });
    await sleep(300); // the late 0210 for STAN 42 arrives now, matches nothing and is dropped
    expect(readFinancialResponse(await c.request(await signedPurchase({ stan: 44 }))).stan).toBe(44);
  });

  it('C8: a request the bank never answers times out; a request the packager refuses never leaves', async () => {
    delayFor = () => 'never';
    const c = await client();
    await expect(c.request(await signedPurchase(), 50)).rejects.toThrow(code('ACQUIRER_LINK_TIMEOUT'));
    await expect(c.request({ mti: '0200', fields: { 11: '1' } })).rejects.toThrow(code('ISO8583_FIELD_INVALID'));
    await expect(c.request({ mti: '0200', fields: { 41: 'TERM0001' } })).rejects.toThrow(/STAN/);
    await expect(c.request({ mti: '0210', fields: { 11: '000001' } })).rejects.toThrow(code('ISO8583_FIELD_INVALID'));
  });
});

describe('C8: framing on the responder side', () => {
  it('C8: a frame split across packets (the length header itself cut in two) is reassembled', async () => {
    const peer = await rawClient();
    const frame = encodeFrame(link.pack(await signedPurchase()));
    const cuts = [0, 1, 2, 3, 30, 31, 90, frame.length - 1, frame.length];
    for (let i = 1; i < cuts.length; i++) {
      peer.socket.write(frame.subarray(cuts[i - 1], cuts[i]));
      await sleep(10);
    }
    await until(() => peer.frames.length === 1, 'the answer');
    expect(readFinancialResponse(link.unpack(peer.frames[0])).stan).toBe(42);
  });

  it('C8: several messages in one packet are each answered', async () => {
    const peer = await rawClient();
    const frames = await Promise.all([1, 2, 3].map(async (stan) => encodeFrame(link.pack(await signedPurchase({ stan })))));
    peer.socket.write(concatBytes(...frames));
    await until(() => peer.frames.length === 3, 'three answers');
    expect(peer.frames.map((f) => readFinancialResponse(link.unpack(f)).stan).sort()).toEqual([1, 2, 3]);
  });

  it('C8: a length over 4096 ends the connection with LINK_FRAME_TOO_LARGE, before any of the frame is read', async () => {
    const peer = await rawClient();
    peer.socket.write(new Uint8Array([0xff, 0xff, 0x30]));
    await peer.closed;
    expect(serverErrors).toEqual([code('LINK_FRAME_TOO_LARGE')]);
  });

  it('C8: a frame not complete within the frame timeout is cut (ACQUIRER_LINK_FRAME_TIMEOUT), even when bytes keep dripping in', async () => {
    const peer = await rawClient();
    const frame = encodeFrame(link.pack(await signedPurchase()));
    const started = Date.now();
    for (let i = 0; i < frame.length - 1 && !peer.socket.destroyed; i++) {
      peer.socket.write(frame.subarray(i, i + 1));
      await sleep(20);
      if (Date.now() - started > 3 * FRAME_TIMEOUT_MS) break;
    }
    await peer.closed;
    expect(Date.now() - started).toBeLessThan(3 * FRAME_TIMEOUT_MS);
    expect(serverErrors).toEqual([code('ACQUIRER_LINK_FRAME_TIMEOUT')]);
    expect(peer.frames).toEqual([]);
  });

  it('C8: a peer that closes in the middle of a frame is reported as ACQUIRER_LINK_CLOSED and gets no answer', async () => {
    const peer = await rawClient();
    const frame = encodeFrame(link.pack(await signedPurchase()));
    peer.socket.end(frame.subarray(0, 20));
    await peer.closed;
    await until(() => serverErrors.length === 1, 'the error');
    expect(serverErrors).toEqual([expect.objectContaining({ code: 'ACQUIRER_LINK_CLOSED', message: expect.stringMatching(/middle of a frame/) })]);
  });

  it('C8: a frame that does not unpack gets no answer and ISO8583_MALFORMED; the connection carries on', async () => {
    const peer = await rawClient();
    peer.socket.write(encodeFrame(new TextEncoder().encode('0200garbage')));
    peer.socket.write(encodeFrame(link.pack(await signedPurchase())));
    await until(() => peer.frames.length === 1, 'the answer to the good frame');
    expect(serverErrors).toEqual([code('ISO8583_MALFORMED')]);
  });

  it('X2: a request whose MAC does not verify gets no answer (the handler refuses it)', async () => {
    const peer = await rawClient();
    const tampered = link.pack(await signedPurchase());
    tampered[30] ^= 1; // a PAN digit: still a well-formed 0200
    peer.socket.write(encodeFrame(tampered));
    await until(() => serverErrors.length === 1, 'the refusal');
    expect(serverErrors).toEqual([code('MAC_MISMATCH')]);
    expect(peer.frames).toEqual([]);
  });
});

describe('X2: replayed answers on the requester side', () => {
  it('X2: an answer the bank sends twice resolves its request once; the copy matches nothing and cannot answer a later request', async () => {
    const replaying = createServer((socket) => {
      const decoder = new FrameDecoder();
      socket.on('data', async (chunk) => {
        for (const frame of decoder.push(new Uint8Array(chunk))) {
          const answer = await bank(link.unpack(frame));
          const bytes = encodeFrame(link.pack(answer!));
          socket.write(concatBytes(bytes, bytes));
        }
      });
    });
    await new Promise<void>((resolve) => replaying.listen(0, '127.0.0.1', resolve));
    try {
      const address = replaying.address();
      const c = await client(typeof address === 'object' && address ? address.port : 0);
      expect(readFinancialResponse(await c.request(await signedPurchase({ stan: 7 }))).stan).toBe(7);
      await sleep(50); // the copy has arrived, with nothing waiting for it
      // The same STAN again (a terminal's counter wrapped): answered by its own 0210, not the copy.
      expect(readFinancialResponse(await c.request(await signedPurchase({ stan: 7, amountMinor: 800n }))).amountMinor).toBe(800n);
    } finally {
      replaying.close();
    }
  });
});

describe('C8: framing on the requester side', () => {
  it('C8: an answer announcing more than 4096 bytes fails the open request with LINK_FRAME_TOO_LARGE', async () => {
    const fake = await misbehavingBank((socket) => socket.write(new Uint8Array([0x20, 0x00])));
    try {
      const c = await client(fake.port);
      await expect(c.request(await signedPurchase())).rejects.toThrow(code('LINK_FRAME_TOO_LARGE'));
    } finally {
      fake.close();
    }
  });

  it('C8: an answer that stalls half-way fails the open request with ACQUIRER_LINK_FRAME_TIMEOUT', async () => {
    const fake = await misbehavingBank((socket) => socket.write(new Uint8Array([0x00, 0x40, 0x30, 0x32])));
    try {
      const c = await client(fake.port);
      await expect(c.request(await signedPurchase(), 5_000)).rejects.toThrow(code('ACQUIRER_LINK_FRAME_TIMEOUT'));
    } finally {
      fake.close();
    }
  });

  it('C8: a bank that closes in the middle of its answer fails the open request with ACQUIRER_LINK_CLOSED', async () => {
    const fake = await misbehavingBank((socket) => socket.end(new Uint8Array([0x00, 0x40, 0x30, 0x32])));
    try {
      const c = await client(fake.port);
      await expect(c.request(await signedPurchase(), 5_000)).rejects.toThrow(/middle of a frame/);
    } finally {
      fake.close();
    }
  });

  it('C8: closing the link fails open requests and refuses new ones; an unreachable bank is ACQUIRER_LINK_CLOSED', async () => {
    delayFor = () => 'never';
    const c = await client();
    const open = c.request(await signedPurchase(), 5_000);
    await sleep(20);
    c.close();
    await expect(open).rejects.toThrow(code('ACQUIRER_LINK_CLOSED'));
    await expect(c.request(await signedPurchase({ stan: 1 }))).rejects.toThrow(code('ACQUIRER_LINK_CLOSED'));
    const port = server.port;
    await server.close();
    await expect(connectAcquirerLink({ host: '127.0.0.1', port, packager: link })).rejects.toThrow(code('ACQUIRER_LINK_CLOSED'));
    server = await listenAcquirerLink({ packager: link, handler: bank });
  });
});
