/**
 * The POS payment app (firmware/core/mobilePaymentApp.ts) and its screens
 * (firmware/hal/moddable/paymentScreens.ts) with a scripted terminal: the C4 re-entry loop, the
 * masked-name confirmation, amount in minor units, an unreadable swipe asked again, the PIN kept
 * as wiped digits and read once by the vault's call, every ending (approved, declined, refused,
 * cancelled, no answer), and the board's driver in terminalApp over a scripted keypad and reader.
 */
import { describe, expect, it } from 'vitest';
import { asciiToBytes } from '../../../shared/bytes';
import { PaypadError } from '../../../shared/errors';
import type { MobileLookupResponse, MobilePayResponse } from '../../../shared/protocol/transactions';
import { MobilePaymentApp, type PaymentTerminal } from '../../../firmware/core/mobilePaymentApp';
import type { MobilePayment } from '../../../firmware/core/paymentClient';
import { PospRefusal } from '../../../firmware/core/paymentClient';
import type { CardReader, Swipe } from '../../../firmware/hal/cardReader';
import type { Display, Screen } from '../../../firmware/hal/display';
import type { Key, Keypad } from '../../../firmware/hal/keypad';
import { formatAmount, paymentScreen } from '../../../firmware/hal/moddable/paymentScreens';
import { TerminalApp } from '../../../firmware/hal/moddable/terminalApp';

const PAYEE = '13800138000';
const TRACK2 = '6222021000000000017=30121011234';

class ScriptedPos implements PaymentTerminal {
  readonly lookups: string[] = [];
  readonly payments: { payment: Omit<MobilePayment, 'pin'>; pin: string; track2: string }[] = [];
  lookupFailure: unknown;
  payFailure: unknown;
  responseCode = '00';
  async lookupPayee(payeeMobile: string): Promise<MobileLookupResponse> {
    this.lookups.push(payeeMobile);
    if (this.lookupFailure) throw this.lookupFailure;
    return { v: 1, lookupId: 'L1', maskedName: '王*明', expiresAt: '2026-12-06T02:00:00Z' };
  }
  async payByMobile(payment: MobilePayment): Promise<MobilePayResponse> {
    // As PaymentClient: the PIN is read once, for the PIN block; the track is read before the answer.
    this.payments.push({ payment, pin: payment.pin, track2: new TextDecoder().decode(payment.track2) });
    if (this.payFailure) throw this.payFailure;
    const approved = this.responseCode === '00';
    return { v: 1, responseCode: this.responseCode, reason: approved ? 'Approved' : 'Insufficient funds', reference: 'R000001', amount: payment.amount, currency: payment.currency, maskedPan: '622202*********0017', ...(approved ? { approvalCode: 'A12345' } : {}) };
  }
}

function keys(app: MobilePaymentApp, sequence: string): Promise<void> | undefined {
  let last: Promise<void> | undefined;
  for (const c of sequence) last = app.press(c === 'K' ? 'confirm' : c === 'X' ? 'cancel' : c === 'C' ? 'clear' : (c as Key)) ?? last;
  return last;
}

function read(track2 = TRACK2): Swipe {
  return { status: 'read', track2: asciiToBytes(track2) };
}

/** Up to the PIN step: payee looked up, confirmed, 12.34 keyed, card swiped. */
async function atPin(pos = new ScriptedPos()): Promise<{ app: MobilePaymentApp; pos: ScriptedPos; swipe: Swipe }> {
  const app = new MobilePaymentApp({ terminal: pos, currency: 'CNY', payerMobile: '13900139000' });
  await keys(app, `${PAYEE}K`);
  keys(app, 'K1234K');
  const swipe = read();
  app.swipe(swipe);
  return { app, pos, swipe };
}

describe('C3-C8: the POS payment app', () => {
  it('C4: a number failing the rule is shown as invalid and asked again, nothing sent; a good one is looked up', async () => {
    const pos = new ScriptedPos();
    const app = new MobilePaymentApp({ terminal: pos, currency: 'CNY' });
    expect(paymentScreen(app.view).lines[0]).toBe('Payee mobile no.');
    expect(keys(app, '12345678901K')).toBeUndefined();
    expect(app.view).toMatchObject({ step: 'payee', invalidNumber: true, entry: '' });
    expect(paymentScreen(app.view).lines.slice(0, 2)).toEqual(['Invalid number', 'Re-enter payee no.']);
    keys(app, '1541234567K'); // 10 digits
    expect(app.view.invalidNumber).toBe(true);
    expect(pos.lookups).toEqual([]);
    const lookup = keys(app, `${PAYEE}9K`); // the 12th digit is ignored
    expect(app.view.step).toBe('lookup');
    await lookup;
    expect(pos.lookups).toEqual([PAYEE]);
    expect(app.view).toMatchObject({ step: 'confirm', maskedName: '王*明', invalidNumber: false });
    expect(paymentScreen(app.view).lines).toEqual(['Pay to:', '王*明', 'OK pay  X cancel']);
  });

  it('C4: the platform refusing the number (its own rule) also asks again', async () => {
    const pos = new ScriptedPos();
    pos.lookupFailure = new PospRefusal('mobile/lookup', 422, 'MOBILE_NUMBER_INVALID', 'bad');
    const app = new MobilePaymentApp({ terminal: pos, currency: 'CNY' });
    await keys(app, `${PAYEE}K`);
    expect(app.view).toMatchObject({ step: 'payee', invalidNumber: true });
  });

  it('C5: the masked name is confirmed or cancelled; cancel sends nothing more', async () => {
    const pos = new ScriptedPos();
    const app = new MobilePaymentApp({ terminal: pos, currency: 'CNY' });
    await keys(app, `${PAYEE}K`);
    keys(app, 'X');
    expect(app.done).toBe(true);
    expect(app.view.outcome).toEqual({ kind: 'cancelled' });
    expect(paymentScreen(app.view)).toEqual({ title: 'Cancelled', lines: ['Nothing was debited'] });
    expect(keys(app, 'K')).toBeUndefined();
    expect(pos.payments).toEqual([]);
  });

  it('amount in minor units: no leading zero, clear, zero not accepted; shown with the currency', async () => {
    const pos = new ScriptedPos();
    const app = new MobilePaymentApp({ terminal: pos, currency: 'CNY' });
    await keys(app, `${PAYEE}K`);
    keys(app, 'K00K');
    expect(app.view).toMatchObject({ step: 'amount', entry: '' });
    keys(app, '5C1234');
    expect(paymentScreen(app.view).lines[2]).toBe('CNY 12.34');
    keys(app, 'K');
    expect(app.view).toMatchObject({ step: 'swipe', amount: 1234 });
    expect(formatAmount(5, 'CNY')).toBe('CNY 0.05');
    expect(formatAmount(500, 'JPY')).toBe('JPY 500');
  });

  it('an unreadable swipe is asked for again; a read one goes to the PIN, track 1 wiped', async () => {
    const pos = new ScriptedPos();
    const app = new MobilePaymentApp({ terminal: pos, currency: 'CNY' });
    await keys(app, `${PAYEE}K`);
    keys(app, 'K1234K');
    app.swipe({ status: 'unreadable' });
    expect(paymentScreen(app.view).lines).toEqual(['CNY 12.34', 'Card unreadable', 'Swipe again']);
    const track1 = asciiToBytes('B6222021000000000017^ZHANG/SAN^3012101');
    const track1Only: Swipe = { status: 'read', track1 };
    app.swipe(track1Only);
    expect(app.view.step).toBe('swipe');
    expect(track1.every((b) => b === 0)).toBe(true);
    app.swipe(read());
    expect(app.view.step).toBe('pin');
  });

  it('X1: PIN digits are never shown, cleared on clear, read once as the vault makes the block, wiped with the track after', async () => {
    const { app, pos, swipe } = await atPin();
    keys(app, '99C123');
    expect(app.view.pinLength).toBe(3);
    expect(paymentScreen(app.view).lines).toEqual(['CNY 12.34', 'Enter PIN:', '***']);
    expect(keys(app, 'K')).toBeUndefined(); // fewer than 4 digits
    const paying = keys(app, '4K');
    expect(app.view.step).toBe('paying');
    await paying;
    expect(pos.payments).toHaveLength(1);
    expect(pos.payments[0]).toMatchObject({ pin: '1234', track2: TRACK2, payment: { lookupId: 'L1', amount: 1234, currency: 'CNY', payerMobile: '13900139000' } });
    // Read once: a second read gets nothing.
    expect(pos.payments[0].payment).toHaveProperty('pin', '');
    expect(swipe.status === 'read' && swipe.track2!.every((b) => b === 0)).toBe(true);
    expect(app.view).toMatchObject({ step: 'result', pinLength: 0 });
    expect(paymentScreen(app.view)).toEqual({ title: 'Approved', lines: ['CNY 12.34 to 王*明', '622202*********0017', 'Ref R000001'] });
    expect(JSON.stringify(app.view)).not.toMatch(/1234\b.*PIN|6222021000000000017/);
  });

  it('C7, C8: a decline shows the ISO 8583 response code and its reason', async () => {
    const pos = new ScriptedPos();
    pos.responseCode = '51';
    const { app } = await atPin(pos);
    await keys(app, '1234K');
    expect(app.view.outcome).toMatchObject({ kind: 'declined' });
    expect(paymentScreen(app.view)).toEqual({ title: 'Declined', lines: ['51 Insufficient', 'funds'] });
  });

  it('C3: an unknown payee is an authenticated refusal: its code and what it means, nothing debited', async () => {
    const pos = new ScriptedPos();
    pos.lookupFailure = new PospRefusal('mobile/lookup', 404, 'PAYEE_UNKNOWN', 'no payee');
    const app = new MobilePaymentApp({ terminal: pos, currency: 'CNY' });
    await keys(app, `${PAYEE}K`);
    expect(app.view.outcome).toEqual({ kind: 'failed', code: 'POSP_REFUSED', pospCode: 'PAYEE_UNKNOWN', unknown: false });
    expect(paymentScreen(app.view)).toEqual({ title: 'Not paid', lines: ['Payee not registered', 'PAYEE_UNKNOWN', 'Nothing was debited'] });
  });

  it('no authenticated answer to the payment: the POS says the outcome is unknown, not that nothing was debited', async () => {
    const pos = new ScriptedPos();
    pos.payFailure = new PaypadError('HTTP_TIMEOUT', 'no answer');
    const { app } = await atPin(pos);
    await keys(app, '1234K');
    expect(app.view.outcome).toEqual({ kind: 'failed', code: 'HTTP_TIMEOUT', unknown: true });
    expect(paymentScreen(app.view).title).toBe('Outcome unknown');
  });

  it('cancel at the PIN wipes the digits and the track; a swipe timeout cancels', async () => {
    const { app, swipe } = await atPin();
    keys(app, '12X');
    expect(app.view).toMatchObject({ step: 'result', pinLength: 0, outcome: { kind: 'cancelled' } });
    expect(swipe.status === 'read' && swipe.track2!.every((b) => b === 0)).toBe(true);

    const other = new MobilePaymentApp({ terminal: new ScriptedPos(), currency: 'CNY' });
    await keys(other, `${PAYEE}K`);
    keys(other, 'K100K');
    other.swipe({ status: 'timeout' });
    expect(other.view.outcome).toEqual({ kind: 'cancelled' });
  });
});

describe('the board: menu key 1 runs the payment app from the keypad and the card reader', () => {
  it('C3-C8: ready screen offers it; secure mode only while the PIN is keyed; the result, then the status again', async () => {
    const pos = new ScriptedPos();
    const pressed: (Key | 'timeout')[] = [...'1', ...PAYEE, 'confirm', 'confirm', ...'500', 'confirm', ...'1234', 'confirm', 'confirm'] as Key[];
    const secureAt: boolean[] = [];
    let secure = false;
    const keypad: Keypad = {
      get secure() {
        return secure;
      },
      setSecure(on) {
        secure = on;
      },
      async readKey() {
        secureAt.push(secure);
        const key = pressed.shift();
        if (key === undefined) throw new PaypadError('DEVICE_BUSY', 'script over');
        return key;
      },
    };
    const cardReader: CardReader = { readSwipe: async () => read() };
    const screens: Screen[] = [];
    const display: Display = { columns: 20, rows: 4, show: (s) => void screens.push(s) };
    const terminal = {
      serial: 'PP-0001',
      status: async () => ({ stage: 'signed-on' as const }),
      downloadTmk: async () => ({ kcv: '00' }),
      signOn: async () => [],
      handleLinkRequest: async () => {
        throw new Error('unused');
      },
    };
    const log: string[] = [];
    const app = new TerminalApp({ terminal, display, keypad, clock: { isSet: () => true, now: () => new Date(), set: () => {} } as never, link: true, log: (l) => void log.push(l), payments: { cardReader, newPayment: () => new MobilePaymentApp({ terminal: pos, currency: 'CNY' }) } });
    await expect(app.start()).rejects.toThrow('script over');
    expect(screens[0].lines).toEqual(['Ready: keys loaded', '1: pay by mobile']);
    expect(screens.map((s) => s.title)).toContain('Approved');
    expect(screens.at(-1)!.lines).toEqual(['Ready: keys loaded', '1: pay by mobile']);
    expect(pos.payments[0]).toMatchObject({ pin: '1234', payment: { amount: 500 } });
    // Keys read: menu, 11 digits + OK, OK, 3 digits + OK (not secure), 4 PIN digits + OK (secure), the result's key, then the next menu read.
    expect(secureAt.slice(18, 23)).toEqual([true, true, true, true, true]);
    expect(secureAt.filter(Boolean)).toHaveLength(5);
    expect(secure).toBe(false);
    expect(log).toEqual(['payment: approved 00 R000001']);
    expect(JSON.stringify(screens)).not.toMatch(/1234(?!\.)|6222021000000000017/);
  });
});
