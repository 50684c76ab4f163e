/**
 * The startup check of the manifest "config" block, including values given on the mcconfig
 * command line (strings), board wiring for keypad, card reader and local link UART, and the
 * identity a terminal is manufactured with at first boot.
 */
import { describe, expect, it } from 'vitest';
import { asciiToBytes, toHex } from '../../../shared/bytes';
import { generateP256KeyPair } from '../../../shared/crypto/keyTransport';
import { parseFirmwareConfig, type FirmwareConfig } from '../../../firmware/hal/moddable/config';
import { seededRng } from '../../support/opsRng';

const BASE = { version: '1.2.3', hostUrl: 'https://paypad-host.local:8443', httpTimeoutMs: 30000, displayColumns: 20, displayRows: 4 };
const PAD_4X3 = ['1', '2', '3', '4', '5', '6', '7', '8', '9', 'cancel', '0', 'confirm'];

function parsed(raw: Record<string, unknown>): FirmwareConfig {
  const result = parseFirmwareConfig(raw);
  if (typeof result === 'string') throw new Error(result);
  return result;
}

describe('firmware config', () => {
  it('X3: a board without keypad or card reader has neither, and uses the network DNS', () => {
    expect(parsed(BASE)).toEqual({
      version: '1.2.3',
      hostUrl: BASE.hostUrl,
      httpTimeoutMs: 30000,
      dnsServers: null,
      display: { columns: 20, rows: 4 },
      keypad: null,
      cardReader: null,
      localLink: null,
      tcpLink: null,
      manufacture: null,
      update: null,
    });
  });

  it('X3: accepts the strings mcconfig passes for command-line overrides', () => {
    const c = parsed({ ...BASE, httpTimeoutMs: '60000', displayColumns: '16', dnsServers: '192.168.1.1, 1.1.1.1' });
    expect(c.httpTimeoutMs).toBe(60000);
    expect(c.display.columns).toBe(16);
    expect(c.dnsServers).toEqual(['192.168.1.1', '1.1.1.1']);
  });

  it('rejects a missing or malformed version, host URL, and out-of-range numbers', () => {
    expect(parseFirmwareConfig({ ...BASE, version: undefined })).toMatch(/^version/);
    expect(parseFirmwareConfig({ ...BASE, version: 'v1' })).toMatch(/^version/);
    expect(parseFirmwareConfig({ ...BASE, hostUrl: 'paypad-host' })).toMatch(/^hostUrl/);
    expect(parseFirmwareConfig({ ...BASE, httpTimeoutMs: '30s' })).toMatch(/^httpTimeoutMs/);
    expect(parseFirmwareConfig({ ...BASE, displayRows: 0 })).toMatch(/^displayRows/);
    expect(parseFirmwareConfig({ ...BASE, dnsServers: 'dns.example' })).toMatch(/^dnsServers/);
  });

  it('reads a 4x3 matrix keypad wired row by row', () => {
    const keypad = { rows: [13, 12, 14, 27], columns: [26, 25, 33], keys: PAD_4X3 };
    expect(parsed({ ...BASE, keypad }).keypad).toEqual(keypad);
  });

  it('rejects keypad wiring that cannot work: shared GPIOs, wrong key count, unknown, missing or repeated keys', () => {
    const keypad = { rows: [13, 12, 14, 27], columns: [26, 25, 33], keys: PAD_4X3 };
    expect(parseFirmwareConfig({ ...BASE, keypad: { ...keypad, columns: [26, 25, 13] } })).toMatch(/GPIO is used twice/);
    expect(parseFirmwareConfig({ ...BASE, keypad: { ...keypad, keys: PAD_4X3.slice(1) } })).toMatch(/expected 12 key names/);
    expect(parseFirmwareConfig({ ...BASE, keypad: { ...keypad, keys: [...PAD_4X3.slice(0, 11), 'enter'] } })).toMatch(/keys\[11\]/);
    expect(parseFirmwareConfig({ ...BASE, keypad: { ...keypad, keys: [...PAD_4X3.slice(0, 11), '1'] } })).toMatch(/missing confirm/);
    expect(parseFirmwareConfig({ ...BASE, keypad: { ...keypad, rows: [13, 12, 14, 64] } })).toMatch(/keypad\.rows\[3\]/);
    expect(parseFirmwareConfig({ ...BASE, keypad: 'yes' })).toMatch(/^keypad/);
  });

  it('reads a UART card reader and rejects non-standard baud rates', () => {
    expect(parsed({ ...BASE, cardReader: { port: 1, receive: 16, baud: 9600 } }).cardReader).toEqual({ port: 1, receive: 16, baud: 9600 });
    expect(parseFirmwareConfig({ ...BASE, cardReader: { port: 1, receive: 16, baud: 10000 } })).toMatch(/baud/);
    expect(parseFirmwareConfig({ ...BASE, cardReader: { port: 9, receive: 16, baud: 9600 } })).toMatch(/port/);
  });

  it('A2: reads the local link UART, from the manifest or as mcconfig strings', () => {
    expect(parsed({ ...BASE, localLink: { port: 2, receive: 16, transmit: 17, baud: 115200 } }).localLink).toEqual({ port: 2, receive: 16, transmit: 17, baud: 115200 });
    expect(parsed({ ...BASE, localLink: { port: '1', receive: '9', transmit: '10', baud: '9600' } }).localLink).toEqual({ port: 1, receive: 9, transmit: 10, baud: 9600 });
  });

  it('A2: rejects a local link on the console UART, on one pin, at an odd baud rate, or malformed', () => {
    const link = { port: 2, receive: 16, transmit: 17, baud: 115200 };
    expect(parseFirmwareConfig({ ...BASE, localLink: { ...link, port: 0 } })).toMatch(/^localLink\.port/);
    expect(parseFirmwareConfig({ ...BASE, localLink: { ...link, transmit: 16 } })).toMatch(/same GPIO/);
    expect(parseFirmwareConfig({ ...BASE, localLink: { ...link, baud: 100000 } })).toMatch(/^localLink\.baud/);
    expect(parseFirmwareConfig({ ...BASE, localLink: { ...link, receive: undefined } })).toMatch(/^localLink\.receive/);
    expect(parseFirmwareConfig({ ...BASE, localLink: 'uart2' })).toMatch(/^localLink: expected/);
  });

  it('A2: the simulator\'s link is a TCP port (linkPort, a number or an mcconfig string), for loopback peers unless linkAddress says any', () => {
    expect(parsed({ ...BASE, linkPort: 9000 }).tcpLink).toEqual({ port: 9000, address: '127.0.0.1' });
    expect(parsed({ ...BASE, linkPort: '9123', linkAddress: '0.0.0.0' }).tcpLink).toEqual({ port: 9123, address: '0.0.0.0' });
    expect(parseFirmwareConfig({ ...BASE, linkPort: 0 })).toMatch(/^linkPort: expected an integer from 1 to 65535/);
    expect(parseFirmwareConfig({ ...BASE, linkPort: '90000' })).toMatch(/^linkPort:/);
    expect(parseFirmwareConfig({ ...BASE, linkPort: 9000, linkAddress: '192.168.1.5' })).toMatch(/^linkAddress: expected 127\.0\.0\.1 \(loopback only\) or 0\.0\.0\.0/);
  });

  it('A2: refuses a local link sharing a UART or a GPIO with the card reader or the keypad', () => {
    const link = { port: 2, receive: 16, transmit: 17, baud: 115200 };
    const keypad = { rows: [13, 12, 14, 27], columns: [26, 25, 33], keys: PAD_4X3 };
    expect(parseFirmwareConfig({ ...BASE, localLink: link, cardReader: { port: 2, receive: 4, baud: 9600 } })).toMatch(/UART 2 is the card reader's/);
    expect(parseFirmwareConfig({ ...BASE, localLink: link, cardReader: { port: 1, receive: 16, baud: 9600 } })).toMatch(/GPIO is also wired/);
    expect(parseFirmwareConfig({ ...BASE, localLink: { ...link, transmit: 27 }, keypad })).toMatch(/GPIO is also wired/);
    expect(parsed({ ...BASE, localLink: link, keypad, cardReader: { port: 1, receive: 4, baud: 9600 } }).localLink).toEqual(link);
  });

  describe('program updates (B1, B5: vendor keys, model, schedule)', () => {
    const vendor = toHex(generateP256KeyPair(seededRng(asciiToBytes('config vendor'))).publicKey);
    const other = toHex(generateP256KeyPair(seededRng(asciiToBytes('config vendor 2'))).publicKey);

    it('B1: vendor keys (comma-separated hex), the model, and the program by default', () => {
      const update = parsed({ ...BASE, vendorKeys: `${vendor}, ${other}`, model: 'PP-ESP32' }).update;
      expect(update).toMatchObject({ model: 'PP-ESP32', programName: 'paypad-firmware', schedule: null });
      expect(update!.vendorKeys.map((k) => toHex(k))).toEqual([vendor, other]);
    });

    it('B5: the schedule, daily or on a weekday, in local time with its UTC offset', () => {
      const at = (updateSchedule: string) => parsed({ ...BASE, vendorKeys: vendor, model: 'PP-ESP32', updateSchedule }).update!.schedule;
      expect(at('daily@03:00')).toEqual({ every: 'day', at: '03:00', utcOffsetMinutes: 0 });
      expect(at('fri@17:00+08:00')).toEqual({ every: 'week', weekday: 5, at: '17:00', utcOffsetMinutes: 480 });
      expect(at('sun@23:59-05:30')).toEqual({ every: 'week', weekday: 0, at: '23:59', utcOffsetMinutes: -330 });
    });

    it('B1 B5: refuses a schedule without vendor keys, a key that is not a P-256 point, no model, a malformed schedule', () => {
      expect(parseFirmwareConfig({ ...BASE, updateSchedule: 'daily@03:00' })).toMatch(/^updateSchedule: needs vendorKeys/);
      expect(parseFirmwareConfig({ ...BASE, vendorKeys: vendor.slice(2), model: 'PP-ESP32' })).toMatch(/^vendorKeys: expected 65 bytes/);
      expect(parseFirmwareConfig({ ...BASE, vendorKeys: vendor })).toMatch(/^model: /);
      expect(parseFirmwareConfig({ ...BASE, vendorKeys: vendor, model: 'PP ESP32' })).toMatch(/model/);
      for (const bad of ['daily', 'daily@24:00', 'friday@17:00', 'daily@3:00', 'daily@03:00+15:00', 'daily@03:00 +08:00']) {
        expect(parseFirmwareConfig({ ...BASE, vendorKeys: vendor, model: 'PP-ESP32', updateSchedule: bad })).toMatch(/^updateSchedule: /);
      }
    });
  });

  describe('manufacture identity (A2, A10: serial and pinned MTMS key)', () => {
    const mtms = generateP256KeyPair(seededRng(new TextEncoder().encode('config mtms')));
    // Opaque DER-shaped bytes: the config only carries them; provisionTerminal and TLS judge them.
    const caDer = new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x05]);
    const IDENTITY = { terminalSerial: 'PP-0001-0042', mtmsKey: toHex(mtms.publicKey), kmsUrl: 'https://kms.acme.example:8443', caCertificate: toHex(caDer) };

    it('A2: the four keys give the identity as bytes, hex in either case', () => {
      const c = parsed({ ...BASE, ...IDENTITY, mtmsKey: IDENTITY.mtmsKey.toLowerCase() });
      expect(c.manufacture).toEqual({ serial: 'PP-0001-0042', mtmsPublicKey: mtms.publicKey, kmsUrl: 'https://kms.acme.example:8443', trustAnchor: caDer });
    });

    it('A2: some but not all of the keys is a mistake, named by the missing ones', () => {
      expect(parseFirmwareConfig({ ...BASE, terminalSerial: 'PP-1' })).toMatch(/^mtmsKey, kmsUrl, caCertificate: missing/);
      expect(parseFirmwareConfig({ ...BASE, ...IDENTITY, caCertificate: undefined })).toMatch(/^caCertificate: missing/);
    });

    it('A10: refuses an MTMS key that is not 65 bytes of hex and a CA that is not hex or too large', () => {
      expect(parseFirmwareConfig({ ...BASE, ...IDENTITY, mtmsKey: IDENTITY.mtmsKey.slice(2) })).toMatch(/^mtmsKey: expected 65 bytes/);
      expect(parseFirmwareConfig({ ...BASE, ...IDENTITY, mtmsKey: `${IDENTITY.mtmsKey.slice(0, -1)}G` })).toMatch(/^mtmsKey/);
      expect(parseFirmwareConfig({ ...BASE, ...IDENTITY, caCertificate: '308' })).toMatch(/^caCertificate/);
      expect(parseFirmwareConfig({ ...BASE, ...IDENTITY, caCertificate: '30'.repeat(4001) })).toMatch(/^caCertificate: expected 2 to 4000 bytes/);
      expect(parseFirmwareConfig({ ...BASE, ...IDENTITY, terminalSerial: '' })).toMatch(/^terminalSerial/);
    });
  });
});
