/**
 * A server's own certificate against the CA's register (A8). Clients refuse a revoked server
 * (mtlsRequest), but a server should not wait to be refused: a KMS whose certificate was revoked
 * (its key leaked, the customer left) refuses to start with it and, when the revocation comes
 * while it runs, stops listening. The register is read at start and then every `intervalMs`, the
 * same freshness as the per-request check of client certificates (requireClientCert).
 */
import { PaypadError } from '../../shared/errors';
import { normalizeSerial } from '../ca/certificates';
import { x509 } from '../ca/x509';
import type { TlsIdentity } from './identity';
import type { RevocationSource } from './peer';

export const DEFAULT_REVOCATION_CHECK_MS = 5_000;

/** The serial of the identity's certificate, canonical as the CA register keys it. */
export function certificateSerialOf(identity: Pick<TlsIdentity, 'certPem'>): string {
  return normalizeSerial(new x509.X509Certificate(identity.certPem).serialNumber);
}

/**
 * @throws PaypadError SERVER_CERT_REVOKED when the CA revoked the certificate `serial` that
 * `who` serves with, CONFIG_INVALID when the register does not hold it.
 */
export async function assertServingCertificate(revocation: RevocationSource, serial: string, who: string, tlsDir: string): Promise<void> {
  const status = await revocation.revocationStatus(serial);
  if (status === 'revoked') {
    throw new PaypadError('SERVER_CERT_REVOKED', `the certificate ${serial} of ${who} has been revoked; it no longer serves with it (remove ${tlsDir} to have the CA issue a new one)`);
  }
  if (status === 'unknown') throw new PaypadError('CONFIG_INVALID', `the certificate ${serial} of ${who} is not in the CA's register; remove ${tlsDir} to have the CA issue a new one`);
}

export interface ServingCertificateWatch {
  stop(): void;
}

export interface WatchOptions {
  readonly revocation: RevocationSource;
  readonly serial: string;
  readonly who: string;
  readonly tlsDir: string;
  readonly intervalMs?: number;
  /** Called once, with the SERVER_CERT_REVOKED error, when the certificate is found revoked. */
  onRevoked(error: PaypadError): void;
  /** The register could not be read this round: the next round tries again. */
  onCheckFailed(error: unknown): void;
}

/** Reads the register every `intervalMs` until stop() or a revocation. */
export function watchServingCertificate(options: WatchOptions): ServingCertificateWatch {
  let stopped = false;
  let checking = false;
  const timer = setInterval(() => {
    if (stopped || checking) return;
    checking = true;
    assertServingCertificate(options.revocation, options.serial, options.who, options.tlsDir)
      .catch((e: unknown) => {
        if (stopped) return;
        if (e instanceof PaypadError && e.code === 'SERVER_CERT_REVOKED') {
          stopped = true;
          clearInterval(timer);
          options.onRevoked(e);
        } else options.onCheckFailed(e);
      })
      .finally(() => (checking = false));
  }, options.intervalMs ?? DEFAULT_REVOCATION_CHECK_MS);
  timer.unref();
  return {
    stop() {
      stopped = true;
      clearInterval(timer);
    },
  };
}
