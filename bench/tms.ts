/**
 * The TMS's cost (docs/updates.md, docs/benchmarks.md): how fast a 1 MiB image downloads through
 * the whole update protocol (B1-B4: the MAC'd query, the B3 mutual authentication with DWK made
 * under DMK in the HSM, then every 8 KiB chunk as a MAC'd range request answered 206 with its MAC
 * under the DWK-derived key, each checked by the terminal, and the whole image's SHA-256), beside
 * a plain HTTP transfer of the same bytes from a bare node:http server in the same run, once as
 * one GET and once as the same 8 KiB range requests: the ratios are the figures. Then update
 * queries per second from many concurrent terminals, each MAC'd query a sequence claim, an
 * inventory row and a targeting decision.
 *
 * In this process: a migrated SQLite database, the software HSM, a KMS with signed-on terminals
 * (played from shared/crypto, as the tests do) and the TMS routes on a plain node:http listener
 * (no TLS on either side, so the ratio is the protocol's and not the cipher suite's).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { concatBytes, fromHex, toHex } from '../shared/bytes';
import { aesCmac } from '../shared/crypto/cmac';
import { deriveKeyCounterCmac } from '../shared/crypto/kdf';
import { p256PublicKey, sha256 } from '../shared/crypto/primitives';
import { unwrapKeyBlock } from '../shared/crypto/tr31';
import { DWK_KEY_POLICY, sacInput, tacInput, updateContext } from '../shared/protocol/updateAuth';
import { assertExactRange, chunkKeyParams, chunkMacInput, type ChunkRange, rangeHeader } from '../shared/protocol/updateChunks';
import { loadConfig } from '../host/config';
import { createDatabase } from '../host/db/database';
import { migrateToLatest } from '../host/db/migrate';
import { createListenerApp } from '../host/http/errors';
import { createLogger } from '../host/log';
import { createKmsStore } from '../host/kms/kmsStore';
import { openKmsService } from '../host/kms/kmsService';
import { createTmsRouter } from '../host/tms/router';
import { createTms } from '../host/tms/tms';
import { openTmsService } from '../host/tms/tmsService';
import { openSoftwareHsm } from '../host/hsm/softwareHsm';
import { rng } from '../test/unit/kms/terminalSim';
import { CUSTOMER, MODEL, signedOnTerminal, storePackage, type UpdatingTerminal } from '../test/unit/tms/updatingTerminal';
import { runClosedLoop } from './closedLoop';
import type { BenchReport, Benchmark, Cell } from './report';

const IMAGE_BYTES = 1024 * 1024;
const PLAIN_CHUNK_BYTES = 8192;
const DOWNLOADS = 5;
const QUERY_TERMINALS = 32;
const WINDOW_MS = 3_000;

async function listenOn(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** A MAC'd request sent over HTTP; the JSON answer once its MAC verified, or the raw 206. */
async function send(base: string, terminal: UpdatingTerminal, request: { parsed: { method: string; path: string; body: Uint8Array; serial: string; seq: number; keyId: string; mac: Uint8Array } }, range?: string): Promise<Response> {
  const p = request.parsed;
  const headers: Record<string, string> = { 'Paypad-Serial': p.serial, 'Paypad-Seq': String(p.seq), 'Paypad-Key': p.keyId, 'Paypad-Mac': toHex(p.mac) };
  if (range !== undefined) headers.Range = range;
  return fetch(base + p.path, { method: p.method, headers, ...(p.method === 'POST' ? { body: p.body } : {}) });
}

async function json(terminal: UpdatingTerminal, request: Awaited<ReturnType<UpdatingTerminal['query']>>, response: Response): Promise<Record<string, unknown>> {
  const body = new Uint8Array(await response.arrayBuffer());
  const headers: Record<string, string> = {};
  response.headers.forEach((v, k) => (headers[k] = v));
  return terminal.answer(request, { status: response.status, headers, body });
}

export const tmsBenchmark: Benchmark = {
  name: 'tms',
  async run(): Promise<BenchReport> {
    const dataDir = await mkdtemp(join(tmpdir(), 'paypad-bench-tms-'));
    const config = loadConfig({ PAYPAD_DATA_DIR: dataDir }, process.cwd());
    const database = createDatabase(config.database);
    await migrateToLatest(database);
    const hsm = await openSoftwareHsm({ lmkFile: join(dataDir, 'kms', 'lmk.key'), rng });
    const kmsStore = createKmsStore(database.db);
    const kms = await openKmsService({ customerCode: CUSTOMER, hsm, store: kmsStore });
    const tms = createTms(database.db, dataDir);
    const service = await openTmsService({ customerCode: CUSTOMER, hsm, kmsStore, db: database.db, tms });
    const privateKey = rng(32);
    const vendor = { privateKey, publicKey: p256PublicKey(privateKey) };
    await tms.packages.addVendorKey('Bench Vendor', vendor.publicKey, new Date());
    const image = rng(IMAGE_BYTES);
    const pkg = await storePackage({ tms, vendor }, image);
    await tms.deploy({ packageId: pkg.id, targets: { serials: [], groups: [], models: [MODEL] }, phases: [{ percent: 100 }], failureThresholdPercent: 100, kpiLimits: { maxRateIncreasePoints: 100, minTransactions: 1 }, mode: 'forced' });

    const app = createListenerApp(createLogger({ level: 'silent' }), (a) => a.use(createTmsRouter(service)));
    const tmsServer = createServer(app);
    const tmsUrl = await listenOn(tmsServer);
    const plainServer = createServer((req, res) => {
      const m = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '');
      if (m === null) return res.writeHead(200, { 'Content-Length': image.length }).end(image);
      const [first, last] = [Number(m[1]), Number(m[2])];
      res.writeHead(206, { 'Content-Range': `bytes ${first}-${last}/${image.length}`, 'Content-Length': last - first + 1 }).end(image.subarray(first, last + 1));
    });
    const plainUrl = await listenOn(plainServer);
    const failures: string[] = [];

    /** One whole update download as the terminal runs it; returns the ms it took. */
    const protocolDownload = async (terminal: UpdatingTerminal): Promise<number> => {
      const t0 = performance.now();
      const q = await terminal.query();
      const offer = (await json(terminal, q, await send(tmsUrl, terminal, q))).offer as { deployment: string };
      const tData = rng(16);
      const s = await terminal.sessions(offer.deployment, pkg.packageDigest, tData);
      const c = (await json(terminal, s, await send(tmsUrl, terminal, s))) as { sessionId: string; dwk: string; tac: string; sData: string; chunkBytes: number };
      const dwk = unwrapKeyBlock(terminal.dmk(), c.dwk, DWK_KEY_POLICY).key;
      const context = updateContext({ serial: terminal.serial, sessionId: c.sessionId, packageDigest: pkg.packageDigest });
      if (toHex(aesCmac(dwk, tacInput(tData, context))) !== c.tac) throw new Error('TAC-I does not verify');
      const f = await terminal.confirm(c.sessionId, aesCmac(dwk, sacInput(fromHex(c.sData), context)));
      const { size } = (await json(terminal, f, await send(tmsUrl, terminal, f))) as { size: number };
      const parts: Uint8Array[] = [];
      for (let offset = 0; offset < size; offset += c.chunkBytes) {
        const range: ChunkRange = { sessionId: c.sessionId, offset, length: Math.min(c.chunkBytes, size - offset), size };
        const g = await terminal.image(c.sessionId);
        const response = await send(tmsUrl, terminal, g, rangeHeader(range));
        const body = new Uint8Array(await response.arrayBuffer());
        assertExactRange(range, response.status, { 'content-range': response.headers.get('content-range') ?? '' }, body.length);
        const key = deriveKeyCounterCmac(dwk, chunkKeyParams(c.sessionId, offset));
        if (toHex(aesCmac(key, chunkMacInput(range, body))) !== response.headers.get('paypad-chunk-mac')) throw new Error(`chunk at ${offset} does not verify`);
        parts.push(body);
      }
      if (toHex(sha256(concatBytes(...parts))) !== pkg.manifest.sha256) throw new Error('the image does not hash to the manifest');
      return performance.now() - t0;
    };
    const plainDownload = async (ranged: boolean): Promise<number> => {
      const t0 = performance.now();
      const parts: Uint8Array[] = [];
      if (!ranged) parts.push(new Uint8Array(await (await fetch(plainUrl)).arrayBuffer()));
      else for (let o = 0; o < image.length; o += PLAIN_CHUNK_BYTES) parts.push(new Uint8Array(await (await fetch(plainUrl, { headers: { Range: `bytes=${o}-${Math.min(o + PLAIN_CHUNK_BYTES, image.length) - 1}` } })).arrayBuffer()));
      if (toHex(sha256(concatBytes(...parts))) !== pkg.manifest.sha256) throw new Error('the plain transfer does not hash to the image');
      return performance.now() - t0;
    };

    const rows: Record<string, Cell>[] = [];
    try {
      const downloader = await signedOnTerminal(kms);
      const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
      const runs: Record<string, number[]> = { plain: [], ranged: [], protocol: [] };
      // Interleaved, so a slow moment of the machine hits every kind alike.
      for (let i = 0; i < DOWNLOADS + 1; i++) {
        const [p, r, f] = [await plainDownload(false), await plainDownload(true), await protocolDownload(downloader)];
        if (i === 0) continue; // warm-up
        runs.plain.push(p);
        runs.ranged.push(r);
        runs.protocol.push(f);
      }
      const plainMs = median(runs.plain);
      const mibPerS = (ms: number) => IMAGE_BYTES / 1048576 / (ms / 1000);
      for (const [kind, label] of [
        ['plain', 'plain HTTP, one GET (baseline)'],
        ['ranged', `plain HTTP, ${PLAIN_CHUNK_BYTES}-byte range requests`],
        ['protocol', 'update protocol: query, B3, MAC\'d 8 KiB ranges, chunk MACs, SHA-256'],
      ] as const) {
        const ms = median(runs[kind]);
        rows.push({ what: `1 MiB download: ${label}`, value: mibPerS(ms), unit: 'MiB/s', ms, ratio: ms / plainMs });
      }

      const queriers: UpdatingTerminal[] = [];
      for (let i = 0; i < QUERY_TERMINALS; i++) queriers.push(await signedOnTerminal(kms));
      const load = await runClosedLoop({
        workers: QUERY_TERMINALS,
        rampMs: 300,
        durationMs: WINDOW_MS,
        maxOps: 100_000,
        op: async (worker) => {
          const terminal = queriers[worker];
          const q = await terminal.query('1.1.0');
          const answer = await json(terminal, q, await send(tmsUrl, terminal, q));
          if (answer.offer !== undefined) throw new Error('a terminal on the new version was offered it again');
        },
      });
      if (load.errors > 0) failures.push(`${load.errors} queries failed: ${JSON.stringify(load.errorCodes)}`);
      rows.push({ what: `update queries, ${QUERY_TERMINALS} concurrent terminals (B1/B2)`, value: load.opsPerSecond, unit: 'queries/s', ms: load.p50Ms, ratio: null });
    } catch (e) {
      failures.push(String(e));
    } finally {
      tmsServer.close();
      plainServer.close();
      await hsm.close();
      await database.close();
      await rm(dataDir, { recursive: true, force: true });
    }

    return {
      name: 'tms',
      title: 'TMS: 1 MiB update download against plain HTTP, and update queries per second',
      columns: [
        { key: 'what', label: 'what' },
        { key: 'value', label: 'rate', digits: 1 },
        { key: 'unit', label: 'unit' },
        { key: 'ms', label: 'median ms (downloads) / p50 ms (queries)', digits: 1 },
        { key: 'ratio', label: 'time / plain GET', digits: 1 },
      ],
      rows,
      notes: [
        `Medians of ${DOWNLOADS} downloads of each kind, interleaved, after one warm-up; one terminal, one request in flight (as a PIN pad downloads).`,
        'The protocol download is the whole B1-B4 exchange a terminal runs: the MAC\'d query, the B3 challenge (DWK made and exported under DMK, TAC-I, in the HSM), SAC-I checked in the HSM, then 128 MAC\'d range requests, each answered 206 with its chunk MAC computed in the HSM under the key derived from DWK and the offset, checked by the terminal, then the SHA-256 of the whole image.',
        'Each chunk costs a sequence claim in the database (one update), the session lookup and an HSM derivation plus CMAC: the gap to the ranged plain transfer is that work; the gap between the two plain rows is the cost of 8 KiB requests alone.',
        `Queries: ${QUERY_TERMINALS} terminals in a closed loop for ${WINDOW_MS / 1000} s, each query MAC'd under MAK, its sequence claimed, an inventory row written and the targeting decided (already on the new version: no offer).`,
        'SQLite in a temporary data directory, software HSM, plain node:http on loopback (no TLS on either side).',
      ],
      environment: { image: `${IMAGE_BYTES} bytes`, chunk: '8192 bytes' },
      ...(failures.length > 0 ? { failures } : {}),
    };
  },
};
