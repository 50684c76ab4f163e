/**
 * The operating terminal's MTMS client (A2-A6, A8): JSON calls over mutual TLS with the
 * operator's certificate, to a peer that must present an MTMS certificate of the paypad CA.
 *
 *   POST /mtms/v1/lookup              lookupRequest          -> customerInfo       (A2, A3)
 *   POST /mtms/v1/customer-name       customerNameRequest    -> customerInfo       (A6, A14)
 *   POST /mtms/v1/tk-challenge        deviceChallengeRequest -> deviceChallenge    (A8)
 *   POST /mtms/v1/tk                  tkIntakeRequest        -> tkIntakeReceipt    (A5, A6, A8, A10)
 *   POST /mtms/v1/device-challenge    deviceChallengeRequest -> deviceChallenge    (A8, enrolment)
 *   POST /mtms/v1/device-certificate  deviceEnrolmentRequest -> deviceCertificate  (A8, enrolment)
 *
 * Every answer is validated with the protocol's schema and checked to be about what we asked (the
 * serial, the customer): an answer about another terminal must never reach the operator's screen
 * as if it were this one's. An error status with a typed body becomes a PeerRefusal.
 */
import { PaypadError } from '../../shared/errors';
import {
  type CustomerInfo,
  type DeviceCertificateMessage,
  type DeviceChallengeMessage,
  type DeviceEnrolmentRequest,
  MESSAGE_VERSION,
  type TkIntakeReceipt,
  validateMessage,
} from '../../shared/protocol/messages';
import type { TlsIdentity } from '../tls/identity';
import type { RevocationSource } from '../tls/peer';
import { mtlsRequest, type MtlsRequestOptions, type MtlsResponse } from '../tls/mtlsRequest';
import { PeerRefusal } from './refusal';

/** What the onboarding flow needs from MTMS. */
export interface MtmsPort {
  /** A3: the customer the serial table names for `serial`. */
  lookup(serial: string): Promise<CustomerInfo>;
  /** A6: the name of customer `customerCode`, asked for this serial only (A14). */
  customerName(serial: string, customerCode: string): Promise<CustomerInfo>;
  /** A8: a nonce for the terminal to sign its TK envelope over. */
  tkChallenge(serial: string): Promise<DeviceChallengeMessage>;
  /** A5/A6/A8: the terminal's envelope, relayed unopened (A10), as the device signed it; `customerCode` re-associates the serial. */
  uploadTk(upload: TkUpload): Promise<TkIntakeReceipt>;
}

/** What the production line needs from MTMS to enrol a device (A8). */
export interface EnrolmentPort {
  /** A nonce for the device to sign its identity key over. */
  deviceChallenge(serial: string): Promise<DeviceChallengeMessage>;
  /** The device certificate the CA issued for the signed key. */
  enrolDevice(request: Omit<DeviceEnrolmentRequest, 'v'>): Promise<DeviceCertificateMessage>;
}

export interface TkUpload {
  readonly serial: string;
  /** Hex, exactly as the terminal sent it. */
  readonly tkEnvelope: string;
  readonly customerCode?: string;
  /** MTMS's TK challenge the device signed (hex). */
  readonly nonce: string;
  /** The device's signature and certificate, hex, as the terminal sent them (A8). */
  readonly deviceSignature: string;
  readonly deviceCertificate: string;
}

export interface MtmsClientOptions {
  /** https://host:port, optionally with a path prefix (a reverse proxy's). */
  readonly baseUrl: string;
  readonly identity: TlsIdentity;
  /** The CA's CRL (host/tls/crlRevocation): MTMS's certificate must not be on it (A8). */
  readonly revocation?: RevocationSource;
  readonly timeoutMs?: number;
  /** The transport; tests may wrap it. */
  readonly request?: (options: MtlsRequestOptions) => Promise<MtlsResponse>;
}

export const MTMS_PATHS = {
  lookup: '/mtms/v1/lookup',
  customerName: '/mtms/v1/customer-name',
  tkChallenge: '/mtms/v1/tk-challenge',
  tk: '/mtms/v1/tk',
  deviceChallenge: '/mtms/v1/device-challenge',
  deviceCertificate: '/mtms/v1/device-certificate',
} as const;

/** Answers are a few hundred bytes; anything near this is not MTMS speaking our protocol. */
const MAX_ANSWER_BYTES = 16 * 1024;

/** @throws PaypadError BAD_ARGUMENT when the base URL is not an absolute https:// URL. */
export function createMtmsClient(options: MtmsClientOptions): MtmsPort & EnrolmentPort {
  const base = parseBaseUrl(options.baseUrl);
  const request = options.request ?? mtlsRequest;

  async function post<N extends 'customerInfo' | 'tkIntakeReceipt' | 'deviceChallenge' | 'deviceCertificate'>(path: string, body: unknown, answer: N) {
    const url = new URL(base.href);
    url.pathname = `${base.pathname.replace(/\/+$/, '')}${path}`;
    const res = await request({
      url,
      identity: options.identity,
      expectPeer: { role: 'mtms' },
      ...(options.revocation === undefined ? {} : { revocation: options.revocation }),
      method: 'POST',
      body,
      timeoutMs: options.timeoutMs,
      maxResponseBytes: MAX_ANSWER_BYTES,
    });
    if (res.status < 200 || res.status > 299) throw refusal(res);
    return validateMessage(answer, res.json);
  }

  async function challenge(path: string, serial: string): Promise<DeviceChallengeMessage> {
    const answer = await post(path, { v: MESSAGE_VERSION, serial }, 'deviceChallenge');
    if (answer.serial !== serial) throw wrongAnswer(`the challenge for serial ${serial} was issued for serial ${answer.serial}`);
    return answer;
  }

  return {
    async lookup(serial) {
      const info = await post(MTMS_PATHS.lookup, { v: MESSAGE_VERSION, serial }, 'customerInfo');
      if (info.serial !== serial) throw wrongAnswer(`the lookup of serial ${serial} answered serial ${info.serial}`);
      return info;
    },
    async customerName(serial, customerCode) {
      const info = await post(MTMS_PATHS.customerName, { v: MESSAGE_VERSION, serial, customerCode }, 'customerInfo');
      if (info.serial !== serial || info.customerCode !== customerCode) {
        throw wrongAnswer(`asked for customer ${customerCode} of serial ${serial}, answered customer ${info.customerCode} of serial ${info.serial}`);
      }
      return info;
    },
    tkChallenge: (serial) => challenge(MTMS_PATHS.tkChallenge, serial),
    deviceChallenge: (serial) => challenge(MTMS_PATHS.deviceChallenge, serial),
    async enrolDevice(request) {
      const answer = await post(MTMS_PATHS.deviceCertificate, { v: MESSAGE_VERSION, ...request }, 'deviceCertificate');
      if (answer.serial !== request.serial) throw wrongAnswer(`the enrolment of serial ${request.serial} answered a certificate for serial ${answer.serial}`);
      return answer;
    },
    async uploadTk(upload) {
      const body = {
        v: MESSAGE_VERSION,
        serial: upload.serial,
        tkEnvelope: upload.tkEnvelope,
        ...(upload.customerCode === undefined ? {} : { customerCode: upload.customerCode }),
        confirmed: true,
        nonce: upload.nonce,
        deviceSignature: upload.deviceSignature,
        deviceCertificate: upload.deviceCertificate,
      };
      // Our own request must be one MTMS accepts: check it with the same schema MTMS uses.
      validateMessage('tkIntakeRequest', body);
      const receipt = await post(MTMS_PATHS.tk, body, 'tkIntakeReceipt');
      if (receipt.serial !== upload.serial || (upload.customerCode !== undefined && receipt.customerCode !== upload.customerCode)) {
        throw wrongAnswer(`the upload for serial ${upload.serial} was receipted for serial ${receipt.serial}, customer ${receipt.customerCode}`);
      }
      return receipt;
    },
  };
}

function parseBaseUrl(text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new PaypadError('BAD_ARGUMENT', `the MTMS address must be an absolute https:// URL, got ${JSON.stringify(text.slice(0, 200))}`);
  }
  if (url.protocol !== 'https:') throw new PaypadError('BAD_ARGUMENT', `the MTMS address must be an https:// URL (mutual TLS, A8), got ${url.protocol}//`);
  if (url.search !== '' || url.hash !== '' || url.username !== '' || url.password !== '') {
    throw new PaypadError('BAD_ARGUMENT', 'the MTMS address takes no query, fragment or user info');
  }
  return url;
}

function refusal(res: MtlsResponse): PaypadError {
  let body;
  try {
    body = validateMessage('errorBody', res.json);
  } catch {
    return new PaypadError('HTTP_FAILED', `MTMS answered HTTP ${res.status} without a paypad error body`);
  }
  return new PeerRefusal('MTMS', body.error.code, body.error.message, res.status);
}

function wrongAnswer(detail: string): PaypadError {
  return new PaypadError('PROTOCOL_MALFORMED', `MTMS answered about something else than asked: ${detail}`);
}
