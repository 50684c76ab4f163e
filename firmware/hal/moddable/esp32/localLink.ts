/**
 * The local link on a board: the operating terminal's cable on a UART, through ECMA-419 Serial
 * (`embedded:io/serial`), 8N1, no flow control. Module "platform/localLink" on esp32 builds
 * (manifest.json); the simulator gets host/localLink.ts, a TCP port. Bytes read go to SerialLink, which runs the
 * sessions (firmware/core/localLinkService via `connect`); answers go out through
 * SerialTransmitter, a FIFO's worth at a time. The link carries no secret (the TK leaves only as
 * an envelope for MTMS's key, A10), so nothing here wipes or hides bytes.
 *
 * The ESP32 driver reads the 128-byte receive FIFO directly, without a ring buffer: bytes that
 * arrive while JavaScript is busy for longer than the FIFO takes to fill (about 11 ms at 115200
 * baud; a TK export's P-256 work takes far longer) are lost. The operating terminal waits for
 * each answer before it sends the next request, so a request does not arrive during that work.
 */
import Serial from 'embedded:io/serial';
import { BACKLOG_MAX, type LinkConnection, type LinkStream, SerialLink } from 'firmware/hal/moddable/serialLink';
import { SerialTransmitter } from 'firmware/hal/moddable/serialTransmitter';
import { timerScheduler } from 'firmware/hal/moddable/timerScheduler';
import type { FirmwareConfig } from '../config';

/**
 * Opens the link the board's configuration wires (`localLink`, a UART) and says which, for the
 * console; null when there is none.
 */
export function openLocalLink(firmware: FirmwareConfig, connect: (stream: LinkStream) => LinkConnection): string | null {
  const config = firmware.localLink;
  if (!config) return null;
  // Nothing is written before the port's first onWritable, which comes after `port` is set.
  // An ArrayBuffer of exactly the bytes: older Moddable releases take no views in write().
  const transmitter = new SerialTransmitter((bytes) => port.write(bytes.slice().buffer), BACKLOG_MAX);
  const link = new SerialLink({ connect, transmit: (bytes) => transmitter.send(bytes), scheduler: timerScheduler });

  const port = new Serial({
    port: config.port,
    receive: config.receive,
    transmit: config.transmit,
    baud: config.baud,
    format: 'buffer',
    onReadable(count: number) {
      const data = this.read(count);
      if (data) link.receive(new Uint8Array(data));
    },
    onWritable(count: number) {
      try {
        transmitter.writable(count);
      } catch (e) {
        // Only a port fault gets here (the room is accounted for); the peer times out and retries.
        trace(`local link: transmit failed (${e instanceof Error ? e.message : String(e)})\n`);
      }
    },
  });
  return `UART${config.port}`;
}
