/**
 * What the terminal tests share: temporary state directories, a manufactured emulated terminal on
 * the real Node HAL, a paypad-style PKI (CA + KMS server certificate from host/ca), MTMS's intake
 * key pair, and a local-link client over real TCP written from the protocol, not from the code
 * under test.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Rng, fromHex, utf8ToBytes } from '../../../shared/bytes';
import { type P256KeyPair, generateP256KeyPair } from '../../../shared/crypto/keyTransport';
import { FrameDecoder, decodeLinkFrame, encodeFrame } from '../../../shared/protocol/localLink';
import { type CaKeys, createCaCertificate, randomSerial, signLeafCertificate } from '../../../host/ca/certificates';
import { EC_KEY_ALGORITHM, type CryptoKeyPair, subtle, x509 } from '../../../host/ca/x509';
import type { TlsIdentity } from '../../../host/tls/identity';
import { Terminal } from '../../../firmware/core/terminal';
import { provisionTerminal } from '../../../firmware/core/terminalIdentity';
import { LocalLinkSession } from '../../../firmware/core/localLinkService';
import { type LocalLinkServer, listenLocalLink } from '../../../firmware/hal/node/localLinkServer';
import { type NodeDevice, openNodeDevice } from '../../../firmware/hal/node/nodeDevice';
import { openTkEnvelope as openMtmsEnvelope } from '../../support/keyVaultFixture';

export const SERIAL = 'PP-TERM-0001';
export const rng: Rng = (n) => new Uint8Array(randomBytes(n));

export function tempDirs() {
  const dirs: string[] = [];
  return {
    make(prefix = 'paypad-terminal-'): string {
      const dir = mkdtempSync(join(tmpdir(), prefix));
      dirs.push(dir);
      return dir;
    },
    cleanup(): void {
      for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * X1: which of `secrets` (hex keys) appear in any file under `stateDir`, as raw bytes or as hex
 * in either case. The vault's records are sealed, so the answer must be none.
 */
export function secretsInFiles(stateDir: string, secrets: readonly string[]): string[] {
  const files = (readdirSync(stateDir, { recursive: true, withFileTypes: true }) as import('node:fs').Dirent[])
    .filter((d) => d.isFile())
    .map((d) => readFileSync(join(d.parentPath ?? d.path, d.name)));
  return secrets.filter((hex) =>
    files.some((data) => data.includes(Buffer.from(hex, 'hex')) || data.toString('latin1').toUpperCase().includes(hex.toUpperCase())),
  );
}

export interface TestPki {
  readonly caPem: string;
  readonly caDer: Uint8Array;
  /** A KMS server identity for 127.0.0.1 / localhost, chained to the CA. */
  readonly kms: TlsIdentity;
}

/** A CA and a KMS server certificate made with the CA role's own code (ECDSA P-256). */
export async function makePki(name = 'test CA'): Promise<TestPki> {
  const now = new Date();
  const caPair = (await subtle.generateKey(EC_KEY_ALGORITHM, true, ['sign', 'verify'])) as CryptoKeyPair;
  const ca: CaKeys = { certificate: await createCaCertificate(caPair, name, now), privateKey: caPair.privateKey };
  const pair = (await subtle.generateKey(EC_KEY_ALGORITHM, true, ['sign', 'verify'])) as CryptoKeyPair;
  const cert = await signLeafCertificate(ca, { subject: { role: 'kms', name: 'kms-acme', customerCode: 'ACME' }, publicKey: pair.publicKey, serial: randomSerial(), now });
  const caPem = ca.certificate.toString('pem');
  return {
    caPem,
    caDer: new Uint8Array(ca.certificate.rawData),
    kms: { certPem: cert.toString('pem'), keyPem: x509.PemConverter.encode(await subtle.exportKey('pkcs8', pair.privateKey), 'PRIVATE KEY'), caPem },
  };
}

export function makeMtmsKey(): P256KeyPair {
  return generateP256KeyPair(rng);
}

/** MTMS's side of A10 for a `tk` answer's hex envelope (test/support/keyVaultFixture openTkEnvelope). */
export function openTkEnvelope(mtms: P256KeyPair, envelopeHex: string, serial = SERIAL): Uint8Array {
  return openMtmsEnvelope(mtms, fromHex(envelopeHex), serial);
}

export interface Manufactured {
  readonly stateDir: string;
  readonly device: NodeDevice;
  readonly terminal: Terminal;
}

/** `paypad terminal init` in code: a state directory with root key and identity. */
export function manufacture(stateDir: string, options: { mtms: P256KeyPair; kmsUrl: string; caDer: Uint8Array; serial?: string }): Manufactured {
  const device = openNodeDevice(stateDir, { manufacture: true });
  provisionTerminal(device.storage, { serial: options.serial ?? SERIAL, mtmsPublicKey: options.mtms.publicKey, kmsUrl: options.kmsUrl, trustAnchor: options.caDer });
  return { stateDir, device, terminal: Terminal.open(device) };
}

/** The terminal in `stateDir` as a fresh start would open it (a restart). */
export function reopen(stateDir: string): Terminal {
  return Terminal.open(openNodeDevice(stateDir));
}

export function serveLink(terminal: Terminal): Promise<LocalLinkServer> {
  return listenLocalLink({ host: '127.0.0.1', port: 0, connect: (stream) => new LocalLinkSession(terminal, stream) });
}

/** The operating terminal's end of the link, minimal: send frames or raw bytes, read answers. */
export class LinkClient {
  readonly #socket: Socket;
  readonly #decoder = new FrameDecoder();
  readonly #answers: unknown[] = [];
  #waiting: (() => void) | undefined;
  #closed = false;
  readonly closed: Promise<void>;

  private constructor(socket: Socket) {
    this.#socket = socket;
    socket.on('data', (data: Buffer) => {
      for (const frame of this.#decoder.push(new Uint8Array(data))) this.#answers.push(decodeLinkFrame(frame));
      this.#waiting?.();
    });
    this.closed = new Promise((resolve) => {
      socket.on('close', () => {
        this.#closed = true;
        this.#waiting?.();
        resolve();
      });
    });
    socket.on('error', () => undefined);
  }

  static connect(port: number): Promise<LinkClient> {
    return new Promise((resolve, reject) => {
      const socket = connect(port, '127.0.0.1', () => resolve(new LinkClient(socket)));
      socket.once('error', reject);
    });
  }

  sendRaw(bytes: Uint8Array): void {
    this.#socket.write(bytes);
  }

  send(message: unknown): void {
    this.sendRaw(encodeFrame(utf8ToBytes(JSON.stringify(message))));
  }

  /** The next answer, or undefined if the terminal closed the link first. */
  async next(): Promise<Record<string, unknown> | undefined> {
    while (this.#answers.length === 0 && !this.#closed) await new Promise<void>((resolve) => (this.#waiting = resolve));
    return this.#answers.shift() as Record<string, unknown> | undefined;
  }

  async request(message: unknown): Promise<Record<string, unknown>> {
    this.send(message);
    const answer = await this.next();
    if (answer === undefined) throw new Error('the terminal closed the link');
    return answer;
  }

  get isClosed(): boolean {
    return this.#closed;
  }

  close(): void {
    this.#socket.destroy();
  }
}
