/**
 * Shared pieces of the CA and mutual-TLS tests: the openssl command line as an independent
 * verifier, temporary directories, and loopback HTTPS servers and raw clients.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { type Server, createServer, request, type Agent } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RequestListener } from 'node:http';
import { serverTlsOptions } from '../../../host/tls/serverOptions';
import type { TlsIdentity } from '../../../host/tls/identity';

export interface OpensslResult {
  status: number | null;
  output: string;
}

/** Runs the openssl CLI (OpenSSL 3): an implementation independent of @peculiar/x509 and Node. */
export function openssl(...args: string[]): OpensslResult {
  const r = spawnSync('openssl', args, { encoding: 'utf8' });
  if (r.error) throw r.error;
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

/** Temporary directories removed by cleanup(). */
export function tempDirs() {
  const dirs: string[] = [];
  return {
    make(prefix = 'paypad-ca-') {
      const dir = mkdtempSync(join(tmpdir(), prefix));
      dirs.push(dir);
      return dir;
    },
    /** Writes `text` to a new file in a fresh directory and returns its path. */
    file(name: string, text: string) {
      const dir = this.make();
      const path = join(dir, name);
      writeFileSync(path, text);
      return path;
    },
    cleanup() {
      for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface RunningHttps {
  readonly port: number;
  readonly url: string;
  readonly server: Server;
  close(): Promise<void>;
}

/** An HTTPS server on 127.0.0.1 with paypad's TLS settings and `identity`. */
export async function startHttps(identity: TlsIdentity, listener: RequestListener): Promise<RunningHttps> {
  const server = createServer(serverTlsOptions(identity), listener);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    url: `https://127.0.0.1:${port}`,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export interface RawResponse {
  status: number;
  body: { error?: { code: string; message: string } } & Record<string, unknown>;
  localPort: number;
}

/** A plain node:https GET that trusts `ca` and presents `cert`/`key` only when given. */
export function rawGet(port: number, path: string, options: { ca: string; cert?: string; key?: string; agent?: Agent }): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, path, method: 'GET', ca: options.ca, cert: options.cert, key: options.key, agent: options.agent ?? false },
      (res) => {
        // Read now: a keep-alive socket is detached from the response once it ends.
        const localPort = res.socket.localPort ?? 0;
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString('utf8')), localPort }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}
