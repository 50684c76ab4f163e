/**
 * E4, X1: the PIN pad as the checkout page's secure card reader, over loopback: the emulated reader
 * (firmware core on the Node HAL) dials the gateway's reader channel, the gateway asks for a read,
 * the emulated swipe is sealed under the reader's AES DUKPT keys and opened only in the HSM, on
 * every HSM backend this machine has.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { asciiToBytes, bytesToAscii, fromHex, toHex, xorBytes } from '../../../shared/bytes';
import { dukptInitialKey } from '../../../shared/crypto/dukpt';
import { keyCheckValue } from '../../../shared/crypto/kcv';
import { decipherPinBlockIso4 } from '../../../shared/crypto/pinblock';
import { SecureCardReader } from '../../../firmware/core/secureCardReader';
import { SecureCardReaderService } from '../../../firmware/core/secureCardReaderService';
import { createEmulatedSwipeReader, type EmulatedSwipeReader } from '../../../firmware/hal/node/emulatedSwipeReader';
import { connectCardReader, type NodeCardReaderLink } from '../../../firmware/hal/node/nodeCardReaderLink';
import type { KeyHandle } from '../../../host/hsm/hsm';
import { CardReaderDisconnected } from '../../../host/gateway/cardReaderErrors';
import { decryptCardRead } from '../../../host/gateway/cardReaderDecrypt';
import { CARD_READER_PATH, ReaderChannel, type ReaderStatusEvent } from '../../../host/gateway/readerChannel';
import { TEST_CARDS, TEST_PIN } from '../../../host/simulators/testCards';
import { MemoryStorage } from '../../support/memoryStorage';
import { expectCode, forEachHsmBackend, rng, type TestHsm } from '../hsm/hsmTestKit';

const BDK = fromHex('FEDCBA9876543210F1F1F1F1F1F1F1F1');
const CARD = TEST_CARDS.unionPay;
const TRACK2 = `${CARD.pan}=${CARD.expiry}1011234500000`;
const HEARTBEAT_MS = 100;

async function importBdk(hsm: TestHsm['hsm']): Promise<KeyHandle> {
  const first = rng(16);
  const components = [first, xorBytes(BDK, first)].map((value) => ({ value, kcv: toHex(keyCheckValue(value)) }));
  return hsm.importKeyComponents({ usage: 'B0', algorithm: 'A', modeOfUse: 'X', exportability: 'N' }, components, toHex(keyCheckValue(BDK)));
}

/** The gateway's listener with the reader channel on it. */
async function startGateway(): Promise<{ server: Server; channel: ReaderChannel; url: string }> {
  const server = createServer((_req, res) => res.writeHead(404).end());
  const channel = new ReaderChannel();
  channel.attach(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, channel, url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}${CARD_READER_PATH}` };
}

interface EmulatedReader {
  readonly secure: SecureCardReader;
  readonly swipes: EmulatedSwipeReader;
  readonly link: NodeCardReaderLink;
  readonly frames: string[];
}

/** A PIN pad with keys injected (initial key ID `ikId`) that swipes `track` whenever a read waits. */
async function connectReader(url: string, options: { readerId: string; storage: MemoryStorage; rootKey: Uint8Array; ikId: string; track?: string; pin?: string; inject?: boolean }): Promise<EmulatedReader> {
  const secure = new SecureCardReader({ storage: options.storage, rng, rootKey: options.rootKey });
  if (options.inject !== false) secure.loadInitialKey(dukptInitialKey(BDK, fromHex(options.ikId)), fromHex(options.ikId));
  const swipes = createEmulatedSwipeReader();
  if (options.track !== undefined) {
    const track = options.track;
    swipes.onWaiting(() => setTimeout(() => swipes.swipe({ status: 'read', track2: asciiToBytes(track) }), 5));
  }
  const frames: string[] = [];
  const service = new SecureCardReaderService({
    reader: secure,
    cardReader: swipes.reader,
    readerId: options.readerId,
    heartbeatMs: HEARTBEAT_MS,
    ...(options.pin === undefined ? {} : { pinEntry: () => Promise.resolve(options.pin) }),
  });
  const recording = Object.assign(Object.create(service) as SecureCardReaderService, {
    hello: () => service.hello(),
    heartbeat: () => service.heartbeat(),
    answer: (frame: string) => service.answer(frame).then((out) => (frames.push(out), out)),
  });
  const link = await connectCardReader(url, recording, HEARTBEAT_MS);
  return { secure, swipes, link, frames };
}

const until = async (check: () => boolean, ms = 2_000) => {
  for (const end = Date.now() + ms; !check(); ) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 10));
  }
};

forEachHsmBackend((name) => `E4 X1: secure card reader to the gateway, decrypted in the ${name} HSM`, (backend) => {
  let gateway: Awaited<ReturnType<typeof startGateway>>;
  let hsm: TestHsm;
  let bdk: KeyHandle;
  let zpk: KeyHandle;
  const links: NodeCardReaderLink[] = [];

  beforeAll(async () => {
    gateway = await startGateway();
    hsm = await backend.openTestHsm();
    bdk = await importBdk(hsm.hsm);
    zpk = await hsm.hsm.generateKey({ usage: 'P0', algorithm: 'A', modeOfUse: 'B', exportability: 'N', lengthBytes: 16 });
  });
  afterEach(() => {
    for (const link of links.splice(0)) link.close();
  });
  afterAll(async () => {
    await gateway.channel.close();
    await new Promise((r) => gateway.server.close(r));
  });

  it('E4: the track data the emulated reader encrypts decrypts in the HSM to the swipe; the KSN is the reader\'s', async () => {
    const reader = await connectReader(gateway.url, { readerId: 'till-1', storage: new MemoryStorage(), rootKey: rng(16), ikId: '1234567890123456', track: TRACK2 });
    links.push(reader.link);
    gateway.channel.pair('checkout-1', 'till-1');
    await until(() => gateway.channel.status('checkout-1') === 'connected');
    const read = await gateway.channel.readCard('checkout-1', { timeoutMs: 5_000 });
    expect(read.readerId).toBe('till-1');
    expect(read.panLast4).toBe(CARD.pan.slice(-4));
    const clear = await decryptCardRead({ hsm: hsm.hsm, bdk }, read, { initialKeyId: fromHex('1234567890123456') });
    expect(bytesToAscii(clear.track2)).toBe(TRACK2);
    expect(clear).toMatchObject({ pan: CARD.pan, expiry: CARD.expiry, serviceCode: '101' });
    expect(JSON.stringify(clear)).toBe(JSON.stringify({ panLast4: CARD.pan.slice(-4) }));
    clear.wipe();
    expect(clear.track2.every((b) => b === 0)).toBe(true);
    // Another reader's initial key ID, an altered ciphertext, a read id not the one asked for: refused before deciphering.
    await expectCode(decryptCardRead({ hsm: hsm.hsm, bdk }, read, { initialKeyId: fromHex('1234567890123457') }), 'DUKPT_KSN_INVALID');
    const altered = read.track2.slice();
    altered[20] ^= 1;
    await expectCode(decryptCardRead({ hsm: hsm.hsm, bdk }, { ...read, track2: altered }), 'MAC_MISMATCH');
    await expectCode(decryptCardRead({ hsm: hsm.hsm, bdk }, { ...read, readId: '00'.repeat(16) }), 'MAC_MISMATCH');
    await expectCode(decryptCardRead({ hsm: hsm.hsm, bdk }, { ...read, panLast4: '0000' }), 'MAC_MISMATCH');
    gateway.channel.unpair('checkout-1');
  });

  it('E4: the PIN keyed on the reader comes as a format 4 block under its DUKPT PIN key and leaves the HSM only under the zone PIN key', async () => {
    const reader = await connectReader(gateway.url, { readerId: 'till-pin', storage: new MemoryStorage(), rootKey: rng(16), ikId: '1234567890123458', track: TRACK2, pin: TEST_PIN });
    links.push(reader.link);
    gateway.channel.pair('checkout-pin', 'till-pin');
    await until(() => gateway.channel.status('checkout-pin') === 'connected');
    const read = await gateway.channel.readCard('checkout-pin', { pin: true, timeoutMs: 5_000 });
    expect(read.pinBlock).toHaveLength(16);
    if (backend.name === 'pkcs11') {
      // A token that cannot keep the PIN inside its boundary refuses the translation (docs/payment-keys.md).
      await expectCode(decryptCardRead({ hsm: hsm.hsm, bdk, zonePinKey: zpk }, read), 'HSM_COMMAND_UNSUPPORTED');
    } else {
      const clear = await decryptCardRead({ hsm: hsm.hsm, bdk, zonePinKey: zpk }, read);
      expect(toHex(clear.pinBlock!)).not.toBe(toHex(read.pinBlock!));
      expect(decipherPinBlockIso4((await hsm.open(zpk)).key, clear.pinBlock!, CARD.pan)).toBe(TEST_PIN);
      clear.wipe();
    }
    await expectCode(decryptCardRead({ hsm: hsm.hsm, bdk }, read), 'BAD_ARGUMENT');
    gateway.channel.unpair('checkout-pin');
  });
});

describe('E4: the reader channel', () => {
  let gateway: Awaited<ReturnType<typeof startGateway>>;
  const links: NodeCardReaderLink[] = [];
  beforeAll(async () => {
    gateway = await startGateway();
  });
  afterEach(() => {
    for (const link of links.splice(0)) link.close();
  });
  afterAll(async () => {
    await gateway.channel.close();
    await new Promise((r) => gateway.server.close(r));
  });

  it('E4: the page-facing messages (status events, the read the front end holds) and every frame on the wire carry no clear track or PAN', async () => {
    const events: ReaderStatusEvent[] = [];
    const off = gateway.channel.onStatus((e) => events.push(e));
    const reader = await connectReader(gateway.url, { readerId: 'till-2', storage: new MemoryStorage(), rootKey: rng(16), ikId: '1234567890123459', track: TRACK2, pin: TEST_PIN });
    links.push(reader.link);
    gateway.channel.pair('checkout-2', 'till-2');
    await until(() => gateway.channel.status('checkout-2') === 'connected');
    const reads = [await gateway.channel.readCard('checkout-2', { timeoutMs: 5_000 }), await gateway.channel.readCard('checkout-2', { pin: true, timeoutMs: 5_000 })];
    off();
    const pageMessages = [...events.map((e) => JSON.stringify(e)), ...reads.map((r) => JSON.stringify({ ...r, ksn: toHex(r.ksn), track2: toHex(r.track2), mac: toHex(r.mac), pinBlock: r.pinBlock && toHex(r.pinBlock) }))];
    const everything = [...pageMessages, ...reader.frames].join('\n');
    expect(reader.frames).toHaveLength(2);
    for (const secret of [CARD.pan, CARD.pan.slice(0, 10), TRACK2, toHex(asciiToBytes(CARD.pan)), toHex(asciiToBytes(TRACK2)).slice(0, 24), `${CARD.expiry}101`]) {
      expect(everything.toUpperCase()).not.toContain(secret.toUpperCase());
    }
    gateway.channel.unpair('checkout-2');
  });

  it('E4: connected and disconnected live; a reader unplugged mid-read fails the read with CardReaderDisconnected within three heartbeats', async () => {
    const events: string[] = [];
    const off = gateway.channel.onStatus((e) => e.checkoutId === 'checkout-3' && events.push(`${e.checkoutId} ${e.readerId} ${e.status}`));
    gateway.channel.pair('checkout-3', 'till-3');
    expect(gateway.channel.status('checkout-3')).toBe('disconnected');
    await expectCode(gateway.channel.readCard('checkout-3'), 'CARD_READER_DISCONNECTED');
    const storage = new MemoryStorage();
    const rootKey = rng(16);
    const first = await connectReader(gateway.url, { readerId: 'till-3', storage, rootKey, ikId: '1234567890123460' });
    await until(() => gateway.channel.status('checkout-3') === 'connected');
    first.link.close();
    await until(() => gateway.channel.status('checkout-3') === 'disconnected');
    // Plugged in again (same device, same keys); no card is swiped, and the cable is pulled while the read waits.
    const second = await connectReader(gateway.url, { readerId: 'till-3', storage, rootKey, ikId: '1234567890123460', inject: false });
    links.push(second.link);
    await until(() => gateway.channel.status('checkout-3') === 'connected');
    const reading = gateway.channel.readCard('checkout-3', { timeoutMs: 30_000 });
    await until(() => second.swipes.waiting);
    const pulledAt = Date.now();
    second.link.unplug();
    const error = await reading.then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(CardReaderDisconnected);
    expect(error).toMatchObject({ code: 'CARD_READER_DISCONNECTED', readerId: 'till-3', midRead: true });
    expect(Date.now() - pulledAt).toBeLessThan(5 * HEARTBEAT_MS + 500);
    expect(gateway.channel.status('checkout-3')).toBe('disconnected');
    off();
    expect(events).toEqual(['checkout-3 till-3 disconnected', 'checkout-3 till-3 connected', 'checkout-3 till-3 disconnected', 'checkout-3 till-3 connected', 'checkout-3 till-3 disconnected']);
    gateway.channel.unpair('checkout-3');
  });

  it('E4: one checkout per reader; no read without a pairing; a reader without keys, a timeout and a malformed hello are typed failures', async () => {
    gateway.channel.pair('checkout-4', 'till-4');
    expect(() => gateway.channel.pair('checkout-5', 'till-4')).toThrow(expect.objectContaining({ code: 'CARD_READER_NOT_PAIRED' }));
    await expectCode(gateway.channel.readCard('checkout-unknown'), 'CARD_READER_NOT_PAIRED');
    const bare = await connectReader(gateway.url, { readerId: 'till-4', storage: new MemoryStorage(), rootKey: rng(16), ikId: '1234567890123461', inject: false });
    links.push(bare.link);
    await until(() => gateway.channel.status('checkout-4') === 'connected');
    await expect(gateway.channel.readCard('checkout-4', { timeoutMs: 1_000 })).rejects.toMatchObject({ code: 'CARD_READ_FAILED', reason: 'no-keys' });
    gateway.channel.unpair('checkout-4');

    const slow = await connectReader(gateway.url, { readerId: 'till-6', storage: new MemoryStorage(), rootKey: rng(16), ikId: '1234567890123462' });
    links.push(slow.link);
    gateway.channel.pair('checkout-6', 'till-6');
    await until(() => gateway.channel.status('checkout-6') === 'connected');
    await expect(gateway.channel.readCard('checkout-6', { timeoutMs: 1_000 })).rejects.toMatchObject({ code: 'CARD_READ_FAILED', reason: 'timeout' });
    // The checkout given up while its read waits; then the reader closing its connection during a read.
    const abandoned = gateway.channel.readCard('checkout-6', { timeoutMs: 5_000 });
    await until(() => slow.swipes.waiting);
    gateway.channel.unpair('checkout-6');
    await expect(abandoned).rejects.toMatchObject({ code: 'CARD_READ_FAILED', reason: 'cancelled' });
    await until(() => !slow.swipes.waiting, 6_000);
    gateway.channel.pair('checkout-6', 'till-6');
    const closing = gateway.channel.readCard('checkout-6', { timeoutMs: 5_000 });
    await until(() => slow.swipes.waiting);
    slow.link.close();
    await expect(closing).rejects.toMatchObject({ code: 'CARD_READER_DISCONNECTED', midRead: true });
    gateway.channel.unpair('checkout-6');

    const rogue = new WebSocket(gateway.url);
    const code = await new Promise<number>((resolve) => {
      rogue.on('open', () => rogue.send('{"v":1,"type":"hello","readerId":"x"}'));
      rogue.on('close', (c) => resolve(c));
    });
    expect(code).toBe(4400);
  });
});

describe('E4: the reader\'s DUKPT state in storage', () => {
  it('E4: the counter advances with every read and carries on after a restart; the stored state is sealed to the device', () => {
    const storage = new MemoryStorage();
    const rootKey = rng(16);
    const ikId = fromHex('1234567890123456');
    const before = new SecureCardReader({ storage, rng, rootKey });
    expect(before.loadInitialKey(dukptInitialKey(BDK, ikId), ikId)).toBe(1);
    const ksns = [0, 1, 2].map(() => toHex(before.sealCardRead('AA'.repeat(16), asciiToBytes(TRACK2)).ksn));
    expect(ksns).toEqual(['123456789012345600000001', '123456789012345600000002', '123456789012345600000003']);
    // A restart: a new reader over the same storage goes on from the next counter.
    const after = new SecureCardReader({ storage, rng, rootKey });
    expect(after.counter()).toBe(4);
    expect(toHex(after.sealCardRead('AA'.repeat(16), asciiToBytes(TRACK2)).ksn)).toBe('123456789012345600000004');
    // The state opens only under this device's root key; a bad track consumes no counter.
    expect(() => new SecureCardReader({ storage, rng, rootKey: rng(16) }).counter()).toThrow(expect.objectContaining({ code: 'DUKPT_STATE_INVALID' }));
    expect(() => after.sealCardRead('AA'.repeat(16), asciiToBytes('123=4'))).toThrow(expect.objectContaining({ code: 'CARD_DATA_INVALID' }));
    expect(after.counter()).toBe(5);
    after.zeroize();
    expect(after.hasKeys()).toBe(false);
  });
});
