/**
 * A8: MTMS's device challenges (host/mtms/deviceChallenges.ts) on every dialect: a nonce is bound
 * to its serial, purpose and station, used once, refused after it expires (an injected clock: no
 * sleeping), and two host processes racing with one nonce cannot both use it.
 */
import { describe, expect, it } from 'vitest';
import { createDeviceChallenges, DEVICE_CHALLENGE_TTL_MS } from '../../host/mtms/deviceChallenges';
import type { MtmsTables } from '../../host/mtms/mtmsTables';
import { DIALECTS, useMigratedDatabase } from './helpers/testDatabase';

function manualClock(start = Date.parse('2026-12-01T08:00:00.000Z')) {
  let now = start;
  return { clock: () => new Date(now), advance: (ms: number) => void (now += ms) };
}

const station = { name: 'line 1', certSerial: '0A01' };
const otherStation = { name: 'line 2', certSerial: '0A02' };

describe.each(DIALECTS)('A8 device challenges on %s', (dialect) => {
  const database = useMigratedDatabase(dialect);
  const refused = { code: 'MTMS_CHALLENGE_INVALID' };

  it('A8: a nonce is 32 fresh bytes, used once for its serial, purpose and station; every other use is MTMS_CHALLENGE_INVALID', async () => {
    const { clock } = manualClock();
    const challenges = createDeviceChallenges(database().db, clock);
    const challenge = await challenges.issue('PP-A8-0001', 'tk', station);
    expect(challenge.nonce).toHaveLength(32);
    expect(challenge.expiresAt.getTime() - clock().getTime()).toBe(DEVICE_CHALLENGE_TTL_MS);
    expect((await challenges.issue('PP-A8-0001', 'tk', station)).nonce).not.toEqual(challenge.nonce);

    await expect(challenges.consume('PP-A8-0002', 'tk', challenge.nonce, station)).rejects.toMatchObject(refused);
    await expect(challenges.consume('PP-A8-0001', 'enrol', challenge.nonce, station)).rejects.toMatchObject(refused);
    await expect(challenges.consume('PP-A8-0001', 'tk', challenge.nonce, otherStation)).rejects.toMatchObject(refused);
    await expect(challenges.consume('PP-A8-0001', 'tk', new Uint8Array(32), station)).rejects.toMatchObject(refused);
    await challenges.consume('PP-A8-0001', 'tk', challenge.nonce, station);
    await expect(challenges.consume('PP-A8-0001', 'tk', challenge.nonce, station)).rejects.toMatchObject(refused);
  });

  it('A8: an expired nonce is refused and dropped at the next issue', async () => {
    const { clock, advance } = manualClock();
    const challenges = createDeviceChallenges(database().db, clock);
    const challenge = await challenges.issue('PP-A8-0003', 'enrol', station);
    advance(DEVICE_CHALLENGE_TTL_MS);
    await expect(challenges.consume('PP-A8-0003', 'enrol', challenge.nonce, station)).rejects.toMatchObject(refused);
    await challenges.issue('PP-A8-0003', 'enrol', station);
    const rows = await database().db.withTables<MtmsTables>().selectFrom('mtms_tk_challenges').select('nonce').where('serial', '=', 'PP-A8-0003').execute();
    expect(rows).toHaveLength(1);
  });

  it('A8: two host processes using one nonce at once: exactly one succeeds', async () => {
    const { clock } = manualClock();
    const here = createDeviceChallenges(database().db, clock);
    const there = createDeviceChallenges(database.connect().db, clock);
    const challenge = await here.issue('PP-A8-0004', 'tk', station);
    const results = await Promise.allSettled([here, there, here, there].map((c) => c.consume('PP-A8-0004', 'tk', challenge.nonce, station)));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect(results.filter((r) => r.status === 'rejected').map((r) => (r as PromiseRejectedResult).reason.code)).toEqual(['MTMS_CHALLENGE_INVALID', 'MTMS_CHALLENGE_INVALID', 'MTMS_CHALLENGE_INVALID']);
  });

  it('A8: a serial of the wrong form gets no challenge', async () => {
    const challenges = createDeviceChallenges(database().db, manualClock().clock);
    await expect(challenges.issue('pp-lower', 'tk', station)).rejects.toMatchObject({ code: 'PROTOCOL_MALFORMED' });
  });
});
