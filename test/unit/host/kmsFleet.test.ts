/**
 * host/kmsFleet.ts (issue 3 item 9, X4, A7): the host runs the KMS of every customer whose
 * recorded KMS address is this machine, where the record says; MTMS reaches each at its real URL.
 */
import { createServer, type Server } from 'node:net';
import type { AddressInfo } from 'node:net';
import { connect } from 'node:tls';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createKmsFleet, type KmsFleet, listCustomers, localNames } from '../../../host/kmsFleet';
import { createMtmsStore, type MtmsStore } from '../../../host/mtms/mtmsStore';
import { DIALECTS } from '../../store/helpers/testDatabase';
import { captureLogger } from './helpers/captureLogger';
import { type Composition, openComposition } from './helpers/composition';

async function holdPort(): Promise<Server> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

async function freePort(): Promise<number> {
  const server = await holdPort();
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** The customer code in the certificate a KMS listener presents (O=), verified against the CA. */
function servedCustomer(url: string, caPem: string): Promise<string | undefined> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port), ca: caPem }, () => {
      const subject = socket.getPeerX509Certificate()?.subject ?? '';
      socket.end();
      resolve(/^O=(.*)$/m.exec(subject)?.[1]);
    });
    socket.once('error', reject);
  });
}

describe('localNames: the host names that reach this machine', () => {
  it('loopback names always, the listen address itself, IPv6 in brackets as URL.hostname spells them', () => {
    expect([...localNames('127.0.0.1')].sort()).toEqual(['127.0.0.1', '[::1]', 'localhost']);
    expect(localNames('::1').has('[::1]')).toBe(true);
    expect(localNames('10.20.30.40').has('10.20.30.40')).toBe(true);
    expect(localNames('10.20.30.40').has('10.20.30.41')).toBe(false);
    expect(localNames('POS-Host.example').has('pos-host.example')).toBe(true);
  });

  it('a wildcard listen address adds the addresses of every interface', () => {
    expect(localNames('0.0.0.0').has('127.0.0.1')).toBe(true);
    expect(localNames('0.0.0.0').size).toBeGreaterThanOrEqual(localNames('127.0.0.1').size);
  });
});

describe.each(DIALECTS)('KMS fleet (%s)', (dialect) => {
  let c: Composition;
  let store: MtmsStore;
  let fleet: KmsFleet | undefined;
  const blockers: Server[] = [];
  beforeEach(async () => {
    c = await openComposition(dialect);
    store = createMtmsStore(c.database.db, c.database.dialect);
  });
  afterEach(async () => {
    await fleet?.close({ graceMs: 0 });
    fleet = undefined;
    blockers.splice(0).forEach((b) => b.close());
    await c.cleanup();
  });
  const open = (basePort: number, logger = captureLogger('silent').logger) =>
    (fleet = createKmsFleet({ dataDir: c.dataDir, db: c.database.db, ca: c.ca, host: '127.0.0.1', basePort, logger }));

  it('A7: a local customer\'s KMS listens on the recorded port; an external one is left to its machine; urlOf says where each answers', async () => {
    const port = await freePort();
    await store.addCustomer({ code: 'LOCAL', name: 'Local Bank', kmsUrl: `https://localhost:${port}` }, 'admin:test');
    await store.addCustomer({ code: 'FAR', name: 'Far Bank', kmsUrl: 'https://kms.far-bank.example:8443' }, 'admin:test');
    const kms = open(1);
    await kms.sync();
    expect(kms.running().map((k) => k.customerCode)).toEqual(['LOCAL']);
    expect(kms.get('LOCAL')?.url).toBe(`https://127.0.0.1:${port}`);
    expect(await servedCustomer(kms.get('LOCAL')!.url, c.ca.caCertificatePem)).toBe('LOCAL');
    const customers = await listCustomers(c.database.db);
    expect(customers.map((x) => [x.code, kms.urlOf(x)])).toEqual([
      ['LOCAL', `https://127.0.0.1:${port}`],
      ['FAR', 'https://kms.far-bank.example:8443'],
    ]);
    expect(kms.failures().size).toBe(0);
  });

  it('base port 0: every KMS on a free port, and urlOf gives the bound URL, not the stale record', async () => {
    await store.addCustomer({ code: 'EPH', name: 'Ephemeral Bank', kmsUrl: 'https://127.0.0.1:9' }, 'admin:test');
    const kms = open(0);
    await kms.sync();
    const running = kms.get('EPH')!;
    expect(running.url).not.toBe('https://127.0.0.1:9');
    const [customer] = await listCustomers(c.database.db);
    expect(kms.urlOf(customer)).toBe(running.url);
    expect(await servedCustomer(running.url, c.ca.caCertificatePem)).toBe('EPH');
  });

  it('a KMS whose port is taken does not stop the others: logged once, listed in failures, started by a later sync', async () => {
    const blocker = await holdPort();
    blockers.push(blocker);
    const busyPort = (blocker.address() as AddressInfo).port;
    await store.addCustomer({ code: 'BUSY', name: 'Busy Bank', kmsUrl: `https://127.0.0.1:${busyPort}` }, 'admin:test');
    await store.addCustomer({ code: 'OK', name: 'Fine Bank', kmsUrl: `https://127.0.0.1:${await freePort()}` }, 'admin:test');
    const log = captureLogger('info');
    const kms = open(1, log.logger);
    await kms.sync();
    await kms.sync();
    expect(kms.running().map((k) => k.customerCode)).toEqual(['OK']);
    expect(kms.failures().get('BUSY')).toMatch(/^LISTEN_FAILED: KMS BUSY cannot listen on 127\.0\.0\.1:\d+: EADDRINUSE/);
    expect(log.entries().filter((e) => String(e.msg).startsWith('the KMS of BUSY did not start'))).toHaveLength(1);

    await new Promise((resolve) => blocker.close(resolve));
    await kms.sync();
    expect(kms.get('BUSY')?.url).toBe(`https://127.0.0.1:${busyPort}`);
    expect(kms.failures().size).toBe(0);
  });

  it('concurrent syncs and starts give a customer one KMS; start() for a running customer returns it', async () => {
    await store.addCustomer({ code: 'ONCE', name: 'Once Bank', kmsUrl: 'https://127.0.0.1:1' }, 'admin:test');
    const log = captureLogger('info');
    const kms = open(0, log.logger);
    const [, , started] = await Promise.all([kms.sync(), kms.sync(), kms.start('ONCE', 0), kms.sync()]);
    expect(kms.running()).toEqual([started]);
    expect(log.entries().filter((e) => String(e.msg).startsWith('KMS ONCE listening on'))).toHaveLength(1);
    expect(await kms.start('ONCE', 0)).toBe(started);
  });

  it('after close nothing listens and nothing more starts', async () => {
    await store.addCustomer({ code: 'GONE', name: 'Gone Bank', kmsUrl: 'https://127.0.0.1:1' }, 'admin:test');
    const kms = open(0);
    await kms.sync();
    const url = kms.get('GONE')!.url;
    await kms.close({ graceMs: 0 });
    await expect(servedCustomer(url, c.ca.caCertificatePem)).rejects.toThrow(/ECONNREFUSED/);
    await expect(kms.start('LATE', 0)).rejects.toMatchObject({ code: 'INTERNAL' });
  });
});
