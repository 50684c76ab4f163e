/**
 * What one terminal's whole onboarding costs the firmware core in the XS engine: the terminal
 * application (firmware/core/terminal) in xsnap-worker with its HAL bridged to the emulated
 * terminal's Node HAL (test/xs/terminal), loading keys from a fake KMS over real HTTPS. Each step
 * is one worker command, exactly as the link session or the key loader runs it on the device:
 *
 *   boot              Terminal.open: identity read back and checked (MTMS key on the curve)
 *   first tk (A1+A10) the local link's first `tk`: TK generated, sealed, wrapped for MTMS (ECDH)
 *   repair (A13)      `repair` with only TK in the vault: one record erased, a new TK sealed;
 *                     the cost of TK generation on its own
 *   tk again (A10)    `tk` once TK exists: the export (ECDH P-256 + KDF + key wrap) on its own
 *   TMK (A11)         MAC'd request under K_tkmac, response MAC, TR-31 unwrap under TK, KCV, seal
 *   sign-on (A12)     the same for four working keys under TMK
 *
 * Metering as bench/xs-crypto.ts: `compute` from the xsnap meter (every random input here is
 * seeded, so it repeats run after run to within a few units), slots allocated from the meter's
 * heap count after a GC, bytes kept from heap snapshots before and after. Times are this host's.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LINK_VERSION, type LinkOp, type LinkRequest, FrameDecoder, decodeLinkFrame, encodeLinkMessage, validateLinkResponse } from '../shared/protocol/localLink';
import { ensureRootKey } from '../firmware/hal/node/rootKey';
import { seededRng } from '../test/support/opsRng';
import { FakeKms } from '../test/support/fakeKms';
import { makeTestPki } from '../test/xs/terminal/testPki';
import { XsTerminal, XsTerminalCore } from '../test/xs/terminal/xsTerminal';
import type { XsMeter } from '../test/xs/xsWorker';
import type { BenchReport, Benchmark, Cell } from './report';

/** XS slots are 16 bytes on the 32-bit ESP32 (docs/firmware.md "Memory"). */
const ESP32_SLOT_BYTES = 16;
const ESP32_JS_HEAP_BYTES = 78_848 + 4_928 * ESP32_SLOT_BYTES;
const SERIAL = 'PP-BENCH-0001';

interface StepCost {
  compute: number;
  slots: number;
  retainedBytes: number;
  halCalls: number;
  bridgeBytes: number;
  wallMs: number;
  /** HAL round trips by call name, for the JSON. */
  hal: Record<string, number>;
  allocate: number;
}

const seed = (text: string) => seededRng(new TextEncoder().encode(text));

/**
 * Meters one command: a heap snapshot (after a GC) before and after gives the bytes it keeps; a
 * GC-only command right before it gives the baseline heap count its own allocations add to.
 */
async function measure(core: XsTerminalCore, snapshot: string, run: () => Promise<XsMeter>): Promise<StepCost> {
  const before = await core.worker.writeSnapshot(snapshot);
  const baseline = (await core.call({ cmd: 'collect' })).meter;
  core.resetTraffic();
  const started = performance.now();
  const meter = await run();
  const wallMs = performance.now() - started;
  const hal: Record<string, number> = {};
  let halCalls = 0;
  let bridgeBytes = 0;
  for (const [name, t] of Object.entries(core.traffic)) {
    if (t.calls > 0) hal[name] = t.calls;
    halCalls += t.calls;
    bridgeBytes += t.bytes;
  }
  const after = await core.worker.writeSnapshot(snapshot);
  return { compute: meter.compute, slots: meter.currentHeapCount - baseline.currentHeapCount, retainedBytes: after - before, halCalls, bridgeBytes, wallMs, hal, allocate: meter.allocate };
}

/** A local-link request through the session in XS, as the operator's bytes arrive over TCP. */
async function linkRequest<O extends LinkOp>(core: XsTerminalCore, session: number, request: LinkRequest & { op: O }) {
  const { result, meter } = await core.call({ cmd: 'link.data', session, data: encodeLinkMessage(request) }, { collect: true });
  const frames = new FrameDecoder().push(result.data);
  const answer = validateLinkResponse(decodeLinkFrame(frames[0]), request.op);
  if (frames.length !== 1 || !answer.ok) throw new Error(`bench: link ${request.op} failed: ${JSON.stringify(answer)}`);
  return { answer, meter };
}

async function onboardingCosts(): Promise<{ rows: { label: string; cost: StepCost; total: boolean }[]; commandOverhead: number }> {
  const pki = await makeTestPki();
  const kms = await FakeKms.start(pki.kms, 'bench');
  const root = mkdtempSync(join(tmpdir(), 'paypad-bench-onboarding-'));
  const stateDir = join(root, 'terminal');
  const snapshot = join(root, 'heap.xss');
  let core: XsTerminalCore | undefined;
  try {
    mkdirSync(stateDir, { mode: 0o700 });
    ensureRootKey(stateDir, seed('bench root key'));
    await XsTerminal.manufacture(stateDir, { serial: SERIAL, mtmsPublicKey: kms.mtms.publicKey, kmsUrl: kms.url, trustAnchor: pki.caDer });
    core = await XsTerminalCore.start(stateDir, { hal: { rng: seed('bench terminal rng') } });
    const c = core;
    const commandOverhead = (await c.call({ cmd: 'collect' })).meter.compute;
    const rows: { label: string; cost: StepCost; total: boolean }[] = [];
    const step = async (label: string, total: boolean, run: () => Promise<XsMeter>) => rows.push({ label, total, cost: await measure(c, snapshot, run) });

    await step('boot: identity read and checked', true, async () => (await c.call({ cmd: 'boot' }, { collect: true })).meter);
    const { session } = (await c.call({ cmd: 'link.open' })).result;
    let id = 1;
    await step('A1 + A10: first `tk` request (TK generated, sealed, wrapped for MTMS)', true, async () => (await linkRequest(c, session, { v: LINK_VERSION, id: id++, op: 'tk' })).meter);
    await step('A1 alone: TK generation (`repair` with only TK in the vault)', false, async () => (await linkRequest(c, session, { v: LINK_VERSION, id: id++, op: 'repair', serial: SERIAL })).meter);
    let envelope = '';
    await step('A10 alone: TK export (`tk` again: ECDH P-256, KDF, key wrap)', false, async () => {
      const { answer, meter } = await linkRequest(c, session, { v: LINK_VERSION, id: id++, op: 'tk' });
      envelope = answer.tkEnvelope;
      return meter;
    });
    kms.receiveTransportKey(SERIAL, envelope);
    await step('A11: TMK download (MAC\'d exchange, TR-31 import under TK, KCV, seal)', true, async () => (await c.call({ cmd: 'downloadTmk' }, { collect: true })).meter);
    await step('A12: sign-on (MAC\'d exchange, 4 TR-31 imports under TMK, KCVs, seals)', true, async () => (await c.call({ cmd: 'signOn' }, { collect: true })).meter);
    const status = (await c.call({ cmd: 'status' })).result;
    if (status.stage !== 'signed-on') throw new Error(`bench: onboarding ended at stage ${status.stage}`);
    return { rows, commandOverhead };
  } finally {
    await core?.close();
    await kms.close();
    rmSync(root, { recursive: true, force: true });
  }
}

function row(label: string, cost: StepCost): Record<string, Cell> {
  return {
    step: label,
    compute: cost.compute,
    slots: cost.slots,
    slotBytesEsp32: cost.slots * ESP32_SLOT_BYTES,
    retainedBytes: cost.retainedBytes,
    halCalls: cost.halCalls,
    bridgeBytes: cost.bridgeBytes,
    wallMs: cost.wallMs,
    hal: JSON.stringify(cost.hal),
    allocate: cost.allocate,
  };
}

export const xsOnboardingBenchmark: Benchmark = {
  name: 'xs-onboarding',
  async run(): Promise<BenchReport> {
    const { rows: steps, commandOverhead } = await onboardingCosts();
    const counted = steps.filter((s) => s.total).map((s) => s.cost);
    const sum = (pick: (c: StepCost) => number) => counted.reduce((n, c) => n + pick(c), 0);
    const total: StepCost = {
      compute: sum((c) => c.compute),
      slots: sum((c) => c.slots),
      retainedBytes: sum((c) => c.retainedBytes),
      halCalls: sum((c) => c.halCalls),
      bridgeBytes: sum((c) => c.bridgeBytes),
      wallMs: sum((c) => c.wallMs),
      hal: {},
      allocate: Math.max(...counted.map((c) => c.allocate)),
    };
    const peakSlots = Math.max(...steps.map((s) => s.cost.slots));
    return {
      name: 'onboarding',
      title: 'One terminal\'s onboarding in XS: the firmware core\'s cost per step',
      columns: [
        { key: 'step', label: 'Step' },
        { key: 'compute', label: 'XS compute' },
        { key: 'slots', label: 'XS slots allocated' },
        { key: 'slotBytesEsp32', label: 'slot bytes on ESP32' },
        { key: 'retainedBytes', label: 'XS bytes kept after' },
        { key: 'halCalls', label: 'HAL round trips' },
        { key: 'bridgeBytes', label: 'bridge bytes' },
        { key: 'wallMs', label: 'ms (this host)', digits: 0 },
      ],
      rows: [...steps.map((s) => row(s.label, s.cost)), row('total: boot, first tk, TMK, sign-on', total)],
      notes: [
        'Each step is one xsnap-worker command running the terminal core as the device does; the total adds the steps a first onboarding runs (boot, first `tk`, TMK, sign-on). The two "alone" rows split the first `tk` into its parts with real operations and are not in the total.',
        `XS compute: the xsnap meter (a deterministic count of XS work). Every random input is seeded (root key, terminal Rng, KMS keys), so it repeats run after run to within a few units (the KMS's port number, in the stored identity, is the one input that changes). It includes the harness: decoding the command (${commandOverhead.toLocaleString('en-US')} for a command that does nothing) and the JSON of each HAL round trip (bytes cross raw, never as hex), which the device's native HAL does not pay.`,
        `XS slots allocated: heap slots the step allocates (meter \`currentHeapCount\` after a GC-only command, then after the step, which starts with a GC); ${ESP32_SLOT_BYTES} bytes each on the ESP32. A GC inside the step would lower it; chunk memory (byte arrays, strings, BigInts) is not counted. The largest step allocates ${peakSlots.toLocaleString('en-US')} slots, ${(peakSlots * ESP32_SLOT_BYTES).toLocaleString('en-US')} bytes, against a plain ESP32's ~${Math.round(ESP32_JS_HEAP_BYTES / 1024)} KB JS heap (78,848 chunk bytes + 4,928 slots): garbage is collected as it goes, so this bounds churn, not peak.`,
        'XS bytes kept after: growth of the heap snapshot (live slots and chunks after a GC, 64-bit layout) across the step: what the step leaves alive, such as the booted terminal and its vault. The core caches no key, so key-loading steps should keep next to nothing.',
        'HAL round trips and bridge bytes: storage, RNG and HTTPS calls the core made through the bridge, both directions (test/xs/terminal/wireCodec.ts: JSON with raw byte blobs); the JSON report lists them per call.',
        'ms: wall time on this host, including the Node HAL\'s file writes (fsync) and the TLS handshake with the KMS; not an ESP32 time.',
        'P-256 base-point precomputation is set to window 1 when the script loads (shared/crypto/keyTransport setP256PrecomputeWindow), as the device firmware does.',
      ],
      environment: { engine: 'XS 13.3 (xsnap-worker from @agoric/xsnap)', scenario: `serial ${SERIAL}, fake KMS over HTTPS on 127.0.0.1 (test/support/fakeKms.ts)` },
    };
  },
};
