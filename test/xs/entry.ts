/**
 * The script the XS suite evaluates in xsnap-worker (bundled by ./bundle.ts): it answers
 * handleCommand with the shared operations table, exactly as Node runs it (test/support/opsRunner).
 *
 * Replies go back as `{ result: ArrayBuffer }` filled in by a promise job: xsnap-worker runs every
 * pending job before it reads `result` (xsnap-worker.c, fxRunLoop then xsGet "result"), so async
 * operations finish within the one command, as they would on the device.
 */
import { ops } from '../support/ops';
import { type OpsMessage, handleOpsMessage } from '../support/opsRunner';

declare const gc: () => void;

interface ReplyBox {
  result?: ArrayBuffer;
}

function encode(value: unknown): ArrayBuffer {
  const bytes = new TextEncoder().encode(JSON.stringify(value));
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length) as ArrayBuffer;
}

(globalThis as unknown as { handleCommand: (message: ArrayBuffer) => ReplyBox }).handleCommand = (message) => {
  const box: ReplyBox = {};
  const parsed = JSON.parse(new TextDecoder().decode(message)) as OpsMessage;
  handleOpsMessage(ops, parsed, () => gc()).then(
    (reply) => (box.result = encode({ reply })),
    (e: unknown) => (box.result = encode({ failure: e instanceof Error ? `${e.name}: ${e.message}` : String(e) })),
  );
  return box;
};
