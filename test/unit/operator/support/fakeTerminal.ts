/**
 * A terminal's local link on loopback TCP for the operator tests: the firmware's own link session
 * (firmware/core/localLinkService) in front of an in-memory handler. The "TK envelope" is random
 * bytes: the operator must relay it unchanged and never look inside (A10), so its content does not
 * matter here; the full e2e uses the real vault. So are the device signature and certificate (A8):
 * MTMS checks them, the operator only carries them.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { LocalLinkSession, type LinkRequestHandler } from '../../../../firmware/core/localLinkService';
import { PaypadError } from '../../../../shared/errors';
import { LINK_VERSION, type LinkOp, type LinkRequest, type LinkResult } from '../../../../shared/protocol/localLink';

export interface FakeTerminalOptions {
  readonly serial: string;
  /** The serial answered after a repair (a device swapped on the bench); the same by default. */
  readonly serialAfterRepair?: string;
  /** The serial answered to identity (a device swapped during enrolment); the same by default. */
  readonly identitySerial?: string;
  /** Refuse every request of this op with this error. */
  readonly refuse?: { readonly op: LinkOp; readonly error: PaypadError };
}

export interface FakeTerminal {
  /** "127.0.0.1:PORT" */
  readonly address: string;
  /** Every valid request, in order. */
  readonly requests: LinkRequest[];
  /** Every envelope handed out, hex. */
  readonly envelopes: string[];
  readonly repairs: number;
  close(): Promise<void>;
}

export async function startFakeTerminal(options: FakeTerminalOptions): Promise<FakeTerminal> {
  let serial = options.serial;
  let tkEnvelope = newEnvelope();
  // Stands for the device certificate: the operator relays it and never parses it.
  let certificate = randomHex(300);
  const requests: LinkRequest[] = [];
  const envelopes: string[] = [];
  let repairs = 0;

  const handler: LinkRequestHandler = {
    async handleLinkRequest(request): Promise<LinkResult<LinkOp>> {
      requests.push(request);
      if (options.refuse?.op === request.op) throw options.refuse.error;
      switch (request.op) {
        case 'serial':
          return { v: LINK_VERSION, id: request.id, ok: true, serial };
        case 'tk':
          envelopes.push(tkEnvelope);
          if (request.nonce === undefined) return { v: LINK_VERSION, id: request.id, ok: true, serial, tkEnvelope };
          return { v: LINK_VERSION, id: request.id, ok: true, serial, tkEnvelope, signature: randomHex(64), certificate };
        case 'identity':
          return { v: LINK_VERSION, id: request.id, ok: true, serial: options.identitySerial ?? serial, publicKey: `04${randomHex(64)}`, signature: randomHex(64) };
        case 'certify':
          certificate = request.certificate;
          return { v: LINK_VERSION, id: request.id, ok: true, serial };
        case 'repair':
          if (request.serial !== serial) throw new PaypadError('BAD_ARGUMENT', `this terminal is ${serial}, not ${request.serial}`);
          repairs++;
          tkEnvelope = newEnvelope();
          serial = options.serialAfterRepair ?? serial;
          return { v: LINK_VERSION, id: request.id, ok: true, serial: request.serial };
      }
    },
  };

  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    const session = new LocalLinkSession(handler, { write: (bytes) => void socket.write(bytes), close: () => void socket.end() });
    socket.on('data', (chunk: Buffer) => void session.receive(new Uint8Array(chunk)));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    address: `127.0.0.1:${port}`,
    requests,
    envelopes,
    get repairs() {
      return repairs;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Version byte, a 65-byte point and a 24-byte wrap: the size of a real AES-128 TK envelope. */
function newEnvelope(): string {
  return randomBytes(90).toString('hex').toUpperCase();
}

function randomHex(bytes: number): string {
  return randomBytes(bytes).toString('hex').toUpperCase();
}
