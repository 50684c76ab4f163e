/**
 * The simulated SMS provider (host/simulators/smsGatewaySimulator.ts) behind SmsGateway: it takes
 * what a provider's API takes, keeps what it would have sent with card data masked, and can be
 * made to refuse so the outbox's retries can be tested.
 */
import { describe, expect, it } from 'vitest';
import { isPaypadError } from '../../../shared/errors';
import { MAX_SMS_CHARS, type SmsGateway } from '../../../host/sms/smsGateway';
import { maskCardData, SmsGatewaySimulator } from '../../../host/simulators/smsGatewaySimulator';
import { TEST_CARDS } from '../../../host/simulators/testCards';

const PAYEE = '+8613800138000';
const PAYER = '+8613912345678';
const at = new Date('2026-12-06T10:00:00Z');

async function code(promise: Promise<unknown>): Promise<string> {
  return promise.then(
    () => 'nothing thrown',
    (e: unknown) => (isPaypadError(e) ? e.code : String(e)),
  );
}

describe('SMS gateway simulator (X5)', () => {
  it('X5: each message gets the provider id, and tests read back what went to whom, oldest first', async () => {
    const sms = new SmsGatewaySimulator(() => at);
    const gateway: SmsGateway = sms; // used through the interface a real adapter has
    const first = await gateway.send(PAYEE, '您收到 88.00 元，付款人手机 13912345678。');
    const second = await gateway.send(PAYER, 'Payment of 88.00 CNY to 王*明 succeeded.');
    const third = await gateway.send(PAYEE, 'Second message');
    expect([first, second, third]).toEqual(['SIM-SMS-000001', 'SIM-SMS-000002', 'SIM-SMS-000003']);
    expect(sms.sent(PAYEE).map((m) => m.messageId)).toEqual([first, third]);
    expect(sms.sent(PAYEE)[0]).toEqual({ messageId: first, to: PAYEE, text: '您收到 88.00 元，付款人手机 13912345678。', sentAt: '2026-12-06T10:00:00.000Z' });
    expect(sms.sent()).toHaveLength(3);
  });

  it('X1: a PAN in a message is kept masked 6/4, plain or grouped; an 11-digit mobile number and an E.164 number are not PANs', async () => {
    const sms = new SmsGatewaySimulator(() => at);
    const pan = TEST_CARDS.unionPay.pan;
    await sms.send(PAYEE, `Card ${pan} credited. Card 6222 0210 0000 0000 017 too. From +8613912345678 / 13912345678.`);
    const kept = sms.sent()[0].text;
    expect(kept).toBe('Card 622202*********0017 credited. Card 622202*********0017 too. From +8613912345678 / 13912345678.');
    expect(kept).not.toContain(pan);
  });

  it('X1: digits after "PIN" or "密码" are starred out', () => {
    expect(maskCardData('Your PIN: 123456 was reset')).toBe('Your PIN: **** was reset');
    expect(maskCardData('pin 1234')).toBe('pin ****');
    expect(maskCardData('初始密码：8866，请修改')).toBe('初始密码：****，请修改');
    expect(maskCardData('Order PINK 1234 and 1234 alone')).toBe('Order PINK 1234 and 1234 alone');
  });

  it('X5: while the provider is unavailable, sends fail with SMS_GATEWAY_UNAVAILABLE and nothing is recorded; then it sends again', async () => {
    const sms = new SmsGatewaySimulator(() => at);
    sms.setAvailable(false);
    expect(await code(sms.send(PAYEE, 'hello'))).toBe('SMS_GATEWAY_UNAVAILABLE');
    expect(sms.sent()).toEqual([]);
    sms.setAvailable(true);
    expect(await sms.send(PAYEE, 'hello')).toBe('SIM-SMS-000001');
  });

  it.each([
    ['a national number without +86', '13800138000', 'hi'],
    ['a number with spaces', '+86 138 0013 8000', 'hi'],
    ['a 16-digit number', '+1234567890123456', 'hi'],
    ['empty text', PAYEE, ''],
    ['blank text', PAYEE, '   '],
    ['text over the concatenated-SMS limit', PAYEE, '字'.repeat(MAX_SMS_CHARS + 1)],
    ['text that is not a string', PAYEE, 42 as never],
  ])('X5: %s is SMS_MESSAGE_INVALID and nothing is recorded', async (_what, to, text) => {
    const sms = new SmsGatewaySimulator(() => at);
    expect(await code(sms.send(to, text))).toBe('SMS_MESSAGE_INVALID');
    expect(sms.sent()).toEqual([]);
  });

  it('X5: a text of exactly the limit is sent', async () => {
    const sms = new SmsGatewaySimulator(() => at);
    await sms.send(PAYEE, '字'.repeat(MAX_SMS_CHARS));
    expect(sms.sent()[0].text).toHaveLength(MAX_SMS_CHARS);
  });
});
