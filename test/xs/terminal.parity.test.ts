/**
 * X3, issue 3: the terminal core in XS behaves exactly as in Node. The same scenario runs against
 * both engines (test/xs/terminal/emulatedTerminal.ts) with every random input seeded (the device
 * root key, the terminal's Rng, the KMS's keys), so the two runs must agree byte for byte: what
 * the operator reads over the link, what the KMS receives, the KCVs, the refusals, the status, and
 * every file the terminal leaves in its state directory.
 */
import { mkdirSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureRootKey } from '../../firmware/hal/node/rootKey';
import { isPaypadError } from '../../shared/errors';
import { seededRng } from '../support/opsRng';
import type { TerminalEngine } from './terminal/emulatedTerminal';
import { type TerminalLab, openTerminalLab, readTree } from './terminal/fixture';
import { nodeTerminalEngine } from './terminal/nodeTerminal';
import { readOverLink } from './terminal/scenario';
import { xsTerminalEngine } from './terminal/xsTerminal';

const SERIAL = 'PP-0003-0100';
const seed = (text: string) => seededRng(new TextEncoder().encode(text));

let lab: TerminalLab;
beforeAll(async () => {
  lab = await openTerminalLab('parity');
});
afterAll(async () => {
  await lab?.close();
});

/** Everything observable about one run of the scenario. */
async function runScenario(engine: TerminalEngine) {
  const stateDir = lab.stateDir();
  // Manufacture finds the root key already there (as after an interrupted init) and keeps it.
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  ensureRootKey(stateDir, seed('root key'));
  const made = await engine.manufacture(stateDir, { serial: SERIAL, mtmsPublicKey: lab.kms.mtms.publicKey, kmsUrl: lab.kms.url, trustAnchor: lab.pki.caDer });
  const terminal = await engine.start({ stateDir, hal: { rng: seed('terminal rng') } });
  const requestsBefore = lab.kms.requests.length;
  const outcome = async (work: () => Promise<unknown>) => {
    try {
      return { ok: await work() };
    } catch (e) {
      return isPaypadError(e) ? { code: e.code, message: e.message } : { unexpected: String(e) };
    }
  };
  try {
    const fresh = await terminal.status();
    const view = await readOverLink(terminal);
    const beforeDelivery = await outcome(() => terminal.downloadTmk());
    lab.kms.receiveTransportKey(SERIAL, view.tkEnvelope);
    lab.kms.tamper = (_route, reply) => ({ ...reply, body: reply.body.map((b, i) => (i === 10 ? b ^ 0x20 : b)) });
    const tampered = await outcome(() => terminal.downloadTmk());
    lab.kms.tamper = undefined;
    const loaded = await terminal.loadKeys();
    const again = await terminal.signOn();
    const secondView = await readOverLink(terminal);
    const status = await terminal.status();
    return {
      made: { ...made, stateDir: undefined },
      fresh,
      view,
      beforeDelivery,
      tampered,
      loaded,
      again,
      secondView,
      status,
      requests: lab.kms.requests.slice(requestsBefore),
      files: readTree(stateDir),
    };
  } finally {
    await terminal.close();
    lab.kms.forget(SERIAL);
  }
}

describe('X3: the same inputs give the same terminal in Node and in XS', () => {
  let node: Awaited<ReturnType<typeof runScenario>>;
  let xs: Awaited<ReturnType<typeof runScenario>>;

  beforeAll(async () => {
    node = await runScenario(nodeTerminalEngine);
    xs = await runScenario(xsTerminalEngine);
  });

  it('the scenario did what it meant to: refusals, then a TMK and four working keys, twice signed on', () => {
    expect(node.beforeDelivery).toMatchObject({ code: 'KMS_RESPONSE_UNSIGNED' });
    expect(node.tampered).toMatchObject({ code: 'MAC_MISMATCH' });
    expect(Object.keys(node.loaded.kcv).sort()).toEqual(['DMK', 'MAK', 'PIK', 'TDK', 'TMK']);
    expect(node.status.stage).toBe('signed-on');
    expect(node.requests.map((r) => `${r.route}/${r.keyId}/${r.seq}/${r.status}`)).toEqual(['tmk/TK/1/401', 'tmk/TK/2/200', 'tmk/TK/3/200', 'sign-on/TK/4/200', 'sign-on/MAK/5/200']);
  });

  it('A2, A10: the operator reads the same serial and byte-identical TK envelopes from both', () => {
    expect(xs.view).toEqual(node.view);
    expect(xs.secondView).toEqual(node.secondView);
    expect(xs.secondView.tkEnvelope).not.toBe(xs.view.tkEnvelope);
  });

  it('A11, A12: the KMS receives the same requests and both load the same KCVs', () => {
    expect(xs.requests).toEqual(node.requests);
    expect(xs.loaded).toEqual(node.loaded);
    expect(xs.again).toEqual(node.again);
  });

  it('X2: refusals carry the same codes and messages across the engine boundary', () => {
    expect(xs.beforeDelivery).toEqual(node.beforeDelivery);
    expect(xs.tampered).toEqual(node.tampered);
  });

  it('manufacture and status report the same', () => {
    expect(xs.made).toEqual(node.made);
    expect(xs.fresh).toEqual(node.fresh);
    expect(xs.status).toEqual(node.status);
  });

  it('the state directories are byte-identical: same identity, state record and sealed vault slots', () => {
    expect([...xs.files.keys()].sort()).toEqual([...node.files.keys()].sort());
    expect([...node.files.keys()].filter((p) => p.startsWith('storage/vault.ns/')).length).toBe(6);
    for (const [path, bytes] of node.files) expect(Buffer.from(xs.files.get(path) as Uint8Array).equals(Buffer.from(bytes)), path).toBe(true);
  });
});
