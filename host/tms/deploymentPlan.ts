/**
 * What a deployment is before it is stored (docs/updates.md "Deployments"): a package targeted at
 * serials, groups and models, cut into phases by percentage or by group, with its failure
 * threshold, payment-KPI limits, effective window, daily maintenance window and mode.
 *
 * After hawkBit's rollouts (groups start one after another, each when the one before succeeded,
 * and stop on an error threshold) and Mender's phased percentages; hawkBit users asked for a
 * rollout confined to a time slot (its maintenance window is per action, not per rollout) and for
 * rollouts that pick up devices added later: both are here (targeting.ts lets a terminal that
 * matches later join the phase that is running).
 */
import { PaypadError } from '../../shared/errors';
import { terminalModel } from '../../shared/protocol/updateVersion';
import type { DeploymentMode } from './tmsTables';

export interface DeploymentTargets {
  readonly serials: readonly string[];
  readonly groups: readonly string[];
  readonly models: readonly string[];
}

/** A phase takes a cumulative share of the sorted targets, or the targets in the named groups. */
export type DeploymentPhase = { readonly percent: number } | { readonly groups: readonly string[] };

/** Minutes after midnight UTC: [start, end), across midnight when end < start (22:00-04:00). */
export interface MaintenanceWindow {
  readonly startMinute: number;
  readonly endMinute: number;
}

/**
 * How far the new version's payment results may fall behind the old version's on the same
 * merchants before the phase halts (paymentKpis.ts). A rate is compared only once both versions
 * have `minTransactions` ended authorisations in the phase.
 */
export interface KpiLimits {
  /** Percentage points the new version's rate may exceed the old version's by (decline, timeout). */
  readonly maxRateIncreasePoints: number;
  readonly minTransactions: number;
}

export interface DeploymentPlan {
  readonly packageId: number;
  readonly targets: DeploymentTargets;
  readonly phases: readonly DeploymentPhase[];
  /** The phase halts once more than this share of its terminals failed. */
  readonly failureThresholdPercent: number;
  readonly kpiLimits: KpiLimits;
  readonly notBefore?: Date;
  readonly notAfter?: Date;
  readonly maintenanceWindow?: MaintenanceWindow;
  /** forced: offered again after a failure and installed at once; attempt: one try per terminal. */
  readonly mode: DeploymentMode;
}

export const DEFAULT_KPI_LIMITS: KpiLimits = Object.freeze({ maxRateIncreasePoints: 5, minTransactions: 20 });
const MINUTES_PER_DAY = 24 * 60;
const GROUP_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const SERIAL = /^[A-Za-z0-9][A-Za-z0-9-]{0,31}$/;

function invalid(message: string): never {
  throw new PaypadError('TMS_DEPLOYMENT_INVALID', message);
}

/** TMS_DEPLOYMENT_INVALID naming what is wrong; the plan as given otherwise. */
export function checkDeploymentPlan(plan: DeploymentPlan): DeploymentPlan {
  const { targets, phases } = plan;
  for (const s of targets.serials) if (!SERIAL.test(s)) invalid(`serial ${JSON.stringify(s)}: expected 1 to 32 of A-Z a-z 0-9 -`);
  for (const g of targets.groups) if (!GROUP_NAME.test(g)) invalid(`group ${JSON.stringify(g)}: expected 1 to 64 of A-Z a-z 0-9 . _ -`);
  for (const m of targets.models) terminalModelOrInvalid(m);
  if (targets.serials.length + targets.groups.length + targets.models.length === 0) invalid('a deployment needs at least one serial, group or model to target');
  if (phases.length === 0 || phases.length > 20) invalid('a deployment has 1 to 20 phases');
  const byPercent = phases.every((p) => 'percent' in p);
  const byGroup = phases.every((p) => 'groups' in p);
  if (!byPercent && !byGroup) invalid('phases are all by percentage or all by group');
  if (byPercent) {
    let last = 0;
    for (const p of phases as { percent: number }[]) {
      if (!Number.isInteger(p.percent) || p.percent <= last || p.percent > 100) invalid('phase percentages are whole numbers that rise to at most 100, e.g. 10,50,100');
      last = p.percent;
    }
    if (last !== 100) invalid('the last phase must reach 100%: otherwise some targets would never be updated');
  } else {
    for (const p of phases as { groups: readonly string[] }[]) {
      if (p.groups.length === 0) invalid('a phase by group names at least one group');
      for (const g of p.groups) if (!GROUP_NAME.test(g)) invalid(`phase group ${JSON.stringify(g)}: expected 1 to 64 of A-Z a-z 0-9 . _ -`);
    }
  }
  if (!Number.isInteger(plan.failureThresholdPercent) || plan.failureThresholdPercent < 0 || plan.failureThresholdPercent > 100) invalid('the failure threshold is a whole percentage 0 to 100');
  const k = plan.kpiLimits;
  if (!Number.isFinite(k.maxRateIncreasePoints) || k.maxRateIncreasePoints < 0 || k.maxRateIncreasePoints > 100) invalid('the KPI limit is 0 to 100 percentage points');
  if (!Number.isInteger(k.minTransactions) || k.minTransactions < 1) invalid('the KPI sample is at least 1 transaction per version');
  if (plan.notBefore !== undefined && plan.notAfter !== undefined && plan.notAfter <= plan.notBefore) invalid('not-after must come after not-before');
  const w = plan.maintenanceWindow;
  if (w !== undefined) {
    for (const m of [w.startMinute, w.endMinute]) if (!Number.isInteger(m) || m < 0 || m >= MINUTES_PER_DAY) invalid('a maintenance window is two times of day, HH:MM-HH:MM (UTC)');
    if (w.startMinute === w.endMinute) invalid('a maintenance window of no length would never open');
  }
  if (plan.mode !== 'forced' && plan.mode !== 'attempt') invalid('mode is forced or attempt');
  return plan;
}

function terminalModelOrInvalid(model: string): void {
  try {
    terminalModel(model, 'model');
  } catch (e) {
    invalid((e as Error).message);
  }
}

/** "22:00-04:00" as a window. TMS_DEPLOYMENT_INVALID when it does not read. */
export function parseMaintenanceWindow(text: string): MaintenanceWindow {
  const m = /^([01][0-9]|2[0-3]):([0-5][0-9])-([01][0-9]|2[0-3]):([0-5][0-9])$/.exec(text);
  if (m === null) invalid(`maintenance window ${JSON.stringify(text)}: expected HH:MM-HH:MM (UTC)`);
  return { startMinute: Number(m[1]) * 60 + Number(m[2]), endMinute: Number(m[3]) * 60 + Number(m[4]) };
}

export function formatMaintenanceWindow(w: MaintenanceWindow): string {
  const hhmm = (m: number) => `${String(Math.floor(m / 60)).padStart(2, '0')}:${String(m % 60).padStart(2, '0')}`;
  return `${hhmm(w.startMinute)}-${hhmm(w.endMinute)}`;
}

/** Whether `at` falls in the window (UTC time of day); always, when there is none. */
export function insideMaintenanceWindow(w: MaintenanceWindow | undefined, at: Date): boolean {
  if (w === undefined) return true;
  const minute = at.getUTCHours() * 60 + at.getUTCMinutes();
  return w.startMinute < w.endMinute ? minute >= w.startMinute && minute < w.endMinute : minute >= w.startMinute || minute < w.endMinute;
}

/**
 * The phase each targeted serial falls in. By percentage: the serials sorted, phase i takes them
 * up to ceil(percent_i of the count), so every phase boundary is reproducible from the list. By
 * group: the first phase naming one of the serial's groups; a target in none of them goes last.
 */
export function assignPhases(serials: readonly string[], phases: readonly DeploymentPhase[], groupsOf: (serial: string) => readonly string[]): Map<string, number> {
  const sorted = [...new Set(serials)].sort();
  const out = new Map<string, number>();
  if (phases.every((p) => 'percent' in p)) {
    let start = 0;
    phases.forEach((p, i) => {
      const end = Math.ceil(((p as { percent: number }).percent * sorted.length) / 100);
      for (const s of sorted.slice(start, end)) out.set(s, i);
      start = Math.max(start, end);
    });
    return out;
  }
  for (const s of sorted) {
    const mine = new Set(groupsOf(s));
    const i = phases.findIndex((p) => (p as { groups: readonly string[] }).groups.some((g) => mine.has(g)));
    out.set(s, i === -1 ? phases.length - 1 : i);
  }
  return out;
}
