/**
 * The key that seals payees' receiving cards (cardVault.ts): 32 random bytes, hex, in
 * <dataDir>/mobile-card-vault.key, mode 0600, made on the first start and never overwritten (a
 * new key would leave every sealed card unopenable). Like the software HSM's master key file, it
 * sits beside the database, so a copy of the database alone does not give the cards away; a
 * deployment that wants the key in an HSM seals with one behind the same CardVault interface.
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PaypadError, isPaypadError } from '../../../shared/errors';
import { SECRET_FILE_MODE, writeNewFile } from '../../files';

export const CARD_VAULT_KEY_FILE = 'mobile-card-vault.key';

export async function loadOrCreateCardVaultKey(dataDir: string): Promise<Uint8Array> {
  const path = join(dataDir, CARD_VAULT_KEY_FILE);
  try {
    await writeNewFile(path, randomBytes(32).toString('hex') + '\n', SECRET_FILE_MODE);
  } catch (e) {
    if (!isPaypadError(e, 'FILE_EXISTS')) throw e;
  }
  const hex = (await readFile(path, 'utf8')).trim();
  if (!/^[0-9a-f]{64}$/.test(hex)) throw new PaypadError('CONFIG_INVALID', `${path}: expected 64 hex digits (the card vault key)`);
  return new Uint8Array(Buffer.from(hex, 'hex'));
}
