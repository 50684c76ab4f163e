/**
 * X3: the HAL the terminal core gets in XS is the emulated terminal's Node HAL, one synchronous
 * round trip per call (test/xs/terminal/bridgedDevice.ts, halDispatcher.ts). Storage lands in the
 * state directory, randomness is the OS CSPRNG's, HTTPS goes out with the pinned CA, and every
 * refusal of the Node HAL reaches XS as the same typed error. Calls that are not the wire's
 * shapes are refused, and a HAL that breaks its contract ends the worker instead of hiding.
 */
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toHex } from '../../shared/bytes';
import type { TerminalDevice } from '../../firmware/core/terminal';
import { openNodeDevice } from '../../firmware/hal/node/nodeDevice';
import { STORAGE_VALUE_MAX } from '../../firmware/hal/storage';
import { serverTlsOptions } from '../../host/tls/serverOptions';
import { bundleForXs } from './bundle';
import { createHalDispatcher } from './terminal/halDispatcher';
import type { HalReply } from './terminal/halWire';
import { decodeWire, encodeWire } from './terminal/wireCodec';
import type { ProbeCommand } from './terminal/halProbeEntry';
import { makeTestPki, type TestPki } from './terminal/testPki';
import { XsWorker, XsWorkerError } from './xsWorker';

const PROBE_ENTRY = join(import.meta.dirname, 'terminal', 'halProbeEntry.ts');

type ProbeReply = { ok: unknown } | { error: { code: string; message: string } };

/** The bridged HAL in a worker, over `device` (the Node HAL of a state directory unless given). */
async function startProbe(device: TerminalDevice) {
  const dispatcher = createHalDispatcher(device);
  const worker = await XsWorker.start(await bundleForXs(PROBE_ENTRY), { name: 'xs-hal-probe', onCommand: dispatcher.onCommand });
  return {
    worker,
    dispatcher,
    call: async (command: ProbeCommand): Promise<ProbeReply> => decodeWire((await worker.command(encodeWire(command))).bytes) as ProbeReply,
  };
}

/** What the Node HAL itself throws for a call, as the probe would report it. */
function directly(work: () => unknown): ProbeReply {
  try {
    return { ok: work() };
  } catch (e) {
    const { code, message } = e as { code: string; message: string };
    return { error: { code, message } };
  }
}

const dirs: string[] = [];
function stateDir(): string {
  const dir = join(mkdtempSync(join(tmpdir(), 'paypad-xs-hal-')), 'terminal');
  dirs.push(dir);
  return dir;
}

let pki: TestPki;
let otherPki: TestPki;
let server: Server;
let url: string;
let device: TerminalDevice;
let probe: Awaited<ReturnType<typeof startProbe>>;
let dir: string;

beforeAll(async () => {
  [pki, otherPki] = await Promise.all([makeTestPki(), makeTestPki('another CA')]);
  // Echoes the request body, reversed, 1000 times over: enough to arrive in several chunks.
  server = createServer(serverTlsOptions(pki.kms), (req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (d: Buffer) => parts.push(d));
    req.on('end', () => {
      const body = Buffer.concat(parts).reverse();
      res.writeHead(201, { 'x-echo-length': String(body.length), 'content-type': 'application/octet-stream' });
      res.end(Buffer.concat(Array.from({ length: 1000 }, () => body)));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/echo`;
  dir = stateDir();
  device = openNodeDevice(dir, { manufacture: true });
  probe = await startProbe(device);
});

afterAll(async () => {
  await probe?.worker.close();
  server?.closeAllConnections();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  for (const d of dirs) rmSync(join(d, '..'), { recursive: true, force: true });
});

describe('X3: storage from XS is the emulated terminal\'s file storage', () => {
  it('a value set in XS is a file in the state directory, and reads back, lists and deletes from XS', async () => {
    const value = new Uint8Array([0, 1, 2, 0xfe, 0xff]);
    expect(await probe.call({ op: 'storage.set', namespace: 'probe', key: 'k1', value })).toEqual({ ok: null });
    expect(new Uint8Array(readFileSync(join(dir, 'storage', 'probe.ns', 'k1.val')))).toEqual(value);
    expect(device.storage.get('probe', 'k1')).toEqual(value);
    await probe.call({ op: 'storage.set', namespace: 'probe', key: 'k2', value: new Uint8Array([1]) });
    expect(await probe.call({ op: 'storage.get', namespace: 'probe', key: 'k1' })).toEqual({ ok: value });
    expect(await probe.call({ op: 'storage.keys', namespace: 'probe' })).toEqual({ ok: ['k1', 'k2'] });
    expect(await probe.call({ op: 'storage.delete', namespace: 'probe', key: 'k1' })).toEqual({ ok: null });
    expect(await probe.call({ op: 'storage.get', namespace: 'probe', key: 'k1' })).toEqual({ ok: null });
    expect(await probe.call({ op: 'storage.delete', namespace: 'probe', key: 'never' })).toEqual({ ok: null });
  });

  it('the largest value (4000 bytes, NVS) crosses the bridge intact', async () => {
    const value = Uint8Array.from({ length: STORAGE_VALUE_MAX }, (_, i) => i * 7);
    await probe.call({ op: 'storage.set', namespace: 'probe', key: 'big', value });
    expect(await probe.call({ op: 'storage.get', namespace: 'probe', key: 'big' })).toEqual({ ok: value });
  });

  it('NVS limits refused by the Node HAL are the same typed errors in XS (STORAGE_LIMIT)', async () => {
    const cases: [ProbeCommand, () => unknown][] = [
      [{ op: 'storage.set', namespace: 'probe', key: 'k'.repeat(16), value: new Uint8Array(1) }, () => device.storage.set('probe', 'k'.repeat(16), new Uint8Array(1))],
      [{ op: 'storage.set', namespace: 'probe', key: 'empty', value: new Uint8Array(0) }, () => device.storage.set('probe', 'empty', new Uint8Array(0))],
      [{ op: 'storage.set', namespace: 'probe', key: 'huge', value: new Uint8Array(STORAGE_VALUE_MAX + 1) }, () => device.storage.set('probe', 'huge', new Uint8Array(STORAGE_VALUE_MAX + 1))],
      [{ op: 'storage.get', namespace: 'a/b', key: 'k' }, () => device.storage.get('a/b', 'k')],
      [{ op: 'storage.keys', namespace: '' }, () => device.storage.keys('')],
    ];
    for (const [command, direct] of cases) {
      const reply = await probe.call(command);
      expect(reply, JSON.stringify(command).slice(0, 80)).toEqual(directly(direct));
      expect(reply).toMatchObject({ error: { code: 'STORAGE_LIMIT' } });
    }
  });
});

describe('X3: randomness and the root key from XS', () => {
  it('A1: rng gives exactly the bytes asked for, fresh each time, from the Node HAL', async () => {
    const a = (await probe.call({ op: 'rng', length: 32 })) as { ok: Uint8Array };
    const b = (await probe.call({ op: 'rng', length: 32 })) as { ok: Uint8Array };
    expect(a.ok).toBeInstanceOf(Uint8Array);
    expect(a.ok.length).toBe(32);
    expect(toHex(a.ok)).not.toBe(toHex(b.ok));
  });

  it('rng lengths outside 1..1024 are BAD_ARGUMENT in XS, as in Node', async () => {
    for (const length of [0, 1025, 1.5]) {
      expect(await probe.call({ op: 'rng', length })).toEqual(directly(() => device.rng(length)));
    }
    expect(await probe.call({ op: 'rng', length: 0 })).toMatchObject({ error: { code: 'BAD_ARGUMENT' } });
  });

  it('an Rng that returns fewer bytes than asked is RNG_FAILED in XS, never a short key', async () => {
    const short = await startProbe({ ...device, rng: (n) => new Uint8Array(n - 1) });
    try {
      expect(await short.call({ op: 'rng', length: 16 })).toMatchObject({ error: { code: 'RNG_FAILED' } });
    } finally {
      await short.worker.close();
    }
  });

  it('the root key in XS is the state directory\'s root.key', async () => {
    expect(await probe.call({ op: 'rootKey' })).toEqual({ ok: new Uint8Array(readFileSync(join(dir, 'root.key'))) });
  });
});

describe('X3: HTTPS from XS goes out through the Node HAL with the pinned CA', () => {
  const body = new TextEncoder().encode('paypad over the bridge');
  const reversed = toHex(body.slice().reverse());

  it('a request anchored on the paypad CA gets the server\'s status, headers and exact body bytes', async () => {
    const reply = (await probe.call({ op: 'http', method: 'POST', url, body, trustAnchor: pki.caDer, maxResponseBytes: 64 * 1024 })) as {
      ok: { status: number; headers: Record<string, string>; body: Uint8Array };
    };
    expect(reply.ok.status).toBe(201);
    expect(reply.ok.headers['x-echo-length']).toBe('22');
    expect(toHex(reply.ok.body)).toBe(reversed.repeat(1000));
  });

  it('a streamed response reaches the XS body sink chunk by chunk, in order, with an empty buffered body', async () => {
    const reply = (await probe.call({ op: 'http', method: 'POST', url, body, trustAnchor: pki.caDer, stream: true })) as {
      ok: { body: Uint8Array; chunks: Uint8Array[] };
    };
    expect(reply.ok.body.length).toBe(0);
    expect(reply.ok.chunks.length).toBeGreaterThan(1);
    expect(reply.ok.chunks.map(toHex).join('')).toBe(reversed.repeat(1000));
  });

  it('A8: a server whose certificate is not from the pinned CA is HTTP_FAILED in XS', async () => {
    expect(await probe.call({ op: 'http', method: 'POST', url, body, trustAnchor: otherPki.caDer })).toMatchObject({ error: { code: 'HTTP_FAILED' } });
  });

  it('a body over maxResponseBytes is PAYLOAD_TOO_LARGE; a malformed URL is BAD_ARGUMENT', async () => {
    expect(await probe.call({ op: 'http', method: 'POST', url, body, trustAnchor: pki.caDer, maxResponseBytes: 1024 })).toMatchObject({ error: { code: 'PAYLOAD_TOO_LARGE' } });
    expect(await probe.call({ op: 'http', method: 'POST', url: 'https://user@host/x', trustAnchor: pki.caDer })).toMatchObject({ error: { code: 'BAD_ARGUMENT' } });
  });
});

describe('the Node end refuses calls that are not the wire format', () => {
  const dispatcher = () => createHalDispatcher(device);
  const ask = async (message: Uint8Array) => decodeWire(await dispatcher().onCommand(message)) as HalReply;
  const askJson = (value: unknown) => ask(encodeWire(value));

  it('not a wire message, not JSON inside, not an object, an unknown call: BAD_ARGUMENT', async () => {
    expect(await ask(new Uint8Array([0, 0]))).toMatchObject({ error: { code: 'BAD_ARGUMENT', message: 'wire message: shorter than its length field' } });
    expect(await ask(new Uint8Array([0, 0, 1, 0, 0x7b]))).toMatchObject({ error: { code: 'BAD_ARGUMENT', message: 'wire message: JSON length beyond the end' } });
    expect(await ask(new Uint8Array([0, 0, 0, 1, 0x7b]))).toMatchObject({ error: { code: 'BAD_ARGUMENT', message: 'wire message: JSON part does not parse' } });
    expect(await ask(new Uint8Array([0, 0, 0, 2, 0x22, 0xff]))).toMatchObject({ error: { code: 'BAD_ARGUMENT', message: 'wire message: JSON part is not UTF-8' } });
    expect(await askJson(['storage.get'])).toMatchObject({ error: { code: 'BAD_ARGUMENT', message: 'HAL bridge call: call: expected an object' } });
    expect(await askJson({ hal: 'storage.format' })).toMatchObject({ error: { code: 'BAD_ARGUMENT', message: 'HAL bridge call: unknown call "storage.format"' } });
  });

  it('byte references that name no blob, name one twice, or leave one unnamed are refused', async () => {
    const set = encodeWire({ hal: 'storage.set', namespace: 'probe', key: 'x', value: new Uint8Array([1, 2]) });
    const json = (text: string, ...blobs: number[][]) => {
      const head = new TextEncoder().encode(text);
      const parts = [new Uint8Array(new Uint32Array([head.length]).buffer).reverse(), head];
      for (const blob of blobs) parts.push(new Uint8Array(new Uint32Array([blob.length]).buffer).reverse(), new Uint8Array(blob));
      return Buffer.concat(parts);
    };
    expect(await ask(json('{"hal":"storage.set","namespace":"probe","key":"x","value":{"$bytes":1}}', [1]))).toMatchObject({ error: { code: 'BAD_ARGUMENT', message: expect.stringMatching(/names no blob/) } });
    expect(await ask(json('[{"$bytes":0},{"$bytes":0}]', [1]))).toMatchObject({ error: { code: 'BAD_ARGUMENT', message: expect.stringMatching(/already used/) } });
    expect(await ask(json('{"hal":"rng","length":4}', [1]))).toMatchObject({ error: { code: 'BAD_ARGUMENT', message: expect.stringMatching(/referenced by nothing/) } });
    expect(await ask(set.subarray(0, set.length - 1))).toMatchObject({ error: { code: 'BAD_ARGUMENT', message: expect.stringMatching(/blob beyond the end/) } });
    expect(device.storage.get('probe', 'x')).toBeUndefined();
  });

  it('wrong field types are refused before the HAL is called', async () => {
    expect(await askJson({ hal: 'storage.get', namespace: 'probe' })).toMatchObject({ error: { code: 'BAD_ARGUMENT', message: 'HAL bridge call: key: expected a string' } });
    expect(await askJson({ hal: 'storage.set', namespace: 'probe', key: 'x', value: '0102' })).toMatchObject({ error: { code: 'BAD_ARGUMENT', message: 'HAL bridge call: storage value: expected bytes' } });
    expect(await askJson({ hal: 'rng', length: '16' })).toMatchObject({ error: { code: 'BAD_ARGUMENT' } });
    expect(await askJson({ hal: 'http.request', request: { method: 'GET', url, headers: { a: 1 } } })).toMatchObject({ error: { code: 'BAD_ARGUMENT' } });
    expect(await askJson({ hal: 'http.request', request: { method: 'GET', url, tls: { trustAnchor: 'AB' } } })).toMatchObject({ error: { code: 'BAD_ARGUMENT' } });
    expect(device.storage.get('probe', 'x')).toBeUndefined();
  });

  it('an oversized call is refused unread', async () => {
    expect(await ask(new Uint8Array(64 * 1024 + 1))).toMatchObject({ error: { code: 'BAD_ARGUMENT', message: expect.stringMatching(/65537 bytes/) } });
  });

  it('counts round trips and bytes per call', async () => {
    const d = dispatcher();
    await d.onCommand(encodeWire({ hal: 'rng', length: 8 }));
    await d.onCommand(encodeWire({ hal: 'storage.get', namespace: 'probe', key: 'none' }));
    expect(d.traffic.rng.calls).toBe(1);
    expect(d.traffic['storage.get'].calls).toBe(1);
    expect(d.traffic.rng.bytes).toBeGreaterThan(16);
    d.resetTraffic();
    expect(d.traffic.rng.calls).toBe(0);
  });

  it('a HAL that throws something other than a PaypadError ends the worker, loudly', async () => {
    const broken = await startProbe({
      ...device,
      rng: () => {
        throw new TypeError('driver bug');
      },
    });
    try {
      await expect(broken.call({ op: 'rng', length: 16 })).rejects.toThrow(XsWorkerError);
      await expect(broken.call({ op: 'rng', length: 16 })).rejects.toThrow(/onCommand failed: driver bug/);
    } finally {
      await broken.worker.close();
    }
  });
});
