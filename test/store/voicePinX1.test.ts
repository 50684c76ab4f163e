/**
 * E5 X1 on every dialect: a payment whose PIN is keyed by voice, wrong once (the issuer's 55) and
 * right on the retry, with the gateway's order claimed, failed and paid around it as the payment
 * flow will. Afterwards neither PIN nor the PAN is in any log line, transcript or provider record,
 * nor any database row, nor any file the run left (the HSM's master key file aside: it is a key),
 * in clear, hex or base64.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { asciiToBytes, bytesToAscii } from '../../shared/bytes';
import { createOrderStore } from '../../host/gateway/orderStore';
import type { PinCaptureResult } from '../../host/gateway/voicePinChannel';
import { TEST_CARDS } from '../../host/simulators/testCards';
import { databaseRows, filesUnder } from '../e2e/support/runArtifacts';
import { findKeys, type ScanSource } from '../e2e/support/keyLeakScan';
import { LMK_FILE_NAME, openVoicePinKit, type VoicePinKit } from '../unit/voice/voicePinKit';
import { DIALECTS, useMigratedDatabase } from './helpers/testDatabase';

const PHONE = '+8615800158000';
const PAN = TEST_CARDS.visa.pan;
const WRONG_PIN = '915382640715';
const PIN = '482915730264';

function text(name: string, kind: string, value: string): ScanSource {
  return { name, kind, bytes: new Uint8Array(Buffer.from(value, 'utf8')) };
}

function pinBlockOf(result: PinCaptureResult): Uint8Array {
  if (result.outcome !== 'captured') throw new Error(`expected a captured PIN, got ${result.outcome}`);
  return result.pinBlock;
}

for (const dialect of DIALECTS) {
  describe(`E5 X1: the voice PIN channel leaves no PIN behind (${dialect})`, () => {
    const database = useMigratedDatabase(dialect);
    let kit: VoicePinKit;
    beforeAll(async () => {
      kit = await openVoicePinKit();
    });
    afterAll(async () => {
      await kit.close();
    });

    it('E5 X1: after a wrong PIN, a retry and the payment, no PIN or PAN is in a log line, transcript, row or file', async () => {
      const orders = createOrderStore({ database: database() });
      const order = await orders.create({
        merchantNo: '898300000000001',
        merchantOrderId: `MO-${randomBytes(6).toString('hex')}`,
        amountMinor: 2500,
        currency: 'CNY',
        description: 'Two tea cups',
        notifyUrl: 'https://shop.example/notify',
        expiresInMinutes: 15,
      });
      const claim = await orders.claimForPayment(order.orderNumber);

      kit.voice.phone(PHONE, { answer: { afterSeconds: 2 }, steps: [`${WRONG_PIN}#`] });
      const first = await kit.channel.capturePin({ reference: order.orderNumber, mobile: '15800158000', pan: PAN, amountMinor: 2500, currency: 'CNY', merchantName: 'Tea House' });
      expect(await kit.holdsPin(pinBlockOf(first), PAN, PIN)).toBe(false); // the issuer answers 55
      kit.voice.phone(PHONE, { answer: { afterSeconds: 2 }, steps: [`${PIN}#`] });
      const second = await kit.channel.retry(first.captureId);
      expect(await kit.holdsPin(pinBlockOf(second), PAN, PIN)).toBe(true);
      await orders.markPaid(order.orderNumber, claim.claimToken, `DEBIT-${second.callId}`);
      kit.channel.release(first.captureId);

      const files = filesUnder(kit.dir, 'voice-pin', (path) => path.endsWith(LMK_FILE_NAME));
      expect(files.keyMaterial).toEqual([LMK_FILE_NAME]);
      const sources: ScanSource[] = [
        text('log lines', 'log', kit.logLines.join('')),
        text('provider call records and transcripts', 'transcript', JSON.stringify(kit.voice.outboundCalls())),
        text('capture outcomes', 'response', JSON.stringify([first, second], (_k, v) => (v instanceof Uint8Array ? bytesToAscii(v) : v))),
        ...(await databaseRows(database())),
        ...files.sources,
      ];
      // The scan sees what it should: the run logged its calls, kept the order and wrote host.log.
      expect(kit.logLines.filter((l) => l.includes('"voice-pin.outcome"'))).toHaveLength(2);
      expect(sources.some((s) => s.kind === 'database' && Buffer.from(s.bytes).includes(order.orderNumber))).toBe(true);
      expect(sources.some((s) => s.name === 'file voice-pin/host.log' && s.bytes.length > 0)).toBe(true);

      const hits = findKeys(
        [
          { label: 'the PIN', key: asciiToBytes(PIN) },
          { label: 'the wrong PIN', key: asciiToBytes(WRONG_PIN) },
          { label: 'the PAN', key: asciiToBytes(PAN) },
        ],
        sources,
      );
      expect(hits).toEqual([]);
      // A planted PIN would have been found: the scan is not blind.
      expect(findKeys([{ label: 'the PIN', key: asciiToBytes(PIN) }], [text('planted', 'log', `{"digits":"${PIN}"}`)])).toHaveLength(1);
    });
  });
}
