/**
 * Moving a deployment through its phases (hawkBit's rollout groups, Mender's phased percentages):
 * the running phase halts on its own once more than the failure threshold of its terminals
 * failed, or once the new version's payment results fall behind the old's (paymentKpis.ts); it
 * gives way to the next phase when every terminal in it ended (success or failed) within the
 * threshold (an empty phase at once); after the last phase, once it had terminals and all ended,
 * the deployment is completed. A halted deployment waits for a
 * person (`paypad tms resume`); failures before the resume no longer count against the phase.
 *
 * Evaluated after every status report and on `paypad tms status`, so no timer is needed; a step
 * is one conditional update (deploymentStore.step), so hosts evaluating at once move it once.
 * When a phase starts, each of its terminals gets an update notice (B6, updateNotices.ts).
 */
import type { Kysely } from 'kysely';
import type { Schema } from '../db/schema';
import type { Deployment, DeploymentStore, DeploymentTerminal, RolloutStep } from './deploymentStore';
import type { Inventory } from './inventory';
import type { PackageStore } from './packageStore';
import { comparePaymentKpis, type KpiComparison } from './paymentKpis';
import type { UpdateNotices } from './updateNotices';

/** The step the running phase calls for now, if any (pure: the decision, not its application). */
export function decideStep(d: Deployment, terminals: readonly DeploymentTerminal[], kpi: KpiComparison | undefined): RolloutStep | undefined {
  if (d.state !== 'running') return undefined;
  const phase = terminals.filter((t) => t.phase === d.currentPhase);
  const failed = phase.filter((t) => t.status === 'failed' && t.updatedAt >= d.phaseStartedAt).length;
  if (phase.length > 0 && failed * 100 > d.failureThresholdPercent * phase.length) {
    return { kind: 'halt', reason: `phase ${d.currentPhase + 1}: ${failed} of ${phase.length} terminals failed, over the threshold of ${d.failureThresholdPercent}%` };
  }
  if (kpi?.behind !== undefined) return { kind: 'halt', reason: `phase ${d.currentPhase + 1}: payment results: ${kpi.behind}` };
  if (!phase.every((t) => t.status === 'success' || t.status === 'failed')) return undefined;
  if (d.currentPhase + 1 < d.phases.length) return { kind: 'advance', toPhase: d.currentPhase + 1 };
  // The last phase stays open while it is empty: terminals of a targeted model join as they report.
  return phase.length === 0 ? undefined : { kind: 'complete' };
}

export interface Rollout {
  /** Applies the steps the deployment calls for now; returns it as it is afterwards. */
  evaluate(id: number): Promise<Deployment>;
  /** The payment comparison of the running phase. */
  paymentKpis(d: Deployment): Promise<KpiComparison>;
}

export interface RolloutOptions {
  readonly db: Kysely<Schema>;
  readonly deployments: DeploymentStore;
  readonly packages: PackageStore;
  readonly inventory: Inventory;
  readonly notices: UpdateNotices;
  readonly clock: () => Date;
}

export function createRollout(o: RolloutOptions): Rollout {
  const paymentKpis = async (d: Deployment): Promise<KpiComparison> => {
    const pkg = await o.packages.get(d.packageId);
    const serials = (await o.deployments.terminals(d.id)).map((t) => t.serial);
    return comparePaymentKpis(o.db, o.inventory, { program: pkg.manifest.name, version: pkg.manifest.version, serials, since: d.phaseStartedAt, limits: d.kpiLimits });
  };

  return {
    paymentKpis,
    async evaluate(id) {
      // Each pass moves at most one step; a phase with nothing left to do gives way at once.
      for (let pass = 0; pass < 32; pass++) {
        const d = await o.deployments.get(id);
        if (d.state !== 'running') return d;
        const terminals = await o.deployments.terminals(id);
        const step = decideStep(d, terminals, await paymentKpis(d));
        if (step === undefined) return d;
        const moved = await o.deployments.step(id, d.currentPhase, step, o.clock());
        if (moved && step.kind === 'advance') await o.notices.post(d.id, terminals.filter((t) => t.phase === step.toPhase).map((t) => t.serial), o.clock());
      }
      return o.deployments.get(id);
    },
  };
}
