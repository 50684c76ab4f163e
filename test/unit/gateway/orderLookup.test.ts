/**
 * E2: a mistyped transaction code is refused by its check digit before the store is asked: the
 * order store here sits on a database that fails the test on any query.
 */
import { describe, expect, it } from 'vitest';
import type { Database } from '../../../host/db/database';
import { createOrderStore } from '../../../host/gateway/orderStore';
import { dammCheckDigit } from '../../../host/gateway/transactionCode';

/** A database whose every query builder call is recorded and refused. */
function untouchableDatabase(touched: string[]): Database {
  const refuse = (what: string) => {
    touched.push(what);
    throw new Error(`the store was asked: ${what}`);
  };
  const builder: object = new Proxy({}, { get: (_t, name) => (name === 'then' ? undefined : () => refuse(String(name))) });
  const db = new Proxy({}, { get: (_t, name) => (name === 'withTables' ? () => builder : name === 'then' ? undefined : () => refuse(String(name))) });
  return { db: db as Database['db'], dialect: 'sqlite', close: async () => undefined };
}

describe('E2: transaction code lookups', () => {
  it('E2: a code with a wrong digit, two digits swapped or a wrong length never reaches the store', async () => {
    const touched: string[] = [];
    const orders = createOrderStore({ database: untouchableDatabase(touched) });
    const body = '48210937551';
    const code = body + dammCheckDigit(body);
    for (const typo of [`5${code.slice(1)}`, `${code.slice(0, 3)}${code[4]}${code[3]}${code.slice(5)}`, code.slice(1), `${code}1`, 'four eight two']) {
      await expect(orders.findByCode(typo)).rejects.toMatchObject({ code: 'TRANSACTION_CODE_INVALID' });
    }
    expect(touched).toEqual([]);
    // The same store does ask the database for a code that checks (and the proxy refuses it).
    await expect(orders.findByCode(code)).rejects.toThrow(/the store was asked/);
    expect(touched).toEqual(['selectFrom']);
  });
});
