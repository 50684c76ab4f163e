/**
 * The TMS's tables as Kysely sees them (migration.ts says what each holds). Append-only columns
 * are typed so that an update of them does not compile.
 */
import type { ColumnType, Generated } from 'kysely';
import type { IsoTimestamp } from '../db/schema';

type Fixed<T> = ColumnType<T, T, never>;

export type DeploymentMode = 'forced' | 'attempt';
export type DeploymentState = 'running' | 'halted' | 'completed';
export type TerminalUpdateStatus = 'pending' | 'downloading' | 'installing' | 'success' | 'failed';
export type SessionState = 'challenged' | 'authenticated' | 'refused' | 'closed';

// Type aliases, not interfaces: Kysely's withTables needs types with implicit index signatures.
export type TmsTables = {
  tms_vendor_keys: {
    key_id: Fixed<string>;
    name: Fixed<string>;
    public_key: Fixed<string>;
    created_at: Fixed<IsoTimestamp>;
  };
  tms_packages: {
    id: Generated<number>;
    name: Fixed<string>;
    version: Fixed<string>;
    models: Fixed<string>;
    image_size: Fixed<number>;
    image_sha256: Fixed<string>;
    min_version: Fixed<string>;
    security_counter: Fixed<number>;
    metadata_version: Fixed<number>;
    expires: Fixed<IsoTimestamp>;
    manifest: Fixed<string>;
    signature: Fixed<string>;
    vendor_key_id: Fixed<string>;
    created_at: Fixed<IsoTimestamp>;
  };
  tms_groups: {
    serial: Fixed<string>;
    group_name: Fixed<string>;
  };
  tms_deployments: {
    id: Generated<number>;
    package_id: Fixed<number>;
    targets: Fixed<string>;
    phases: Fixed<string>;
    failure_threshold_percent: Fixed<number>;
    kpi_limits: Fixed<string>;
    not_before: Fixed<IsoTimestamp | null>;
    not_after: Fixed<IsoTimestamp | null>;
    window_start_minute: Fixed<number | null>;
    window_end_minute: Fixed<number | null>;
    mode: Fixed<DeploymentMode>;
    state: DeploymentState;
    current_phase: number;
    phase_started_at: IsoTimestamp;
    halt_reason: string | null;
    created_at: Fixed<IsoTimestamp>;
    updated_at: IsoTimestamp;
  };
  tms_deployment_terminals: {
    deployment_id: Fixed<number>;
    serial: Fixed<string>;
    phase: Fixed<number>;
    status: TerminalUpdateStatus;
    code: number | null;
    updated_at: IsoTimestamp;
  };
  tms_sessions: {
    session_id: Fixed<string>;
    customer_code: Fixed<string>;
    serial: Fixed<string>;
    package_id: Fixed<number>;
    deployment_id: Fixed<number>;
    dwk_block: Fixed<string>;
    dwk_kcv: Fixed<string>;
    s_data: Fixed<string>;
    state: SessionState;
    created_at: Fixed<IsoTimestamp>;
    expires_at: Fixed<IsoTimestamp>;
  };
  tms_reports: {
    id: Generated<number>;
    customer_code: Fixed<string>;
    serial: Fixed<string>;
    model: Fixed<string>;
    versions: Fixed<string>;
    deployment_id: Fixed<number | null>;
    stage: Fixed<string>;
    code: Fixed<number>;
    at: Fixed<IsoTimestamp>;
  };
  tms_notices: {
    customer_code: Fixed<string>;
    serial: Fixed<string>;
    deployment_id: Fixed<number>;
    created_at: Fixed<IsoTimestamp>;
    delivered_at: IsoTimestamp | null;
  };
};
