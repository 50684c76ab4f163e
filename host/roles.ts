/**
 * The back-office roles the host can run. A role is a folder host/<role>/ whose router.ts exports
 * a RoleModule; mounting it is one line in ROLES below. `paypad serve` runs every role in ROLES.
 */
import type { Router } from 'express';
import type { HostConfig } from './config';
import type { Database } from './db/database';
import type { Logger } from './log';
import { phoneWebAppRole } from './bills/web/phoneWebApp';

/** What a role's router gets from the host: nothing global, so tests build it from fakes. */
export interface RoleContext {
  readonly config: HostConfig;
  readonly database: Database;
  readonly logger: Logger;
}

export interface RoleModule {
  /** "kms", "mtms" ...: also the name `paypad serve --role` will take. */
  readonly name: string;
  /** Where its routes live, e.g. "/kms". */
  readonly mountPath: `/${string}`;
  createRouter(context: RoleContext): Router;
}

// Add a role: `import { kmsRole } from './kms/router';` and append `kmsRole` here.
export const ROLES: readonly RoleModule[] = [phoneWebAppRole];
