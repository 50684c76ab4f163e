/** What the acquirer-link tests share: a purchase, and a CMAC authenticator over a test key. */
import { fromHex } from '../../../shared/bytes';
import { aesCmac, verifyAesCmac } from '../../../shared/crypto/cmac';
import { type FinancialRequest, type MessageAuthenticator, PURCHASE_PROCESSING_CODE } from '../../../host/payments/iso8583/index';

/** The RFC 4493 example key, standing in for a zone MAC key the HSM would hold. */
export const TEST_ZONE_MAC_KEY = fromHex('2B7E151628AED2A6ABF7158809CF4F3C');

export function cmacAuthenticator(key: Uint8Array): MessageAuthenticator {
  return {
    mac: async (data) => aesCmac(key, data),
    verifyMac: async (data, mac) => verifyAesCmac(key, data, mac),
  };
}

export const purchase: FinancialRequest = Object.freeze({
  pan: '6222021234567890128',
  processingCode: PURCHASE_PROCESSING_CODE,
  amountMinor: 12_345n,
  transmissionDateTime: '1206013045',
  stan: 42,
  localTime: '093045',
  localDate: '1206',
  expiry: '3012',
  posEntryMode: '021',
  track2: '6222021234567890128=30122011234567890',
  terminalId: 'TERM0001',
  merchantId: '898440358120001',
  currency: '156',
  // ISO 9564-1 format 4 example block (ep2 test vector: PIN 1234, PAN 432198765432109870).
  pinBlock: fromHex('CC17F65586BFD0953010226C4FC5B3CA'),
});
