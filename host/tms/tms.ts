/**
 * The TMS over one database and data directory: its stores, its rollout, and what an operator does
 * (`paypad tms` and the terminal-facing service both use this). Every customer's TMS instance
 * (tmsService.ts) shares these tables: packages and deployments are the vendor's and the
 * operator's, not one customer's.
 */
import type { Kysely } from 'kysely';
import type { Schema } from '../db/schema';
import { checkDeploymentPlan, type DeploymentPlan } from './deploymentPlan';
import { createDeploymentStore, type Deployment, type DeploymentStore, type DeploymentTerminal } from './deploymentStore';
import { createImageFiles } from './imageFiles';
import { createInventory, type Inventory, type InventoryEntry } from './inventory';
import { createPackageStore, type PackageStore } from './packageStore';
import type { KpiComparison } from './paymentKpis';
import { createRollout, type Rollout } from './rollout';
import { createUpdateNotices, type UpdateNotices } from './updateNotices';

export interface DeploymentReport {
  readonly deployment: Deployment;
  readonly terminals: readonly DeploymentTerminal[];
  readonly paymentKpis: KpiComparison;
}

export interface Tms {
  readonly packages: PackageStore;
  readonly deployments: DeploymentStore;
  readonly inventory: Inventory;
  readonly notices: UpdateNotices;
  readonly rollout: Rollout;
  /** Stores a checked plan and tells POSP about the first phase's terminals (B6). TMS_DEPLOYMENT_INVALID. */
  deploy(plan: DeploymentPlan): Promise<Deployment>;
  /** The deployment after the steps it calls for now, with every terminal's status and the payment comparison. */
  report(id: number): Promise<DeploymentReport>;
  halt(id: number, reason: string): Promise<Deployment>;
  resume(id: number): Promise<Deployment>;
  inventoryEntries(): Promise<InventoryEntry[]>;
}

export function createTms(db: Kysely<Schema>, dataDir: string, clock: () => Date = () => new Date()): Tms {
  const packages = createPackageStore(db, createImageFiles(dataDir));
  const deployments = createDeploymentStore(db);
  const inventory = createInventory(db);
  const notices = createUpdateNotices(db);
  const rollout = createRollout({ db, deployments, packages, inventory, notices, clock });
  return {
    packages,
    deployments,
    inventory,
    notices,
    rollout,
    async deploy(plan) {
      const d = await deployments.create(checkDeploymentPlan(plan), clock());
      const first = (await deployments.terminals(d.id)).filter((t) => t.phase === 0).map((t) => t.serial);
      await notices.post(d.id, first, clock());
      return rollout.evaluate(d.id);
    },
    async report(id) {
      const deployment = await rollout.evaluate(id);
      return { deployment, terminals: await deployments.terminals(id), paymentKpis: await rollout.paymentKpis(deployment) };
    },
    halt: (id, reason) => deployments.halt(id, reason, clock()),
    resume: async (id) => {
      await deployments.resume(id, clock());
      return rollout.evaluate(id);
    },
    inventoryEntries: () => inventory.entries(),
  };
}
