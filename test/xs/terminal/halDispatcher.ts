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
import type { Updater } from '../../../firmware/hal/updater';
import { HAL_NAMES, HAL_WIRE_MAX_BYTES, type HalCall, type HalName, type HalReply, UPDATER_METHODS } from './halWire';

/** The device the bridge answers with; an updater only where a test gives one (the update suites). */
export type BridgedHal = TerminalDevice & { readonly updater?: Updater };
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

async function answer(device: BridgedHal, call: HalCall): Promise<unknown> {
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
    case 'updater':
      return updaterCall(device.updater, call.method, call.args);
  }
}

function updaterCall(updater: Updater | undefined, method: unknown, args: unknown): unknown {
  if (updater === undefined) refuse('this device has no updater');
  if (!UPDATER_METHODS.includes(method as (typeof UPDATER_METHODS)[number])) refuse(`unknown updater method ${JSON.stringify(String(method).slice(0, 32))}`);
  if (!Array.isArray(args)) refuse('updater args: expected an array');
  const n = (i: number) => optionalNumber(args[i], `updater ${String(method)} argument ${i}`) as number;
  switch (method) {
    case 'info':
      return { currentVersion: updater.currentVersion, startKind: updater.startKind };
    case 'begin':
      return updater.begin(n(0)) ?? null;
    case 'resume':
      return updater.resume(n(0), n(1)) ?? null;
    case 'write':
      return updater.write(n(0), bytes(args[1], 'updater chunk')) ?? null;
    case 'read':
      return updater.read(n(0), n(1));
    case 'complete':
      return updater.complete(text(args[0], 'updater version')) ?? null;
    case 'cancel':
      return updater.cancel() ?? null;
    case 'confirm':
      return updater.confirm() ?? null;
    default:
      return updater.restart() ?? null;
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
export function createHalDispatcher(device: BridgedHal): HalDispatcher {
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
