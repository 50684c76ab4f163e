/**
 * Requests checked before they reach Moddable's HTTP client: URL forms the ECMA-419 client and
 * resolver can serve, header smuggling, framing headers, TLS option pairs.
 */
import { describe, expect, it } from 'vitest';
import type { HttpRequest } from '../../../firmware/hal/http';
import {
  HTTP_DEFAULT_MAX_RESPONSE_BYTES,
  HTTP_DEFAULT_TIMEOUT_MS,
  isIpv4,
  parseHttpUrl,
  prepareHttpRequest,
  type PreparedHttpRequest,
} from '../../../firmware/hal/moddable/httpRequest';

function prepared(request: HttpRequest): PreparedHttpRequest {
  const result = prepareHttpRequest(request);
  if (typeof result === 'string') throw new Error(result);
  return result;
}

describe('URL parsing', () => {
  it('splits https and http URLs, with default ports and paths', () => {
    expect(parseHttpUrl('https://paypad-host.local:8443/v1/terminals?x=1')).toEqual({
      secure: true,
      host: 'paypad-host.local',
      port: 8443,
      path: '/v1/terminals?x=1',
    });
    expect(parseHttpUrl('http://10.0.0.5')).toEqual({ secure: false, host: '10.0.0.5', port: 80, path: '/' });
    expect(parseHttpUrl('https://Host.Example')).toEqual({ secure: true, host: 'host.example', port: 443, path: '/' });
  });

  it('rejects what the device client cannot reach or should not send', () => {
    for (const url of [
      'ftp://host/',
      'https://user:pw@host/',
      'https://[::1]:8443/',
      'https://host/path#fragment',
      'https://host:0/',
      'https://host:65536/',
      'https://host/a b',
      'https://.host/',
      'https://host..example/',
      'host/path',
      '',
      'https://',
      'https://:8443/',
      'https://host:/',
      'https://host:123456/',
      'https://host:8a/',
      'https://host:1:2/',
      'https://ho_st/',
      'https://host/a\tb',
      'https://host/a\u0000',
      'HTTPS://host/',
      'https:/host/',
    ]) {
      expect(typeof parseHttpUrl(url), url).toBe('string');
    }
  });

  it('recognises dotted IPv4 literals only when every part is 0-255', () => {
    expect(isIpv4('192.168.1.20')).toBe(true);
    expect(isIpv4('256.1.1.1')).toBe(false);
    expect(isIpv4('1.2.3')).toBe(false);
    expect(isIpv4('paypad.local')).toBe(false);
    for (const host of ['1.2.3.4.5', '1..3.4', '1.2.3.', '1.2.3.0004', '1.2.3.-4', '1.2.3.4 ', '0x7f.0.0.1']) expect(isIpv4(host), host).toBe(false);
    expect(isIpv4('0.0.0.0')).toBe(true);
    expect(isIpv4('255.255.255.255')).toBe(true);
  });

  it('keeps the path and query as sent, and reads ports with leading zeros as decimal', () => {
    expect(parseHttpUrl('http://127.0.0.1:08443/tms/v1/chunks?from=0&to=4095')).toEqual({ secure: false, host: '127.0.0.1', port: 8443, path: '/tms/v1/chunks?from=0&to=4095' });
    expect(parseHttpUrl('https://h:65535')).toEqual({ secure: true, host: 'h', port: 65535, path: '/' });
  });
});

describe('request preparation', () => {
  it('sets content-length from the body and applies defaults', () => {
    const p = prepared({ method: 'POST', url: 'https://h/x', headers: { 'content-type': 'application/json' }, body: new Uint8Array(5) });
    expect([...p.headers]).toEqual([
      ['content-type', 'application/json'],
      ['content-length', '5'],
    ]);
    expect(p.timeoutMs).toBe(HTTP_DEFAULT_TIMEOUT_MS);
    expect(p.maxResponseBytes).toBe(HTTP_DEFAULT_MAX_RESPONSE_BYTES);
  });

  it('refuses header values with CR, LF or NUL (request smuggling)', () => {
    for (const value of ['a\r\nx-evil: 1', 'a\nb', 'a\u0000b']) {
      expect(prepareHttpRequest({ method: 'GET', url: 'http://h/', headers: { 'x-serial': value } })).toMatch(/without CR, LF or NUL/);
    }
  });

  it('refuses upper-case or malformed header names and the framing headers the client owns', () => {
    expect(prepareHttpRequest({ method: 'GET', url: 'http://h/', headers: { 'Content-Type': 'x' } })).toMatch(/lower-case token/);
    expect(prepareHttpRequest({ method: 'GET', url: 'http://h/', headers: { 'x y': 'x' } })).toMatch(/lower-case token/);
    for (const name of ['host', 'content-length', 'transfer-encoding', 'connection']) {
      expect(prepareHttpRequest({ method: 'GET', url: 'http://h/', headers: { [name]: '1' } })).toMatch(/set by the HTTP client/);
    }
  });

  it('refuses bad methods, bodies, timeouts and limits', () => {
    expect(prepareHttpRequest({ method: 'PATCH' as 'GET', url: 'http://h/' })).toMatch(/method/);
    expect(prepareHttpRequest({ method: 'GET', url: 'http://h/', body: new Uint8Array(1) })).toMatch(/GET request has no body/);
    expect(prepareHttpRequest({ method: 'POST', url: 'http://h/', body: 'text' as unknown as Uint8Array })).toMatch(/Uint8Array/);
    for (const timeoutMs of [0, -1, 1.5, 86_400_001, Number.NaN]) {
      expect(prepareHttpRequest({ method: 'GET', url: 'http://h/', timeoutMs }), String(timeoutMs)).toMatch(/timeoutMs/);
    }
    expect(prepareHttpRequest({ method: 'GET', url: 'http://h/', maxResponseBytes: -1 })).toMatch(/maxResponseBytes/);
  });

  it('takes TLS options for https only, with certificate and key together (CN103714640A mutual TLS)', () => {
    const der = new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x01]);
    expect(prepared({ method: 'GET', url: 'https://h/', tls: { trustAnchor: der, clientCertificate: der, clientKey: der } }).tls).toBeDefined();
    expect(prepareHttpRequest({ method: 'GET', url: 'http://h/', tls: { trustAnchor: der } })).toMatch(/http:\/\/ URL/);
    expect(prepareHttpRequest({ method: 'GET', url: 'https://h/', tls: { clientCertificate: der } })).toMatch(/go together/);
    expect(prepareHttpRequest({ method: 'GET', url: 'https://h/', tls: { trustAnchor: new Uint8Array(0) } })).toMatch(/non-empty DER/);
  });
});
