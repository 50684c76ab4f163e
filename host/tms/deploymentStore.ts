/**
 * Deployments and their per-terminal status (tms_deployments, tms_deployment_terminals) and the
 * named groups they target (tms_groups).
 *
 * Invariants kept here:
 * - A terminal is in a deployment once, in one phase, fixed when it joins.
 * - A deployment's phase only moves forward, one step at a time, and only while it is running:
 *   each move is one conditional update on (state, current_phase), so two hosts evaluating the
 *   same deployment at once move it once.
 * - A terminal's status never leaves success; it leaves failed only in forced mode (a retry).
 */
import type { Kysely, Selectable, Transaction } from 'kysely';
import { PaypadError } from '../../shared/errors';
import { isoTimestamp, type Schema } from '../db/schema';
import type { KmsTables } from '../kms/kmsStore';
import { assignPhases, type DeploymentPhase, type DeploymentPlan, type DeploymentTargets, type KpiLimits, type MaintenanceWindow } from './deploymentPlan';
import type { DeploymentMode, DeploymentState, TerminalUpdateStatus, TmsTables } from './tmsTables';

export interface Deployment {
  readonly id: number;
  readonly packageId: number;
  readonly targets: DeploymentTargets;
  readonly phases: readonly DeploymentPhase[];
  readonly failureThresholdPercent: number;
  readonly kpiLimits: KpiLimits;
  readonly notBefore?: Date;
  readonly notAfter?: Date;
  readonly maintenanceWindow?: MaintenanceWindow;
  readonly mode: DeploymentMode;
  readonly state: DeploymentState;
  readonly currentPhase: number;
  readonly phaseStartedAt: Date;
  readonly haltReason?: string;
  readonly createdAt: Date;
}

export interface DeploymentTerminal {
  readonly serial: string;
  readonly phase: number;
  readonly status: TerminalUpdateStatus;
  /** The numbered code of the last report (shared/protocol/updateCodes), when there was one. */
  readonly code?: number;
  readonly updatedAt: Date;
}

/** A phase move or a halt, as rollout.ts decides it. */
export type RolloutStep = { readonly kind: 'advance'; readonly toPhase: number } | { readonly kind: 'complete' } | { readonly kind: 'halt'; readonly reason: string };

type Db = Kysely<Schema> | Transaction<Schema>;
type Tables = TmsTables & KmsTables;

export interface DeploymentStore {
  /** Stores the plan with every terminal it targets now, each in its phase. */
  create(plan: DeploymentPlan, at: Date): Promise<Deployment>;
  get(id: number): Promise<Deployment>;
  list(): Promise<Deployment[]>;
  /** The running deployments, oldest first. */
  running(): Promise<Deployment[]>;
  terminals(id: number): Promise<DeploymentTerminal[]>;
  terminal(id: number, serial: string): Promise<DeploymentTerminal | undefined>;
  /** Adds a terminal that matches the targets now (a model reported later) to the running phase. */
  join(id: number, serial: string, phase: number, at: Date): Promise<DeploymentTerminal>;
  /** Records a terminal's status; false when it did not apply (success is final, failed only leaves in forced mode). */
  setStatus(id: number, serial: string, status: TerminalUpdateStatus, code: number | undefined, at: Date): Promise<boolean>;
  /** Applies a rollout step if the deployment is still running in phase `fromPhase`; false otherwise. */
  step(id: number, fromPhase: number, step: RolloutStep, at: Date): Promise<boolean>;
  /** TMS_DEPLOYMENT_STATE unless running. */
  halt(id: number, reason: string, at: Date): Promise<Deployment>;
  /** TMS_DEPLOYMENT_STATE unless halted. The phase that halted runs on (its KPI counts afresh). */
  resume(id: number, at: Date): Promise<Deployment>;
  addToGroup(group: string, serials: readonly string[]): Promise<void>;
  groupsOf(serial: string): Promise<string[]>;
}

function toDeployment(r: Selectable<TmsTables['tms_deployments']>): Deployment {
  const window = r.window_start_minute === null || r.window_end_minute === null ? undefined : { startMinute: r.window_start_minute, endMinute: r.window_end_minute };
  return {
    id: Number(r.id),
    packageId: Number(r.package_id),
    targets: JSON.parse(r.targets) as DeploymentTargets,
    phases: JSON.parse(r.phases) as DeploymentPhase[],
    failureThresholdPercent: r.failure_threshold_percent,
    kpiLimits: JSON.parse(r.kpi_limits) as KpiLimits,
    ...(r.not_before === null ? {} : { notBefore: new Date(r.not_before) }),
    ...(r.not_after === null ? {} : { notAfter: new Date(r.not_after) }),
    ...(window === undefined ? {} : { maintenanceWindow: window }),
    mode: r.mode,
    state: r.state,
    currentPhase: r.current_phase,
    phaseStartedAt: new Date(r.phase_started_at),
    ...(r.halt_reason === null ? {} : { haltReason: r.halt_reason }),
    createdAt: new Date(r.created_at),
  };
}

function toTerminal(r: Selectable<TmsTables['tms_deployment_terminals']>): DeploymentTerminal {
  return { serial: r.serial, phase: r.phase, status: r.status, ...(r.code === null ? {} : { code: r.code }), updatedAt: new Date(r.updated_at) };
}

/**
 * The serials a deployment targets now: the named serials, the members of the named groups, and
 * every terminal whose last report named one of the models (a model is known from reports only).
 */
async function targetedSerials(db: Kysely<Schema & Tables>, targets: DeploymentTargets): Promise<string[]> {
  const out = new Set(targets.serials);
  if (targets.groups.length > 0) {
    for (const r of await db.selectFrom('tms_groups').select('serial').where('group_name', 'in', [...targets.groups]).execute()) out.add(r.serial);
  }
  if (targets.models.length > 0) {
    const latest = db.selectFrom('tms_reports').select((eb) => ['serial', eb.fn.max('id').as('id')]).groupBy('serial');
    const rows = await db.selectFrom('tms_reports as r').innerJoin(latest.as('l'), 'l.id', 'r.id').select('r.serial').where('r.model', 'in', [...targets.models]).execute();
    for (const r of rows) out.add(r.serial);
  }
  return [...out];
}

export function createDeploymentStore(schemaDb: Kysely<Schema>): DeploymentStore {
  const db = schemaDb.withTables<Tables>();
  const tables = (d: Db) => d.withTables<Tables>();

  const get = async (id: number, d: Db = schemaDb): Promise<Deployment> => {
    const row = await tables(d).selectFrom('tms_deployments').selectAll().where('id', '=', id).executeTakeFirst();
    if (row === undefined) throw new PaypadError('TMS_DEPLOYMENT_UNKNOWN', `no deployment ${id}`);
    return toDeployment(row);
  };
  const groupsOf = async (serial: string) => (await db.selectFrom('tms_groups').select('group_name').where('serial', '=', serial).orderBy('group_name').execute()).map((r) => r.group_name);

  return {
    async create(plan, at) {
      const pkg = await db.selectFrom('tms_packages').select('id').where('id', '=', plan.packageId).executeTakeFirst();
      if (pkg === undefined) throw new PaypadError('TMS_PACKAGE_UNKNOWN', `no package ${plan.packageId}`);
      const serials = await targetedSerials(db, plan.targets);
      const groups = new Map<string, string[]>();
      for (const r of await db.selectFrom('tms_groups').selectAll().execute()) groups.set(r.serial, [...(groups.get(r.serial) ?? []), r.group_name]);
      const phaseOf = assignPhases(serials, plan.phases, (s) => groups.get(s) ?? []);
      const now = isoTimestamp(at);
      return schemaDb.transaction().execute(async (trx) => {
        const t = tables(trx);
        const row = await t
          .insertInto('tms_deployments')
          .values({
            package_id: plan.packageId,
            targets: JSON.stringify(plan.targets),
            phases: JSON.stringify(plan.phases),
            failure_threshold_percent: plan.failureThresholdPercent,
            kpi_limits: JSON.stringify(plan.kpiLimits),
            not_before: plan.notBefore === undefined ? null : isoTimestamp(plan.notBefore),
            not_after: plan.notAfter === undefined ? null : isoTimestamp(plan.notAfter),
            window_start_minute: plan.maintenanceWindow?.startMinute ?? null,
            window_end_minute: plan.maintenanceWindow?.endMinute ?? null,
            mode: plan.mode,
            state: 'running',
            current_phase: 0,
            phase_started_at: now,
            halt_reason: null,
            created_at: now,
            updated_at: now,
          })
          .returning('id')
          .executeTakeFirstOrThrow();
        const id = Number(row.id);
        const members = [...phaseOf].map(([serial, phase]) => ({ deployment_id: id, serial, phase, status: 'pending' as const, code: null, updated_at: now }));
        if (members.length > 0) await t.insertInto('tms_deployment_terminals').values(members).execute();
        return get(id, trx);
      });
    },

    get: (id) => get(id),

    async list() {
      return (await db.selectFrom('tms_deployments').selectAll().orderBy('id').execute()).map(toDeployment);
    },

    async running() {
      return (await db.selectFrom('tms_deployments').selectAll().where('state', '=', 'running').orderBy('id').execute()).map(toDeployment);
    },

    async terminals(id) {
      return (await db.selectFrom('tms_deployment_terminals').selectAll().where('deployment_id', '=', id).orderBy('phase').orderBy('serial').execute()).map(toTerminal);
    },

    async terminal(id, serial) {
      const row = await db.selectFrom('tms_deployment_terminals').selectAll().where('deployment_id', '=', id).where('serial', '=', serial).executeTakeFirst();
      return row === undefined ? undefined : toTerminal(row);
    },

    async join(id, serial, phase, at) {
      await db
        .insertInto('tms_deployment_terminals')
        .values({ deployment_id: id, serial, phase, status: 'pending', code: null, updated_at: isoTimestamp(at) })
        .onConflict((oc) => oc.columns(['deployment_id', 'serial']).doNothing())
        .execute();
      const row = await db.selectFrom('tms_deployment_terminals').selectAll().where('deployment_id', '=', id).where('serial', '=', serial).executeTakeFirstOrThrow();
      return toTerminal(row);
    },

    async setStatus(id, serial, status, code, at) {
      const deployment = await get(id);
      let q = db
        .updateTable('tms_deployment_terminals')
        .set({ status, code: code ?? null, updated_at: isoTimestamp(at) })
        .where('deployment_id', '=', id)
        .where('serial', '=', serial)
        .where('status', '!=', 'success');
      if (deployment.mode === 'attempt') q = q.where('status', '!=', 'failed');
      return (await q.executeTakeFirst()).numUpdatedRows === 1n;
    },

    async step(id, fromPhase, step, at) {
      const now = isoTimestamp(at);
      const set =
          step.kind === 'advance'
            ? { current_phase: step.toPhase, phase_started_at: now, updated_at: now }
            : step.kind === 'complete'
              ? { state: 'completed' as const, updated_at: now }
              : { state: 'halted' as const, halt_reason: step.reason, updated_at: now };
      const r = await db.updateTable('tms_deployments').set(set).where('id', '=', id).where('state', '=', 'running').where('current_phase', '=', fromPhase).executeTakeFirst();
      return r.numUpdatedRows === 1n;
    },

    async halt(id, reason, at) {
      const d = await get(id);
      if (d.state !== 'running') throw new PaypadError('TMS_DEPLOYMENT_STATE', `deployment ${id} is ${d.state}, not running`);
      if (!(await this.step(id, d.currentPhase, { kind: 'halt', reason }, at))) throw new PaypadError('TMS_DEPLOYMENT_STATE', `deployment ${id} changed meanwhile; look at it again`);
      return get(id);
    },

    async resume(id, at) {
      const now = isoTimestamp(at);
      const r = await db
        .updateTable('tms_deployments')
        .set({ state: 'running', halt_reason: null, phase_started_at: now, updated_at: now })
        .where('id', '=', id)
        .where('state', '=', 'halted')
        .executeTakeFirst();
      if (r.numUpdatedRows !== 1n) throw new PaypadError('TMS_DEPLOYMENT_STATE', `deployment ${id} is ${(await get(id)).state}, not halted`);
      return get(id);
    },

    async addToGroup(group, serials) {
      if (serials.length === 0) return;
      await db
        .insertInto('tms_groups')
        .values(serials.map((serial) => ({ serial, group_name: group })))
        .onConflict((oc) => oc.columns(['serial', 'group_name']).doNothing())
        .execute();
    },

    groupsOf,
  };
}
