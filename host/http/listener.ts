/**
 * Starting and stopping the host's listeners (the HTTP app, MTMS and each KMS) the same way:
 * a typed LISTEN_FAILED naming who could not listen, the URL with the port actually bound, and a
 * stop that lets requests in flight finish for a grace period, then cuts what is left.
 */
import type { Server } from 'node:http';
import type { AddressInfo, Server as NetServer } from 'node:net';
import { PaypadError } from '../../shared/errors';

/** Listens on `host:port` (port 0: any free one). @throws PaypadError LISTEN_FAILED naming `who`. */
export function listen<S extends NetServer>(server: S, host: string, port: number, who: string): Promise<S> {
  return new Promise((resolve, reject) => {
    const onError = (e: NodeJS.ErrnoException) => {
      reject(Object.assign(new PaypadError('LISTEN_FAILED', `${who} cannot listen on ${host}:${port}: ${e.code ?? e.message}`), { cause: e }));
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve(server);
    });
  });
}

/** e.g. "https://127.0.0.1:8790", with the bound port; IPv6 addresses in brackets. */
export function listenerUrl(server: NetServer, scheme: 'http' | 'https'): string {
  const { address, port } = server.address() as AddressInfo;
  return `${scheme}://${address.includes(':') ? `[${address}]` : address}:${port}`;
}

/** Stops accepting; requests in flight get `graceMs`, then their connections are cut. */
export async function closeWithin(server: Server, graceMs: number): Promise<void> {
  const force = setTimeout(() => server.closeAllConnections(), graceMs).unref();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  clearTimeout(force);
}
