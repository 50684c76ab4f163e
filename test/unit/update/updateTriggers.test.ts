/**
 * B5-B7: the terminal asks for its update on its schedule (period and time of day, local time), on a
 * notice inside a MAC'd transaction answer, and both at once make one query and one download.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { validateTransactionMessage } from '../../../shared/protocol/transactions';
import { UpdateTriggers, nextScheduledCheck } from '../../../firmware/core/updateTriggers';
import { UpdateRig } from './updateRig';

const rigs: UpdateRig[] = [];
afterEach(() => {
  for (const rig of rigs.splice(0)) rig.dispose();
});

const FRIDAY_1700_UTC8 = { every: 'week', weekday: 5, at: '17:00', utcOffsetMinutes: 480 } as const;
/** Wednesday 2026-12-02 12:00 UTC. */
const WEDNESDAY = Date.UTC(2026, 11, 2, 12, 0);

describe('B5: the schedule', () => {
  it('B5: weekly on Friday at 17:00 local (UTC+8) is Friday 09:00 UTC; daily at 02:30 UTC is the next 02:30', () => {
    expect(new Date(nextScheduledCheck(FRIDAY_1700_UTC8, WEDNESDAY)).toISOString()).toBe('2026-12-04T09:00:00.000Z');
    expect(new Date(nextScheduledCheck(FRIDAY_1700_UTC8, Date.UTC(2026, 11, 4, 9, 0))).toISOString()).toBe('2026-12-11T09:00:00.000Z');
    expect(new Date(nextScheduledCheck({ every: 'day', at: '02:30', utcOffsetMinutes: 0 }, WEDNESDAY)).toISOString()).toBe('2026-12-03T02:30:00.000Z');
    expect(() => nextScheduledCheck({ every: 'day', at: '24:00', utcOffsetMinutes: 0 }, WEDNESDAY)).toThrow(expect.objectContaining({ code: 'PROTOCOL_MALFORMED' }));
  });

  it('B5: nothing before the due time; at it one check, which a restart does not repeat', async () => {
    const rig = new UpdateRig();
    rigs.push(rig);
    const { client, updater } = rig.boot();
    const triggers = new UpdateTriggers({ client, storage: rig.storage, schedule: FRIDAY_1700_UTC8, runningVersion: () => updater.currentVersion });
    expect(triggers.tick(WEDNESDAY)).toBeUndefined();
    expect(triggers.tick(Date.UTC(2026, 11, 4, 8, 59))).toBeUndefined();
    expect(rig.tms.queries).toBe(0);
    expect(await triggers.tick(Date.UTC(2026, 11, 4, 9, 1))).toEqual({ outcome: 'installed', version: '1.1.0' });
    expect(rig.tms.queries).toBe(1);
    const after = rig.boot();
    const again = new UpdateTriggers({ client: after.client, storage: rig.storage, schedule: FRIDAY_1700_UTC8, runningVersion: () => after.updater.currentVersion });
    expect(again.tick(Date.UTC(2026, 11, 4, 9, 5))).toBeUndefined();
    expect(again.due(Date.UTC(2026, 11, 4, 9, 5))).toBe(Date.UTC(2026, 11, 11, 9, 0));
  });
});

describe('B6, B7: the notice in a transaction answer', () => {
  const answer = (version: string) =>
    validateTransactionMessage('mobilePayResponse', {
      v: 1,
      responseCode: '00',
      reason: 'Approved',
      reference: '000000000001',
      amount: 100,
      currency: 'CNY',
      maskedPan: '621234******1234',
      updateNotice: { name: 'paypad-firmware', version },
    });

  it('B6: a notice for a newer version makes the terminal query; one for the running version does not', async () => {
    const rig = new UpdateRig();
    rigs.push(rig);
    const { client, updater } = rig.boot();
    const triggers = new UpdateTriggers({ client, storage: rig.storage, runningVersion: () => updater.currentVersion });
    expect(triggers.notice(answer('1.0.0').updateNotice)).toBeUndefined();
    expect(triggers.notice(undefined)).toBeUndefined();
    expect(await triggers.notice(answer('1.1.0').updateNotice)).toEqual({ outcome: 'installed', version: '1.1.0' });
    expect(rig.tms.reports.at(-1)).toMatchObject({ stage: 'install', status: 'installing' });
  });

  it('B7: the schedule falling due while a notice arrives: one query, one download', async () => {
    const rig = new UpdateRig();
    rigs.push(rig);
    const { client, updater } = rig.boot();
    const triggers = new UpdateTriggers({ client, storage: rig.storage, schedule: FRIDAY_1700_UTC8, runningVersion: () => updater.currentVersion });
    triggers.tick(WEDNESDAY);
    const both = await Promise.all([triggers.tick(Date.UTC(2026, 11, 4, 9, 0)), triggers.notice(answer('1.1.0').updateNotice)]);
    expect(both[0]).toEqual(both[1]);
    expect(rig.tms.queries).toBe(1);
    expect(new Set(rig.tms.chunksServed).size).toBe(rig.tms.chunksServed.length);
  });

  it('B6: a transaction answer whose notice is malformed is refused as a whole (it is under the answer\'s MAC)', () => {
    expect(() => answer('1.1')).toThrow(expect.objectContaining({ code: 'PROTOCOL_MALFORMED' }));
  });
});
