/**
 * The Node end of the HAL bridge (halWire.ts): answers each call of the terminal core in XS by
 * calling a real HAL, normally the emulated terminal's (firmware/hal/node: files in the state
 * directory, the OS CSPRNG, HTTPS with the pinned CA), so what the XS core stores lands on disk
 * and what it sends goes over TLS.
 *
 * A call that is not one of halWire's shapes is answered BAD_ARGUMENT (the core sees a typed
 * error, as it would from a device HAL refusing an argument). A PaypadError from the HAL is
 * answered with its code and message. Anything else thrown by the HAL is a bug in it and is
 * thrown on, which ends the worker (XsWorker onCommand) rather than hiding it.
 */
import { PaypadError, isPaypadError } from '../../../shared/errors';
import type { TerminalDevice } from '../../../firmware/core/terminal';
import type { HttpMethod, HttpRequest, TlsOptions } from '../../../firmware/hal/http';
import type { XsCommandHandler } from '../xsWorker';
import { HAL_NAMES, HAL_WIRE_MAX_BYTES, type HalCall, type HalName, type HalReply } from './halWire';
import { decodeWire, encodeWire } from './wireCodec';

/** Round trips answered, and the bytes they moved both ways, per call name. */
export type BridgeTraffic = Record<HalName, { calls: number; bytes: number }>;

export interface HalDispatcher {
  readonly onCommand: XsCommandHandler;
  /** Counted since the last resetTraffic(). */
  readonly traffic: BridgeTraffic;
  resetTraffic(): void;
}

function refuse(problem: string): never {
  throw new PaypadError('BAD_ARGUMENT', `HAL bridge call: ${problem}`);
}

function text(value: unknown, what: string): string {
  if (typeof value !== 'string') refuse(`${what}: expected a string`);
  return value;
}

function bytes(value: unknown, what: string): Uint8Array {
  if (!(value instanceof Uint8Array)) refuse(`${what}: expected bytes`);
  return value;
}

function optionalBytes(value: unknown, what: string): Uint8Array | undefined {
  return value === undefined ? undefined : bytes(value, what);
}

function optionalNumber(value: unknown, what: string): number | undefined {
  if (value !== undefined && typeof value !== 'number') refuse(`${what}: expected a number`);
  return value;
}

function record(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || value instanceof Uint8Array) refuse(`${what}: expected an object`);
  return value as Record<string, unknown>;
}

function headers(value: unknown): Record<string, string> | undefined {
  if (value === undefined) return undefined;
  const out: Record<string, string> = {};
  for (const [name, v] of Object.entries(record(value, 'http headers'))) out[name] = text(v, `http header ${name}`);
  return out;
}

function tlsOptions(value: unknown): TlsOptions | undefined {
  if (value === undefined) return undefined;
  const tls = record(value, 'http tls');
  return {
    trustAnchor: optionalBytes(tls.trustAnchor, 'tls trustAnchor'),
    clientCertificate: optionalBytes(tls.clientCertificate, 'tls clientCertificate'),
    clientKey: optionalBytes(tls.clientKey, 'tls clientKey'),
  };
}

/** The wire request as an HttpRequest; the Node HAL then checks it as it checks any request. */
function httpRequest(r: Record<string, unknown>, chunks: Uint8Array[] | undefined): HttpRequest {
  const request: HttpRequest = {
    method: text(r.method, 'http method') as HttpMethod,
    url: text(r.url, 'http url'),
    headers: headers(r.headers),
    body: optionalBytes(r.body, 'http body'),
    timeoutMs: optionalNumber(r.timeoutMs, 'http timeoutMs'),
    tls: tlsOptions(r.tls),
    maxResponseBytes: optionalNumber(r.maxResponseBytes, 'http maxResponseBytes'),
  };
  // The sink's chunk is valid only during the call (firmware/hal/http.ts): keep a copy.
  if (chunks) request.onBodyChunk = (chunk) => chunks.push(chunk.slice());
  return request;
}

async function answer(device: TerminalDevice, call: HalCall): Promise<unknown> {
  switch (call.hal) {
    case 'device.rootKey':
      return device.rootKey;
    case 'storage.get':
      return device.storage.get(text(call.namespace, 'namespace'), text(call.key, 'key')) ?? null;
    case 'storage.set':
      device.storage.set(text(call.namespace, 'namespace'), text(call.key, 'key'), bytes(call.value, 'storage value'));
      return null;
    case 'storage.delete':
      device.storage.delete(text(call.namespace, 'namespace'), text(call.key, 'key'));
      return null;
    case 'storage.keys':
      return device.storage.keys(text(call.namespace, 'namespace'));
    case 'rng':
      // The range is the HAL's to check (firmware/hal/rng.ts), so XS hears the HAL's own refusal.
      if (typeof call.length !== 'number') refuse('rng length: expected a number');
      return device.rng(call.length);
    case 'http.request': {
      const wire = record(call.request, 'http request');
      const chunks: Uint8Array[] | undefined = wire.stream === true ? [] : undefined;
      const response = await device.http.request(httpRequest(wire, chunks));
      return chunks ? { ...response, chunks } : response;
    }
  }
}

function parseCall(message: Uint8Array): HalCall {
  if (message.length > HAL_WIRE_MAX_BYTES) refuse(`${message.length} bytes, at most ${HAL_WIRE_MAX_BYTES}`);
  const call = record(decodeWire(message), 'call');
  if (!HAL_NAMES.includes(call.hal as HalName)) refuse(`unknown call ${JSON.stringify(String(call.hal).slice(0, 32))}`);
  return call as unknown as HalCall;
}

function emptyTraffic(): BridgeTraffic {
  return Object.fromEntries(HAL_NAMES.map((name) => [name, { calls: 0, bytes: 0 }])) as BridgeTraffic;
}

/** Answers the XS core's HAL calls with `device`. */
export function createHalDispatcher(device: TerminalDevice): HalDispatcher {
  let traffic = emptyTraffic();
  return {
    get traffic() {
      return traffic;
    },
    resetTraffic() {
      traffic = emptyTraffic();
    },
    async onCommand(message) {
      let reply: HalReply;
      let name: HalName | undefined;
      try {
        const call = parseCall(message);
        name = call.hal;
        reply = { ok: (await answer(device, call)) as never };
      } catch (e) {
        if (!isPaypadError(e)) throw e;
        reply = { error: { code: e.code, message: e.message } };
      }
      const encoded = encodeWire(reply);
      if (name) {
        traffic[name].calls++;
        traffic[name].bytes += message.length + encoded.length;
      }
      return encoded;
    },
  };
}
