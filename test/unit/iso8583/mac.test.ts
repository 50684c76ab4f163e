/**
 * X2: every acquirer-link message is MAC'd: AES-CMAC truncated to 8 bytes over the packed message
 * up to the MAC field, in field 64 (or 128 with a secondary bitmap); a tampered, unMAC'd or
 * wrongly keyed message is refused.
 */
import { describe, expect, it } from 'vitest';
import { toHex } from '../../../shared/bytes';
import { aesCmac } from '../../../shared/crypto/cmac';
import { isPaypadError } from '../../../shared/errors';
import {
  ACQUIRER_LINK_FIELDS,
  buildFinancialRequest,
  buildReconciliationRequest,
  createPackager,
  hsmMessageAuthenticator,
  signMessage,
  verifyMessage,
} from '../../../host/payments/iso8583/index';
import { openTestHsm } from '../hsm/hsmTestKit';
import { TEST_ZONE_MAC_KEY, cmacAuthenticator, purchase } from './fixtures';

const link = createPackager(ACQUIRER_LINK_FIELDS);
const zone = cmacAuthenticator(TEST_ZONE_MAC_KEY);
const code = (c: string) => expect.objectContaining({ name: 'PaypadError', code: c });
const zeroTotals = { count: 0, amountMinor: 0n };
const reconciliation = buildReconciliationRequest({
  stan: 5,
  transmissionDateTime: '1206230000',
  settlementDate: '1206',
  currency: '156',
  totals: { credits: zeroTotals, creditReversals: zeroTotals, debits: { count: 1, amountMinor: 100n }, debitReversals: zeroTotals },
});

describe('X2: acquirer-link MAC', () => {
  it('X2: field 64 is the leftmost 8 bytes of the CMAC over every byte before it, its own bitmap bit included', async () => {
    const signed = await signMessage(link, buildFinancialRequest(purchase), zone);
    const bytes = link.pack(signed);
    expect(bytes[4 + 7] & 0x01).toBe(1); // bit 64
    const mac = bytes.subarray(bytes.length - 8);
    expect(toHex(mac)).toBe(toHex(aesCmac(TEST_ZONE_MAC_KEY, bytes.subarray(0, bytes.length - 8)).subarray(0, 8)));
    await expect(verifyMessage(link, link.unpack(bytes), zone)).resolves.toBeUndefined();
  });

  it('X2: a message with a secondary bitmap carries its MAC in field 128', async () => {
    const signed = await signMessage(link, reconciliation, zone);
    expect(signed.fields[64]).toBeUndefined();
    expect(signed.fields[128]).toHaveLength(8);
    await verifyMessage(link, link.unpack(link.pack(signed)), zone);
  });

  it('X2: any single changed byte fails: the message no longer unpacks, or its MAC does not verify', async () => {
    const bytes = link.pack(await signMessage(link, buildFinancialRequest(purchase), zone));
    const outcomes = new Set<string>();
    for (let i = 0; i < bytes.length; i++) {
      const tampered = bytes.slice();
      tampered[i] ^= 0x01;
      try {
        await verifyMessage(link, link.unpack(tampered), zone);
        throw new Error(`byte ${i} changed and the MAC still verified`);
      } catch (error) {
        if (!isPaypadError(error, 'MAC_MISMATCH') && !isPaypadError(error, 'ISO8583_MALFORMED')) throw error;
        outcomes.add(error.code);
      }
    }
    expect([...outcomes].sort()).toEqual(['ISO8583_MALFORMED', 'MAC_MISMATCH']);
  });

  it('X2: a MAC under another key is MAC_MISMATCH', async () => {
    const other = cmacAuthenticator(new Uint8Array(16).fill(0x11));
    const signed = await signMessage(link, buildFinancialRequest(purchase), other);
    await expect(verifyMessage(link, link.unpack(link.pack(signed)), zone)).rejects.toThrow(code('MAC_MISMATCH'));
  });

  it('X2: a message without a MAC, or with it in the wrong field for its bitmap, is ISO8583_MALFORMED', async () => {
    await expect(verifyMessage(link, buildFinancialRequest(purchase), zone)).rejects.toThrow(/no 8-byte MAC in field 64/);
    const wrongField = { mti: reconciliation.mti, fields: { ...reconciliation.fields, 64: new Uint8Array(8) } };
    await expect(verifyMessage(link, wrongField, zone)).rejects.toThrow(/MAC belongs in field 128/);
  });

  it('X2: signing refuses a message that already has a MAC, and an authenticator that answers short', async () => {
    const signed = await signMessage(link, buildFinancialRequest(purchase), zone);
    await expect(signMessage(link, signed, zone)).rejects.toThrow(code('ISO8583_FIELD_INVALID'));
    const short = { ...zone, mac: async () => new Uint8Array(4) };
    await expect(signMessage(link, buildFinancialRequest(purchase), short)).rejects.toThrow(code('BAD_LENGTH'));
  });

  it('X2: through the HSM, under a zone MAC key handle that never leaves it', async () => {
    const { hsm } = await openTestHsm();
    const zoneMacKey = await hsm.generateKey({ usage: 'M6', algorithm: 'A', modeOfUse: 'C', exportability: 'N', lengthBytes: 16 });
    const viaHsm = hsmMessageAuthenticator(hsm, zoneMacKey);
    const bytes = link.pack(await signMessage(link, buildFinancialRequest(purchase), viaHsm));
    await verifyMessage(link, link.unpack(bytes), viaHsm);
    await expect(verifyMessage(link, link.unpack(bytes), zone)).rejects.toThrow(code('MAC_MISMATCH'));
  });
});
