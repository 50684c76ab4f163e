/**
 * The intake key MTMS wraps each customer's TKs for (A7, A8, A10), pinned per customer.
 *
 * Decisions:
 * - Pinned at first contact: the first delivery to a customer's KMS pins the key that KMS
 *   presents, over mutual TLS with a certificate of role kms for that customer, from the paypad
 *   CA, and not revoked. Not at registration: `mtms customer add` runs before the customer's KMS
 *   exists (the host starts it from the record, and it makes its intake key on first start), so
 *   there is no key to pin yet. The pin and the certificate that presented it are audited.
 * - Afterwards MTMS wraps TKs only for the pinned key. A KMS that presents another key gets
 *   nothing: the delivery fails with MTMS_KMS_KEY_CHANGED and stays queued, the key offered is
 *   recorded beside the pin and audited once, and only an MTMS administrator makes it the pin
 *   (`paypad mtms kms-key accept`, audited) after checking its check value with the KMS's
 *   operator (the KMS logs it at start). Whoever holds a KMS certificate for a while can then no
 *   longer make MTMS wrap TKs for a key of its own choosing.
 */
import type { ColumnType, Kysely, Selectable } from 'kysely';
import { fromHex, toHex } from '../../shared/bytes';
import { PaypadError } from '../../shared/errors';
import { createAuditStore } from '../audit/auditStore';
import { isoTimestamp, type IsoTimestamp, type Schema } from '../db/schema';

export type KmsKeyPinTables = {
  mtms_kms_keys: {
    customer_code: ColumnType<string, string, never>;
    /** Uncompressed SEC 1 P-256 point, uppercase hex. */
    public_key: string;
    kcv: string;
    pinned_at: IsoTimestamp;
    /** 'mtms' at first contact, else the administrator who accepted the change. */
    pinned_by: string;
    /** The KMS certificate that presented the pinned key. */
    cert_serial: string;
    offered_public_key: string | null;
    offered_kcv: string | null;
    offered_at: IsoTimestamp | null;
    offered_cert_serial: string | null;
  };
};

/** A KMS intake key as a KMS presented it. */
export interface PresentedKmsKey {
  readonly publicKey: Uint8Array;
  /** Leftmost 5 bytes of SHA-256 of the public key, hex (checked by the caller against the key). */
  readonly kcv: string;
  /** Serial of the KMS certificate it came with. */
  readonly certSerial: string;
}

export interface KmsKeyPin {
  readonly customerCode: string;
  readonly kcv: string;
  readonly pinnedAt: Date;
  readonly pinnedBy: string;
  readonly certSerial: string;
  /** A different key the KMS presented since, waiting for an administrator. */
  readonly offered?: { readonly kcv: string; readonly at: Date; readonly certSerial: string };
}

export interface KmsKeyPins {
  /**
   * The key to wrap the customer's TKs for: the pinned one, pinned now if there is none.
   * @throws PaypadError MTMS_KMS_KEY_CHANGED when the KMS presents another key (recorded, audited once per key).
   */
  pinnedKmsKey(customerCode: string, presented: PresentedKmsKey): Promise<Uint8Array>;
  /** Every pin, by customer code. */
  kmsKeyPins(): Promise<KmsKeyPin[]>;
  /**
   * Makes the key the customer's KMS offered, with check value `kcv`, the pin.
   * @throws PaypadError BAD_ARGUMENT when no key or another one is waiting.
   */
  acceptKmsKey(customerCode: string, kcv: string, actor: string): Promise<KmsKeyPin>;
}

export function createKmsKeyPins(schemaDb: Kysely<Schema>, clock: () => Date): KmsKeyPins {
  const db = schemaDb.withTables<KmsKeyPinTables>();

  return {
    async pinnedKmsKey(customerCode, presented) {
      const at = clock();
      const publicKey = toHex(presented.publicKey);
      const kcv = presented.kcv.toUpperCase();
      const refused = await schemaDb.transaction().execute(async (base) => {
        const trx = base.withTables<KmsKeyPinTables>();
        const audit = createAuditStore(base, () => at);
        const subject = `customer:${customerCode}`;
        const inserted = await trx
          .insertInto('mtms_kms_keys')
          .values({ customer_code: customerCode, public_key: publicKey, kcv, pinned_at: isoTimestamp(at), pinned_by: 'mtms', cert_serial: presented.certSerial })
          .onConflict((oc) => oc.column('customer_code').doNothing())
          .executeTakeFirst();
        if (inserted.numInsertedOrUpdatedRows === 1n) {
          await audit.append({ actor: 'mtms', action: 'mtms.kms-key.pinned', subject, detail: { kcv, kmsCertSerial: presented.certSerial, how: 'first contact' } });
          return undefined;
        }
        const pin = await trx.selectFrom('mtms_kms_keys').selectAll().where('customer_code', '=', customerCode).executeTakeFirstOrThrow();
        if (pin.public_key === publicKey) return undefined;
        if (pin.offered_public_key !== publicKey) {
          await trx
            .updateTable('mtms_kms_keys')
            .set({ offered_public_key: publicKey, offered_kcv: kcv, offered_at: isoTimestamp(at), offered_cert_serial: presented.certSerial })
            .where('customer_code', '=', customerCode)
            .execute();
          await audit.append({ actor: 'mtms', action: 'mtms.kms-key.change-refused', subject, detail: { pinnedKcv: pin.kcv, offeredKcv: kcv, kmsCertSerial: presented.certSerial } });
        }
        return pin;
      });
      if (refused !== undefined) {
        throw new PaypadError(
          'MTMS_KMS_KEY_CHANGED',
          `the KMS of ${customerCode} presents intake key ${kcv}, not the key ${refused.kcv} MTMS pinned on ${refused.pinned_at}; nothing was sent. ` +
            `If the KMS's operator confirms ${kcv}, accept it with: paypad mtms kms-key accept --customer ${customerCode} --kcv ${kcv}`,
        );
      }
      return fromHex(publicKey, 'pinned KMS intake key');
    },

    async kmsKeyPins() {
      const rows = await db.selectFrom('mtms_kms_keys').selectAll().orderBy('customer_code').execute();
      return rows.map(pinFromRow);
    },

    async acceptKmsKey(customerCode, kcv, actor) {
      const at = clock();
      const wanted = kcv.toUpperCase();
      return schemaDb.transaction().execute(async (base) => {
        const trx = base.withTables<KmsKeyPinTables>();
        const pin = await trx.selectFrom('mtms_kms_keys').selectAll().where('customer_code', '=', customerCode).executeTakeFirst();
        if (pin?.offered_public_key == null || pin.offered_kcv !== wanted) {
          const waiting = pin?.offered_kcv == null ? 'no changed key is waiting' : `the key waiting has check value ${pin.offered_kcv}`;
          throw new PaypadError('BAD_ARGUMENT', `the KMS of ${customerCode} offered no intake key with check value ${wanted}: ${waiting}`);
        }
        const accepted = await trx
          .updateTable('mtms_kms_keys')
          .set({
            public_key: pin.offered_public_key,
            kcv: wanted,
            pinned_at: isoTimestamp(at),
            pinned_by: actor,
            cert_serial: pin.offered_cert_serial ?? pin.cert_serial,
            offered_public_key: null,
            offered_kcv: null,
            offered_at: null,
            offered_cert_serial: null,
          })
          .where('customer_code', '=', customerCode)
          .where('offered_public_key', '=', pin.offered_public_key)
          .executeTakeFirst();
        if (accepted.numUpdatedRows !== 1n) throw new PaypadError('BAD_ARGUMENT', `the key offered by the KMS of ${customerCode} changed meanwhile; list the keys again`);
        await createAuditStore(base, () => at).append({
          actor,
          action: 'mtms.kms-key.accepted',
          subject: `customer:${customerCode}`,
          detail: { from: pin.kcv, to: wanted, kmsCertSerial: pin.offered_cert_serial },
        });
        return pinFromRow(await trx.selectFrom('mtms_kms_keys').selectAll().where('customer_code', '=', customerCode).executeTakeFirstOrThrow());
      });
    },
  };
}

function pinFromRow(r: Selectable<KmsKeyPinTables['mtms_kms_keys']>): KmsKeyPin {
  return {
    customerCode: r.customer_code,
    kcv: r.kcv,
    pinnedAt: new Date(r.pinned_at),
    pinnedBy: r.pinned_by,
    certSerial: r.cert_serial,
    ...(r.offered_kcv === null || r.offered_at === null ? {} : { offered: { kcv: r.offered_kcv, at: new Date(r.offered_at), certSerial: r.offered_cert_serial ?? '' } }),
  };
}
