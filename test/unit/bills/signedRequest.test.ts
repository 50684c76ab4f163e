/**
 * D2: the signed-request profile (host/merchants/signedRequest.ts): the RFC 9421 signature base,
 * the RFC 9530 digest, and each refusal with its typed code; nothing is remembered for a request
 * that fails before its signature verified.
 */
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { contentDigest, type SignedRequest, signatureBase, signRequest, type SignerRegistry, verifySignedRequest } from '../../../host/merchants/signedRequest';

const NOW = new Date('2026-12-06T10:00:00Z');
const keys = () => generateKeyPairSync('rsa', { modulusLength: 2048 });
const merchant = keys();
const other = keys();

function registry(known: Record<string, KeyObject>): SignerRegistry & { nonces: string[] } {
  const nonces: string[] = [];
  return {
    nonces,
    publicKeyOf: async (id) => known[id],
    rememberNonce: async (id, nonce) => {
      if (nonces.includes(`${id} ${nonce}`)) return false;
      nonces.push(`${id} ${nonce}`);
      return true;
    },
  };
}

function signed(overrides: Partial<SignedRequest> = {}, options: { created?: Date; nonce?: string; key?: KeyObject } = {}): SignedRequest {
  const body = new TextEncoder().encode('{"orderId":"A-1","amountMinor":12345}');
  const headers = signRequest({ method: 'POST', path: '/bills/merchant/v1/orders', body, keyId: '898300000000001', nonce: options.nonce ?? 'req-1', created: options.created ?? NOW, privateKey: options.key ?? merchant.privateKey });
  return { method: 'POST', path: '/bills/merchant/v1/orders', query: '', body, contentDigest: headers['content-digest'], signatureInput: headers['signature-input'], signature: headers.signature, ...overrides };
}

describe('D2: signed requests between the merchant and the platform', () => {
  it('D2: the digest is RFC 9530 sha-256 and the signature base is RFC 9421 §2.5 for our components', () => {
    // RFC 9530 Appendix B.1's example: {"hello": "world"} digests to this value.
    expect(contentDigest(new TextEncoder().encode('{"hello": "world"}'))).toBe('sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:');
    const params = '("@method" "@path" "@query" "content-digest");created=1;keyid="m";nonce="n";alg="rsa-v1_5-sha256"';
    expect(signatureBase({ method: 'get', path: '/p', query: '', contentDigest: 'sha-256=:x:', params })).toBe(
      `"@method": GET\n"@path": /p\n"@query": ?\n"content-digest": sha-256=:x:\n"@signature-params": ${params}`,
    );
    const request = signed();
    expect(request.signatureInput).toBe(`sig1=("@method" "@path" "@query" "content-digest");created=${NOW.getTime() / 1000};keyid="898300000000001";nonce="req-1";alg="rsa-v1_5-sha256"`);
  });

  it('D2: a request signed by the merchant verifies once; the same request id again is MERCHANT_REQUEST_REPLAYED', async () => {
    const r = registry({ '898300000000001': merchant.publicKey });
    await expect(verifySignedRequest(signed(), r, NOW)).resolves.toEqual({ keyId: '898300000000001', nonce: 'req-1', created: NOW });
    await expect(verifySignedRequest(signed(), r, NOW)).rejects.toMatchObject({ code: 'MERCHANT_REQUEST_REPLAYED' });
  });

  it('D2: each covered part is bound: another method, path, query or body fails; another key is MERCHANT_SIGNATURE_INVALID; nothing is remembered', async () => {
    const r = registry({ '898300000000001': merchant.publicKey });
    const body = new TextEncoder().encode('{"orderId":"A-1","amountMinor":1}');
    await expect(verifySignedRequest(signed({ body }), r, NOW)).rejects.toMatchObject({ code: 'MERCHANT_DIGEST_MISMATCH' });
    await expect(verifySignedRequest(signed({ body, contentDigest: contentDigest(body) }), r, NOW)).rejects.toMatchObject({ code: 'MERCHANT_SIGNATURE_INVALID' });
    await expect(verifySignedRequest(signed({ method: 'PUT' }), r, NOW)).rejects.toMatchObject({ code: 'MERCHANT_SIGNATURE_INVALID' });
    await expect(verifySignedRequest(signed({ path: '/bills/merchant/v1/refunds' }), r, NOW)).rejects.toMatchObject({ code: 'MERCHANT_SIGNATURE_INVALID' });
    await expect(verifySignedRequest(signed({ query: '?after=1' }), r, NOW)).rejects.toMatchObject({ code: 'MERCHANT_SIGNATURE_INVALID' });
    await expect(verifySignedRequest(signed({}, { key: other.privateKey }), r, NOW)).rejects.toMatchObject({ code: 'MERCHANT_SIGNATURE_INVALID' });
    await expect(verifySignedRequest(signed(), registry({}), NOW)).rejects.toMatchObject({ code: 'MERCHANT_UNKNOWN' });
    expect(r.nonces).toEqual([]);
  });

  it('D2: a request signed more than five minutes from the verifier clock, either way, is MERCHANT_REQUEST_STALE; at five minutes it passes', async () => {
    const r = registry({ '898300000000001': merchant.publicKey });
    await expect(verifySignedRequest(signed({}, { created: new Date(NOW.getTime() - 301_000), nonce: 'a' }), r, NOW)).rejects.toMatchObject({ code: 'MERCHANT_REQUEST_STALE' });
    await expect(verifySignedRequest(signed({}, { created: new Date(NOW.getTime() + 301_000), nonce: 'b' }), r, NOW)).rejects.toMatchObject({ code: 'MERCHANT_REQUEST_STALE' });
    expect(r.nonces).toEqual([]);
    await expect(verifySignedRequest(signed({}, { created: new Date(NOW.getTime() - 300_000), nonce: 'c' }), r, NOW)).resolves.toMatchObject({ nonce: 'c' });
  });

  it('D2: headers not in the profile are BAD_REQUEST', async () => {
    const r = registry({ '898300000000001': merchant.publicKey });
    const good = signed();
    for (const bad of [
      { signatureInput: undefined },
      { signature: undefined },
      { contentDigest: undefined },
      { signatureInput: good.signatureInput?.replace('"@query" ', '') },
      { signatureInput: good.signatureInput?.replace('rsa-v1_5-sha256', 'hmac-sha256') },
      { contentDigest: good.contentDigest?.replace('sha-256', 'sha-512') },
    ]) {
      await expect(verifySignedRequest({ ...good, ...bad }, r, NOW)).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    }
  });
});
