/**
 * host/demoData.ts (issue 3 item 9): a fresh database gets two customers with KMS addresses, their
 * serials (C002's as a production order, A9) and an operator certificate, once; a database with
 * customers of its own never gets invented ones.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createAuditStore } from '../../../host/audit/auditStore';
import { DEMO_CUSTOMERS, ensureDemoData, kmsUrlOn, operatorDirectory } from '../../../host/demoData';
import { createKmsFleet, type KmsFleet, listCustomers } from '../../../host/kmsFleet';
import { createMtmsStore, type MtmsStore } from '../../../host/mtms/mtmsStore';
import { readOperatorIdentity } from '../../../host/operator/operatorIdentity';
import { DIALECTS } from '../../store/helpers/testDatabase';
import { captureLogger } from './helpers/captureLogger';
import { type Composition, openComposition } from './helpers/composition';

describe('kmsUrlOn', () => {
  it('names the address a client on this machine uses: loopback for a wildcard, IPv6 in brackets', () => {
    expect(kmsUrlOn('127.0.0.1', 8790)).toBe('https://127.0.0.1:8790');
    expect(kmsUrlOn('0.0.0.0', 8791)).toBe('https://127.0.0.1:8791');
    expect(kmsUrlOn('::', 8791)).toBe('https://127.0.0.1:8791');
    expect(kmsUrlOn('::1', 9000)).toBe('https://[::1]:9000');
    expect(kmsUrlOn('pos-host.example', 443)).toBe('https://pos-host.example:443');
  });
});

describe.each(DIALECTS)('demo data (%s)', (dialect) => {
  let c: Composition;
  let store: MtmsStore;
  let fleet: KmsFleet;
  beforeEach(async () => {
    c = await openComposition(dialect);
    store = createMtmsStore(c.database.db, c.database.dialect);
  });
  afterEach(async () => {
    await fleet?.close({ graceMs: 0 });
    await c.cleanup();
  });
  const ensure = (kmsBasePort = 18790) => {
    fleet = createKmsFleet({ dataDir: c.dataDir, db: c.database.db, ca: c.ca, host: '127.0.0.1', basePort: kmsBasePort, logger: captureLogger('silent').logger });
    return ensureDemoData({ dataDir: c.dataDir, db: c.database.db, dialect: c.database.dialect, ca: c.ca, fleet, host: '127.0.0.1', kmsBasePort, logger: captureLogger('silent').logger });
  };

  it('A3, A7, A9: an empty database gets C001 and C002 with KMS URLs from the base port, their serials, and an operator certificate', async () => {
    expect(await ensure()).toBe('added');
    const customers = await listCustomers(c.database.db);
    expect(customers.map((x) => [x.code, x.name, x.kmsUrl])).toEqual([
      ['C001', 'Acme Acquiring', 'https://127.0.0.1:18790'],
      ['C002', 'Borealis Bank', 'https://127.0.0.1:18791'],
    ]);
    for (const demo of DEMO_CUSTOMERS) {
      for (const serial of demo.serials) expect(await store.serial(serial)).toMatchObject({ customerCode: demo.code, customerName: demo.name });
    }
    const c002 = await store.serial('PP-2001');
    expect(c002?.orderId).toBeDefined();
    expect((await store.order(c002!.orderId!))?.serials).toEqual(['PP-2001', 'PP-2002']);
    expect((await store.serial('PP-1001'))?.orderId).toBeUndefined();

    const dir = operatorDirectory(c.dataDir);
    const { subject } = await readOperatorIdentity({ cert: join(dir, 'cert.pem'), key: join(dir, 'key.pem'), ca: join(dir, 'ca.pem') });
    expect(subject).toMatchObject({ role: 'operator', name: 'demo operator' });
    expect(statSync(join(dir, 'key.pem')).mode & 0o077).toBe(0);
    expect(readFileSync(join(dir, 'ca.pem'), 'utf8')).toBe(c.ca.caCertificatePem);
  });

  it('a second run changes nothing: no customer, serial, certificate or audit entry is added twice', async () => {
    await ensure();
    const cert = readFileSync(join(operatorDirectory(c.dataDir), 'cert.pem'), 'utf8');
    const issued = (await c.ca.list()).length;
    await fleet.close({ graceMs: 0 });
    expect(await ensure()).toBe('present');
    expect((await listCustomers(c.database.db)).map((x) => x.code)).toEqual(['C001', 'C002']);
    expect(readFileSync(join(operatorDirectory(c.dataDir), 'cert.pem'), 'utf8')).toBe(cert);
    expect((await c.ca.list()).length).toBe(issued);
    expect(await createAuditStore(c.database.db).listBySubject('host:demo-data')).toHaveLength(1);
  });

  it('a database with a customer of its own gets no demo customer, serial or operator certificate', async () => {
    await store.addCustomer({ code: 'REAL', name: 'Real Acquirer', kmsUrl: 'https://kms.real.example' }, 'admin:test');
    expect(await ensure()).toBe('skipped');
    expect((await listCustomers(c.database.db)).map((x) => x.code)).toEqual(['REAL']);
    expect(await store.serial('PP-1001')).toBeUndefined();
    expect(existsSync(operatorDirectory(c.dataDir))).toBe(false);
  });

  it('a start cut short (C001 and one serial recorded, no marker) is completed, keeping what exists', async () => {
    await store.addCustomer({ code: 'C001', name: 'Acme Acquiring', kmsUrl: 'https://127.0.0.1:18790' }, 'host:demo-data');
    await store.addSerials(['PP-1002'], 'C001', 'host:demo-data');
    expect(await ensure()).toBe('added');
    expect((await listCustomers(c.database.db)).map((x) => x.code)).toEqual(['C001', 'C002']);
    for (const serial of ['PP-1001', 'PP-1002', 'PP-1003', 'PP-2001', 'PP-2002']) expect(await store.serial(serial)).toBeDefined();
    expect(existsSync(join(operatorDirectory(c.dataDir), 'cert.pem'))).toBe(true);
  });

  it('base port 0: each demo KMS is started first and the URL it is bound to is recorded', async () => {
    expect(await ensure(0)).toBe('added');
    const customers = await listCustomers(c.database.db);
    expect(customers.map((x) => x.kmsUrl)).toEqual(['C001', 'C002'].map((code) => fleet.get(code)?.url));
    expect(customers.every((x) => !x.kmsUrl.endsWith(':0'))).toBe(true);
  });
});
