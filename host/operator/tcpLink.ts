/**
 * The local link over TCP, as the emulated terminal offers it (`paypad terminal run` prints
 * "local link on 127.0.0.1:PORT"). A board's UART carries the same frames; only the stream differs
 * (linkClient.ts).
 */
import { connect as tcpConnect } from 'node:net';
import { PaypadError } from '../../shared/errors';
import { createLinkClient, type EnrolmentLink, type LinkClientOptions, type TerminalLink } from './linkClient';

export interface LinkAddress {
  readonly host: string;
  readonly port: number;
}

export const DEFAULT_CONNECT_TIMEOUT_MS = 5_000;

const HOST_PORT = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})$/;

/**
 * "HOST:PORT" or "[IPv6]:PORT".
 * @throws PaypadError BAD_ARGUMENT saying what was expected.
 */
export function parseLinkAddress(text: string): LinkAddress {
  const match = HOST_PORT.exec(text);
  const port = match === null ? NaN : Number(match[3]);
  if (match === null || !(port >= 1 && port <= 65535)) {
    throw new PaypadError('BAD_ARGUMENT', `the link address must be HOST:PORT or [IPv6]:PORT with a port of 1-65535, got ${JSON.stringify(text.slice(0, 80))}`);
  }
  return { host: match[1] ?? match[2], port };
}

/** "host:port" (IPv6 in brackets), for messages. */
export function formatLinkAddress(address: LinkAddress): string {
  return address.host.includes(':') ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`;
}

/**
 * Connects to a terminal's link.
 * @throws PaypadError LINK_UNAVAILABLE (refused, unreachable), LINK_TIMEOUT (no connection in time).
 */
export function connectTcpLink(address: LinkAddress, options: LinkClientOptions & { connectTimeoutMs?: number } = {}): Promise<TerminalLink & EnrolmentLink> {
  const name = formatLinkAddress(address);
  const connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  return new Promise((resolve, reject) => {
    const socket = tcpConnect({ host: address.host, port: address.port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new PaypadError('LINK_TIMEOUT', `no connection to the terminal at ${name} within ${connectTimeoutMs} ms`));
    }, connectTimeoutMs);
    socket.once('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(new PaypadError('LINK_UNAVAILABLE', `cannot reach the terminal's local link at ${name}: ${e.code ?? e.message}`));
    });
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      // Frames are small and each waits for its answer: send them now, not after Nagle's delay.
      socket.setNoDelay(true);
      resolve(createLinkClient(socket, { ...options, peerName: `the terminal at ${name}` }));
    });
  });
}
