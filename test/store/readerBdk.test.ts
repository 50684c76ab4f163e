/**
 * E4, X1: the card readers' BDK as the gateway keeps it (host/gateway/readerBdk.ts), on every
 * dialect and on both HSM backends: the components combined in the HSM and kept as its key block
 * (B0, mode X, never exportable), usable by another instance of the same HSM (the command's HSM
 * and the host's are two processes); a refused ceremony changes nothing (a BDK the HSM cannot
 * derive from included); a second load is refused,
 * also when two race; a replacement is explicit and audited; no row holds the key in clear.
 */
import { describe, expect, it } from 'vitest';
import { fromHex, toHex, xorBytes } from '../../shared/bytes';
import { dukptHostWorkingKey } from '../../shared/crypto/dukpt';
import { keyCheckValue } from '../../shared/crypto/kcv';
import { parseKeyBlockHeader } from '../../shared/crypto/tr31Header';
import { createAuditStore } from '../../host/audit/auditStore';
import { createReaderBdkStore, READER_BDK_SUBJECT } from '../../host/gateway/readerBdk';
import { createHsm } from '../../host/hsm/index';
import { findKeys } from '../e2e/support/keyLeakScan';
import { databaseRows } from '../e2e/support/runArtifacts';
import { forEachHsmBackend, rng } from '../unit/hsm/hsmTestKit';
import { DIALECTS, useMigratedDatabase } from './helpers/testDatabase';

/** The published AES-128 BDK of ANSI X9.24-3-2017's test vectors, and a KSN of its initial key ID. */
const BDK = fromHex('FEDCBA9876543210F1F1F1F1F1F1F1F1');
const KSN = fromHex('123456789012345600000001');

function componentsOf(key: Uint8Array) {
  const first = rng(key.length);
  return { components: [first, xorBytes(key, first)].map((value) => ({ value, kcv: toHex(keyCheckValue(value)) })), kcv: toHex(keyCheckValue(key)) };
}

describe.each(DIALECTS)('E4 the readers\' BDK on %s', (dialect) => {
  forEachHsmBackend((name) => `${name} HSM`, (backend) => {
    const database = useMigratedDatabase(dialect);
    it('E4: loaded from components, kept as a B0/X/N key block another instance of the HSM derives with; refusals change nothing; a second load is refused, a replacement audited; X1', async () => {
      const config = await backend.config();
      const [commandHsm, hostHsm] = [await createHsm(config), await createHsm(config)];
      try {
        const store = createReaderBdkStore(database(), () => new Date('2026-12-06T07:00:00.000Z'));
        const { components, kcv } = componentsOf(BDK);
        expect(await store.current()).toBeUndefined();

        await expect(store.load({ hsm: commandHsm, components, kcv: toHex(keyCheckValue(rng(16))), actor: 'admin:alice' })).rejects.toMatchObject({ code: 'KCV_MISMATCH' });
        await expect(store.load({ hsm: commandHsm, components: [components[0], { value: rng(24), kcv: components[1].kcv }], kcv, actor: 'admin:alice' })).rejects.toMatchObject({ code: 'BAD_LENGTH' });
        await expect(store.load({ hsm: commandHsm, components: [components[0], components[0]], kcv, actor: 'admin:alice' })).rejects.toMatchObject({ code: 'KEY_COMPONENTS_INVALID' });
        expect(await store.current()).toBeUndefined();

        // Two ceremonies at once: one BDK is kept, the other is told so.
        const other = componentsOf(rng(16));
        const raced = await Promise.allSettled([store.load({ hsm: commandHsm, components, kcv, actor: 'admin:alice' }), store.load({ hsm: hostHsm, ...other, actor: 'admin:bob' })]);
        expect(raced.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
        expect(raced.filter((r) => r.status === 'rejected').map((r) => (r as PromiseRejectedResult).reason.code)).toEqual(['READER_BDK_LOADED']);
        const winner = raced[0].status === 'fulfilled' ? { components, kcv, key: BDK } : { ...other, key: undefined };
        if (winner.key === undefined) {
          // The other ceremony won the race: replace it with the published BDK, as an operator would.
          expect(await store.load({ hsm: commandHsm, components, kcv, replace: true, actor: 'admin:alice' })).toMatchObject({ kcv, replacedKcv: other.kcv });
        }

        const handle = await store.current();
        expect(handle?.kcv).toBe(kcv);
        const { header } = parseKeyBlockHeader(handle!.block);
        expect([header.keyUsage, header.algorithm, header.modeOfUse, header.exportability]).toEqual(['B0', 'A', 'X', 'N']);
        // The host's HSM instance opens what the command's stored, and derives the published key from it.
        const dataKey = await hostHsm.deriveDukptWorkingKey(handle!, KSN, 'data-encrypt');
        expect(dataKey.kcv).toBe(toHex(keyCheckValue(dukptHostWorkingKey(BDK, KSN, 'data-encrypt'))));
        await expect(store.load({ hsm: commandHsm, components, kcv, actor: 'admin:alice' })).rejects.toMatchObject({ code: 'READER_BDK_LOADED', kcv });

        if (backend.name === 'pkcs11') {
          // This HSM derives DUKPT keys from AES-128 BDKs only: a longer one is refused at the ceremony, not at every read.
          await expect(store.load({ hsm: commandHsm, ...componentsOf(rng(32)), replace: true, actor: 'admin:carol' })).rejects.toMatchObject({ code: 'HSM_COMMAND_UNSUPPORTED' });
          expect((await store.current())?.kcv).toBe(kcv);
        }
        const next = componentsOf(rng(backend.name === 'pkcs11' ? 16 : 32));
        expect(await store.load({ hsm: commandHsm, ...next, replace: true, actor: 'admin:carol' })).toEqual({ kcv: next.kcv, loadedAt: '2026-12-06T07:00:00.000Z', loadedBy: 'admin:carol', replacedKcv: kcv });
        expect(await store.status()).toEqual({ kcv: next.kcv, loadedAt: '2026-12-06T07:00:00.000Z', loadedBy: 'admin:carol' });
        const trail = await createAuditStore(database().db).listBySubject(READER_BDK_SUBJECT);
        expect(trail.at(-1)).toMatchObject({ actor: 'admin:carol', action: 'gateway.reader-bdk.replaced', detail: { kcv: next.kcv, components: 2, replacedKcv: kcv } });
        expect(trail.filter((e) => e.action === 'gateway.reader-bdk.loaded')).toHaveLength(1);

        const secrets = [BDK, ...components.map((c) => c.value), ...other.components.map((c) => c.value), ...next.components.map((c) => c.value)].map((key, i) => ({ label: `key ${i}`, key }));
        expect(findKeys(secrets, await databaseRows(database()))).toEqual([]);
      } finally {
        await Promise.all([commandHsm.close(), hostHsm.close()]);
      }
    });
  });
});
