/**
 * The real host for a browser test, in this process, on loopback: every role, SQLite (or
 * PostgreSQL when DATABASE_URL is set, a schema of its own), a fresh data directory, no demo data,
 * its log at trace level in a file the test can scan (X1). stop() closes it and removes the
 * directory.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { loadConfig } from '../../../host/config';
import { createLogger } from '../../../host/log';
import { type RunningHost, startHost } from '../../../host/server';
import { e2eDatabase } from '../../e2e/support/e2eDatabase';

export interface BrowserHost {
  readonly host: RunningHost;
  readonly url: string;
  /** Everything the host logged so far. */
  log(): string;
  stop(): Promise<void>;
}

export async function startBrowserHost(): Promise<BrowserHost> {
  const root = mkdtempSync(join(tmpdir(), 'paypad-browser-'));
  const logFile = join(root, 'host.log');
  const database = await e2eDatabase();
  try {
    const config = loadConfig({
      PAYPAD_HOST: '127.0.0.1',
      PAYPAD_PORT: '0',
      PAYPAD_MTMS_PORT: '0',
      PAYPAD_KMS_BASE_PORT: '0',
      PAYPAD_DATA_DIR: join(root, 'data'),
      PAYPAD_DEMO_DATA: '0',
      DATABASE_URL: database.databaseUrl,
    });
    const logger = createLogger({ level: 'trace', destination: pino.destination({ dest: logFile, sync: true }) });
    const host = await startHost(config, { logger });
    return {
      host,
      url: host.url,
      log: () => readFileSync(logFile, 'utf8'),
      stop: async () => {
        await host.close({ graceMs: 0 });
        await database.destroy();
        rmSync(root, { recursive: true, force: true });
      },
    };
  } catch (e) {
    await database.destroy();
    rmSync(root, { recursive: true, force: true });
    throw e;
  }
}
