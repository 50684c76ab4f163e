/**
 * E7 on every dialect: the checkout payment's temporary card data (sensitiveDataVault.ts). Track 2
 * and the PIN block are kept only enciphered, bound to their order and kind, for a short lifetime;
 * a paid payment's are deleted at once, a failed one's by the next sweep, an abandoned one's when
 * the lifetime runs out; each deletion queues one "sensitive data deleted" event for the merchant
 * in the same outbox as the order notifications, naming the kinds and never the data.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { asciiToBytes } from '../../shared/bytes';
import { isPaypadError } from '../../shared/errors';
import { ORDER_NOTIFICATION_TOPIC } from '../../host/gateway/orderNotifications';
import { createSensitiveDataVault, type SensitiveDataVault, type SensitiveSubject } from '../../host/gateway/sensitiveDataVault';
import { createLogger } from '../../host/log';
import { TEST_CARDS } from '../../host/simulators/testCards';
import { findKeys } from '../e2e/support/keyLeakScan';
import { databaseRows } from '../e2e/support/runArtifacts';
import { DIALECTS, useMigratedDatabase } from './helpers/testDatabase';

const TRACK2 = `${TEST_CARDS.unionPay.pan}=${TEST_CARDS.unionPay.expiry}1011234500000`;
const PIN_BLOCK = Uint8Array.from({ length: 16 }, (_, i) => 0xa0 + i);
const subject = (n: number): SensitiveSubject => ({ orderNumber: `GO${String(n).padStart(24, '0')}`, merchantNo: '898300000000001', merchantOrderId: `MO-${n}`, notifyUrl: 'https://shop.example/notify' });

for (const dialect of DIALECTS) {
  describe(`E7: temporary card data of a checkout payment (${dialect})`, () => {
    const database = useMigratedDatabase(dialect);
    let vault: SensitiveDataVault | undefined;
    let now = new Date('2026-12-06T08:00:00Z');
    let woken = 0;
    const open = (ttlMs = 60_000) => {
      vault = createSensitiveDataVault({ db: database().db, logger: createLogger({ level: 'silent' }), onQueued: () => woken++, ttlMs, sweepMs: 3_600_000, clock: () => now });
      return vault;
    };
    const events = async () =>
      (await database().db.withTables<{ outbox: { topic: string; idempotency_key: string; payload: string } }>().selectFrom('outbox').select(['idempotency_key', 'payload']).where('topic', '=', ORDER_NOTIFICATION_TOPIC).execute()).map((r) => ({
        key: r.idempotency_key,
        body: (JSON.parse(r.payload) as { body: Record<string, unknown> }).body,
      }));
    afterEach(async () => {
      await vault?.close();
      now = new Date('2026-12-06T08:00:00Z');
    });

    it('E7: kept enciphered and opened only as its own order and kind; a paid payment is deleted at once with its signed event queued', async () => {
      const v = open();
      const track = asciiToBytes(TRACK2);
      v.keep(subject(1), 'track2', track);
      v.keep(subject(1), 'pin-block', Uint8Array.from(PIN_BLOCK));
      expect(track.every((b) => b === 0)).toBe(true); // the clear copy handed over is wiped
      expect(new TextDecoder().decode(v.open(subject(1).orderNumber, 'track2'))).toBe(TRACK2);
      expect(v.open(subject(1).orderNumber, 'pin-block')).toEqual(PIN_BLOCK);
      expect(() => v.open(subject(2).orderNumber, 'track2')).toThrow(/deleted/);

      await v.endPayment(subject(1).orderNumber, 'paid');
      expect(v.orders()).toEqual([]);
      expect(() => v.open(subject(1).orderNumber, 'track2')).toThrowError(expect.objectContaining({ code: 'PAYMENT_OUTCOME_UNKNOWN' }));
      expect(await events()).toEqual([{ key: `gwd-${subject(1).orderNumber}`, body: expect.objectContaining({ type: 'sensitive-data-deleted', orderNumber: subject(1).orderNumber, merchantOrderId: 'MO-1', deleted: ['track2', 'pin-block'], reason: 'paid' }) }]);
      expect(woken).toBeGreaterThan(0);
      // Nothing of the card in any row, in clear, hex or base64.
      const hits = findKeys([{ label: 'track 2', key: asciiToBytes(TRACK2) }, { label: 'PAN', key: asciiToBytes(TEST_CARDS.unionPay.pan) }, { label: 'PIN block', key: PIN_BLOCK }], await databaseRows(database()));
      expect(hits).toEqual([]);
    });

    it('E7: a failed payment is deleted by the next sweep, an abandoned one when its lifetime runs out; each once', async () => {
      const v = open(60_000);
      v.keep(subject(3), 'track2', asciiToBytes(TRACK2));
      v.keep(subject(4), 'track2', asciiToBytes(TRACK2));
      await v.endPayment(subject(3).orderNumber, 'failed');
      expect(v.orders()).toEqual([subject(3).orderNumber, subject(4).orderNumber]); // until the sweep
      expect(await v.sweep()).toBe(1);
      expect(v.orders()).toEqual([subject(4).orderNumber]);
      now = new Date(now.getTime() + 60_000);
      expect(() => v.open(subject(4).orderNumber, 'track2')).toThrow(); // past its lifetime: not opened even before the sweep
      expect(await v.sweep()).toBe(1);
      expect(await v.sweep()).toBe(0);
      const reasons = Object.fromEntries((await events()).filter((e) => e.body.merchantOrderId !== 'MO-1').map((e) => [e.body.orderNumber, e.body.reason]));
      expect(reasons).toEqual({ [subject(3).orderNumber]: 'failed', [subject(4).orderNumber]: 'expired' });
    });

    it('E7: a record cannot be opened as another kind (the order and kind are its associated data)', async () => {
      const v = open();
      v.keep(subject(5), 'pin-block', Uint8Array.from(PIN_BLOCK));
      let error: unknown;
      try {
        v.open(subject(5).orderNumber, 'track2');
      } catch (e) {
        error = e;
      }
      expect(isPaypadError(error, 'PAYMENT_OUTCOME_UNKNOWN')).toBe(true);
    });
  });
}
