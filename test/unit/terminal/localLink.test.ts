/**
 * The terminal's local link over a real TCP socket (firmware/hal/node/localLinkServer +
 * firmware/core/localLinkService + terminal.ts): serial (A2), TK made on first use (A1) and sent
 * only as an envelope MTMS opens (A10), repair (A13), and the typed errors a bad frame gets.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { concatBytes, toHex, utf8ToBytes } from '../../../shared/bytes';
import { keyCheckValue } from '../../../shared/crypto/kcv';
import { MAX_FRAME_BYTES, encodeFrame } from '../../../shared/protocol/localLink';
import type { LocalLinkServer } from '../../../firmware/hal/node/localLinkServer';
import { LinkClient, type Manufactured, SERIAL, makeMtmsKey, makePki, manufacture, openTkEnvelope, reopen, secretsInFiles, serveLink, tempDirs } from './support';

const dirs = tempDirs();
const mtms = makeMtmsKey();
let caDer: Uint8Array;
beforeAll(async () => {
  caDer = (await makePki()).caDer;
});
afterAll(() => dirs.cleanup());

let unit: Manufactured;
let server: LocalLinkServer;
const clients: LinkClient[] = [];

async function link(): Promise<LinkClient> {
  const client = await LinkClient.connect(server.port);
  clients.push(client);
  return client;
}

async function start(): Promise<void> {
  unit = manufacture(dirs.make(), { mtms, kmsUrl: 'https://127.0.0.1:1', caDer });
  server = await serveLink(unit.terminal);
}

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await server?.close();
});

describe('local link requests (A1, A2, A10, A13)', () => {
  it('A2 answers the serial, echoing the request id', async () => {
    await start();
    const c = await link();
    expect(await c.request({ v: 1, id: 7, op: 'serial' })).toEqual({ v: 1, id: 7, ok: true, serial: SERIAL });
  });

  it('A1/A10 the first tk request makes the TK; its envelope opens only with the MTMS private key and context paypad-tk|<serial>', async () => {
    await start();
    expect((await unit.terminal.status()).stage).toBe('no-tk');
    const c = await link();
    const answer = await c.request({ v: 1, id: 1, op: 'tk' });
    expect(answer).toMatchObject({ v: 1, id: 1, ok: true, serial: SERIAL, tkEnvelope: expect.stringMatching(/^[0-9A-F]+$/) });
    const tk = openTkEnvelope(mtms, answer.tkEnvelope as string);
    expect(tk).toHaveLength(16);
    // The terminal's own view of the same key: the KCV in status is the KCV of what MTMS opened.
    const status = await unit.terminal.status();
    expect(status.stage).toBe('tk');
    expect(status.slots).toEqual([expect.objectContaining({ slot: 'TK', kcv: toHex(keyCheckValue(tk, 'cmac')), keyUsage: 'K1', modeOfUse: 'B' })]);
    // Bound to the serial: the same envelope does not open as another terminal's.
    expect(() => openTkEnvelope(mtms, answer.tkEnvelope as string, 'PP-TERM-0002')).toThrow(expect.objectContaining({ code: 'KEY_UNWRAP_FAILED' }));
    // Only MTMS's key opens it.
    expect(() => openTkEnvelope(makeMtmsKey(), answer.tkEnvelope as string)).toThrow(expect.objectContaining({ code: 'KEY_UNWRAP_FAILED' }));
    // X1: the clear TK is nowhere in the terminal's files, nor in what status shows.
    expect(secretsInFiles(unit.stateDir, [toHex(tk)])).toEqual([]);
    expect(JSON.stringify(await unit.terminal.status())).not.toContain(toHex(tk));
  });

  it('A1 a later tk request (and a restart) keeps the same TK, in a fresh envelope each time', async () => {
    await start();
    const c = await link();
    const first = (await c.request({ v: 1, id: 1, op: 'tk' })).tkEnvelope as string;
    const second = (await c.request({ v: 1, id: 2, op: 'tk' })).tkEnvelope as string;
    expect(second).not.toBe(first);
    expect(openTkEnvelope(mtms, second)).toEqual(openTkEnvelope(mtms, first));

    await server.close();
    server = await serveLink(reopen(unit.stateDir));
    const after = (await (await link()).request({ v: 1, id: 1, op: 'tk' })).tkEnvelope as string;
    expect(openTkEnvelope(mtms, after)).toEqual(openTkEnvelope(mtms, first));
  });

  it('A13 repair with this serial makes a new TK (new KCV) and restarts key loading', async () => {
    await start();
    const c = await link();
    const before = openTkEnvelope(mtms, (await c.request({ v: 1, id: 1, op: 'tk' })).tkEnvelope as string);
    const kcvBefore = (await unit.terminal.status()).slots[0];
    expect(await c.request({ v: 1, id: 2, op: 'repair', serial: SERIAL })).toEqual({ v: 1, id: 2, ok: true, serial: SERIAL });
    const status = await unit.terminal.status();
    expect(status.stage).toBe('tk');
    expect(status.lastSequence).toBe(0);
    expect(status.slots.map((s) => s.slot)).toEqual(['TK']);
    expect(status.slots[0]).not.toEqual(kcvBefore);
    const after = openTkEnvelope(mtms, (await c.request({ v: 1, id: 3, op: 'tk' })).tkEnvelope as string);
    expect(after).not.toEqual(before);
    expect(status.slots[0]).toMatchObject({ kcv: toHex(keyCheckValue(after, 'cmac')) });
  });

  it('A13 repair naming another serial is refused with TERMINAL_SERIAL_MISMATCH and erases nothing', async () => {
    await start();
    const c = await link();
    const tk = openTkEnvelope(mtms, (await c.request({ v: 1, id: 1, op: 'tk' })).tkEnvelope as string);
    const answer = await c.request({ v: 1, id: 2, op: 'repair', serial: 'PP-TERM-9999' });
    expect(answer).toMatchObject({ v: 1, id: 2, ok: false, error: { code: 'TERMINAL_SERIAL_MISMATCH' } });
    expect(openTkEnvelope(mtms, (await c.request({ v: 1, id: 3, op: 'tk' })).tkEnvelope as string)).toEqual(tk);
  });

  it('A2 answers requests in order when several arrive in one chunk or split across chunks', async () => {
    await start();
    const c = await link();
    const frames = concatBytes(...[1, 2, 3].map((id) => encodeFrame(utf8ToBytes(JSON.stringify({ v: 1, id, op: 'serial' })))));
    c.sendRaw(frames.subarray(0, 5));
    await new Promise((resolve) => setTimeout(resolve, 20));
    c.sendRaw(frames.subarray(5));
    const ids = [(await c.next())?.id, (await c.next())?.id, (await c.next())?.id];
    expect(ids).toEqual([1, 2, 3]);
  });
});

describe('local link refusals: typed errors, and a close only when the stream is lost', () => {
  it('a frame that is not JSON gets PROTOCOL_MALFORMED with id null, and the link stays up', async () => {
    await start();
    const c = await link();
    c.sendRaw(encodeFrame(utf8ToBytes('{"v":1,"id":')));
    expect(await c.next()).toMatchObject({ v: 1, id: null, ok: false, error: { code: 'PROTOCOL_MALFORMED' } });
    expect(await c.request({ v: 1, id: 2, op: 'serial' })).toMatchObject({ ok: true, serial: SERIAL });
  });

  it('an unknown op, an unknown field or a missing serial is PROTOCOL_MALFORMED with the request id', async () => {
    await start();
    const c = await link();
    expect(await c.request({ v: 1, id: 3, op: 'dump-keys' })).toMatchObject({ id: 3, ok: false, error: { code: 'PROTOCOL_MALFORMED' } });
    expect(await c.request({ v: 1, id: 4, op: 'serial', extra: 1 })).toMatchObject({ id: 4, ok: false, error: { code: 'PROTOCOL_MALFORMED' } });
    expect(await c.request({ v: 1, id: 5, op: 'repair' })).toMatchObject({ id: 5, ok: false, error: { code: 'PROTOCOL_MALFORMED' } });
    expect(await c.request({ v: 1, id: 0, op: 'serial' })).toMatchObject({ id: null, ok: false, error: { code: 'PROTOCOL_MALFORMED' } });
  });

  it('another protocol version is PROTOCOL_UNSUPPORTED_VERSION', async () => {
    await start();
    const c = await link();
    expect(await c.request({ v: 2, id: 1, op: 'serial' })).toMatchObject({ id: 1, ok: false, error: { code: 'PROTOCOL_UNSUPPORTED_VERSION' } });
  });

  it('an oversized frame gets LINK_FRAME_TOO_LARGE and the terminal closes the connection', async () => {
    await start();
    const c = await link();
    const length = MAX_FRAME_BYTES + 1;
    c.sendRaw(new Uint8Array([length >> 8, length & 0xff, 0x7b]));
    expect(await c.next()).toMatchObject({ v: 1, id: null, ok: false, error: { code: 'LINK_FRAME_TOO_LARGE' } });
    await c.closed;
    expect(c.isClosed).toBe(true);
    // The terminal itself is fine: a new connection works.
    expect(await (await link()).request({ v: 1, id: 1, op: 'serial' })).toMatchObject({ ok: true });
  });

  it('a largest legal frame of garbage is answered, not fatal', async () => {
    await start();
    const c = await link();
    c.sendRaw(encodeFrame(new Uint8Array(MAX_FRAME_BYTES).fill(0x20)));
    expect(await c.next()).toMatchObject({ id: null, ok: false, error: { code: 'PROTOCOL_MALFORMED' } });
    expect(c.isClosed).toBe(false);
  });
});
