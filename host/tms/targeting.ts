/**
 * B2: which package the TMS offers a terminal now. A running deployment offers its package to a
 * terminal when all of these hold:
 *   - the terminal is in the deployment, in the running phase or an earlier one; a terminal that
 *     matches its targets (serial, group, or the model it reports now) but was not known when the
 *     deployment was made joins the running phase (hawkBit users asked for this);
 *   - now is inside the deployment's effective window (not before / not after) and inside its
 *     daily maintenance window;
 *   - the package is for the terminal's model, above the installed version of that program, and
 *     the installed version is at least the package's minimum; its manifest has not expired;
 *   - the terminal has not succeeded yet, and has not failed in attempt mode (forced mode offers
 *     it again).
 * The highest version on offer wins. The terminal checks all of it again itself (updateManifest).
 */
import { compareVersions } from '../../shared/protocol/updateVersion';
import { insideMaintenanceWindow } from './deploymentPlan';
import type { Deployment, DeploymentStore, DeploymentTerminal } from './deploymentStore';
import type { InstalledVersions } from './inventory';
import type { PackageStore, StoredPackage } from './packageStore';

export interface TerminalView {
  readonly serial: string;
  readonly model: string;
  readonly installed: InstalledVersions;
}

export interface Offer {
  readonly deployment: Deployment;
  readonly package: StoredPackage;
  readonly member: DeploymentTerminal;
}

function matchesTargets(d: Deployment, t: TerminalView, groups: readonly string[]): boolean {
  return d.targets.serials.includes(t.serial) || d.targets.models.includes(t.model) || d.targets.groups.some((g) => groups.includes(g));
}

function packageFits(pkg: StoredPackage, t: TerminalView, now: Date): boolean {
  const m = pkg.manifest;
  const installed = t.installed[m.name];
  return (
    installed !== undefined &&
    m.models.includes(t.model) &&
    compareVersions(m.version, installed) > 0 &&
    compareVersions(installed, m.minimumVersion) >= 0 &&
    Date.parse(m.expires) > now.getTime()
  );
}

function withinWindows(d: Deployment, now: Date): boolean {
  if (d.notBefore !== undefined && now < d.notBefore) return false;
  if (d.notAfter !== undefined && now >= d.notAfter) return false;
  return insideMaintenanceWindow(d.maintenanceWindow, now);
}

/** The offer for this terminal now, if any (may add the terminal to a deployment it matches). */
export async function findOffer(deployments: DeploymentStore, packages: PackageStore, t: TerminalView, now: Date): Promise<Offer | undefined> {
  let best: Offer | undefined;
  const groups = await deployments.groupsOf(t.serial);
  for (const d of await deployments.running()) {
    if (!withinWindows(d, now)) continue;
    const pkg = await packages.get(d.packageId);
    if (!packageFits(pkg, t, now)) continue;
    let member = await deployments.terminal(d.id, t.serial);
    if (member === undefined) {
      if (!matchesTargets(d, t, groups)) continue;
      member = await deployments.join(d.id, t.serial, d.currentPhase, now);
    }
    if (member.phase > d.currentPhase || member.status === 'success') continue;
    if (member.status === 'failed' && d.mode === 'attempt') continue;
    if (best === undefined || compareVersions(pkg.manifest.version, best.package.manifest.version) > 0) best = { deployment: d, package: pkg, member };
  }
  return best;
}
