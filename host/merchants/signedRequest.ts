/**
 * Signed HTTP requests between a merchant and the platform (SPEC D2: "messages between the two
 * platforms carry a digest and an RSA signature"), in the shape of RFC 9421 HTTP Message
 * Signatures with one fixed profile, generic over the route so every merchant-facing API (the
 * bill platform's, the online payment gateway's) and the platform's own notifications use it:
 *
 *   Content-Digest:  sha-256=:<base64 SHA-256 of the body bytes>:                 (RFC 9530 §2)
 *   Signature-Input: sig1=("@method" "@path" "@query" "content-digest");created=<unix s>;keyid="<signer id>";nonce="<request id>";alg="rsa-v1_5-sha256"
 *   Signature:       sig1=:<base64 RSASSA-PKCS1-v1_5 SHA-256 signature>:            (RFC 8017 §8.2)
 *
 * The signature base is RFC 9421 §2.5's for those components, one line each, no trailing newline:
 *
 *   "@method": POST
 *   "@path": /bills/merchant/v1/orders
 *   "@query": ?
 *   "content-digest": sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:
 *   "@signature-params": ("@method" "@path" "@query" "content-digest");created=1796528400;keyid="898310000000001";nonce="8f1c...";alg="rsa-v1_5-sha256"
 *
 * The verifier refuses, in this order and with nothing stored: a request not in this form
 * (BAD_REQUEST), a body whose digest differs (MERCHANT_DIGEST_MISMATCH), `created` more than
 * five minutes from the verifier's clock (MERCHANT_REQUEST_STALE), an unknown signer
 * (MERCHANT_UNKNOWN), a signature that does not verify (MERCHANT_SIGNATURE_INVALID), and a nonce
 * the signer used before (MERCHANT_REQUEST_REPLAYED; checked last, so nobody but the signer can
 * use up its nonces). Nonces are remembered for longer than the five-minute window, so a request
 * is good once.
 */
import { createHash, createSign, createVerify, type KeyObject, timingSafeEqual } from 'node:crypto';
import { PaypadError } from '../../shared/errors';

export const SIGNATURE_ALGORITHM = 'rsa-v1_5-sha256';
/** How far a request's `created` may be from the verifier's clock, either way. */
export const SIGNATURE_TOLERANCE_MS = 5 * 60_000;
const COMPONENTS = '("@method" "@path" "@query" "content-digest")';
const LABEL = 'sig1';
/** A signer id (merchant number) and a nonce (request id): printable, no quotes or backslashes (RFC 8941 sf-string). */
const TOKEN = /^[A-Za-z0-9._:-]{1,64}$/;
const SIGNATURE_INPUT = new RegExp(`^${LABEL}=\\("@method" "@path" "@query" "content-digest"\\);created=(\\d{1,12});keyid="([A-Za-z0-9._:-]{1,64})";nonce="([A-Za-z0-9._:-]{1,64})";alg="${SIGNATURE_ALGORITHM}"$`);
const SIGNATURE = new RegExp(`^${LABEL}=:([A-Za-z0-9+/]+={0,2}):$`);
const CONTENT_DIGEST = /^sha-256=:([A-Za-z0-9+/]{43}=):$/;

/** A request as the verifier sees it: what the signature covers, and the three headers. */
export interface SignedRequest {
  readonly method: string;
  /** The target path, percent-encoded as sent: "/bills/merchant/v1/orders". */
  readonly path: string;
  /** The query with its "?", or "" when there is none: "?after=12". */
  readonly query: string;
  readonly body: Uint8Array;
  readonly contentDigest: string | undefined;
  readonly signatureInput: string | undefined;
  readonly signature: string | undefined;
}

/** What the signer puts in its request's headers. */
export interface SignatureHeaders {
  readonly 'content-digest': string;
  readonly 'signature-input': string;
  readonly signature: string;
}

export interface SigningRequest {
  readonly method: string;
  readonly path: string;
  readonly query?: string;
  readonly body: Uint8Array;
  /** The signer's id as the verifier knows it (a merchant number, "paypad-bill-platform"). */
  readonly keyId: string;
  /** Unique per request from this signer: the request id. */
  readonly nonce: string;
  readonly created: Date;
  readonly privateKey: KeyObject;
}

export interface VerifiedRequest {
  readonly keyId: string;
  readonly nonce: string;
  readonly created: Date;
}

/** Where verification finds signers' public keys and remembers their nonces. */
export interface SignerRegistry {
  /** The signer's current public key, or undefined for an unknown (or revoked) signer. */
  publicKeyOf(keyId: string): Promise<KeyObject | undefined>;
  /** Records the nonce; false when `keyId` used it before. */
  rememberNonce(keyId: string, nonce: string, at: Date): Promise<boolean>;
}

/** RFC 9530 §2: the Content-Digest field value of `body` with SHA-256. */
export function contentDigest(body: Uint8Array): string {
  return `sha-256=:${createHash('sha256').update(body).digest('base64')}:`;
}

/** RFC 9421 §2.5 signature base of our profile. */
export function signatureBase(r: { method: string; path: string; query: string; contentDigest: string; params: string }): string {
  return [`"@method": ${r.method.toUpperCase()}`, `"@path": ${r.path}`, `"@query": ${r.query === '' ? '?' : r.query}`, `"content-digest": ${r.contentDigest}`, `"@signature-params": ${r.params}`].join('\n');
}

function signatureParams(created: Date, keyId: string, nonce: string): string {
  return `${COMPONENTS};created=${Math.floor(created.getTime() / 1000)};keyid="${keyId}";nonce="${nonce}";alg="${SIGNATURE_ALGORITHM}"`;
}

/** The headers that sign `request`. @throws PaypadError BAD_ARGUMENT for a key id or nonce outside [A-Za-z0-9._:-]{1,64}. */
export function signRequest(request: SigningRequest): SignatureHeaders {
  if (!TOKEN.test(request.keyId) || !TOKEN.test(request.nonce)) throw new PaypadError('BAD_ARGUMENT', 'key id and nonce must be 1-64 of A-Z a-z 0-9 . _ : -');
  const digest = contentDigest(request.body);
  const params = signatureParams(request.created, request.keyId, request.nonce);
  const base = signatureBase({ method: request.method, path: request.path, query: request.query ?? '', contentDigest: digest, params });
  const signature = createSign('sha256').update(base, 'utf8').sign(request.privateKey).toString('base64');
  return { 'content-digest': digest, 'signature-input': `${LABEL}=${params}`, signature: `${LABEL}=:${signature}:` };
}

/**
 * Checks `request` as the header comment says and returns who signed it.
 * @throws PaypadError BAD_REQUEST, MERCHANT_DIGEST_MISMATCH, MERCHANT_REQUEST_STALE, MERCHANT_UNKNOWN,
 * MERCHANT_SIGNATURE_INVALID, MERCHANT_REQUEST_REPLAYED.
 */
export async function verifySignedRequest(request: SignedRequest, registry: SignerRegistry, now: Date, toleranceMs = SIGNATURE_TOLERANCE_MS): Promise<VerifiedRequest> {
  const input = SIGNATURE_INPUT.exec(request.signatureInput ?? '');
  if (input === null) throw new PaypadError('BAD_REQUEST', `Signature-Input: expected ${LABEL}=${COMPONENTS};created=<unix seconds>;keyid="<id>";nonce="<request id>";alg="${SIGNATURE_ALGORITHM}"`);
  const signature = SIGNATURE.exec(request.signature ?? '');
  if (signature === null) throw new PaypadError('BAD_REQUEST', `Signature: expected ${LABEL}=:<base64>:`);
  const digest = CONTENT_DIGEST.exec(request.contentDigest ?? '');
  if (digest === null) throw new PaypadError('BAD_REQUEST', 'Content-Digest: expected sha-256=:<base64 of 32 bytes>:');
  const expected = createHash('sha256').update(request.body).digest();
  if (!timingSafeEqual(Buffer.from(digest[1], 'base64'), expected)) throw new PaypadError('MERCHANT_DIGEST_MISMATCH', 'Content-Digest does not match the body');
  const [, createdText, keyId, nonce] = input;
  const created = new Date(Number(createdText) * 1000);
  if (Math.abs(created.getTime() - now.getTime()) > toleranceMs) {
    throw new PaypadError('MERCHANT_REQUEST_STALE', `the request was signed at ${created.toISOString()}, more than ${toleranceMs / 60_000} minutes from the platform's clock (${now.toISOString()}); sign it again`);
  }
  const key = await registry.publicKeyOf(keyId);
  if (key === undefined) throw new PaypadError('MERCHANT_UNKNOWN', `no current signer ${keyId}`);
  const params = signatureParams(created, keyId, nonce);
  const base = signatureBase({ method: request.method, path: request.path, query: request.query, contentDigest: request.contentDigest as string, params });
  let valid = false;
  try {
    valid = createVerify('sha256').update(base, 'utf8').verify(key, Buffer.from(signature[1], 'base64'));
  } catch {
    valid = false;
  }
  if (!valid) throw new PaypadError('MERCHANT_SIGNATURE_INVALID', 'the request signature does not verify with the signer\'s certified key');
  if (!(await registry.rememberNonce(keyId, nonce, now))) throw new PaypadError('MERCHANT_REQUEST_REPLAYED', `request ${nonce} was received before; a request is good once`);
  return { keyId, nonce, created };
}
