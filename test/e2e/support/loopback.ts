/**
 * Loopback plumbing for the end-to-end tests: free ports picked up front (a host whose KMS must
 * listen on the port its customer record names needs a fixed one), bounded polling, and a
 * "squatter" that holds a port so nothing else can listen there, and a plain HTTPS GET.
 */
import { request as httpsRequest } from 'node:https';
import { createServer, type Server } from 'node:net';
import type { AddressInfo } from 'node:net';

export const LOOPBACK = '127.0.0.1';

function listening(server: Server, port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, LOOPBACK, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}

function closed(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

/**
 * `count` distinct ports that were free on 127.0.0.1 a moment ago: all held at once while the OS
 * picks them, then released. Another process could take one meanwhile; on a test machine that is
 * rare enough, and the host then reports LISTEN_FAILED naming the port.
 */
export async function freeLoopbackPorts(count: number): Promise<number[]> {
  const servers = await Promise.all(Array.from({ length: count }, () => listening(createServer(), 0)));
  const ports = servers.map((s) => (s.address() as AddressInfo).port);
  await Promise.all(servers.map(closed));
  return ports;
}

/**
 * Polls `probe` every `intervalMs` until it returns something other than undefined, for at most
 * `timeoutMs`. @throws Error naming `what` and the last state `describe` gives, when time is up.
 */
export async function eventually<T>(probe: () => Promise<T | undefined>, what: string, options: { timeoutMs?: number; intervalMs?: number; describe?: () => Promise<string> | string } = {}): Promise<T> {
  const deadline = Date.now() + (options.timeoutMs ?? 20_000);
  for (;;) {
    const found = await probe();
    if (found !== undefined) return found;
    if (Date.now() > deadline) {
      const state = options.describe ? ` (last seen: ${await options.describe()})` : '';
      throw new Error(`${what}: not within ${options.timeoutMs ?? 20_000} ms${state}`);
    }
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 100));
  }
}

export interface PortSquatter {
  readonly port: number;
  /** TCP connections it accepted (and reset at once). */
  readonly connections: number;
  /** Frees the port. */
  close(): Promise<void>;
}

/**
 * Holds 127.0.0.1:`port` and resets every connection at once, as a KMS host that is down except
 * for its TCP stack would. A paypad host cannot start a KMS there meanwhile (LISTEN_FAILED), and
 * whoever calls it fails with ECONNRESET before a byte of TLS.
 */
export async function squatPort(port: number): Promise<PortSquatter> {
  let connections = 0;
  const server = createServer((socket) => {
    connections += 1;
    socket.on('error', () => {});
    socket.resetAndDestroy();
  });
  await listening(server, port);
  return {
    port,
    get connections() {
      return connections;
    },
    close: () => closed(server),
  };
}

/** A plain HTTPS GET over a new connection, trusting only `caPem`, presenting no certificate; the body parsed as JSON. */
export function httpsGetJson(url: string, caPem: string): Promise<{ status: number; json: unknown }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { ca: [caPem], agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        try {
          resolve({ status: res.statusCode ?? 0, json: JSON.parse(Buffer.concat(chunks).toString('utf8')) });
        } catch (e) {
          reject(e);
        }
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}
