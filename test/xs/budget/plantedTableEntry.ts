/**
 * The terminal core's script (test/xs/terminal/terminalEntry.ts) with a table planted in it, to
 * show the device-budget harness fails a firmware that holds too much: on its first command (the
 * boot) it allocates `globalThis.plantTable` and keeps it alive for the rest of the flow.
 *
 *   { kind: 'bytes', bytes }  a Uint8Array of `bytes` (chunk heap)
 *   { kind: 'slots', bytes }  objects worth `bytes` of 16-byte ESP32 slots (heap slots): a linked
 *                             list, two slots a node (the object and its `next`)
 *
 * Runs in XS: no Node APIs.
 */
import '../terminal/terminalEntry';

interface Plant {
  readonly kind: 'bytes' | 'slots';
  readonly bytes: number;
}

interface Node {
  readonly next: Node | null;
}

const scope = globalThis as unknown as { handleCommand: (message: ArrayBuffer) => unknown; plantTable?: Plant };
const handle = scope.handleCommand;
let planted: unknown;

function plant({ kind, bytes }: Plant): unknown {
  if (kind === 'bytes') return new Uint8Array(bytes);
  let list: Node | null = null;
  for (let i = 0; i < bytes / 32; i++) list = { next: list };
  return list;
}

scope.handleCommand = (message) => {
  if (planted === undefined && scope.plantTable) planted = plant(scope.plantTable);
  return handle(message);
};
