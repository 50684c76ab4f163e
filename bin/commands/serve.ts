import type { Command } from '../args';
import { SERVE_USAGE } from '../../host/serveUsage';

export const serveCommand: Command = {
  summary: 'run the host: every back-office role in one process',
  help: SERVE_USAGE,
  async run(argv) {
    const { runServe } = await import('../../host/server');
    return runServe(argv);
  },
};
