/**
 * The CLI phone's way to the platform: fetch to the host's origin (shared/client PhoneTransport),
 * and its push channel: a WebSocket (package ws) to the same origin's /bills/client/push.
 */
import WebSocket from 'ws';
import type { PhoneTransport } from '../../shared/client/phoneClient';
import { PaypadError } from '../../shared/errors';
import { PHONE_CLIENT_PATHS } from '../../shared/protocol/phoneClient';

export function fetchTransport(origin: string): PhoneTransport {
  return async (request) => {
    let res: Response;
    try {
      res = await fetch(origin + request.path, { method: request.method, headers: request.headers, body: request.method === 'GET' ? undefined : request.body });
    } catch {
      throw new PaypadError('LINK_UNAVAILABLE', `no paypad host answers at ${origin}: start it with \`paypad serve\` or say where it is with --url`);
    }
    const headers: Record<string, string> = {};
    res.headers.forEach((value, name) => void (headers[name] = value));
    return { status: res.status, headers, body: new Uint8Array(await res.arrayBuffer()) };
  };
}

/** A WebSocket to the push channel of `origin` (http -> ws, https -> wss). */
export function openPushSocket(origin: string): WebSocket {
  return new WebSocket(origin.replace(/^http/, 'ws') + PHONE_CLIENT_PATHS.push);
}
