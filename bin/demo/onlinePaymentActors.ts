/**
 * The actors of an online card payment besides the checkout page (E1-E9), for the demo
 * (`npm run demo:online-payment`) and the checkout page's browser tests: a merchant of the gateway
 * that signs its orders and receives the platform's signed notifications, the readers' BDK loaded
 * into the gateway by its key ceremony, and emulated PIN pads working as secure card readers (the
 * firmware core on the Node HAL) dialling the host's reader channel.
 */
import { randomBytes, randomUUID, createPrivateKey, createPublicKey } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { asciiToBytes, fromHex, toHex, xorBytes } from '../../shared/bytes';
import { dukptInitialKey } from '../../shared/crypto/dukpt';
import { keyCheckValue } from '../../shared/crypto/kcv';
import { SecureCardReader } from '../../firmware/core/secureCardReader';
import { SecureCardReaderService } from '../../firmware/core/secureCardReaderService';
import { createEmulatedSwipeReader, type EmulatedSwipeReader } from '../../firmware/hal/node/emulatedSwipeReader';
import { connectCardReader, type NodeCardReaderLink } from '../../firmware/hal/node/nodeCardReaderLink';
import { PLATFORM_KEY_ID } from '../../host/bills/merchantNotifications';
import { CARD_READER_PATH } from '../../host/gateway/readerChannel';
import { systemRng } from '../../host/hsm/index';
import { signRequest, verifySignedRequest } from '../../host/merchants/signedRequest';
import type { Storage } from '../../firmware/hal/storage';
import type { RunningHost } from '../../host/server';
import { MerchantSimulator } from '../../host/simulators/merchantSimulator';

export interface GatewayOrderAnswer {
  readonly orderNumber: string;
  readonly merchantOrderId: string;
  readonly transactionCode: string;
  readonly transactionCodeDisplay: string;
  readonly amount: number;
  readonly status: string;
}

/** A notification as the merchant's backend received it, its platform signature verified. */
export type ReceivedNotification = Readonly<Record<string, unknown>> & { readonly notificationId: string; readonly orderNumber: string };

export interface GatewayMerchant {
  readonly merchantNo: string;
  readonly legalName: string;
  readonly notifyUrl: string;
  /** Verified notifications, deduped by notificationId, in arrival order. */
  readonly received: ReceivedNotification[];
  /** Requests to the notify URL whose signature did not verify. */
  readonly refused: number;
  /** E1, E2: a signed POST /gateway/orders. */
  createOrder(fields: { amount: number; description: string; expiresInMinutes?: number; account?: string }): Promise<GatewayOrderAnswer>;
  close(): Promise<void>;
}

export async function startGatewayMerchant(host: RunningHost, legalName: string): Promise<GatewayMerchant> {
  const identity = await MerchantSimulator.enrol(host.bills.merchants, { legalName, receivingAccount: '6222020000000000001' });
  const privateKey = createPrivateKey(identity.privateKeyPem);
  const platformKey = createPublicKey(host.bills.identity.certificatePem);
  const nonces = new Set<string>();
  const received: ReceivedNotification[] = [];
  let refused = 0;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      const body = Buffer.concat(chunks);
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      try {
        await verifySignedRequest(
          { method: req.method ?? 'POST', path: url.pathname, query: url.search, body, contentDigest: req.headers['content-digest'] as string, signatureInput: req.headers['signature-input'] as string, signature: req.headers.signature as string },
          { publicKeyOf: async (keyId) => (keyId === PLATFORM_KEY_ID ? platformKey : undefined), rememberNonce: async (keyId, nonce) => !nonces.has(`${keyId} ${nonce}`) && Boolean(nonces.add(`${keyId} ${nonce}`)) },
          new Date(),
        );
      } catch {
        refused++;
        res.writeHead(401).end();
        return;
      }
      const notification = JSON.parse(body.toString('utf8')) as ReceivedNotification;
      if (!received.some((n) => n.notificationId === notification.notificationId)) received.push(notification);
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"received":true}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const notifyUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/notify`;
  return {
    merchantNo: identity.merchantId,
    legalName: identity.legalName,
    notifyUrl,
    received,
    get refused() {
      return refused;
    },
    async createOrder(fields) {
      const body = asciiToBytes(JSON.stringify({ merchantNo: identity.merchantId, merchantOrderId: `MO-${randomBytes(6).toString('hex')}`, currency: 'CNY', notifyUrl, ...fields }));
      const path = '/gateway/orders';
      const headers = signRequest({ method: 'POST', path, body, keyId: identity.merchantId, nonce: randomUUID(), created: new Date(), privateKey });
      const response = await fetch(`${host.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', 'idempotency-key': randomUUID(), ...headers }, body });
      const answer = (await response.json()) as GatewayOrderAnswer;
      if (response.status !== 201) throw new Error(`order refused: ${response.status} ${JSON.stringify(answer)}`);
      return answer;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** The readers' BDK, its two components loaded into the gateway's HSM as at a key ceremony. */
export async function loadReaderBdk(host: RunningHost): Promise<Uint8Array> {
  const bdk = systemRng(16);
  const first = systemRng(16);
  const components = [first, xorBytes(bdk, first)].map((value) => ({ value, kcv: toHex(keyCheckValue(value)) }));
  await host.checkout.loadReaderBdk(components, toHex(keyCheckValue(bdk)));
  return bdk;
}

/** Three missed heartbeats are an unplugged reader: slow enough that a loaded test machine does not miss them. */
export const READER_HEARTBEAT_MS = 1_000;

export interface EmulatedReader {
  readonly readerId: string;
  readonly link: NodeCardReaderLink;
  readonly swipes: EmulatedSwipeReader;
  /** The card the next swipe reads (track 2), or none: the reader waits for a swipe that never comes. */
  card: string | undefined;
  /** The PIN the holder keys on the pad when asked. */
  pin: string;
  /** Reads answered (frames sent back). */
  readonly frames: string[];
  /** The initial key injected (for the X1 scan: it must be nowhere). */
  readonly initialKey: Uint8Array;
}

/** A PIN pad with keys injected from `bdk` (a fresh initial key ID), registered with the gateway, connected. */
export async function connectEmulatedReader(host: RunningHost, bdk: Uint8Array, readerId: string, card: string | undefined, pin: string, storage: Storage): Promise<EmulatedReader> {
  const ikId = toHex(systemRng(8)).toUpperCase();
  const secure = new SecureCardReader({ storage, rng: systemRng, rootKey: systemRng(16) });
  const initialKey = dukptInitialKey(bdk, fromHex(ikId));
  secure.loadInitialKey(Uint8Array.from(initialKey), fromHex(ikId));
  await host.checkout.registerReader(readerId, ikId);
  const swipes = createEmulatedSwipeReader();
  const frames: string[] = [];
  const reader = { readerId, swipes, card, pin, frames, initialKey } as { -readonly [K in keyof EmulatedReader]: EmulatedReader[K] };
  swipes.onWaiting(() => {
    const track = reader.card;
    if (track !== undefined) setTimeout(() => swipes.swipe({ status: 'read', track2: asciiToBytes(track) }), 20);
  });
  const service = new SecureCardReaderService({ reader: secure, cardReader: swipes.reader, readerId, heartbeatMs: READER_HEARTBEAT_MS, pinEntry: () => Promise.resolve(reader.pin) });
  const recording = Object.assign(Object.create(service) as SecureCardReaderService, {
    hello: () => service.hello(),
    heartbeat: () => service.heartbeat(),
    answer: (frame: string) => service.answer(frame).then((out) => (frames.push(out), out)),
  });
  reader.link = await connectCardReader(`${host.url.replace(/^http/, 'ws')}${CARD_READER_PATH}`, recording, READER_HEARTBEAT_MS);
  return reader;
}

/** Track 2 of a test card as its stripe holds it. */
export function track2Of(card: { pan: string; expiry: string }): string {
  return `${card.pan}=${card.expiry}1011234500000`;
}
