/**
 * A8/A10: MTMS pins each customer's KMS intake key at its first delivery (host/mtms/kmsKeyPins.ts),
 * on every dialect: the same key passes, another key is refused (MTMS_KMS_KEY_CHANGED), recorded
 * and audited once, and becomes the pin only when an administrator accepts its check value.
 */
import { createECDH, createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createAuditStore } from '../../host/audit/auditStore';
import { createKmsKeyPins } from '../../host/mtms/kmsKeyPins';
import { createMtmsStore } from '../../host/mtms/mtmsStore';
import { DIALECTS, useMigratedDatabase } from './helpers/testDatabase';

function intakeKey(certSerial: string) {
  const publicKey = new Uint8Array(createECDH('prime256v1').generateKeys());
  return { publicKey, kcv: createHash('sha256').update(publicKey).digest().subarray(0, 5).toString('hex').toUpperCase(), certSerial };
}

describe.each(DIALECTS)('A8 KMS intake key pins on %s', (dialect) => {
  const database = useMigratedDatabase(dialect);

  it('A8 pins the first key, refuses another until an administrator accepts it, and audits each step', async () => {
    const db = database().db;
    const pins = createKmsKeyPins(db, () => new Date('2026-12-01T08:00:00.000Z'));
    await createMtmsStore(db, dialect).addCustomer({ code: 'ACME', name: 'Acme Bank', kmsUrl: 'https://kms.example:8790' }, 'admin:test');
    const first = intakeKey('0AAA');
    const swapped = intakeKey('0BBB');

    expect(await pins.pinnedKmsKey('ACME', first)).toEqual(first.publicKey);
    expect(await pins.pinnedKmsKey('ACME', first)).toEqual(first.publicKey);
    for (let i = 0; i < 2; i++) {
      await expect(pins.pinnedKmsKey('ACME', swapped)).rejects.toMatchObject({ code: 'MTMS_KMS_KEY_CHANGED', message: expect.stringContaining(`--kcv ${swapped.kcv}`) });
    }
    expect(await pins.kmsKeyPins()).toEqual([
      { customerCode: 'ACME', kcv: first.kcv, pinnedAt: expect.any(Date), pinnedBy: 'mtms', certSerial: '0AAA', offered: { kcv: swapped.kcv, at: expect.any(Date), certSerial: '0BBB' } },
    ]);
    // The pinned key still passes while the change waits.
    expect(await pins.pinnedKmsKey('ACME', first)).toEqual(first.publicKey);

    await expect(pins.acceptKmsKey('ACME', first.kcv, 'admin:alice')).rejects.toMatchObject({ code: 'BAD_ARGUMENT', message: expect.stringContaining(`waiting has check value ${swapped.kcv}`) });
    await expect(pins.acceptKmsKey('NOSUCH', swapped.kcv, 'admin:alice')).rejects.toMatchObject({ code: 'BAD_ARGUMENT' });
    expect(await pins.acceptKmsKey('ACME', swapped.kcv.toLowerCase(), 'admin:alice')).toEqual({ customerCode: 'ACME', kcv: swapped.kcv, pinnedAt: expect.any(Date), pinnedBy: 'admin:alice', certSerial: '0BBB' });
    expect(await pins.pinnedKmsKey('ACME', swapped)).toEqual(swapped.publicKey);
    await expect(pins.pinnedKmsKey('ACME', first)).rejects.toMatchObject({ code: 'MTMS_KMS_KEY_CHANGED' });
    await expect(pins.acceptKmsKey('ACME', swapped.kcv, 'admin:alice')).rejects.toMatchObject({ code: 'BAD_ARGUMENT', message: expect.stringContaining(`waiting has check value ${first.kcv}`) });

    const trail = (await createAuditStore(db).listBySubject('customer:ACME')).filter((e) => e.action.startsWith('mtms.kms-key.'));
    expect(trail.map((e) => [e.actor, e.action, e.detail])).toEqual([
      ['mtms', 'mtms.kms-key.pinned', { kcv: first.kcv, kmsCertSerial: '0AAA', how: 'first contact' }],
      ['mtms', 'mtms.kms-key.change-refused', { pinnedKcv: first.kcv, offeredKcv: swapped.kcv, kmsCertSerial: '0BBB' }],
      ['admin:alice', 'mtms.kms-key.accepted', { from: first.kcv, to: swapped.kcv, kmsCertSerial: '0BBB' }],
      ['mtms', 'mtms.kms-key.change-refused', { pinnedKcv: swapped.kcv, offeredKcv: first.kcv, kmsCertSerial: '0AAA' }],
    ]);
  });
});
