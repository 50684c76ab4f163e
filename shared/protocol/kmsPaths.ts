/**
 * The KMS's HTTP paths, one definition for the KMS router and the terminal's KMS client
 * (docs/key-loading.md). The MAC covers the path, so both sides must build it identically.
 */
export const KMS_API_PREFIX = '/kms/v1';

export type KmsTerminalRoute = 'tmk' | 'sign-on';

/** e.g. /kms/v1/terminals/PP-0001/tmk (A11) or .../sign-on (A12); `serial` is already validated. */
export function kmsTerminalPath(serial: string, route: KmsTerminalRoute): string {
  return `${KMS_API_PREFIX}/terminals/${serial}/${route}`;
}
