/**
 * The messages of the HAL bridge between the terminal core in XS and the Node HAL
 * (firmware/hal/node) that answers for it. Every HAL call the core makes is ONE synchronous
 * `issueCommand(ArrayBuffer)` round trip (handbook MODDABLE.md, "XS in this repository's tests"),
 * encoded by wireCodec.ts (JSON with raw byte blobs):
 *
 *   XS -> Node   HalCall    {hal: 'storage.get', namespace, key} ...
 *   Node -> XS   HalReply   {ok: <result>} | {error: {code, message}}
 *
 * A PaypadError thrown by the Node HAL comes back with its code and message and is thrown again
 * in XS, so the core sees exactly the typed errors a device HAL throws.
 * Runs in XS and Node: no Node APIs.
 */
import type { ErrorCode } from '../../../shared/errors';
import type { HttpRequest, HttpResponse } from '../../../firmware/hal/http';

/** Upper bound of one encoded call: a 16 KiB HTTP body with its headers and TLS material. */
export const HAL_WIRE_MAX_BYTES = 64 * 1024;

/** An HttpRequest without its body sink: `stream` says the caller gave one. */
export type WireHttpRequest = Omit<HttpRequest, 'onBodyChunk'> & { stream?: boolean };

/** With `stream`, the body is empty and the chunks the sink would have had come in arrival order. */
export type WireHttpResponse = HttpResponse & { chunks?: Uint8Array[] };

/** Every call, by name. What each answers is in HalResults. */
export type HalCall =
  | { hal: 'device.rootKey' }
  | { hal: 'storage.get'; namespace: string; key: string }
  | { hal: 'storage.set'; namespace: string; key: string; value: Uint8Array }
  | { hal: 'storage.delete'; namespace: string; key: string }
  | { hal: 'storage.keys'; namespace: string }
  | { hal: 'rng'; length: number }
  | { hal: 'http.request'; request: WireHttpRequest }
  | { hal: 'updater'; method: UpdaterMethod; args: (number | string | Uint8Array)[] };

/** The Updater's calls (firmware/hal/updater.ts); 'info' answers currentVersion and startKind. */
export const UPDATER_METHODS = ['info', 'begin', 'resume', 'write', 'read', 'complete', 'cancel', 'confirm', 'restart'] as const;
export type UpdaterMethod = (typeof UPDATER_METHODS)[number];

export type HalName = HalCall['hal'];

export interface HalResults {
  'device.rootKey': Uint8Array;
  /** null when absent. */
  'storage.get': Uint8Array | null;
  'storage.set': null;
  'storage.delete': null;
  'storage.keys': string[];
  'rng': Uint8Array;
  'http.request': WireHttpResponse;
  /** null, or what the method returns: bytes for read, {currentVersion, startKind} for info. */
  'updater': unknown;
}

export const HAL_NAMES: readonly HalName[] = ['device.rootKey', 'storage.get', 'storage.set', 'storage.delete', 'storage.keys', 'rng', 'http.request', 'updater'];

export interface WireError {
  code: ErrorCode;
  message: string;
}

export type HalReply<N extends HalName = HalName> = { ok: HalResults[N] } | { error: WireError };
