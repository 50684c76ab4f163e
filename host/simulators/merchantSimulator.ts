/**
 * The sales platform simulator (X5; SPEC D2, D5, D7): the one fake merchant every bill test and the
 * demo use. It behaves as a merchant integrating with the bill platform would:
 *
 * - its own RSA key pair, made here; only a CSR goes to the platform's CA (enrol);
 * - orders sent over HTTP, signed (host/merchants/signedRequest.ts), with a fresh request id each;
 * - a webhook receiver (Express on loopback) that verifies the platform's signature with the
 *   platform's CA-issued certificate, refuses what does not verify (401), dedupes by
 *   (bill, sequence), records what it received in arrival order (a delivery round sends concurrently, so a bill's
 *   notifications can arrive out of sequence; readers sort by sequence), and answers 200;
 * - "down" (every delivery answered 503) and back up, to show the platform's retries;
 * - it tells its buyer by SMS through the SMS gateway (host/sms) when a bill is paid (who paid,
 *   for D8) or refused (D7);
 * - the pull API: fetches the notifications after its cursor, to repair what it missed.
 */
import type { Server } from 'node:http';
import type { KeyObject } from 'node:crypto';
import { randomUUID } from 'node:crypto';
import express from 'express';
import { PaypadError } from '../../shared/errors';
import { formatAmount } from '../payments/mobile/notifications';
import type { MerchantDirectory } from '../merchants/merchantDirectory';
import { createRsaKeyAndCsr, privateKeyOf, publicKeyOfCertificate, verifiedSubjectName } from '../merchants/rsaIdentity';
import { type SignatureHeaders, signRequest, verifySignedRequest } from '../merchants/signedRequest';
import { signedRequestOf } from '../merchants/signedRoute';
import { keepRawBody } from '../http/rawBody';
import type { NotificationBody } from '../bills/merchantNotifications';
import { PLATFORM_KEY_ID } from '../bills/merchantNotifications';
import type { SmsGateway } from '../sms/smsGateway';
import { x509 } from '../ca/x509';

/** The paths of the platform's merchant API, under the host's URL. */
export const MERCHANT_API = Object.freeze({ orders: '/bills/merchant/v1/orders', notifications: '/bills/merchant/v1/notifications', schedule: '/bills/merchant/v1/notification-schedule' });

export interface MerchantIdentity {
  readonly merchantId: string;
  readonly legalName: string;
  /** PKCS#8 PEM; the simulator's own (a real merchant keeps it in its HSM or key store). */
  readonly privateKeyPem: string;
}

export interface MerchantSimulatorOptions {
  readonly identity: MerchantIdentity;
  /** The host's URL, e.g. http://127.0.0.1:8780. */
  readonly platformUrl: string;
  /** The platform's notification certificate (PEM) and the CA that issued it. */
  readonly platformCertificatePem: string;
  readonly caCertificatePem: string;
  readonly sms: SmsGateway;
  readonly clock?: () => Date;
}

export interface PlatformAnswer {
  readonly status: number;
  readonly body: Record<string, unknown>;
}

/** How a test bends a request: sign at another time, reuse a request id, or change the body after signing. */
export interface SendOptions {
  readonly created?: Date;
  readonly nonce?: string;
  readonly tamper?: (body: Uint8Array) => Uint8Array;
  readonly headers?: (signed: SignatureHeaders) => SignatureHeaders;
}

export class MerchantSimulator {
  readonly identity: MerchantIdentity;
  /** Notifications received, deduped by (billId, sequence), in arrival order. */
  readonly received: NotificationBody[] = [];
  /** Every delivery that reached the handler while up, duplicates included. */
  deliveries = 0;
  /** Deliveries refused while down. */
  refusedWhileDown = 0;
  #down = false;
  readonly #options: MerchantSimulatorOptions;
  readonly #key: KeyObject;
  readonly #platformKey: KeyObject;
  readonly #seen = new Set<string>();
  readonly #nonces = new Set<string>();
  #server: Server | undefined;
  #url = '';

  private constructor(options: MerchantSimulatorOptions, platformKey: KeyObject) {
    this.#options = options;
    this.identity = options.identity;
    this.#key = privateKeyOf(options.identity.privateKeyPem);
    this.#platformKey = platformKey;
  }

  /**
   * Makes a key pair and CSR and has the platform's operator enrol the merchant in `directory`
   * (the CA certifies the key with `legalName` as CN); the webhook URL is given later by start().
   */
  static async enrol(directory: MerchantDirectory, enrolment: { legalName: string; receivingAccount: string }): Promise<MerchantIdentity> {
    const { privateKeyPem, csrPem } = await createRsaKeyAndCsr({ role: 'merchant', name: enrolment.legalName });
    const merchant = await directory.register({ ...enrolment, csrPem, notifyUrl: 'http://127.0.0.1/not-listening-yet' });
    return { merchantId: merchant.merchantId, legalName: merchant.legalName, privateKeyPem };
  }

  /** Checks the platform's certificate against the CA (and that it is the bill platform's), then starts the webhook receiver. */
  static async start(options: MerchantSimulatorOptions): Promise<MerchantSimulator> {
    const clock = options.clock ?? (() => new Date());
    const ca = new x509.X509Certificate(options.caCertificatePem);
    await verifiedSubjectName(options.platformCertificatePem, ca, clock());
    const role = new x509.X509Certificate(options.platformCertificatePem).subjectName.getField('OU');
    if (role.length !== 1 || role[0] !== 'bill-platform') throw new PaypadError('PEER_CERT_UNTRUSTED', 'the notification certificate is not the bill platform\'s');
    const simulator = new MerchantSimulator(options, publicKeyOfCertificate(options.platformCertificatePem));
    await simulator.#listen();
    return simulator;
  }

  /** The webhook URL to enrol as notify URL. */
  get notifyUrl(): string {
    return `${this.#url}/notify`;
  }

  /** 503 to every delivery until up(). */
  down(): void {
    this.#down = true;
  }

  up(): void {
    this.#down = false;
  }

  /** D2: a signed order; the platform's answer (201 with the bill, or an error). */
  placeOrder(order: Record<string, unknown>, options: SendOptions = {}): Promise<PlatformAnswer> {
    return this.send('POST', MERCHANT_API.orders, order, options);
  }

  /** The pull API: notifications after `cursor`. */
  pullNotifications(cursor: number, options: SendOptions = {}): Promise<PlatformAnswer> {
    return this.send('GET', MERCHANT_API.notifications, undefined, options, `?after=${cursor}`);
  }

  /** One signed request to the platform. */
  async send(method: 'GET' | 'POST', path: string, json: unknown, options: SendOptions = {}, query = ''): Promise<PlatformAnswer> {
    const clock = this.#options.clock ?? (() => new Date());
    const body = json === undefined ? new Uint8Array(0) : new TextEncoder().encode(JSON.stringify(json));
    const signed = signRequest({ method, path, query, body, keyId: this.identity.merchantId, nonce: options.nonce ?? randomUUID(), created: options.created ?? clock(), privateKey: this.#key });
    const headers = options.headers ? options.headers(signed) : signed;
    const sent = options.tamper ? options.tamper(body) : body;
    const answer = await fetch(`${this.#options.platformUrl}${path}${query}`, {
      method,
      headers: { ...headers, ...(json === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(method === 'GET' ? {} : { body: sent }),
    });
    return { status: answer.status, body: (await answer.json()) as Record<string, unknown> };
  }

  async close(): Promise<void> {
    const server = this.#server;
    if (server === undefined) return;
    this.#server = undefined;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  async #listen(): Promise<void> {
    const clock = this.#options.clock ?? (() => new Date());
    const app = express();
    app.use(express.json({ limit: 64 * 1024, verify: keepRawBody }));
    app.post('/notify', async (req, res) => {
      if (this.#down) {
        this.refusedWhileDown++;
        res.status(503).json({ error: 'down for maintenance' });
        return;
      }
      try {
        await verifySignedRequest(
          signedRequestOf(req),
          {
            publicKeyOf: async (keyId) => (keyId === PLATFORM_KEY_ID ? this.#platformKey : undefined),
            rememberNonce: async (keyId, nonce) => !this.#nonces.has(`${keyId} ${nonce}`) && Boolean(this.#nonces.add(`${keyId} ${nonce}`)),
          },
          clock(),
        );
      } catch (e) {
        res.status(401).json({ error: e instanceof PaypadError ? e.code : 'INVALID' });
        return;
      }
      this.deliveries++;
      await this.#accept(req.body as NotificationBody);
      res.status(200).json({ received: true });
    });
    await new Promise<void>((resolve, reject) => {
      const server = app.listen(0, '127.0.0.1', () => resolve());
      server.once('error', reject);
      this.#server = server;
    });
    const address = this.#server?.address();
    if (address === null || address === undefined || typeof address === 'string') throw new PaypadError('LISTEN_FAILED', 'the merchant simulator could not listen');
    this.#url = `http://127.0.0.1:${address.port}`;
  }

  /** Dedupes on (bill, sequence), then tells the buyer as a shop would. */
  async #accept(n: NotificationBody): Promise<void> {
    const key = `${n.billId} ${n.sequence}`;
    if (this.#seen.has(key)) return;
    this.#seen.add(key);
    this.received.push(n);
    const amount = formatAmount(n.amountMinor, n.currency);
    const shop = this.identity.legalName;
    if (n.event === 'bill.paid') {
      const who = n.paidForAnother ? ` by ${n.designatedMobile.slice(3, 6)}****${n.designatedMobile.slice(-4)} on your behalf` : '';
      await this.#options.sms.send(n.buyerMobile, `${shop}: your order ${n.orderId} (${amount}) was paid${who}. Thank you!`);
    } else if (n.event === 'bill.refused') {
      await this.#options.sms.send(n.buyerMobile, `${shop}: the payment for your order ${n.orderId} (${amount}) was refused; the order is cancelled.`);
    }
  }
}
