/**
 * What AES DUKPT (shared/crypto/dukpt, dukptTerminal) costs: derivations per second in Node (the
 * host deriving a transaction's key from the BDK, as the gateway's HSM does), and XS compute per
 * derivation and per transaction on the device's side, in two engines:
 *
 *   - xsnap with the compact JavaScript AES, through the operations table, as bench/xs-crypto
 *     measures every other primitive (the XS test engine and the simulator's code path);
 *   - xs-budget, the modules loaded as the ESP32 loads them (preloaded, Moddable's native AES in C)
 *     in the manifest's creation, with each command's memory peaks (test/xs/dukpt).
 *
 * XS `compute` is a deterministic count of XS work: the number to compare across commits.
 */
import { fromHex, toHex } from '../shared/bytes';
import { dukptCounterOneBits, dukptHostWorkingKey, dukptInitialKey, dukptKsn } from '../shared/crypto/dukpt';
import { DukptTerminal } from '../shared/crypto/dukptTerminal';
import { dukptStateAt } from '../test/support/dukptState';
import { type Json, type Measurement } from '../test/support/opsRunner';
import { targetAmount } from '../test/xs/budget/deviceBudget';
import { DukptDevice } from '../test/xs/dukpt/dukptDevice';
import { XsOps } from '../test/xs/xsOps';
import type { BenchReport, Benchmark, Cell } from './report';

// ANSI X9.24-3-2017 supplementary vectors (test/vectors/dukpt.json): the AES-128 BDK and its initial key ID.
const BDK = fromHex('FEDCBA9876543210F1F1F1F1F1F1F1F1');
const BDK_256 = fromHex('FEDCBA9876543210F1F1F1F1F1F1F1F1FEDCBA9876543210F1F1F1F1F1F1F1F1');
const ID = fromHex('1234567890123456');
const NODE_MIN_MS = 200;
const TRANSACTIONS = 64;

/** Trailing zero bits: the registers a transaction at `counter` refills (its counter has fewer than 16 one bits). */
const trailingZeros = (counter: number) => {
  let p = 0;
  while (((counter >>> p) & 1) === 0) p++;
  return p;
};
/** Derivations for loading and then the transactions at counters 1 .. n (each: its refills and one working key). */
const loadAndTransactions = (n: number) => {
  let d = 32;
  for (let c = 1; c <= n; c++) d += (dukptCounterOneBits(c) < 16 ? trailingZeros(c) : 0) + 1;
  return d;
};
/** Host: the IK, one per counter one bit, the working key. */
const hostDerivations = (counter: number) => 2 + dukptCounterOneBits(counter);

function mustSucceed(label: string, m: Measurement): void {
  if (!('ok' in m.outcome)) throw new Error(`bench case "${label}" failed: ${JSON.stringify(m.outcome)}`);
}

/** Runs `work` for at least NODE_MIN_MS, after as long a warm-up (the JIT); operations per second. */
function nodeRate(work: () => void): number {
  for (let start = performance.now(); performance.now() - start < NODE_MIN_MS; ) work();
  let n = 0;
  const start = performance.now();
  while (performance.now() - start < NODE_MIN_MS) {
    work();
    n++;
  }
  return (n * 1000) / (performance.now() - start);
}

interface Case {
  label: string;
  derivations: number;
  node: () => void;
  /** The operations-table op and arguments for xsnap. */
  op: string;
  args: Json;
}

function cases(): Case[] {
  const ik = dukptInitialKey(BDK, ID);
  const first = dukptKsn(ID, 1);
  const last = dukptKsn(ID, 0xffff0000);
  return [
    { label: 'Host: initial key from BDK (AES-128)', derivations: 1, node: () => dukptInitialKey(BDK, ID), op: 'dukpt.initialKey', args: { bdk: toHex(BDK), initialKeyId: toHex(ID) } },
    { label: 'Host: working key from BDK + KSN, counter 1', derivations: hostDerivations(1), node: () => dukptHostWorkingKey(BDK, first, 'data-encrypt'), op: 'dukpt.hostWorkingKey', args: { bdk: toHex(BDK), ksn: toHex(first), usage: 'data-encrypt' } },
    { label: 'Host: working key from BDK + KSN, counter FFFF0000 (16 one bits)', derivations: hostDerivations(0xffff0000), node: () => dukptHostWorkingKey(BDK, last, 'data-encrypt'), op: 'dukpt.hostWorkingKey', args: { bdk: toHex(BDK), ksn: toHex(last), usage: 'data-encrypt' } },
    { label: 'Host: working key from AES-256 BDK + KSN, counter FFFF0000', derivations: hostDerivations(0xffff0000), node: () => dukptHostWorkingKey(BDK_256, last, 'data-encrypt'), op: 'dukpt.hostWorkingKey', args: { bdk: toHex(BDK_256), ksn: toHex(last), usage: 'data-encrypt' } },
    {
      label: `Device: load the IK (32 registers), then ${TRANSACTIONS} transactions`,
      derivations: loadAndTransactions(TRANSACTIONS),
      node: () => {
        const t = DukptTerminal.load(ik, ID);
        for (let i = 0; i < TRANSACTIONS; i++) t.nextTransaction('data-encrypt');
      },
      op: 'dukpt.terminal',
      args: { initialKey: toHex(ik), initialKeyId: toHex(ID), usage: 'data-encrypt', count: TRANSACTIONS },
    },
  ];
}

async function measureXsnap(xs: XsOps, c: Case): Promise<number> {
  const iterations = 3;
  const parse = await xs.measure(c.op, c.args, iterations, { runs: false });
  const run = await xs.measure(c.op, c.args, iterations);
  mustSucceed(c.label, run.reply);
  return Math.round((run.meter.compute - parse.meter.compute) / iterations);
}

interface DeviceRow {
  label: string;
  derivations: number;
  compute: number;
  stack: number;
  slots: number;
  chunks: number;
}

/** xs-budget: the device's commands, each a compute count and its memory peaks. */
async function measureDevice(): Promise<DeviceRow[]> {
  const device = await DukptDevice.start();
  const ik = dukptInitialKey(BDK, ID);
  try {
    const rows: DeviceRow[] = [];
    const measure = async (label: string, derivations: number, command: Record<string, unknown>) => {
      const reply = await device.call(command);
      if (reply.error !== undefined) throw new Error(`bench case "${label}" failed: ${reply.error}`);
      const m = reply.memory;
      rows.push({ label, derivations, compute: reply.meter.compute, stack: m.stackPeak, slots: m.slotsPeak, chunks: m.chunksPeak });
    };
    await measure('Device: load the IK (32 registers)', 32, { cmd: 'load', initialKey: toHex(ik), initialKeyId: toHex(ID) });
    await measure(`Device: ${TRANSACTIONS} transactions from counter 1`, loadAndTransactions(TRANSACTIONS) - 32, { cmd: 'next', usage: 'data-encrypt', count: TRANSACTIONS });
    await device.call({ cmd: 'restore', state: toHex(dukptStateAt(ik, ID, 0x80000000)) });
    await measure('Device: the heaviest transaction (counter 2^31: 31 refills)', 32, { cmd: 'next', usage: 'data-encrypt', count: 1 });
    return rows;
  } finally {
    await device.close();
  }
}

export const xsDukptBenchmark: Benchmark = {
  name: 'xs-dukpt',
  async run(): Promise<BenchReport> {
    const rows: Record<string, Cell>[] = [];
    const xs = await XsOps.start();
    try {
      for (const c of cases()) {
        const opsPerSecond = nodeRate(c.node);
        const xsCompute = await measureXsnap(xs, c);
        rows.push({
          operation: c.label,
          derivations: c.derivations,
          nodeOpsPerSecond: opsPerSecond,
          nodeDerivationsPerSecond: opsPerSecond * c.derivations,
          xsnapCompute: xsCompute,
          xsnapComputePerDerivation: xsCompute / c.derivations,
          deviceCompute: null,
          deviceComputePerDerivation: null,
          deviceStackPeak: null,
          deviceSlots: null,
          deviceChunkBytes: null,
        });
      }
    } finally {
      await xs.close();
    }
    for (const d of await measureDevice()) {
      rows.push({
        operation: d.label,
        derivations: d.derivations,
        nodeOpsPerSecond: null,
        nodeDerivationsPerSecond: null,
        xsnapCompute: null,
        xsnapComputePerDerivation: null,
        deviceCompute: d.compute,
        deviceComputePerDerivation: d.compute / d.derivations,
        deviceStackPeak: d.stack,
        deviceSlots: d.slots,
        deviceChunkBytes: d.chunks,
      });
    }
    return {
      name: 'dukpt',
      title: 'AES DUKPT (ANSI X9.24-3-2017): host derivations in Node, the device in XS',
      columns: [
        { key: 'operation', label: 'Operation' },
        { key: 'derivations', label: 'AES derivations' },
        { key: 'nodeOpsPerSecond', label: 'Node ops / s' },
        { key: 'nodeDerivationsPerSecond', label: 'Node derivations / s' },
        { key: 'xsnapCompute', label: 'XS compute (JS AES)' },
        { key: 'xsnapComputePerDerivation', label: 'per derivation (JS AES)' },
        { key: 'deviceCompute', label: 'XS compute (native AES)' },
        { key: 'deviceComputePerDerivation', label: 'per derivation (native AES)' },
        { key: 'deviceStackPeak', label: 'stack peak (slots)' },
        { key: 'deviceSlots', label: 'slots peak' },
        { key: 'deviceChunkBytes', label: 'chunk bytes peak' },
      ],
      rows,
      notes: [
        'A derivation is one X9.24-3 key derivation: AES-ECB of one derivation-data block per 128 bits of key (two blocks for AES-256 keys). The host derives the IK, one intermediate key per one bit of the counter and the working key; the device derives 32 keys at load and, per transaction, one per register it refills (the counter\'s trailing zero bits) plus the working key: about 2 on average.',
        `Node: operations per second over at least ${NODE_MIN_MS} ms each after as long a warm-up, compact JavaScript AES (shared/crypto/compact, the same code XS runs); derivations per second = ops per second × derivations. A host with an HSM derives inside it; these numbers are the software HSM's cost.`,
        'XS compute (JS AES): the xsnap meter through the operations table (test/support/ops), arguments\' parsing measured alone and subtracted, as bench/xs-crypto does; the hex conversion of the results is included.',
        `XS compute (native AES): xs-budget running the modules as the ESP32 loads them, with Moddable\'s native AES in C (not counted by the meter), so what remains is the JavaScript around it: derivation data, registers, counter, and the command\'s JSON and hex. Peaks are the command\'s own, in RAM (what the device keeps in flash not counted), as test/xs/dukpt.budget.test.ts checks them. Targets (60% of the manifest\'s creation): stack ${targetAmount('stack')} slots, slots ${targetAmount('slots')}, chunks ${targetAmount('chunks')} bytes.`,
        'This host, not an ESP32: compare compute counts and ratios, never absolute times.',
      ],
      environment: {},
    };
  },
};
