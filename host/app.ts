/**
 * The host's Express application: request logging, JSON bodies with a size limit, /healthz, the
 * roles' routers, then the not-found handler and the one error handler, in that order.
 */
import express, { type Express } from 'express';
import { PaypadError } from '../shared/errors';
import { pingDatabase } from './db/database';
import { createListenerApp } from './http/errors';
import { keepRawBody } from './http/rawBody';
import type { RoleContext, RoleModule } from './roles';

/**
 * Protocol messages are small JSON documents; program images and other large payloads use raw
 * bodies on their own routes with their own limits.
 */
export const JSON_BODY_LIMIT_BYTES = 64 * 1024;

export interface AppDeps extends RoleContext {
  readonly version: string;
  readonly roles: readonly RoleModule[];
}

export interface HealthBody {
  status: 'ok';
  db: 'sqlite' | 'postgres';
  version: string;
}

export function createApp(deps: AppDeps): Express {
  return createListenerApp(deps.logger, (app) => {
    app.use(express.json({ limit: JSON_BODY_LIMIT_BYTES, verify: keepRawBody }));

    // Healthy means able to serve: the process is up and the database answers a real query.
    app.get('/healthz', async (_req, res) => {
      await pingDatabase(deps.database);
      const body: HealthBody = { status: 'ok', db: deps.database.dialect, version: deps.version };
      res.set('Cache-Control', 'no-store').json(body);
    });

    const mounted = new Set<string>();
    for (const role of deps.roles) {
      if (mounted.has(role.mountPath)) throw new PaypadError('CONFIG_INVALID', `two roles mount at ${role.mountPath}`);
      mounted.add(role.mountPath);
      app.use(role.mountPath, role.createRouter(deps));
    }
  });
}
