/** A host logger whose lines the test can read back, exactly as they would reach stdout. */
import type { LogLevel } from '../../../../host/config';
import { createLogger, type Logger } from '../../../../host/log';

export interface CapturedLogger {
  logger: Logger;
  /** Raw JSON lines. */
  lines: string[];
  /** Lines parsed. */
  entries(): Record<string, unknown>[];
}

export function captureLogger(level: LogLevel = 'trace'): CapturedLogger {
  const lines: string[] = [];
  const logger = createLogger({ level, destination: { write: (line: string) => void lines.push(line) } });
  return { logger, lines, entries: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}
