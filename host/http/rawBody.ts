/**
 * The bytes of a JSON request body as they arrived, kept by the host's JSON parser (app.ts) for
 * routes that check a digest or signature over them (RFC 9530 Content-Digest, merchants' signed
 * requests): the parsed object cannot give them back.
 */
import type { IncomingMessage } from 'node:http';

const rawBodies = new WeakMap<IncomingMessage, Uint8Array>();

/** express.json's `verify` hook: remembers the body of `req`. */
export function keepRawBody(req: IncomingMessage, _res: unknown, body: Buffer): void {
  rawBodies.set(req, new Uint8Array(body));
}

/** The body as received; empty when the request had none (or it was not JSON). */
export function rawBodyOf(req: IncomingMessage): Uint8Array {
  return rawBodies.get(req) ?? new Uint8Array(0);
}
