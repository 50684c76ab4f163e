/**
 * A text display on the debug console (`trace`, shown by xsbug), for boards without a screen
 * (the simulator and boards with one get pocoDisplay.ts). It prints exactly what the core shows,
 * clipped the way a character LCD of the same size would clip it.
 */
import type { Display, Screen } from '../display';

export function createTraceDisplay(columns: number, rows: number): Display {
  const clip = (line: string): string => (line.length > columns ? line.slice(0, columns) : line);
  return {
    columns,
    rows,
    show(screen: Screen) {
      const lines = [screen.title, ...screen.lines.slice(0, rows - 1)].map(clip);
      const border = `+${'-'.repeat(columns)}+\n`;
      let out = border;
      for (const line of lines) out += `|${line.padEnd(columns)}|\n`;
      trace(out + border);
    },
  };
}
