import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type XsCommandHandler, XsWorker, XsWorkerError, type XsWorkerOptions } from './xsWorker';

const started: XsWorker[] = [];
afterAll(async () => {
  await Promise.all(started.map((w) => w.close()));
});

async function start(script: string, options: XsWorkerOptions = {}): Promise<XsWorker> {
  const worker = await XsWorker.start(script, { timeoutMs: 10_000, ...options });
  started.push(worker);
  return worker;
}

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

// Helpers the raw (unbundled) scripts below share. Globals on purpose: each `e` command is an
// indirect eval, so a `const` would not outlive the command that declared it.
const PRELUDE = `
  globalThis.enc = (s) => { const b = new TextEncoder().encode(s); return b.buffer.slice(b.byteOffset, b.byteOffset + b.length); };
  globalThis.dec = (ab) => new TextDecoder().decode(new Uint8Array(ab));
`;

describe('xsnap-worker harness (issue X3: the logic runs in the XS engine in our own tests)', () => {
  it('XS: evaluates a script, returns an ArrayBuffer value as bytes, and meters compute deterministically', async () => {
    const script = `${PRELUDE} let s = 0; for (let i = 0; i < 10000; i++) s += i; enc(String(s))`;
    const a = await start('1');
    const b = await start('1');
    const ra = await a.evaluate(script);
    const rb = await b.evaluate(script);
    expect(text(ra.bytes)).toBe('49995000');
    expect(ra.meter.compute).toBeGreaterThan(10000);
    expect(rb.meter.compute).toBe(ra.meter.compute);
    expect(ra.meter.allocate).toBeGreaterThan(0);
  });

  it('XS: the engine is the one MODDABLE.md describes (no console or setTimeout; BigInt, TextEncoder present)', async () => {
    const w = await start(PRELUDE);
    const { bytes } = await w.evaluate(
      `enc([typeof console, typeof setTimeout, typeof BigInt, typeof TextEncoder, typeof issueCommand].join(','))`,
    );
    expect(text(bytes)).toBe('undefined,undefined,function,function,function');
  });

  it('XS: issueCommand reaches the Node handler synchronously with exact bytes, async handlers included (HAL bridge seam)', async () => {
    const seen: number[] = [];
    const handler: XsCommandHandler = async (request) => {
      seen.push(request.length);
      await new Promise((resolve) => setTimeout(resolve, 5)); // e.g. an HTTP call answered later
      return request.slice().reverse();
    };
    const w = await start(PRELUDE, { onCommand: handler });
    // Every byte value, an empty request and a 100 KiB one; XS checks each reply before going on.
    const { bytes } = await w.evaluate(`
      const sizes = [256, 0, 102400];
      const out = [];
      for (const n of sizes) {
        const req = new Uint8Array(n);
        for (let i = 0; i < n; i++) req[i] = i & 255;
        const rep = new Uint8Array(issueCommand(req.buffer));
        let ok = rep.length === n;
        for (let i = 0; ok && i < n; i++) ok = rep[i] === req[n - 1 - i];
        out.push(n + ':' + ok);
      }
      enc(out.join(' '))
    `);
    expect(text(bytes)).toBe('256:true 0:true 102400:true');
    expect(seen).toEqual([256, 0, 102400]);
  });

  it('XS: handleCommand may answer through a promise job ({ result } read after the jobs run)', async () => {
    const w = await start(`${PRELUDE}
      globalThis.handleCommand = (ab) => {
        const box = {};
        Promise.resolve(dec(ab)).then((s) => (box.result = enc(s.toUpperCase())));
        return box;
      };`);
    expect(text((await w.command(new TextEncoder().encode('tr31'))).bytes)).toBe('TR31');
    expect((await w.request<string>('x')).result).toBe('X'); // JSON "x" -> "X"
  });

  it('XS: a heap snapshot reports the live heap size, which grows by what the script keeps alive', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'paypad-xs-test-'));
    try {
      const w = await start('1');
      const path = join(dir, 'heap.xss');
      const before = await w.writeSnapshot(path);
      await w.evaluate('globalThis.kept = new Uint8Array(100000); globalThis.dropped = null; 1');
      const after = await w.writeSnapshot(path);
      expect(before).toBeGreaterThan(100_000);
      expect(after - before).toBeGreaterThanOrEqual(100_000);
      expect(after - before).toBeLessThan(110_000);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('XS: a script exception is a clean XsWorkerError and the worker stays usable', async () => {
    const w = await start(PRELUDE);
    await expect(w.evaluate('throw new TypeError("boom")')).rejects.toThrow(/uncaught in XS: TypeError: boom/);
    expect(text((await w.evaluate('enc("still here")')).bytes)).toBe('still here');
  });

  it('XS: a runaway script hits the metering limit; the dead worker fails every later command cleanly', async () => {
    const w = await start('1', { meteringLimit: 1_000_000 });
    const error = await w.evaluate('for (;;) {}').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(XsWorkerError);
    expect((error as Error).message).toMatch(/too much computation/);
    await expect(w.evaluate('1')).rejects.toThrow(/too much computation/);
  });

  it('XS: a bad bundle fails start() with the XS error text', async () => {
    await expect(XsWorker.start('const = 1;')).rejects.toThrow(/uncaught in XS: SyntaxError/);
  });

  it('XS: a throwing onCommand handler fails the command and ends the worker instead of hanging it', async () => {
    const w = await start(PRELUDE, {
      onCommand: () => {
        throw new Error('storage unavailable');
      },
    });
    await expect(w.evaluate('issueCommand(enc("get"))')).rejects.toThrow(/onCommand failed: storage unavailable/);
    await expect(w.evaluate('1')).rejects.toThrow(XsWorkerError);
  });

  it('XS: a command that never finishes times out and the worker is killed', async () => {
    // Long enough for start() itself on a loaded 2-core machine (~300 ms there).
    const w = await start(PRELUDE, { timeoutMs: 2000, onCommand: () => new Promise<Uint8Array>(() => {}) });
    await expect(w.evaluate('issueCommand(enc("never answered"))')).rejects.toThrow(/timed out after 2000 ms/);
    await w.close();
  });

  it('XS: a worker that dies mid-command (killed) rejects the command; close() is safe afterwards, twice', async () => {
    let pid: number | undefined;
    const w = await start(PRELUDE, {
      onCommand: () => {
        process.kill(pid as number, 'SIGKILL');
        return new Promise<Uint8Array>(() => {});
      },
    });
    pid = w.pid;
    await expect(w.evaluate('issueCommand(enc("x"))')).rejects.toThrow(/signal SIGKILL/);
    await w.close();
    await w.close();
  });
});
