/**
 * The TMS's side of an update (host/tms/tmsService; SPEC B1-B4, X2) against a terminal played
 * from shared/crypto and shared/protocol: the query answered from targeting and kept in the
 * inventory, mutual authentication with a fake terminal refused at SAC-I and nothing served,
 * range requests, replayed and expired sessions, and status reports kept per terminal.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { describe, expect, it } from 'vitest';
import { concatBytes, fromHex, toHex } from '../../../shared/bytes';
import { aesCmac } from '../../../shared/crypto/cmac';
import { deriveKeyCounterCmac } from '../../../shared/crypto/kdf';
import { unwrapKeyBlock } from '../../../shared/crypto/tr31';
import { DWK_KEY_POLICY, sacInput, tacInput, updateContext } from '../../../shared/protocol/updateAuth';
import { type ChunkRange, chunkKeyParams, chunkMacInput, contentRangeHeader, rangeHeader } from '../../../shared/protocol/updateChunks';
import { DIALECTS } from '../../store/helpers/testDatabase';
import { rng } from '../hsm/hsmTestKit';
import { errorCodeOf, type Reply } from '../kms/terminalSim';
import { MODEL, PROGRAM, signedOnTerminal, storePackage, type TmsUnderTest, type UpdatingTerminal, useTms } from './tmsTestKit';

const IMAGE = rng(20_000);

interface Opened {
  readonly sessionId: string;
  readonly dwk: Uint8Array;
  readonly size: number;
  readonly chunkBytes: number;
}

describe.each(DIALECTS)('B1-B4 TMS sessions on %s', (dialect) => {
  const tms = useTms(dialect);
  let deployment = '';
  let digest = '';

  const setup = async (t: TmsUnderTest) => {
    if (deployment !== '') return;
    const pkg = await storePackage(t, IMAGE);
    digest = pkg.packageDigest;
    const d = await t.tms.deploy({ packageId: pkg.id, targets: { serials: [], groups: [], models: [MODEL] }, phases: [{ percent: 100 }], failureThresholdPercent: 50, kpiLimits: { maxRateIncreasePoints: 5, minTransactions: 20 }, mode: 'forced' });
    deployment = String(d.id);
  };

  /** B1 to B3 step 2 as the terminal runs them: the offer, T-DATA, TAC-I checked under its DMK. */
  const challenge = async (t: TmsUnderTest, terminal: UpdatingTerminal, dmk = terminal.dmk()) => {
    const q = await terminal.query();
    const offer = (await terminal.answer(q, await t.service.query(q.parsed))).offer as { deployment: string };
    expect(offer.deployment).toBe(deployment);
    const tData = rng(16);
    const s = await terminal.sessions(deployment, digest, tData);
    const reply = await t.service.authenticate(s.parsed);
    const c = (await terminal.answer(s, reply)) as { sessionId: string; dwk: string; tac: string; sData: string; chunkBytes: number };
    const dwk = unwrapKeyBlock(dmk, c.dwk, DWK_KEY_POLICY).key;
    const context = updateContext({ serial: terminal.serial, sessionId: c.sessionId, packageDigest: digest });
    expect(c.tac).toBe(toHex(aesCmac(dwk, tacInput(tData, context))));
    return { ...c, dwk, context };
  };

  const open = async (t: TmsUnderTest, terminal: UpdatingTerminal): Promise<Opened> => {
    const c = await challenge(t, terminal);
    const f = await terminal.confirm(c.sessionId, aesCmac(c.dwk, sacInput(fromHex(c.sData), c.context)));
    const opened = (await terminal.answer(f, await t.service.confirm(f.parsed, c.sessionId))) as { size: number };
    return { sessionId: c.sessionId, dwk: c.dwk, size: opened.size, chunkBytes: c.chunkBytes };
  };

  const fetchChunk = async (t: TmsUnderTest, terminal: UpdatingTerminal, s: Opened, range: string | undefined): Promise<Reply> => {
    const g = await terminal.image(s.sessionId);
    return t.service.image(g.parsed, s.sessionId, range);
  };

  it('B1, B2: a targeted terminal is offered the signed package; its model and versions go to the inventory; another model or a current version gets nothing', async () => {
    const t = tms();
    await setup(t);
    const terminal = await signedOnTerminal(t.kms);
    const q = await terminal.query();
    const answer = await terminal.answer(q, await t.service.query(q.parsed));
    expect(answer.offer).toMatchObject({ deployment, mode: 'forced', package: (await t.tms.packages.get(Number((await t.tms.deployments.get(Number(deployment))).packageId))).signed });
    expect(await t.tms.inventory.entry(terminal.serial)).toMatchObject({ customerCode: 'ACME', model: MODEL, versions: { [PROGRAM]: '1.0.0' } });
    for (const q2 of [await terminal.query('1.0.0', 'PP-OTHER'), await terminal.query('1.1.0')]) {
      expect((await terminal.answer(q2, await t.service.query(q2.parsed))).offer).toBeUndefined();
    }
  });

  it('B3, B4: TAC-I checks under the DMK, SAC-I opens the session, and every chunk verifies under its own key derived from DWK and offset', async () => {
    const t = tms();
    await setup(t);
    const terminal = await signedOnTerminal(t.kms);
    const s = await open(t, terminal);
    expect(s.size).toBe(IMAGE.length);
    const parts: Uint8Array[] = [];
    for (let offset = 0; offset < s.size; offset += s.chunkBytes) {
      const range: ChunkRange = { sessionId: s.sessionId, offset, length: Math.min(s.chunkBytes, s.size - offset), size: s.size };
      const reply = await fetchChunk(t, terminal, s, rangeHeader(range));
      expect(reply.status).toBe(206);
      expect(reply.headers['Content-Range']).toBe(contentRangeHeader(range));
      const key = deriveKeyCounterCmac(s.dwk, chunkKeyParams(s.sessionId, offset));
      expect(reply.headers['Paypad-Chunk-Mac']).toBe(toHex(aesCmac(key, chunkMacInput(range, reply.body))));
      parts.push(reply.body);
    }
    expect(toHex(sha256(concatBytes(...parts)))).toBe(toHex(sha256(IMAGE)));
  });

  it('B3: a fake terminal (wrong DMK) cannot answer SAC-I: refused with TMS_SAC_INVALID, the session is closed for good and not one byte is served', async () => {
    const t = tms();
    await setup(t);
    const terminal = await signedOnTerminal(t.kms);
    const c = await challenge(t, terminal);
    // The impostor holds the MAK (it could MAC requests) but not the DMK: its SAC-I is under another key.
    const f = await terminal.confirm(c.sessionId, aesCmac(rng(16), sacInput(fromHex(c.sData), c.context)));
    const refused = await t.service.confirm(f.parsed, c.sessionId);
    expect(refused.status).toBe(403);
    expect(errorCodeOf(refused)).toBe('TMS_SAC_INVALID');
    await terminal.answer(f, refused); // MAC'd: the refusal is authentic
    const s: Opened = { sessionId: c.sessionId, dwk: c.dwk, size: IMAGE.length, chunkBytes: c.chunkBytes };
    const chunk = await fetchChunk(t, terminal, s, 'bytes=0-511');
    expect(chunk.status).toBe(409);
    expect(errorCodeOf(chunk)).toBe('TMS_SESSION_STATE');
    // The right SAC-I afterwards changes nothing: SAC-I is checked once.
    const again = await terminal.confirm(c.sessionId, aesCmac(c.dwk, sacInput(fromHex(c.sData), c.context)));
    expect(errorCodeOf(await t.service.confirm(again.parsed, c.sessionId))).toBe('TMS_SESSION_STATE');
  });

  it('B4: a Range that is missing, open-ended, several, reversed, past the image or over one chunk is 416 TMS_RANGE_INVALID; the last short chunk is served exactly', async () => {
    const t = tms();
    await setup(t);
    const terminal = await signedOnTerminal(t.kms);
    const s = await open(t, terminal);
    for (const range of [undefined, 'bytes=0-', 'bytes=-512', 'bytes=0-9,20-29', 'bytes=10-5', `bytes=0-${s.size}`, `bytes=0-${s.chunkBytes}`, 'items=0-9', 'bytes=00-9']) {
      const reply = await fetchChunk(t, terminal, s, range);
      expect(reply.status, String(range)).toBe(416);
      expect(errorCodeOf(reply)).toBe('TMS_RANGE_INVALID');
    }
    const last = await fetchChunk(t, terminal, s, `bytes=${s.size - 10}-${s.size - 1}`);
    expect(last.status).toBe(206);
    expect(toHex(last.body)).toBe(toHex(IMAGE.subarray(s.size - 10)));
  });

  it('X2, B4: a replayed request (same sequence) is PROTOCOL_REPLAY, MAC\'d; an expired session serves nothing; another terminal\'s session is unknown', async () => {
    const t = tms();
    await setup(t);
    const terminal = await signedOnTerminal(t.kms);
    const s = await open(t, terminal);
    const g = await terminal.image(s.sessionId);
    expect((await t.service.image(g.parsed, s.sessionId, 'bytes=0-511')).status).toBe(206);
    const replay = await t.service.image(g.parsed, s.sessionId, 'bytes=0-511');
    expect(replay.status).toBe(409);
    expect(errorCodeOf(replay)).toBe('PROTOCOL_REPLAY');
    await terminal.answer(g, replay);

    const other = await signedOnTerminal(t.kms);
    const o = await other.image(s.sessionId);
    expect(errorCodeOf(await t.service.image(o.parsed, s.sessionId, 'bytes=0-511'))).toBe('TMS_SESSION_UNKNOWN');

    t.setNow(new Date('2026-12-06T10:11:00Z'));
    try {
      expect(errorCodeOf(await fetchChunk(t, terminal, s, 'bytes=0-511'))).toBe('TMS_SESSION_EXPIRED');
    } finally {
      t.setNow(new Date('2026-12-06T10:00:00Z'));
    }
  });

  it('B4: status reports are kept per terminal with their numbered codes, and the inventory shows the version the new program reports', async () => {
    const t = tms();
    await setup(t);
    const failing = await signedOnTerminal(t.kms);
    const s1 = await open(t, failing);
    const r1 = await failing.status({ deployment, packageDigest: digest, sessionId: s1.sessionId, stage: 'verify', status: 'failed', code: 301, version: '1.0.0' });
    await failing.answer(r1, await t.service.status(r1.parsed));
    expect(await t.tms.deployments.terminal(Number(deployment), failing.serial)).toMatchObject({ status: 'failed', code: 301 });

    const updating = await signedOnTerminal(t.kms);
    const s2 = await open(t, updating);
    for (const [stage, status, version] of [['download', 'downloading', '1.0.0'], ['install', 'installing', '1.0.0'], ['confirm', 'success', '1.1.0']] as const) {
      const r = await updating.status({ deployment, packageDigest: digest, sessionId: s2.sessionId, stage, status, code: 0, version });
      await updating.answer(r, await t.service.status(r.parsed));
    }
    expect(await t.tms.deployments.terminal(Number(deployment), updating.serial)).toMatchObject({ status: 'success' });
    // Past the download, its session serves nothing more.
    expect(errorCodeOf(await fetchChunk(t, updating, s2, 'bytes=0-511'))).toBe('TMS_SESSION_STATE');
    expect((await t.tms.inventory.entry(updating.serial))?.versions).toEqual({ [PROGRAM]: '1.1.0' });
    expect((await t.tms.inventory.reports(Number(deployment), updating.serial)).map((r) => [r.stage, r.code])).toEqual([['download', 0], ['install', 0], ['confirm', 0]]);
    const q = await updating.query('1.1.0');
    expect((await updating.answer(q, await t.service.query(q.parsed))).offer).toBeUndefined();
  });
});
