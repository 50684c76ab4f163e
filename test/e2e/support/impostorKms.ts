/**
 * An impostor KMS (A8 attack tests): an HTTPS server at a customer's recorded KMS address that
 * would take a TK from anyone who talked to it. It answers GET /kms/v1/intake-key with a key pair
 * of its own, labelled with the customer it claims to serve, and acknowledges POST /kms/v1/tk, so
 * a client that skipped a certificate check would carry on to send the TK. It counts TCP
 * connections and completed handshakes and records every HTTP request it receives. Given a valid
 * certificate it stands in for a customer's KMS that changes its intake key (rotateIntakeKey).
 */
import { createECDH, createHash } from 'node:crypto';
import { createServer, type Server } from 'node:https';
import { KMS_API_PREFIX } from '../../../shared/protocol/kmsPaths';
import { MESSAGE_VERSION } from '../../../shared/protocol/messages';
import type { TlsIdentity } from '../../../host/tls/identity';
import { LOOPBACK } from './loopback';

export interface ImpostorRequest {
  readonly method: string;
  readonly path: string;
  readonly body: string;
}

export interface ImpostorKms {
  readonly url: string;
  /** TCP connections accepted. */
  readonly connections: number;
  /** TLS handshakes that completed on the server's side. */
  readonly handshakes: number;
  /** Every HTTP request received, in order. */
  readonly requests: readonly ImpostorRequest[];
  /** The check value of the intake key it presents now. */
  readonly intakeKcv: string;
  /** Presents a new intake key from now on. */
  rotateIntakeKey(): void;
  close(): Promise<void>;
}

/** Listens on 127.0.0.1:`port` with `identity`'s certificate, claiming to be the KMS of `customerCode`. */
export async function startImpostorKms(options: { identity: Pick<TlsIdentity, 'certPem' | 'keyPem'>; customerCode: string; port: number }): Promise<ImpostorKms> {
  const newIntakeKey = () => {
    const publicKey = createECDH('prime256v1').generateKeys();
    return {
      v: MESSAGE_VERSION,
      customerCode: options.customerCode,
      publicKey: publicKey.toString('hex').toUpperCase(),
      kcv: createHash('sha256').update(publicKey).digest().subarray(0, 5).toString('hex').toUpperCase(),
    };
  };
  let intakeKey = newIntakeKey();
  const requests: ImpostorRequest[] = [];
  let connections = 0;
  let handshakes = 0;
  const server: Server = createServer({ cert: options.identity.certPem, key: options.identity.keyPem }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      requests.push({ method: req.method ?? '', path: req.url ?? '', body });
      res.setHeader('content-type', 'application/json');
      if (req.method === 'GET' && req.url === `${KMS_API_PREFIX}/intake-key`) {
        res.end(JSON.stringify(intakeKey));
      } else if (req.method === 'POST' && req.url === `${KMS_API_PREFIX}/tk`) {
        const deliveryId = (JSON.parse(body) as { deliveryId?: string }).deliveryId;
        res.end(JSON.stringify({ v: MESSAGE_VERSION, deliveryId, outcome: 'applied' }));
      } else {
        res.statusCode = 404;
        res.end(JSON.stringify({ error: { code: 'NOT_FOUND', message: 'no such route' } }));
      }
    });
  });
  server.on('connection', () => void (connections += 1));
  server.on('secureConnection', () => void (handshakes += 1));
  // A client that refuses our certificate aborts the handshake: expected, not a failure here.
  server.on('tlsClientError', () => {});
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, LOOPBACK, () => resolve());
  });
  return {
    url: `https://${LOOPBACK}:${options.port}`,
    get connections() {
      return connections;
    },
    get handshakes() {
      return handshakes;
    },
    requests,
    get intakeKcv() {
      return intakeKey.kcv;
    },
    rotateIntakeKey: () => void (intakeKey = newIntakeKey()),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
