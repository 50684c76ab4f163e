/**
 * The startup check of the manifest "config" block, including values given on the mcconfig
 * command line (strings) and board wiring for keypad and card reader.
 */
import { describe, expect, it } from 'vitest';
import { parseFirmwareConfig, type FirmwareConfig } from '../../../firmware/hal/moddable/config';

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
});
