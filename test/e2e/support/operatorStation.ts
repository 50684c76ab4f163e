/**
 * An operating terminal's station for the end-to-end tests: the three identity files
 * `paypad ca issue --out DIR` writes, and `paypad mtms device enrol` (the production line, A8) and
 * `paypad operator onboard` run with them against a terminal's local link.
 */
import { join } from 'node:path';
import type { OutboxRow, OutboxStore } from '../../../host/outbox/outboxStore';
import { IDENTITY_FILES } from '../../../host/tls/identity';
import { eventually } from './loopback';
import { type CliResult, paypadResult } from './paypadCli';

export interface StationFiles {
  readonly cert: string;
  readonly key: string;
  readonly ca: string;
}

/** The identity files in `dir`; `ca` overrides the CA certificate the station trusts MTMS by. */
export function stationFiles(dir: string, ca = join(dir, IDENTITY_FILES.ca)): StationFiles {
  return { cert: join(dir, IDENTITY_FILES.cert), key: join(dir, IDENTITY_FILES.key), ca };
}

/** What `paypad operator onboard --json` prints (host/operator/onboarding OnboardingResult). */
export interface OnboardingReceipt {
  readonly serial: string;
  readonly customerCode: string;
  readonly customerName: string;
  readonly deliveryId: string;
  readonly reassociatedFrom?: string;
}

/** `paypad operator onboard --yes --json` (answers: `--customer CODE` instead of `--yes`). */
export function runOnboard(link: string, mtmsUrl: string, station: StationFiles, answers: readonly string[] = ['--yes']): Promise<CliResult> {
  return paypadResult(['operator', 'onboard', '--link', link, '--mtms', mtmsUrl, '--cert', station.cert, '--key', station.key, '--ca', station.ca, '--json', ...answers]);
}

/** As runOnboard, for a run that must succeed: its receipt. @throws Error with the CLI's stderr otherwise. */
export async function onboard(link: string, mtmsUrl: string, station: StationFiles): Promise<OnboardingReceipt> {
  const result = await runOnboard(link, mtmsUrl, station);
  if (result.code !== 0) throw new Error(`paypad operator onboard exited ${result.code}: ${result.stderr}`);
  return JSON.parse(result.stdout) as OnboardingReceipt;
}

/** What `paypad mtms device enrol --json` prints (host/operator/deviceEnrolment EnrolmentResult). */
export interface EnrolmentReceipt {
  readonly serial: string;
  readonly deviceCertSerial: string;
  readonly publicKeyCheck: string;
}

/** `paypad mtms device enrol --json` with the station's files. */
export function runEnrol(link: string, mtmsUrl: string, station: StationFiles): Promise<CliResult> {
  return paypadResult(['mtms', 'device', 'enrol', '--link', link, '--mtms', mtmsUrl, '--cert', station.cert, '--key', station.key, '--ca', station.ca, '--json']);
}

/** As runEnrol, for a run that must succeed. @throws Error with the CLI's stderr otherwise. */
export async function enrol(link: string, mtmsUrl: string, station: StationFiles): Promise<EnrolmentReceipt> {
  const result = await runEnrol(link, mtmsUrl, station);
  if (result.code !== 0) throw new Error(`paypad mtms device enrol exited ${result.code}: ${result.stderr}`);
  return JSON.parse(result.stdout) as EnrolmentReceipt;
}

/** The outbox row of `deliveryId` once `ready` holds for it (bounded by `timeoutMs`). */
export function outboxRowWhen(outbox: OutboxStore, deliveryId: string, ready: (row: OutboxRow) => boolean, what: string, timeoutMs = 20_000): Promise<OutboxRow> {
  return eventually(
    async () => {
      const row = await outbox.byKey(deliveryId);
      return row !== undefined && ready(row) ? row : undefined;
    },
    `delivery ${deliveryId}: ${what}`,
    {
      timeoutMs,
      describe: async () => {
        const row = await outbox.byKey(deliveryId);
        return row === undefined ? 'no outbox row' : `${row.state}, ${row.attempts} attempts, last error ${row.lastError ?? 'none'}`;
      },
    },
  );
}
