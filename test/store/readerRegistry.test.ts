/**
 * E4: the card readers' initial key IDs as the gateway records them (host/gateway/readerRegistry.ts)
 * on every dialect: registered, read back, registered again with the earlier one named and both
 * audited; a reader id or initial key ID of the wrong form changes nothing.
 */
import { describe, expect, it } from 'vitest';
import { toHex } from '../../shared/bytes';
import { createAuditStore } from '../../host/audit/auditStore';
import { createReaderRegistry } from '../../host/gateway/readerRegistry';
import { DIALECTS, useMigratedDatabase } from './helpers/testDatabase';

describe.each(DIALECTS)('E4 card reader registry on %s', (dialect) => {
  const database = useMigratedDatabase(dialect);

  it('E4: a reader registered, registered again after a new injection (audited with both), refused forms store nothing', async () => {
    const registry = createReaderRegistry(database(), () => new Date('2026-12-06T07:30:00.000Z'));
    expect(await registry.initialKeyId('till-1')).toBeUndefined();
    await expect(registry.register('till 1', '1234567890123456', 'admin:alice')).rejects.toMatchObject({ code: 'BAD_ARGUMENT' });
    await expect(registry.register('till-1', '12345678901234', 'admin:alice')).rejects.toMatchObject({ code: 'BAD_ARGUMENT' });
    await expect(registry.register('till-1', '123456789012345G', 'admin:alice')).rejects.toMatchObject({ code: 'BAD_ARGUMENT' });
    expect(await registry.list()).toEqual([]);

    expect(await registry.register('till-1', 'a1b2c3d400000001', 'admin:alice')).toEqual({ readerId: 'till-1', initialKeyId: 'A1B2C3D400000001', registeredAt: '2026-12-06T07:30:00.000Z', registeredBy: 'admin:alice' });
    await registry.register('till-2', 'A1B2C3D400000002', 'admin:alice');
    expect(toHex(await registry.initialKeyId('till-1') as Uint8Array)).toBe('A1B2C3D400000001');
    expect(await registry.register('till-1', 'A1B2C3D400000009', 'admin:bob')).toMatchObject({ initialKeyId: 'A1B2C3D400000009', registeredBy: 'admin:bob', replacedInitialKeyId: 'A1B2C3D400000001' });
    expect((await registry.list()).map((r) => [r.readerId, r.initialKeyId])).toEqual([
      ['till-1', 'A1B2C3D400000009'],
      ['till-2', 'A1B2C3D400000002'],
    ]);
    const trail = await createAuditStore(database().db).listBySubject('reader:till-1');
    expect(trail.map((e) => [e.actor, e.action, e.detail])).toEqual([
      ['admin:alice', 'gateway.reader.registered', { initialKeyId: 'A1B2C3D400000001' }],
      ['admin:bob', 'gateway.reader.registered', { initialKeyId: 'A1B2C3D400000009', replacedInitialKeyId: 'A1B2C3D400000001' }],
    ]);
  });
});
