/**
 * D3: bills pushed to the phone of the designated number. A connected client gets each new bill
 * as a MAC'd frame at once; a number with no client connected gets a text saying a bill waits; a
 * client connecting later gets the open bills. A hello that does not verify, or is replayed, is
 * refused and registers nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type WebSocket from 'ws';
import { openPushSocket } from '../../bin/commands/phoneTransport';
import type { PhoneClient } from '../../shared/client/phoneClient';
import { mobileNumberToE164 } from '../../shared/mobileNumber';
import type { PushMessage } from '../../shared/protocol/phoneClient';
import { createBillClientFixture, type BillClientFixture, freshPhoneNumber } from './support/billClientFixture';
import { DIALECTS, useMigratedDatabase } from './helpers/testDatabase';

interface Watch {
  readonly socket: WebSocket;
  /** The hello frame this connection was opened with. */
  readonly sent: string;
  /** Resolves with the next `count` pushes, checked by the client core. */
  next(count: number): Promise<PushMessage[]>;
  closed: Promise<{ code: number; reason: string }>;
}

async function watch(url: string, client: PhoneClient, helloFrame?: string): Promise<Watch> {
  const socket = openPushSocket(url);
  await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
  const hello = await client.pushHello();
  const frames: string[] = [];
  let waiting: (() => void) | undefined;
  socket.on('message', (data) => {
    frames.push(String(data));
    waiting?.();
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) => socket.once('close', (code, reason) => resolve({ code, reason: String(reason) })));
  const sent = helloFrame ?? hello.frame;
  socket.send(sent);
  let lastN = 0;
  return {
    socket,
    sent,
    closed,
    async next(count) {
      while (frames.length < count) await new Promise<void>((resolve) => (waiting = resolve));
      const out: PushMessage[] = [];
      for (const frame of frames.splice(0, count)) {
        const message = await client.readPush(frame, hello.hello, lastN);
        lastN = message.n;
        out.push(message);
      }
      return out;
    },
  };
}

describe.each(DIALECTS)('push channel on %s', (dialect) => {
  const database = useMigratedDatabase(dialect);
  let f: BillClientFixture;
  beforeAll(async () => {
    f = await createBillClientFixture(database());
  });
  afterAll(async () => {
    await f?.close();
  });

  async function enrolled(): Promise<{ client: PhoneClient; e164: string }> {
    const mobile = freshPhoneNumber();
    const { client } = await f.phone();
    await client.startEnrolment(mobile);
    await client.finishEnrolment(f.lastCode(mobileNumberToE164(mobile)));
    return { client, e164: mobileNumberToE164(mobile) };
  }

  const until = async (check: () => boolean) => {
    for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 10));
    expect(check()).toBe(true);
  };

  it('D3: a connected client gets the new bill, MAC\'d, with the merchant\'s verified name, goods, amount and expiry; no text is sent', async () => {
    const { client, e164 } = await enrolled();
    const w = await watch(f.url, client);
    await until(() => f.gateway.push.connected(e164) === 1);
    const bill = f.platform.addBill({ designatedMobile: e164, amountMinor: 4_200, goods: 'Pu-erh cake, 357 g' });
    const [pushed] = await w.next(1);
    expect(pushed).toMatchObject({ kind: 'bill', n: 1, bill: { id: bill.id, merchantName: 'Tea House (test)', merchantCertificateSubject: bill.merchantCertificateSubject, amountMinor: 4_200, goods: 'Pu-erh cake, 357 g', expiresAt: bill.expiresAt.toISOString(), forAnotherPerson: false } });
    await f.gateway.texts.runOnce();
    expect(f.sms.sent(e164).filter((m) => m.text.includes('sent a bill'))).toEqual([]);
    w.socket.close();
  });

  it('D3: with no client connected the number gets a text; the client connecting later gets the bill waiting', async () => {
    const { client, e164 } = await enrolled();
    const bill = f.platform.addBill({ designatedMobile: e164, amountMinor: 1_500 });
    await until(() => f.sms.sent(e164).some((m) => m.text.includes('sent a bill')) || (void f.gateway.texts.runOnce(), false));
    expect(f.sms.sent(e164).at(-1)?.text).toContain('CNY 15.00');
    const w = await watch(f.url, client);
    const [waiting] = await w.next(1);
    expect(waiting).toMatchObject({ kind: 'waiting', bill: { id: bill.id, state: 'open' } });
    w.socket.close();
  });

  it('D3, D4: a replayed or tampered hello is refused, and the phone is not registered', async () => {
    const { client, e164 } = await enrolled();
    const first = await watch(f.url, client);
    await until(() => f.gateway.push.connected(e164) === 1);
    // The first connection's hello again: already seen.
    const replay = await watch(f.url, client, first.sent);
    expect(await replay.closed).toEqual({ code: 4401, reason: 'PROTOCOL_REPLAY' });
    const fresh = JSON.parse((await client.pushHello()).frame);
    const tampered = await watch(f.url, client, JSON.stringify({ ...fresh, seq: fresh.seq + 10 }));
    expect(await tampered.closed).toEqual({ code: 4401, reason: 'MAC_MISMATCH' });
    expect(f.gateway.push.connected(e164)).toBe(1);
    first.socket.close();
  });
});
