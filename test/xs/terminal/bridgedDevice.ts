/**
 * The terminal's HAL inside XS, every call a synchronous round trip to the Node HAL over the
 * worker's command channel (halWire.ts). This is what the terminal core gets in the XS suite in
 * place of firmware/hal/moddable: the same interfaces (firmware/hal), the same typed errors, and
 * the same shape of calls (Storage synchronous, Http a promise), so the core runs unchanged.
 *
 * Http resolves its promise from a synchronous round trip: the worker blocks on its pipe while
 * Node does the TLS exchange, and the promise jobs run before the worker command ends, as on the
 * device (MODDABLE.md). A streamed request (onBodyChunk) gets its chunks in arrival order once
 * the response is complete, each valid during its call as the sink's contract says.
 * Runs in XS: no Node APIs.
 */
import { PaypadError } from '../../../shared/errors';
import type { TerminalDevice } from '../../../firmware/core/terminal';
import type { Http, HttpRequest, HttpResponse } from '../../../firmware/hal/http';
import type { Rng } from '../../../firmware/hal/rng';
import type { Storage } from '../../../firmware/hal/storage';
import type { StartKind, Updater } from '../../../firmware/hal/updater';
import type { HalCall, HalName, HalResults, UpdaterMethod } from './halWire';
import { decodeWire, encodeWire } from './wireCodec';

/** xsnap's synchronous call to Node (test/xs/xsWorker.ts onCommand). */
export type IssueCommand = (request: ArrayBuffer) => ArrayBuffer;

function bridgeBroken(what: string): PaypadError {
  return new PaypadError('INTERNAL', `HAL bridge: ${what}`);
}

function bytes(value: unknown, what: string): Uint8Array {
  if (!(value instanceof Uint8Array)) throw bridgeBroken(`${what}: expected bytes`);
  return value;
}

/**
 * A HAL over `issue`. The root key is read once, at construction: the core keeps its own copy
 * (keyVault.ts), as it would after reading it from NVS at boot.
 */
export function createBridgedDevice(issue: IssueCommand): TerminalDevice & { readonly updater: Updater } {
  function call<N extends HalName>(message: Extract<HalCall, { hal: N }>): HalResults[N] {
    const request = encodeWire(message);
    let reply: unknown;
    try {
      reply = decodeWire(new Uint8Array(issue(request.buffer as ArrayBuffer)));
    } catch {
      throw bridgeBroken(`the answer to ${message.hal} is not a wire message`);
    }
    if (typeof reply !== 'object' || reply === null) throw bridgeBroken(`the answer to ${message.hal} is not an object`);
    const { error } = reply as { error?: { code?: unknown; message?: unknown } };
    if (error !== undefined) {
      if (typeof error?.code !== 'string' || typeof error.message !== 'string') throw bridgeBroken(`the error answer to ${message.hal} has no code`);
      // The Node HAL's own typed error, thrown again here for the core to handle (or report).
      throw new PaypadError(error.code as PaypadError['code'], error.message);
    }
    if (!('ok' in reply)) throw bridgeBroken(`the answer to ${message.hal} has neither ok nor error`);
    return (reply as { ok: HalResults[N] }).ok;
  }

  const storage: Storage = {
    get(namespace, key) {
      const value = call({ hal: 'storage.get', namespace, key });
      return value === null ? undefined : bytes(value, 'storage value');
    },
    set(namespace, key, value) {
      call({ hal: 'storage.set', namespace, key, value });
    },
    delete(namespace, key) {
      call({ hal: 'storage.delete', namespace, key });
    },
    keys(namespace) {
      const keys = call({ hal: 'storage.keys', namespace });
      if (!Array.isArray(keys) || !keys.every((k) => typeof k === 'string')) throw bridgeBroken('storage keys: expected strings');
      return keys;
    },
  };

  const rng: Rng = (length) => {
    const random = bytes(call({ hal: 'rng', length }), 'random bytes');
    // The contract is exactly `length` fresh bytes (firmware/hal/rng.ts); fewer would weaken a key.
    if (random.length !== length) throw new PaypadError('RNG_FAILED', `rng: asked for ${length} bytes, the bridge returned ${random.length}`);
    return random;
  };

  const http: Http = {
    async request({ onBodyChunk, ...request }: HttpRequest): Promise<HttpResponse> {
      const answer = call({ hal: 'http.request', request: onBodyChunk ? { ...request, stream: true } : request });
      if (typeof answer !== 'object' || answer === null || typeof answer.status !== 'number' || typeof answer.headers !== 'object') {
        throw bridgeBroken('http response: expected status and headers');
      }
      if (onBodyChunk) for (const chunk of answer.chunks ?? []) onBodyChunk(bytes(chunk, 'http body chunk'));
      return { status: answer.status, headers: answer.headers, body: bytes(answer.body, 'http body') };
    },
  };

  // The emulated terminal's slots (firmware/hal/node/slotUpdater) answer; the image stays outside the heap, as in flash.
  const update = (method: UpdaterMethod, ...args: (number | string | Uint8Array)[]): unknown => call({ hal: 'updater', method, args });
  const info = (): { currentVersion: string; startKind: StartKind } => update('info') as { currentVersion: string; startKind: StartKind };
  const updater: Updater = {
    get currentVersion() {
      return info().currentVersion;
    },
    get startKind() {
      return info().startKind;
    },
    begin: (byteLength) => void update('begin', byteLength),
    resume: (byteLength, written) => void update('resume', byteLength, written),
    write: (offset, chunk) => void update('write', offset, chunk),
    read: (offset, length) => bytes(update('read', offset, length), 'slot bytes'),
    complete: (version) => void update('complete', version),
    cancel: () => void update('cancel'),
    confirm: () => void update('confirm'),
    restart: () => void update('restart'),
  };

  return { storage, rng, http, updater, rootKey: bytes(call({ hal: 'device.rootKey' }), 'device root key') };
}
