/**
 * The local link in the Moddable simulator (module "platform/localLink" on every platform but
 * esp32, manifest.json): where a board has its UART, the simulator listens on a TCP port,
 * `linkPort` in the config, through ECMA-419 `embedded:io/socket/listener` and
 * `embedded:io/socket/tcp`. The operator CLI connects to it exactly as to the emulated terminal
 * (`paypad operator onboard --link 127.0.0.1:<linkPort>`); the frames are shared/protocol/localLink's.
 *
 * Each connection gets its own session, as in the emulated terminal (hal/node/localLinkServer).
 * Back-pressure: the socket is not read while its session works on a chunk, so a peer that sends
 * faster than the terminal answers waits in TCP. Answers go out as the socket reports room
 * (SerialTransmitter: the SDK's write() throws "would block" past it). A few connections at a
 * time, and an idle one is dropped.
 *
 * The Linux simulator's listener binds every interface whatever address it is given
 * (modules/io/socket/lin/tcp.c), so peers are checked here: with `linkAddress` 127.0.0.1 (the
 * default) a connection from any other address is closed unanswered.
 */
import Listener from 'embedded:io/socket/listener';
import TCP from 'embedded:io/socket/tcp';
import Timer from 'timer';
import { BACKLOG_MAX, type LinkConnection, type LinkStream } from 'firmware/hal/moddable/serialLink';
import { SerialTransmitter } from 'firmware/hal/moddable/serialTransmitter';
import type { FirmwareConfig, TcpLinkConfig } from '../config';

/** As the emulated terminal's link (hal/node/localLinkServer). */
const MAX_CONNECTIONS = 4;
const IDLE_TIMEOUT_MS = 10 * 60_000;

export function openLocalLink(firmware: FirmwareConfig, connect: (stream: LinkStream) => LinkConnection): string | null {
  const config = firmware.tcpLink;
  if (!config) return null;
  let connections = 0;
  new Listener({
    port: config.port,
    address: config.address,
    onReadable(requests: number) {
      for (let i = 0; i < requests; i++) {
        const from = this.read();
        if (!from) break;
        if (connections >= MAX_CONNECTIONS) {
          from.close();
          continue;
        }
        connections++;
        serve(from, config, connect, () => connections--);
      }
    },
  });
  return `TCP port ${config.port}${config.address === '127.0.0.1' ? ' (loopback peers only)' : ''}`;
}

function serve(from: TCP, config: TcpLinkConfig, connect: (stream: LinkStream) => LinkConnection, closed: () => void): void {
  let done = false;
  let closing = false;
  let busy = false;
  /** Bytes the socket holds unread, as last reported. */
  let readable = 0;
  const finish = (): void => {
    if (done) return;
    done = true;
    Timer.clear(idle);
    socket.close();
    closed();
  };
  let idle = Timer.set(finish, IDLE_TIMEOUT_MS);
  // An ArrayBuffer of exactly the bytes, as the UART link writes them.
  const transmitter = new SerialTransmitter((bytes) => socket.write(bytes.slice().buffer), BACKLOG_MAX);
  const session = connect({
    write: (bytes) => transmitter.send(bytes),
    close() {
      // Everything written goes out first (onWritable), then the connection is gone.
      closing = true;
      if (transmitter.queued === 0) finish();
    },
  });
  const pump = (): void => {
    if (busy || done || closing || readable === 0) return;
    const data = socket.read(readable) as ArrayBuffer;
    readable = 0;
    busy = true;
    void session.receive(new Uint8Array(data)).then(() => {
      busy = false;
      pump();
    });
  };
  const socket: TCP = new TCP({
    from,
    format: 'buffer',
    onReadable(count: number) {
      readable = count;
      Timer.clear(idle);
      idle = Timer.set(finish, IDLE_TIMEOUT_MS);
      pump();
    },
    onWritable(count: number) {
      try {
        transmitter.writable(count);
      } catch {
        finish(); // the peer is gone; its session has nobody to answer
        return;
      }
      if (closing && transmitter.queued === 0) finish();
    },
    onError: finish,
  });
  if (config.address === '127.0.0.1' && socket.remoteAddress !== '127.0.0.1') finish();
}
