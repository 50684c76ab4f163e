/**
 * The client gateway's own keys, made in its HSM on first use and kept as key blocks in
 * bill_client_keys (one row per key, so every host process on the database uses the same ones):
 *
 *   enrolment    P-256 key pair (K3): phones address their session keys to its public key (D4)
 *   card-ref     AES-CMAC key (M6, mode C): a bound card's reference is the CMAC of its PAN, so
 *                the platform can tell whether a card is bound to a phone without keeping the
 *                PAN, and a stolen table cannot be reversed by trying every PAN of a BIN
 *
 * Two hosts starting together may both make a key; the first row in wins and both use it.
 */
import type { Kysely } from 'kysely';
import { asciiToBytes, fromHex, toHex } from '../../../shared/bytes';
import { isoTimestamp, type Schema } from '../../db/schema';
import type { Hsm, KeyHandle } from '../../hsm/hsm';
import type { BillClientTables } from './tables';

const CARD_REF_TAG = 'paypad-card-ref-1|';
const CARD_REF_BYTES = 16;

export interface GatewayKeys {
  enrolmentKey(): Promise<{ handle: KeyHandle; publicKey: Uint8Array }>;
  /** 32 hex digits naming `pan` (see above). */
  cardRef(pan: string): Promise<string>;
}

export function createGatewayKeys(schemaDb: Kysely<Schema>, hsm: Hsm, clock: () => Date): GatewayKeys {
  const db = schemaDb.withTables<BillClientTables>();
  const cache = new Map<string, { handle: KeyHandle; publicKey?: Uint8Array }>();

  async function key(name: string, make: () => Promise<{ handle: KeyHandle; publicKey?: Uint8Array }>) {
    const cached = cache.get(name);
    if (cached) return cached;
    const read = () => db.selectFrom('bill_client_keys').selectAll().where('name', '=', name).executeTakeFirst();
    let row = await read();
    if (!row) {
      const made = await make();
      await db
        .insertInto('bill_client_keys')
        .values({ name, key_block: made.handle.block, key_kcv: made.handle.kcv, public_key: made.publicKey ? toHex(made.publicKey) : null, created_at: isoTimestamp(clock()) })
        .onConflict((oc) => oc.column('name').doNothing())
        .execute();
      row = await read();
    }
    const found = { handle: { block: row!.key_block, kcv: row!.key_kcv }, publicKey: row!.public_key === null ? undefined : fromHex(row!.public_key) };
    cache.set(name, found);
    return found;
  }

  return {
    async enrolmentKey() {
      const k = await key('enrolment', () => hsm.generateKeyPair('P-256'));
      return { handle: k.handle, publicKey: k.publicKey! };
    },
    async cardRef(pan) {
      const k = await key('card-ref', async () => ({ handle: await hsm.generateKey({ usage: 'M6', algorithm: 'A', modeOfUse: 'C', exportability: 'N', lengthBytes: 16 }) }));
      return toHex((await hsm.mac(k.handle, asciiToBytes(CARD_REF_TAG + pan))).subarray(0, CARD_REF_BYTES));
    },
  };
}
