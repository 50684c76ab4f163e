/**
 * The emulated terminal's HAL (firmware/hal/node): file Storage with the device's NVS limits and
 * atomic writes, the root key file, Rng, Clock, Http (limits, timeouts, the pinned CA) and the
 * KMS lock. The HAL contracts are firmware/hal/*.ts.
 */
import { createServer as createHttpServer, type Server } from 'node:http';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isPaypadError } from '../../../shared/errors';
import { CLOCK_EARLIEST, CLOCK_LATEST } from '../../../firmware/hal/clock';
import { RNG_MAX_BYTES } from '../../../firmware/hal/rng';
import { STORAGE_NAME_MAX, STORAGE_VALUE_MAX } from '../../../firmware/hal/storage';
import { createNodeClock } from '../../../firmware/hal/node/clock';
import { createFileStorage, SCRATCH_DIR, STORAGE_DIR } from '../../../firmware/hal/node/fileStorage';
import { createNodeHttp } from '../../../firmware/hal/node/http';
import { createNodeRng } from '../../../firmware/hal/node/rng';
import { ensureRootKey, readRootKey, ROOT_KEY_BYTES, ROOT_KEY_FILE } from '../../../firmware/hal/node/rootKey';
import { KMS_LOCK_FILE, lockKmsExchanges } from '../../../firmware/hal/node/stateLock';
import { FakeKms } from '../../support/fakeKms';
import { makePki, rng, tempDirs } from './support';

const dirs = tempDirs();
afterAll(() => dirs.cleanup());

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    return isPaypadError(e) ? e.code : `not a PaypadError: ${String(e)}`;
  }
  return 'no error';
}

async function asyncCodeOf(promise: Promise<unknown>): Promise<string> {
  return promise.then(
    () => 'no error',
    (e: unknown) => (isPaypadError(e) ? e.code : `not a PaypadError: ${String(e)}`),
  );
}

const mode = (path: string) => statSync(path).mode & 0o777;

describe('file Storage: NVS limits, atomic durable writes, private files', () => {
  it('A1 keeps values across instances (a restart), copying in and out', () => {
    const dir = dirs.make();
    const storage = createFileStorage(dir);
    const value = new Uint8Array([1, 2, 3]);
    storage.set('vault', 'TK', value);
    value[0] = 9;
    const read = createFileStorage(dir).get('vault', 'TK');
    expect(read).toEqual(new Uint8Array([1, 2, 3]));
    (read as Uint8Array)[1] = 9;
    expect(storage.get('vault', 'TK')).toEqual(new Uint8Array([1, 2, 3]));
    expect(storage.get('vault', 'TMK')).toBeUndefined();
    expect(storage.get('other', 'TK')).toBeUndefined();
  });

  it('lists, replaces and deletes; deleting a missing key is not an error', () => {
    const storage = createFileStorage(dirs.make());
    expect(storage.keys('vault')).toEqual([]);
    storage.set('vault', 'a', new Uint8Array([1]));
    storage.set('vault', 'b', new Uint8Array([2]));
    storage.set('vault', 'a', new Uint8Array([3, 3]));
    expect(storage.keys('vault').sort()).toEqual(['a', 'b']);
    expect(storage.get('vault', 'a')).toEqual(new Uint8Array([3, 3]));
    storage.delete('vault', 'a');
    storage.delete('vault', 'a');
    expect(storage.keys('vault')).toEqual(['b']);
  });

  it('enforces the device limits: 15-character names, 1 to 4000 bytes', () => {
    const storage = createFileStorage(dirs.make());
    const max = 'n'.repeat(STORAGE_NAME_MAX);
    storage.set(max, max, new Uint8Array(STORAGE_VALUE_MAX));
    expect(storage.get(max, max)).toHaveLength(STORAGE_VALUE_MAX);
    expect(codeOf(() => storage.set('vault', 'n'.repeat(STORAGE_NAME_MAX + 1), new Uint8Array(1)))).toBe('STORAGE_LIMIT');
    expect(codeOf(() => storage.get('n'.repeat(STORAGE_NAME_MAX + 1), 'k'))).toBe('STORAGE_LIMIT');
    expect(codeOf(() => storage.set('vault', 'a/b', new Uint8Array(1)))).toBe('STORAGE_LIMIT');
    expect(codeOf(() => storage.keys('../x'))).toBe('STORAGE_LIMIT');
    expect(codeOf(() => storage.set('vault', 'k', new Uint8Array(STORAGE_VALUE_MAX + 1)))).toBe('STORAGE_LIMIT');
    expect(codeOf(() => storage.set('vault', 'k', new Uint8Array(0)))).toBe('STORAGE_LIMIT');
  });

  it('"." and ".." are ordinary names, kept inside the storage directory', () => {
    const dir = dirs.make();
    const storage = createFileStorage(dir);
    storage.set('..', '..', new Uint8Array([1]));
    storage.set('.', '.', new Uint8Array([2]));
    expect(storage.get('..', '..')).toEqual(new Uint8Array([1]));
    expect(storage.keys('.')).toEqual(['.']);
    expect(readdirSync(dir).sort()).toEqual([SCRATCH_DIR, STORAGE_DIR].sort());
  });

  it('writes files 0600 in directories 0700 and leaves no temporary file behind', () => {
    const dir = dirs.make();
    const storage = createFileStorage(dir);
    storage.set('vault', 'TK', new Uint8Array([1]));
    storage.set('vault', 'TK', new Uint8Array([2]));
    const nsDir = join(dir, STORAGE_DIR, 'vault.ns');
    expect(mode(join(nsDir, 'TK.val'))).toBe(0o600);
    expect(mode(nsDir)).toBe(0o700);
    expect(readdirSync(join(dir, SCRATCH_DIR))).toEqual([]);
  });

  it('a failed write is STORAGE_FAILED, keeps the old value and cleans up', () => {
    const dir = dirs.make();
    const storage = createFileStorage(dir);
    storage.set('vault', 'TK', new Uint8Array([1]));
    // The rename cannot replace a directory: the write fails after the temporary file was written.
    mkdirSync(join(dir, STORAGE_DIR, 'vault.ns', 'TMK.val'));
    expect(codeOf(() => storage.set('vault', 'TMK', new Uint8Array([2])))).toBe('STORAGE_FAILED');
    expect(storage.get('vault', 'TK')).toEqual(new Uint8Array([1]));
    expect(readdirSync(join(dir, SCRATCH_DIR))).toEqual([]);
  });

  it('a value the device could never have written reads as STORAGE_CORRUPT', () => {
    const dir = dirs.make();
    const storage = createFileStorage(dir);
    storage.set('vault', 'TK', new Uint8Array([1]));
    writeFileSync(join(dir, STORAGE_DIR, 'vault.ns', 'TK.val'), '');
    expect(codeOf(() => storage.get('vault', 'TK'))).toBe('STORAGE_CORRUPT');
    writeFileSync(join(dir, STORAGE_DIR, 'vault.ns', 'TK.val'), new Uint8Array(STORAGE_VALUE_MAX + 1));
    expect(codeOf(() => storage.get('vault', 'TK'))).toBe('STORAGE_CORRUPT');
  });
});

describe('device root key file', () => {
  it('is made once at manufacture (32 bytes, 0600) and read back unchanged', () => {
    const dir = dirs.make();
    const key = ensureRootKey(dir, rng);
    expect(key).toHaveLength(ROOT_KEY_BYTES);
    expect(mode(join(dir, ROOT_KEY_FILE))).toBe(0o600);
    expect(ensureRootKey(dir, rng)).toEqual(key);
    expect(readRootKey(dir)).toEqual(key);
    expect(new Uint8Array(readFileSync(join(dir, ROOT_KEY_FILE)))).toEqual(key);
  });

  it('is never made by a normal start: missing, exposed or wrong-sized is ROOT_KEY_INVALID', () => {
    const dir = dirs.make();
    expect(codeOf(() => readRootKey(dir))).toBe('ROOT_KEY_INVALID');
    expect(existsSync(join(dir, ROOT_KEY_FILE))).toBe(false);
    ensureRootKey(dir, rng);
    chmodSync(join(dir, ROOT_KEY_FILE), 0o644);
    expect(codeOf(() => readRootKey(dir))).toBe('ROOT_KEY_INVALID');
    writeFileSync(join(dir, ROOT_KEY_FILE), new Uint8Array(16), { mode: 0o600 });
    chmodSync(join(dir, ROOT_KEY_FILE), 0o600);
    expect(codeOf(() => readRootKey(dir))).toBe('ROOT_KEY_INVALID');
  });

  it('A1 a broken Rng makes no root key', () => {
    const dir = dirs.make();
    expect(codeOf(() => ensureRootKey(dir, () => new Uint8Array(4)))).toBe('BAD_LENGTH');
    expect(existsSync(join(dir, ROOT_KEY_FILE))).toBe(false);
  });
});

describe('Rng and Clock', () => {
  it('A1 Rng gives fresh bytes of the length asked, 1 to 1024, else BAD_ARGUMENT', () => {
    const random = createNodeRng();
    expect(random(16)).toHaveLength(16);
    expect(random(16)).not.toEqual(random(16));
    expect(random(RNG_MAX_BYTES)).toHaveLength(RNG_MAX_BYTES);
    for (const bad of [0, RNG_MAX_BYTES + 1, 1.5, -1]) expect(codeOf(() => random(bad))).toBe('BAD_ARGUMENT');
  });

  it('Clock starts set, moves its own wall time on set(), refuses implausible times, keeps monotonic time', () => {
    const clock = createNodeClock();
    expect(clock.isSet()).toBe(true);
    const before = clock.monotonic();
    clock.set(CLOCK_EARLIEST + 1000);
    expect(Math.abs(clock.now() - (CLOCK_EARLIEST + 1000))).toBeLessThan(1000);
    expect(clock.monotonic()).toBeGreaterThanOrEqual(before);
    expect(codeOf(() => clock.set(CLOCK_LATEST + 1))).toBe('BAD_ARGUMENT');
    expect(codeOf(() => clock.set(Number.NaN))).toBe('BAD_ARGUMENT');
  });
});

describe('Http', () => {
  const http = createNodeHttp();
  let server: Server;
  let base = '';
  const start = async (handler: Parameters<typeof createHttpServer>[1]) => {
    server = createHttpServer(handler);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  };
  const stop = () => new Promise<void>((resolve) => (server.closeAllConnections(), server.close(() => resolve())));

  it('sends the exact body and headers, answers status, lower-case headers and the exact body', async () => {
    await start((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => res.writeHead(201, { 'X-Echo': String(req.headers['paypad-seq']) }).end(Buffer.concat(chunks)));
    });
    try {
      const body = new Uint8Array([0, 1, 2, 255]);
      const response = await http.request({ method: 'POST', url: `${base}/x`, headers: { 'paypad-seq': '7' }, body });
      expect(response).toEqual({ status: 201, headers: expect.objectContaining({ 'x-echo': '7' }), body });
    } finally {
      await stop();
    }
  });

  it('PAYLOAD_TOO_LARGE over maxResponseBytes, HTTP_TIMEOUT after timeoutMs, BAD_ARGUMENT for a bad request', async () => {
    await start((req, res) => {
      if (req.url === '/big') res.end(Buffer.alloc(2048));
      // '/slow' never answers
    });
    try {
      expect(await asyncCodeOf(http.request({ method: 'GET', url: `${base}/big`, maxResponseBytes: 1024 }))).toBe('PAYLOAD_TOO_LARGE');
      expect(await asyncCodeOf(http.request({ method: 'GET', url: `${base}/slow`, timeoutMs: 200 }))).toBe('HTTP_TIMEOUT');
      expect(await asyncCodeOf(http.request({ method: 'GET', url: 'ftp://127.0.0.1/' }))).toBe('BAD_ARGUMENT');
      expect(await asyncCodeOf(http.request({ method: 'GET', url: `${base}/`, headers: { 'x-a': 'b\r\nx-evil: 1' } }))).toBe('BAD_ARGUMENT');
    } finally {
      await stop();
    }
  });

  it('HTTP_FAILED when nothing listens', async () => {
    await start(() => undefined);
    const url = `${base}/`;
    await stop();
    expect(await asyncCodeOf(http.request({ method: 'GET', url }))).toBe('HTTP_FAILED');
  });

  it('A8 https trusts only the given anchor: the paypad CA passes, another CA fails, and without it the public store does not know the paypad CA', async () => {
    const pki = await makePki();
    const kms = await FakeKms.start(pki.kms);
    try {
      const url = `${kms.url}/kms/v1/terminals/PP-TERM-0001/tmk`;
      // The fake KMS answers an unauthenticated POST with an unsigned 400: the TLS handshake worked.
      expect((await http.request({ method: 'POST', url, body: new Uint8Array([1]), tls: { trustAnchor: pki.caDer } })).status).toBe(400);
      const other = await makePki('another CA');
      expect(await asyncCodeOf(http.request({ method: 'POST', url, body: new Uint8Array([1]), tls: { trustAnchor: other.caDer } }))).toBe('HTTP_FAILED');
      expect(await asyncCodeOf(http.request({ method: 'POST', url, body: new Uint8Array([1]) }))).toBe('HTTP_FAILED');
    } finally {
      await kms.close();
    }
  });
});

describe('KMS exchange lock (X2: one sender of sequence numbers per terminal)', () => {
  it('is exclusive while held, released after, and taken over from a dead process', () => {
    const dir = dirs.make();
    const release = lockKmsExchanges(dir);
    expect(codeOf(() => lockKmsExchanges(dir))).toBe('DEVICE_BUSY');
    release();
    lockKmsExchanges(dir)();
    // A pid that cannot be alive: above Linux's pid_max limit.
    writeFileSync(join(dir, KMS_LOCK_FILE), '4194305\n');
    const again = lockKmsExchanges(dir);
    expect(readFileSync(join(dir, KMS_LOCK_FILE), 'utf8')).toBe(`${process.pid}\n`);
    again();
    expect(existsSync(join(dir, KMS_LOCK_FILE))).toBe(false);
  });
});
