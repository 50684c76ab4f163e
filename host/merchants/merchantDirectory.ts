/**
 * The merchant directory (D2): who may send orders, under which certified key, paid into which
 * account, notified where. Every merchant-facing API (bills, the online payment gateway) checks
 * requests against it with `signers` (signedRequest.ts).
 *
 * Enrolment: the merchant makes its RSA key pair and a CSR (rsaIdentity.ts); `register` has the
 * host's CA certify it under role `merchant` with the merchant's legal name as CN, and gives the
 * merchant a 15-digit merchant number. The certificate's CN is what a bill shows as the merchant's
 * verified name: a merchant cannot show another name than the one it was certified under.
 */
import { randomInt } from 'node:crypto';
import { luhnCheckDigit } from '../../shared/pan';
import type { KeyObject } from 'node:crypto';
import type { Kysely } from 'kysely';
import { PaypadError, isPaypadError } from '../../shared/errors';
import type { CertificateAuthority } from '../ca/authority';
import { describeSubject, isCertName } from '../ca/roles';
import { isoTimestamp, type Schema } from '../db/schema';
import { createNonceRegistry } from './requestNonces';
import { publicKeyOfCertificate } from './rsaIdentity';
import type { SignerRegistry } from './signedRequest';
import type { MerchantTables } from './tables';

export interface Merchant {
  /** 15 digits. */
  readonly merchantId: string;
  /** From the certificate (CN): shown on bills as verified. */
  readonly legalName: string;
  readonly certificateSubject: string;
  readonly certificateSerial: string;
  readonly certificatePem: string;
  readonly receivingAccount: string;
  readonly notifyUrl: string;
  readonly createdAt: Date;
}

export interface MerchantEnrolment {
  /** 1-64 letters, digits, space, dot, underscore, hyphen (a certificate CN the CA writes). */
  readonly legalName: string;
  /** PKCS#10 PEM over the merchant's own RSA key (>= 2048 bits). */
  readonly csrPem: string;
  /** 8-34 letters and digits (a bank account number or IBAN). */
  readonly receivingAccount: string;
  /** http(s) URL the platform POSTs notifications to. */
  readonly notifyUrl: string;
}

export interface MerchantDirectory {
  /** @throws PaypadError BAD_ARGUMENT, CSR_INVALID, MERCHANT_EXISTS (the legal name is enrolled). */
  register(enrolment: MerchantEnrolment): Promise<Merchant & { readonly caCertificatePem: string }>;
  merchant(merchantId: string): Promise<Merchant | undefined>;
  merchantByName(legalName: string): Promise<Merchant | undefined>;
  /** The merchant moved its webhook. @throws PaypadError BAD_ARGUMENT, MERCHANT_UNKNOWN. */
  setNotifyUrl(merchantId: string, notifyUrl: string): Promise<Merchant>;
  /** Merchants as signers of requests: their certified keys (unless revoked) and their nonces. */
  readonly signers: SignerRegistry;
}

const RECEIVING_ACCOUNT = /^[A-Z0-9]{8,34}$/;
const MERCHANT_ID = /^\d{15}$/;
const MAX_URL_LENGTH = 500;

export function createMerchantDirectory(schemaDb: Kysely<Schema>, ca: CertificateAuthority, clock: () => Date = () => new Date()): MerchantDirectory {
  const db = schemaDb.withTables<MerchantTables>();
  const nonces = createNonceRegistry(schemaDb);
  const keys = new Map<string, KeyObject>();

  const merchant = async (merchantId: string): Promise<Merchant | undefined> => {
    if (typeof merchantId !== 'string' || !MERCHANT_ID.test(merchantId)) return undefined;
    const row = await db.selectFrom('merchants').selectAll().where('merchant_id', '=', merchantId).executeTakeFirst();
    return row && fromRow(row);
  };

  return {
    async register(enrolment) {
      const { legalName, csrPem, receivingAccount, notifyUrl } = enrolment;
      if (!isCertName(legalName)) throw new PaypadError('BAD_ARGUMENT', 'legalName: 1-64 letters, digits, spaces, dots, underscores or hyphens, starting with a letter or digit');
      if (typeof receivingAccount !== 'string' || !RECEIVING_ACCOUNT.test(receivingAccount)) throw new PaypadError('BAD_ARGUMENT', 'receivingAccount: 8-34 capital letters and digits');
      assertNotifyUrl(notifyUrl);
      if (await db.selectFrom('merchants').select('merchant_id').where('legal_name', '=', legalName).executeTakeFirst()) throw new PaypadError('MERCHANT_EXISTS', `a merchant named ${legalName} is enrolled`);
      const subject = { role: 'merchant', name: legalName } as const;
      const issued = await ca.issue({ subject, csrPem });
      const merchantId = newMerchantId();
      const row = {
        merchant_id: merchantId,
        legal_name: legalName,
        certificate_serial: issued.record.serial,
        certificate_pem: issued.certPem,
        receiving_account: receivingAccount,
        notify_url: notifyUrl,
        created_at: isoTimestamp(clock()),
      };
      try {
        await db.insertInto('merchants').values(row).execute();
      } catch (e) {
        // Another enrolment of the same name won the race (unique legal_name); its certificate stands.
        await ca.revoke(issued.record.serial, 'superseded').catch(() => undefined);
        if (await db.selectFrom('merchants').select('merchant_id').where('legal_name', '=', legalName).executeTakeFirst()) throw new PaypadError('MERCHANT_EXISTS', `a merchant named ${legalName} is enrolled`);
        throw e;
      }
      return { ...fromRow(row), caCertificatePem: issued.caPem };
    },

    merchant,

    async merchantByName(legalName) {
      const row = await db.selectFrom('merchants').selectAll().where('legal_name', '=', legalName).executeTakeFirst();
      return row && fromRow(row);
    },

    async setNotifyUrl(merchantId, notifyUrl) {
      assertNotifyUrl(notifyUrl);
      await db.updateTable('merchants').set({ notify_url: notifyUrl }).where('merchant_id', '=', String(merchantId)).execute();
      const found = await merchant(merchantId);
      if (found === undefined) throw new PaypadError('MERCHANT_UNKNOWN', `no merchant ${String(merchantId).slice(0, 15)}`);
      return found;
    },

    signers: {
      async publicKeyOf(merchantId) {
        const found = await merchant(merchantId);
        if (found === undefined) return undefined;
        // A revoked certificate (a leaked merchant key) stops the merchant's requests at once.
        if (await ca.isRevoked(found.certificateSerial)) return undefined;
        let key = keys.get(found.certificateSerial);
        if (key === undefined) {
          key = publicKeyOfCertificate(found.certificatePem);
          keys.set(found.certificateSerial, key);
        }
        return key;
      },
      rememberNonce: nonces.rememberNonce,
    },
  };
}

function assertNotifyUrl(value: unknown): asserts value is string {
  let url: URL | undefined;
  try {
    url = typeof value === 'string' && value.length <= MAX_URL_LENGTH ? new URL(value) : undefined;
  } catch (e) {
    if (!isPaypadError(e)) url = undefined;
  }
  if (url === undefined || (url.protocol !== 'https:' && url.protocol !== 'http:') || url.username !== '' || url.password !== '') {
    throw new PaypadError('BAD_ARGUMENT', `notifyUrl: an http or https URL of at most ${MAX_URL_LENGTH} characters, without credentials`);
  }
}

function fromRow(row: { merchant_id: string; legal_name: string; certificate_serial: string; certificate_pem: string; receiving_account: string; notify_url: string; created_at: string }): Merchant {
  return {
    merchantId: row.merchant_id,
    legalName: row.legal_name,
    certificateSubject: describeSubject({ role: 'merchant', name: row.legal_name }),
    certificateSerial: row.certificate_serial,
    certificatePem: row.certificate_pem,
    receivingAccount: row.receiving_account,
    notifyUrl: row.notify_url,
    createdAt: new Date(row.created_at),
  };
}

/**
 * A new merchant number: 8983, ten random digits, and a last digit that is NOT the Luhn check
 * digit. A 15-digit number passing Luhn looks like a card number, which the ledger refuses in
 * account names and the X1 scans flag; about one random number in ten would.
 */
export function newMerchantId(): string {
  const payload = `8983${String(randomInt(0, 10 ** 10)).padStart(10, '0')}`;
  return `${payload}${(luhnCheckDigit(payload) + 1) % 10}`;
}
