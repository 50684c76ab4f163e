/**
 * Nonces (request ids) of signed requests, per signer (signedRequest.ts): a request is good once.
 * Kept for twice the signature tolerance: a request older than the tolerance is refused as stale
 * anyway, so forgetting its nonce afterwards reopens nothing.
 */
import type { Kysely } from 'kysely';
import type { Schema } from '../db/schema';
import { isoTimestamp } from '../db/schema';
import { SIGNATURE_TOLERANCE_MS } from './signedRequest';
import type { MerchantTables } from './tables';

const KEEP_MS = 2 * SIGNATURE_TOLERANCE_MS;
/** Expired nonces are purged on one insert in this many, so the table stays small without a timer. */
const PURGE_EVERY = 100;

export function createNonceRegistry(schemaDb: Kysely<Schema>): { rememberNonce(keyId: string, nonce: string, at: Date): Promise<boolean> } {
  const db = schemaDb.withTables<MerchantTables>();
  let inserts = 0;
  return {
    async rememberNonce(keyId, nonce, at) {
      if (++inserts % PURGE_EVERY === 0) await db.deleteFrom('signed_request_nonces').where('seen_at', '<', isoTimestamp(new Date(at.getTime() - KEEP_MS))).execute();
      const result = await db.insertInto('signed_request_nonces').values({ key_id: keyId, nonce, seen_at: isoTimestamp(at) }).onConflict((oc) => oc.columns(['key_id', 'nonce']).doNothing()).executeTakeFirst();
      return result.numInsertedOrUpdatedRows === 1n;
    },
  };
}
