/**
 * E8: the gateway's notification handler posts the order's outcome to its notify URL, signed by the
 * platform (the merchant verifies it with the platform's key), a new request id per attempt; 2xx is
 * delivered, anything else or no answer is an error the outbox tries again.
 */
import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { orderNotificationHandler, platformNotificationSigner, type OrderNotification } from '../../../host/gateway/orderNotifications';
import { verifySignedRequest } from '../../../host/merchants/signedRequest';

const NOW = new Date('2026-12-06T08:00:00.000Z');
const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const BODY: OrderNotification = { notificationId: 'gwn-GO1', merchantNo: '898300000000001', merchantOrderId: 'MO-1', orderNumber: 'GO1', status: 'paid', amount: 4_500, currency: 'CNY', endedAt: NOW.toISOString(), paymentReference: 'R1' };

interface Sent {
  url: string;
  headers: Record<string, string>;
  body: Uint8Array;
}

function fakeFetch(answer: number | Error, sent: Sent[]): typeof fetch {
  return (async (url: URL, init: RequestInit) => {
    sent.push({ url: String(url), headers: init.headers as Record<string, string>, body: init.body as Uint8Array });
    if (answer instanceof Error) throw answer;
    return new Response(answer === 204 ? null : '{}', { status: answer });
  }) as typeof fetch;
}

const delivery = (attempt: number) => ({ id: 1, topic: 'gateway.order-ended', destination: BODY.merchantNo, idempotencyKey: BODY.notificationId, attempt, payload: { notifyUrl: 'https://shop.example/notify?src=paypad', body: { ...BODY } } });

describe('E8: order notifications', () => {
  it('E8: posts the body signed by the platform; the merchant verifies it; 2xx is delivered', async () => {
    const sent: Sent[] = [];
    const handler = orderNotificationHandler({ signer: platformNotificationSigner({ keyId: 'paypad-bill-platform', privateKey }, () => NOW), fetch: fakeFetch(204, sent) });
    expect(await handler(delivery(1))).toEqual({ outcome: 'delivered' });
    expect(await handler(delivery(2))).toEqual({ outcome: 'delivered' });
    expect(sent[0].url).toBe('https://shop.example/notify?src=paypad');
    expect(JSON.parse(new TextDecoder().decode(sent[0].body))).toEqual(BODY);
    const nonces = new Set<string>();
    for (const s of sent) {
      const verified = await verifySignedRequest(
        { method: 'POST', path: '/notify', query: '?src=paypad', body: s.body, contentDigest: s.headers['content-digest'], signatureInput: s.headers['signature-input'], signature: s.headers.signature },
        { publicKeyOf: async (id) => (id === 'paypad-bill-platform' ? publicKey : undefined), rememberNonce: async (_id, n) => !nonces.has(n) && Boolean(nonces.add(n)) },
        NOW,
      );
      expect(verified.keyId).toBe('paypad-bill-platform');
    }
    // Each attempt its own request id: the merchant's replay check does not refuse a retry.
    expect([...nonces]).toEqual(['gwn-GO1.1', 'gwn-GO1.2']);
    // A body changed on the way does not verify.
    const tampered = new TextEncoder().encode(JSON.stringify({ ...BODY, amount: 1 }));
    await expect(
      verifySignedRequest(
        { method: 'POST', path: '/notify', query: '?src=paypad', body: tampered, contentDigest: sent[0].headers['content-digest'], signatureInput: sent[0].headers['signature-input'], signature: sent[0].headers.signature },
        { publicKeyOf: async () => publicKey, rememberNonce: async () => true },
        NOW,
      ),
    ).rejects.toMatchObject({ code: 'MERCHANT_DIGEST_MISMATCH' });
  });

  it('E8: a 4xx, a 5xx or no answer is GATEWAY_NOTIFY_FAILED, to be tried again', async () => {
    for (const answer of [404, 500, 503, 302, new TypeError('fetch failed')]) {
      const handler = orderNotificationHandler({ signer: platformNotificationSigner({ keyId: 'paypad-bill-platform', privateKey }, () => NOW), fetch: fakeFetch(answer, []) });
      await expect(handler(delivery(1))).rejects.toMatchObject({ code: 'GATEWAY_NOTIFY_FAILED' });
    }
  });
});
