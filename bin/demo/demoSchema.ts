/**
 * A demo's own schema in the DATABASE_URL database (paypad_demo_<random>, reached through
 * search_path), dropped at the end, so a demo never meets another deployment's rows; as
 * test/store/helpers does for the store tests.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';

/** A schema of the demo's own in the DATABASE_URL database, dropped afterwards (as test/store/helpers does). */
export async function freshSchema(adminUrl: string): Promise<{ name: string; url: string; drop(): Promise<void> }> {
  const name = `paypad_demo_${randomBytes(6).toString('hex')}`;
  const run = async (statement: string) => {
    const client = new pg.Client({ connectionString: adminUrl });
    await client.connect();
    try {
      await client.query(statement);
    } finally {
      await client.end();
    }
  };
  await run(`create schema ${name}`);
  const url = new URL(adminUrl);
  url.searchParams.set('options', `-c search_path=${name}`);
  return { name, url: url.toString(), drop: () => run(`drop schema if exists ${name} cascade`) };
}

