/**
 * Does the new version pay as well as the old one? Beyond every rollout system we follow
 * (hawkBit stops on install errors only): a phase also halts when the terminals already on the
 * new version decline or time out more than the terminals still on the old version, at the same
 * merchants, over the same time.
 *
 * Read from POSP's own journal (posp_transactions), nothing added to POSP: each authorisation is
 * counted for the version its terminal ran when POSP recorded it, found in the TMS's version
 * history (inventory.ts: a new program reports its version at its first start, before it takes a
 * payment). The merchants are the customers of the deployment's terminals (POSP runs one merchant
 * per customer, host/posp/simulatedAcquirer). Counted from the phase's start, ended
 * authorisations only:
 *   decline rate  declined / ended
 *   timeout rate  (reversed + reversal_failed) / ended: POSP reverses every authorisation it got
 *                 no answer to in time (host/posp/cardAuthoriser), so its timeouts and its
 *                 reversals are the same events and one rate covers both.
 */
import type { Kysely } from 'kysely';
import { compareVersions } from '../../shared/protocol/updateVersion';
import { isoTimestamp, type Schema } from '../db/schema';
import type { KmsTables } from '../kms/kmsStore';
import type { PospTables } from '../posp/pospStore';
import type { KpiLimits } from './deploymentPlan';
import type { Inventory, InventoryEntry } from './inventory';

export interface PaymentRates {
  readonly ended: number;
  readonly declined: number;
  readonly timedOut: number;
}

export interface KpiComparison {
  readonly newVersion: PaymentRates;
  readonly oldVersion: PaymentRates;
  /** Why the new version falls behind, when it does and both samples are large enough. */
  readonly behind?: string;
}

export interface KpiQuery {
  readonly program: string;
  readonly version: string;
  /** The deployment's terminals: their customers are the merchants compared. */
  readonly serials: readonly string[];
  readonly since: Date;
  readonly limits: KpiLimits;
}

const EMPTY: PaymentRates = { ended: 0, declined: 0, timedOut: 0 };

/** The version of `program` a terminal ran at `at`, from its reports (oldest first). */
function versionAt(history: readonly InventoryEntry[], program: string, at: string): string | undefined {
  let found: string | undefined;
  for (const h of history) {
    if (h.reportedAt.toISOString() > at) break;
    found = h.versions[program] ?? found;
  }
  return found;
}

const percent = (n: number, of: number) => (of === 0 ? 0 : (100 * n) / of);

/** The comparison for one phase; `behind` set when a rate of the new version passes the limit. */
export async function comparePaymentKpis(schemaDb: Kysely<Schema>, inventory: Inventory, q: KpiQuery): Promise<KpiComparison> {
  const db = schemaDb.withTables<PospTables & KmsTables>();
  if (q.serials.length === 0) return { newVersion: EMPTY, oldVersion: EMPTY };
  const customers = (await db.selectFrom('kms_terminals').select('customer_code').distinct().where('serial', 'in', [...q.serials]).execute()).map((r) => r.customer_code);
  if (customers.length === 0) return { newVersion: EMPTY, oldVersion: EMPTY };
  const rows = await db
    .selectFrom('posp_transactions')
    .select(['serial', 'state', 'created_at'])
    .where('customer_code', 'in', customers)
    .where('created_at', '>=', isoTimestamp(q.since))
    .where('state', '!=', 'authorising')
    .orderBy('created_at')
    .execute();
  const serials = [...new Set(rows.map((r) => r.serial))];
  const bySerial = new Map<string, InventoryEntry[]>();
  for (const h of await inventory.history(serials)) bySerial.set(h.serial, [...(bySerial.get(h.serial) ?? []), h]);

  const tally = { new: { ...EMPTY }, old: { ...EMPTY } };
  for (const r of rows) {
    const version = versionAt(bySerial.get(r.serial) ?? [], q.program, r.created_at);
    if (version === undefined) continue;
    const side = compareVersions(version, q.version) === 0 ? tally.new : compareVersions(version, q.version) < 0 ? tally.old : undefined;
    if (side === undefined) continue;
    side.ended++;
    if (r.state === 'declined') side.declined++;
    if (r.state === 'reversed' || r.state === 'reversal_failed') side.timedOut++;
  }
  const comparison = { newVersion: tally.new, oldVersion: tally.old };
  if (tally.new.ended < q.limits.minTransactions || tally.old.ended < q.limits.minTransactions) return comparison;
  for (const [what, key] of [
    ['decline', 'declined'],
    ['timeout', 'timedOut'],
  ] as const) {
    const fresh = percent(tally.new[key], tally.new.ended);
    const old = percent(tally.old[key], tally.old.ended);
    if (fresh - old > q.limits.maxRateIncreasePoints) {
      return { ...comparison, behind: `${what} rate of ${q.version} is ${fresh.toFixed(1)}% against ${old.toFixed(1)}% for older versions at the same merchants (limit +${q.limits.maxRateIncreasePoints} points)` };
    }
  }
  return comparison;
}
