/**
 * What the terminal's cryptography costs in the XS engine (the firmware's runtime), beside the same
 * operations in Node. Both run the operations table of test/support/ops, so the XS numbers are for
 * exactly the code the XS suite proves byte-identical.
 *
 * XS numbers come from xsnap-worker's meter: `compute` is a deterministic count of XS work, so it
 * is the number to compare across commits; each op's cost is the difference between a command that
 * parses its arguments and runs it and one that only parses them. Times are of this host, not an
 * ESP32; they serve only as ratios taken in the same run.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fromHex, toHex } from '../shared/bytes';
import { encodeKeyEnvelope, generateP256KeyPair, wrapKeyForRecipient } from '../shared/crypto/keyTransport';
import { ops } from '../test/support/ops';
import { type Json, type Measurement, measureOp } from '../test/support/opsRunner';
import { seededRng } from '../test/support/opsRng';
import type { XsMeter } from '../test/xs/xsWorker';
import { XsOps } from '../test/xs/xsOps';
import type { BenchReport, Benchmark, Cell } from './report';

interface BenchCase {
  label: string;
  op: string;
  args: Json;
  /** Runs per XS measurement: enough to average ECDH's scalar-dependent cost, few for slow ops. */
  xsIterations: number;
}

/** XS slots are 16 bytes on the ESP32 (32-bit); chunks (byte arrays, strings, BigInts) are not counted. */
const ESP32_SLOT_BYTES = 16;
const XS_TIME_REPEATS = 5;
const NODE_BATCH_MIN_MS = 5;
const NODE_BATCHES = 21;

function cases(): BenchCase[] {
  const r = seededRng(new Uint8Array([0xbe, 0x7c]));
  const key16 = toHex(r(16));
  // TR-31:2018 A.7.4 (test/vectors/tr31.json): AES-128 P0 key under an AES-256 KBPK.
  const kbpk = '88E1AB2A2E3DD38C1FA039A536500CC8A87AB9D62DC92C01058FA79F44657DE6';
  const block = 'D0112P0AE00E0000B82679114F470F540165EDFBF7E250FCEA43F810D215F8D207E2E417C07156A27E8E31DA05F7425509593D03A457DC34';
  const recipient = generateP256KeyPair(r);
  const context = toHex(r(12));
  const envelope = toHex(encodeKeyEnvelope(wrapKeyForRecipient(recipient.publicKey, fromHex(key16), fromHex(context), r)));
  return [
    { label: 'AES-CMAC, 64 bytes (SP 800-38B)', op: 'cmac', args: { key: key16, data: toHex(r(64)) }, xsIterations: 20 },
    { label: 'AES-CMAC, 1 KiB', op: 'cmac', args: { key: key16, data: toHex(r(1024)) }, xsIterations: 5 },
    { label: 'TR-31 unwrap, version D (AES-256 KBPK)', op: 'tr31.unwrap', args: { kbpk, block, policy: { usage: 'P0', modesOfUse: ['E'] } }, xsIterations: 10 },
    {
      label: 'TR-31 wrap, version D (AES-256 KBPK)',
      op: 'tr31.wrap',
      args: { kbpk, header: block.slice(0, 16), key: '3F419E1CB7079442AA37474C2EFBF8B8', seed: '01' },
      xsIterations: 10,
    },
    { label: 'PIN block ISO 9564-1 format 4, encipher', op: 'pinblock.iso4.encipher', args: { key: key16, pin: '1234', pan: '4111111111111111', seed: '02' }, xsIterations: 20 },
    { label: 'PIN block ISO 9564-1 format 4, decipher', op: 'pinblock.iso4.decipher', args: { key: 'C1D0F8FB4958670DBA40AB1F3752EF0D', block: 'CC17F65586BFD0953010226C4FC5B3CA', pan: '432198765432109870' }, xsIterations: 20 },
    {
      label: 'ECDH P-256 key wrap (wrapKeyForRecipient)',
      op: 'keyTransport.wrapKeyForRecipient',
      args: { recipientPublicKey: toHex(recipient.publicKey), key: key16, context, seed: '03' },
      xsIterations: 3,
    },
    { label: 'ECDH P-256 key unwrap (unwrapKeyAsRecipient)', op: 'keyTransport.unwrapKeyAsRecipient', args: { recipientPrivateKey: toHex(recipient.privateKey), envelope, context }, xsIterations: 3 },
  ];
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function mustSucceed(label: string, m: Measurement): void {
  if (!('ok' in m.outcome)) throw new Error(`bench case "${label}" failed: ${JSON.stringify(m.outcome)}`);
}

interface XsCost {
  compute: number;
  computeFirst: number;
  retainedBytes: number;
  slots: number | null;
  microsPerOp: number;
  allocateAtLoad: number;
  allocateAtEnd: number;
}

/**
 * A fresh worker per case, so "first call" includes the lazy set-up (P-256 precomputed points)
 * and the snapshot difference shows what that set-up keeps alive afterwards.
 */
async function measureInXs(c: BenchCase): Promise<XsCost> {
  const xs = await XsOps.start();
  const snapshotDir = mkdtempSync(join(tmpdir(), 'paypad-xs-bench-'));
  try {
    const meterOf = async (iterations: number, opts: { runs: boolean; collectFirst?: boolean }): Promise<XsMeter> => {
      const { reply, meter } = await xs.measure(c.op, c.args, iterations, opts);
      if (opts.runs) mustSucceed(c.label, reply);
      return meter;
    };
    const snapshot = () => xs.worker.writeSnapshot(join(snapshotDir, 'heap.xss'));
    const parseOnce = await meterOf(1, { runs: false });
    const before = await snapshot();
    const first = await meterOf(1, { runs: true });
    const after = await snapshot();
    const parseN = await meterOf(c.xsIterations, { runs: false });
    const steady = await meterOf(c.xsIterations, { runs: true });
    // Slots allocated by one run: both commands start from a GC and neither collects again.
    const heap0 = await meterOf(1, { runs: false, collectFirst: true });
    const heap1 = await meterOf(1, { runs: true, collectFirst: true });
    const slots = heap1.currentHeapCount - heap0.currentHeapCount;
    const times: number[] = [];
    let last = steady;
    for (let i = 0; i < XS_TIME_REPEATS; i++) {
      const { reply, meter } = await xs.measure(c.op, c.args, c.xsIterations);
      mustSucceed(c.label, reply);
      times.push((reply.elapsedMs * 1000) / c.xsIterations);
      last = meter;
    }
    return {
      compute: Math.round((steady.compute - parseN.compute) / c.xsIterations),
      computeFirst: first.compute - parseOnce.compute,
      retainedBytes: after - before,
      slots: slots >= 0 ? slots : null,
      microsPerOp: median(times),
      allocateAtLoad: parseOnce.allocate,
      allocateAtEnd: last.allocate,
    };
  } finally {
    await xs.close();
    rmSync(snapshotDir, { recursive: true, force: true });
  }
}

/** Median per-op time over batches long enough for the clock (batch size doubles until it is). */
async function measureInNode(c: BenchCase): Promise<{ microsPerOp: number; batchSize: number }> {
  let batchSize = 1;
  for (;;) {
    const m = await measureOp(ops, c.op, c.args, batchSize);
    mustSucceed(c.label, m);
    if (m.elapsedMs >= NODE_BATCH_MIN_MS) break;
    batchSize *= 2;
  }
  const perOp: number[] = [];
  for (let i = 0; i < NODE_BATCHES; i++) perOp.push(((await measureOp(ops, c.op, c.args, batchSize)).elapsedMs * 1000) / batchSize);
  return { microsPerOp: median(perOp), batchSize };
}

function xsnapVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../node_modules/@agoric/xsnap/package.json', import.meta.url), 'utf8')) as { version: string };
  return `XS 13.3 (xsnap-worker from @agoric/xsnap ${pkg.version})`;
}

export const xsCryptoBenchmark: Benchmark = {
  name: 'xs-crypto',
  async run(): Promise<BenchReport> {
    const rows: Record<string, Cell>[] = [];
    for (const c of cases()) {
      const xs = await measureInXs(c);
      const node = await measureInNode(c);
      rows.push({
        operation: c.label,
        op: c.op,
        xsCompute: xs.compute,
        xsComputeFirst: xs.computeFirst,
        xsRetainedBytes: xs.retainedBytes,
        xsSlots: xs.slots,
        xsSlotBytesEsp32: xs.slots === null ? null : xs.slots * ESP32_SLOT_BYTES,
        xsMicros: xs.microsPerOp,
        nodeMicros: node.microsPerOp,
        xsOverNode: xs.microsPerOp / node.microsPerOp,
        xsIterations: c.xsIterations,
        nodeBatchSize: node.batchSize,
        xsAllocateAtLoad: xs.allocateAtLoad,
        xsAllocateAtEnd: xs.allocateAtEnd,
      });
    }
    const grew = rows.filter((r) => r.xsAllocateAtEnd !== r.xsAllocateAtLoad).map((r) => r.operation);
    return {
      name: 'crypto',
      title: 'paypad cryptography in XS and in Node',
      columns: [
        { key: 'operation', label: 'Operation' },
        { key: 'xsCompute', label: 'XS compute / op' },
        { key: 'xsComputeFirst', label: 'XS compute, first call' },
        { key: 'xsRetainedBytes', label: 'XS bytes kept after first call' },
        { key: 'xsSlots', label: 'XS slots / op' },
        { key: 'xsSlotBytesEsp32', label: 'slot bytes on ESP32' },
        { key: 'xsMicros', label: 'XS µs / op', digits: 1 },
        { key: 'nodeMicros', label: 'Node µs / op', digits: 2 },
        { key: 'xsOverNode', label: 'XS ÷ Node', digits: 0 },
      ],
      rows,
      notes: [
        'XS compute: the xsnap meter (`compute` counts XS work, not time, so it is identical run after run), per op, after the first call; parsing the JSON arguments (and expanding the test RNG seed) is measured on its own and subtracted.',
        'XS compute, first call: the same in a fresh worker, so it includes lazy set-up (P-256 precomputed points), which the terminal pays once per boot.',
        'XS bytes kept after first call: growth of the XS heap snapshot (live slots and chunks after a GC, 64-bit layout) across the first call: memory the op keeps for the life of the program, such as precomputed tables. Compare with the ~150 KB JS heap of a plain ESP32.',
        `XS slots / op: XS slots allocated by one call (meter \`currentHeapCount\` after a GC, minus the parse-only baseline); ${ESP32_SLOT_BYTES} bytes each on the 32-bit ESP32. Chunk memory (Uint8Array bytes, strings, BigInts) is not observable through the meter and is not included.`,
        `XS heap (meter \`allocate\`, bytes the machine reserved): ${grew.length === 0 ? `${rows[0]?.xsAllocateAtLoad?.toLocaleString('en-US')} bytes at load and unchanged by every op` : `grew during: ${grew.join(', ')}`}. xsnap reserves its heap in 4 MiB / 128 Ki-slot steps, so this number only moves for large working sets; the JSON keeps it per op.`,
        `Times: XS by performance.now() inside the worker (median of ${XS_TIME_REPEATS} runs), Node by the median of ${NODE_BATCHES} batches of at least ${NODE_BATCH_MIN_MS} ms. This host, not an ESP32: compare ratios, never absolute times.`,
      ],
      environment: { engine: xsnapVersion() },
    };
  },
};
