/**
 * The baseline the push channel is measured against: a WebSocket server (package ws) that only
 * echoes each frame back, and as many clients connected to it as phones to the platform. A round
 * trip crosses loopback twice; a push once, after the platform's work.
 */
import type { AddressInfo } from 'node:net';
import WebSocket, { WebSocketServer } from 'ws';

/** A bare ws echo server and `clients` clients connected to it. */
export async function startBareEcho(clients: number): Promise<{ sockets: WebSocket[]; close(): Promise<void> }> {
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  server.on('connection', (ws) => ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary })));
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  const url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const sockets: WebSocket[] = [];
  // 64 handshakes at a time, as the phones connect a few at a time.
  for (let i = 0; i < clients; i += 64) {
    sockets.push(...(await Promise.all(Array.from({ length: Math.min(64, clients - i) }, async () => {
      const ws = new WebSocket(url);
      await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
      ws.on('error', () => ws.terminate());
      return ws;
    }))));
  }
  return {
    sockets,
    async close() {
      for (const ws of sockets) ws.terminate();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** One echo round trip on `ws` of `frame`. */
export function echo(ws: WebSocket, frame: string): Promise<void> {
  return new Promise((resolve, reject) => {
    ws.once('message', () => resolve());
    ws.send(frame, (e) => e && reject(e));
  });
}
