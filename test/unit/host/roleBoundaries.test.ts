/**
 * Roles in host/ talk to each other through their services or HTTP, the way separate deployments
 * would: no role's routes are built from another role's router. What several roles' routes share
 * (the MAC'd terminal route) lives in host/http. Mounting another role's router on a listener is
 * composition, not a dependency of one role's routes on another's (the KMS listener serves POSP's
 * routes: host/posp/pospService.ts says why), so only router modules are checked.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const HOST = join(__dirname, '../../../host');
const ROUTER_IMPORT = /from '\.\.\/([A-Za-z]+)\/router'/g;

function routerImportsAcrossRoles(): string[] {
  const found: string[] = [];
  for (const role of readdirSync(HOST, { withFileTypes: true })) {
    if (!role.isDirectory()) continue;
    for (const file of readdirSync(join(HOST, role.name), { recursive: true, encoding: 'utf8' })) {
      if (!file.endsWith('router.ts')) continue;
      const text = readFileSync(join(HOST, role.name, file), 'utf8');
      for (const match of text.matchAll(ROUTER_IMPORT)) {
        if (match[1] !== role.name) found.push(`host/${role.name}/${file} imports host/${match[1]}/router`);
      }
    }
  }
  return found;
}

describe('X4: roles are separate deployments', () => {
  it('X4: no role\'s router imports another role\'s router (POSP takes the terminal route from host/http)', () => {
    expect(routerImportsAcrossRoles()).toEqual([]);
  });
});
