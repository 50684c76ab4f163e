/**
 * A server's own certificate against the CA's register (A8). Clients refuse a revoked server
 * (mtlsRequest), but a server should not wait to be refused: MTMS or a KMS whose certificate was
 * revoked (its key leaked, the customer left) refuses to start with it and, when the revocation
 * comes while it runs, stops listening and cuts the connections it has. Either way the refusal is
 * logged with SERVER_CERT_REVOKED and audited once per certificate (`<role>.certificate.revoked`).
 * The register is read at start and then every `intervalMs`, the same freshness as the
 * per-request check of client certificates (requireClientCert).
 */
import { isPaypadError, PaypadError } from '../../shared/errors';
import type { AuditStore } from '../audit/auditStore';
import { normalizeSerial } from '../ca/certificates';
import { x509 } from '../ca/x509';
import type { Logger } from '../log';
import type { TlsIdentity } from './identity';
import type { RevocationSource } from './peer';

export const DEFAULT_REVOCATION_CHECK_MS = 5_000;

/** The serial of the identity's certificate, canonical as the CA register keys it. */
export function certificateSerialOf(identity: Pick<TlsIdentity, 'certPem'>): string {
  return normalizeSerial(new x509.X509Certificate(identity.certPem).serialNumber);
}

export interface ServingCertificateOptions {
  readonly revocation: RevocationSource;
  readonly identity: Pick<TlsIdentity, 'certPem'>;
  /** Where the identity lives: removing it has the CA issue a new one at the next start. */
  readonly tlsDir: string;
  /** The server in messages: "MTMS", "KMS ACME". */
  readonly who: string;
  /** Audited as `<role>.certificate.revoked`, by `actor`, with `detail` and when it was found. */
  readonly role: 'mtms' | 'kms';
  readonly actor: string;
  readonly detail?: Readonly<Record<string, string>>;
  readonly audit: AuditStore;
  readonly logger: Logger;
  /** How often the register is read while the server runs (ms). */
  readonly intervalMs?: number;
}

export interface ServingCertificateWatch {
  stop(): void;
}

export interface ServingCertificateGuard {
  /** The certificate's serial, canonical. */
  readonly serial: string;
  /**
   * Reads the register every `intervalMs` until stop(). On a revocation: logs SERVER_CERT_REVOKED,
   * runs `stopServing` (the server closes its listener and its connections), audits, then calls
   * `onStopped` with the error.
   */
  watch(stopServing: () => Promise<void>, onStopped?: (error: PaypadError) => void): ServingCertificateWatch;
}

/**
 * Checks the server's certificate before it serves.
 * @throws PaypadError SERVER_CERT_REVOKED (audited) when the CA revoked it, CONFIG_INVALID when
 * the register does not hold it.
 */
export async function guardServingCertificate(options: ServingCertificateOptions): Promise<ServingCertificateGuard> {
  const serial = certificateSerialOf(options.identity);
  const action = `${options.role}.certificate.revoked`;
  const subject = `certificate:${serial}`;
  // One audit line per revoked certificate, however often the server is started again with it.
  const auditRevoked = async (when: 'start' | 'serving') => {
    const seen = await options.audit.listBySubject(subject, { limit: 1000 });
    if (seen.some((e) => e.action === action)) return;
    await options.audit.append({ actor: options.actor, action, subject, detail: { ...options.detail, when } });
  };
  try {
    await assertNotRevoked(options, serial);
  } catch (e) {
    if (isPaypadError(e, 'SERVER_CERT_REVOKED')) await auditRevoked('start');
    throw e;
  }
  return {
    serial,
    watch(stopServing, onStopped) {
      let stopped = false;
      let checking = false;
      const timer = setInterval(() => {
        if (stopped || checking) return;
        checking = true;
        assertNotRevoked(options, serial)
          .catch(async (e: unknown) => {
            if (stopped) return;
            if (!isPaypadError(e, 'SERVER_CERT_REVOKED')) {
              options.logger.warn({ err: e, certSerial: serial }, `cannot read the CA's register for the certificate of ${options.who}; trying again`);
              return;
            }
            stopped = true;
            clearInterval(timer);
            options.logger.error({ err: e, certSerial: serial }, `${options.who} stops serving: its certificate was revoked`);
            await stopServing();
            await auditRevoked('serving').catch((failure: unknown) => options.logger.error({ err: failure }, 'cannot audit the revoked certificate'));
            onStopped?.(e);
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
    },
  };
}

async function assertNotRevoked(options: ServingCertificateOptions, serial: string): Promise<void> {
  const status = await options.revocation.revocationStatus(serial);
  if (status === 'revoked') {
    throw new PaypadError('SERVER_CERT_REVOKED', `the certificate ${serial} of ${options.who} has been revoked; it no longer serves with it (remove ${options.tlsDir} to have the CA issue a new one)`);
  }
  if (status === 'unknown') throw new PaypadError('CONFIG_INVALID', `the certificate ${serial} of ${options.who} is not in the CA's register; remove ${options.tlsDir} to have the CA issue a new one`);
}
