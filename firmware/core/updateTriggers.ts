/**
 * What makes the terminal ask the TMS for an update (SPEC B5-B7):
 *
 *   B5  its schedule, from its configuration: every day or every week (on a weekday) at a time of
 *       day, in the terminal's local time (a fixed UTC offset, as a POS is configured); tick()
 *       checks once the due time has passed, and the last scheduled check is kept in storage so a
 *       restart neither skips nor repeats one;
 *   B6  a notice in a MAC'd transaction answer (shared/protocol/transactions updateNotice): the
 *       terminal asks right after that transaction, unless it already runs that version;
 *   B7  both: UpdateClient.check runs one check at a time and every trigger during it joins it,
 *       so a schedule and a notice at once make one query and one download.
 * Runs in XS: no Node APIs.
 */
import { compareVersions } from 'shared/protocol/updateVersion';
import type { UpdateNotice } from 'shared/protocol/updateMessages';
import { type Infer, decodeJson, encodeJson, integer, object, oneOf, optional, string } from 'shared/protocol/validate';
import type { Storage } from '../hal/storage';
import type { UpdateCheckResult, UpdateClient } from './updateClient';
import { UPDATE_NAMESPACE } from './updateProgress';

const DAY_MS = 86_400_000;

/** The schedule as configured, e.g. weekly on Friday at 17:00, UTC+8: {every: 'week', weekday: 5, at: '17:00', utcOffsetMinutes: 480}. */
export const updateScheduleSchema = object({
  every: oneOf('day', 'week'),
  /** 0 Sunday .. 6 Saturday; for 'week' only. */
  weekday: optional(integer(0, 6)),
  at: string({ min: 5, max: 5, pattern: /^([01][0-9]|2[0-3]):[0-5][0-9]$/, describe: 'HH:MM, 00:00 to 23:59' }),
  utcOffsetMinutes: integer(-720, 840),
});
export type UpdateSchedule = Infer<typeof updateScheduleSchema>;

const lastRunRecord = object({ lastScheduledMs: integer(0, Number.MAX_SAFE_INTEGER) });

/** The first scheduled moment strictly after `afterMs` (epoch ms). */
export function nextScheduledCheck(schedule: UpdateSchedule, afterMs: number): number {
  const checked = updateScheduleSchema(schedule, 'update schedule');
  const offsetMs = checked.utcOffsetMinutes * 60_000;
  const atMs = (Number(checked.at.slice(0, 2)) * 60 + Number(checked.at.slice(3))) * 60_000;
  const local = afterMs + offsetMs;
  let candidate = Math.floor(local / DAY_MS) * DAY_MS + atMs;
  if (candidate <= local) candidate += DAY_MS;
  if (checked.every === 'week') {
    // 1970-01-01 was a Thursday (weekday 4).
    const weekday = checked.weekday ?? 0;
    while ((Math.floor(candidate / DAY_MS) + 4) % 7 !== weekday) candidate += DAY_MS;
  }
  return candidate - offsetMs;
}

export class UpdateTriggers {
  readonly #client: UpdateClient;
  readonly #storage: Storage;
  readonly #schedule: UpdateSchedule | undefined;
  readonly #runningVersion: () => string;

  constructor(options: { client: UpdateClient; storage: Storage; schedule?: UpdateSchedule; runningVersion: () => string }) {
    this.#client = options.client;
    this.#storage = options.storage;
    this.#schedule = options.schedule === undefined ? undefined : updateScheduleSchema(options.schedule, 'update schedule');
    this.#runningVersion = options.runningVersion;
  }

  /** When the next scheduled check is due (epoch ms), or undefined without a schedule. */
  due(nowMs: number): number | undefined {
    if (this.#schedule === undefined) return undefined;
    const bytes = this.#storage.get(UPDATE_NAMESPACE, 'schedule');
    const last = bytes === undefined ? undefined : decodeJson(bytes, 64, lastRunRecord, 'schedule').lastScheduledMs;
    // A terminal that never ran its schedule starts counting from now.
    return nextScheduledCheck(this.#schedule, last ?? nowMs);
  }

  /** B5: call from the terminal's timer; checks when the due time has passed, once per due time. */
  tick(nowMs: number): Promise<UpdateCheckResult> | undefined {
    const due = this.due(nowMs);
    if (due === undefined || nowMs < due) {
      if (due !== undefined && this.#storage.get(UPDATE_NAMESPACE, 'schedule') === undefined) this.#recordRun(nowMs);
      return undefined;
    }
    this.#recordRun(nowMs);
    return this.#client.check('schedule');
  }

  /** B6: a notice from a transaction answer; ignored when the terminal already runs that version or a newer one. */
  notice(notice: UpdateNotice | undefined): Promise<UpdateCheckResult> | undefined {
    if (notice === undefined || compareVersions(notice.version, this.#runningVersion()) <= 0) return undefined;
    return this.#client.check('notice');
  }

  #recordRun(nowMs: number): void {
    this.#storage.set(UPDATE_NAMESPACE, 'schedule', encodeJson(lastRunRecord({ lastScheduledMs: nowMs }, 'schedule')));
  }
}
