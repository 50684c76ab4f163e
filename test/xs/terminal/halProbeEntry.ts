/**
 * An XS script that calls the bridged HAL (bridgedDevice.ts) directly, one HAL method per command,
 * so the bridge's contract can be tested from XS without the terminal core in the way
 * (terminal.halBridge.test.ts). Encoded by wireCodec.ts; a PaypadError comes back as
 * {error: {code, message}}, anything else as code INTERNAL with its text (a bug to see).
 * Runs in XS: no Node APIs.
 */
import { isPaypadError } from '../../../shared/errors';
import type { TerminalDevice } from '../../../firmware/core/terminal';
import type { HttpMethod } from '../../../firmware/hal/http';
import { type IssueCommand, createBridgedDevice } from './bridgedDevice';
import { decodeWire, encodeWire } from './wireCodec';

declare const issueCommand: IssueCommand;

export type ProbeCommand =
  | { op: 'rootKey' }
  | { op: 'storage.get'; namespace: string; key: string }
  | { op: 'storage.set'; namespace: string; key: string; value: Uint8Array }
  | { op: 'storage.delete'; namespace: string; key: string }
  | { op: 'storage.keys'; namespace: string }
  | { op: 'rng'; length: number }
  /** `stream`: give the request a body sink and answer the chunks it was called with. */
  | { op: 'http'; method: HttpMethod; url: string; body?: Uint8Array; trustAnchor?: Uint8Array; maxResponseBytes?: number; stream?: boolean };

interface ReplyBox {
  result?: ArrayBuffer;
}

let device: TerminalDevice | undefined;

async function run(command: ProbeCommand): Promise<unknown> {
  device ??= createBridgedDevice(issueCommand);
  const { storage } = device;
  switch (command.op) {
    case 'rootKey':
      return device.rootKey;
    case 'storage.get':
      return storage.get(command.namespace, command.key) ?? null;
    case 'storage.set':
      storage.set(command.namespace, command.key, command.value);
      return null;
    case 'storage.delete':
      storage.delete(command.namespace, command.key);
      return null;
    case 'storage.keys':
      return storage.keys(command.namespace).sort();
    case 'rng':
      return device.rng(command.length);
    case 'http': {
      const chunks: Uint8Array[] = [];
      const response = await device.http.request({
        method: command.method,
        url: command.url,
        headers: { 'content-type': 'application/octet-stream' },
        body: command.body,
        tls: command.trustAnchor === undefined ? undefined : { trustAnchor: command.trustAnchor },
        maxResponseBytes: command.maxResponseBytes,
        // Each chunk is valid only during the call (firmware/hal/http.ts): keep a copy.
        onBodyChunk: command.stream ? (chunk) => chunks.push(chunk.slice()) : undefined,
      });
      return command.stream ? { ...response, chunks } : response;
    }
  }
}

function toBuffer(value: unknown): ArrayBuffer {
  return encodeWire(value).buffer as ArrayBuffer;
}

(globalThis as unknown as { handleCommand: (message: ArrayBuffer) => ReplyBox }).handleCommand = (message) => {
  const box: ReplyBox = {};
  run(decodeWire(new Uint8Array(message)) as ProbeCommand).then(
    (ok) => (box.result = toBuffer({ ok })),
    (e: unknown) =>
      (box.result = toBuffer({ error: isPaypadError(e) ? { code: e.code, message: e.message } : { code: 'INTERNAL', message: e instanceof Error ? `${e.name}: ${e.message}` : String(e) } })),
  );
  return box;
};
