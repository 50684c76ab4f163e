import type { Command } from '../args';

export const serveCommand: Command = {
  summary: 'run the host: every back-office role in one process',
  help: `Usage: paypad serve [--host ADDR] [--port N] [--data-dir DIR]

Runs every role (MTMS, CA, KMS, TMS, POSP, payment platforms) in one process. With no
DATABASE_URL it keeps SQLite under the data directory; with DATABASE_URL=postgres://... it
uses PostgreSQL. Flags override the environment (PAYPAD_HOST, PAYPAD_PORT, PAYPAD_DATA_DIR).`,
  async run(argv) {
    const { runServe } = await import('../../host/server');
    return runServe(argv);
  },
};
