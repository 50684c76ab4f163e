import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { describeDatabase, loadConfig } from '../../../host/config';
import { isPaypadError } from '../../../shared/errors';

function configError(env: Record<string, string>): Error {
  try {
    loadConfig(env, '/srv/paypad');
  } catch (e) {
    expect(isPaypadError(e, 'CONFIG_INVALID')).toBe(true);
    return e as Error;
  }
  throw new Error('expected CONFIG_INVALID');
}

describe('host config', () => {
  it('X4: works with nothing set: loopback, ports 8780 / MTMS 8781 / KMSs from 8790, SQLite under ./data with demo data, info logs', () => {
    expect(loadConfig({}, '/srv/paypad')).toEqual({
      host: '127.0.0.1',
      port: 8780,
      mtmsPort: 8781,
      kmsBasePort: 8790,
      dataDir: '/srv/paypad/data',
      database: { dialect: 'sqlite', file: '/srv/paypad/data/paypad.sqlite' },
      logLevel: 'info',
      demoData: true,
      listeners: { headersTimeoutMs: 10_000, requestTimeoutMs: 30_000, idleTimeoutMs: 5_000, maxConnections: 512 },
      lookupLimits: { bucketSize: 100, refillPerMinute: 2, missCost: 20 },
      hsm: { kind: 'software' },
    });
  });

  it('reads every variable, and treats empty ones as unset', () => {
    const config = loadConfig(
      {
        PAYPAD_HOST: '0.0.0.0',
        PAYPAD_PORT: '0',
        PAYPAD_MTMS_PORT: '0',
        PAYPAD_KMS_BASE_PORT: '9100',
        PAYPAD_DATA_DIR: '/var/lib/paypad',
        DATABASE_URL: 'postgres://paypad:pw@db:5432/paypad',
        LOG_LEVEL: 'DEBUG',
        PAYPAD_DEMO_DATA: '1',
        PAYPAD_HEADERS_TIMEOUT_MS: '2000',
        PAYPAD_REQUEST_TIMEOUT_MS: '4000',
        PAYPAD_IDLE_TIMEOUT_MS: '1000',
        PAYPAD_MAX_CONNECTIONS: '64',
        PAYPAD_LOOKUP_BUCKET_SIZE: '40',
        PAYPAD_LOOKUP_REFILL_PER_MINUTE: '12',
        PAYPAD_LOOKUP_MISS_COST: '10',
        PAYPAD_HSM: 'pkcs11',
        PAYPAD_PKCS11_LIBRARY: '/usr/lib/softhsm/libsofthsm2.so',
        PAYPAD_PKCS11_TOKEN_LABEL: 'paypad',
        PAYPAD_PKCS11_PIN_FILE: 'secrets/hsm.pin',
      },
      '/srv/paypad',
    );
    expect(config).toEqual({
      host: '0.0.0.0',
      port: 0,
      mtmsPort: 0,
      kmsBasePort: 9100,
      dataDir: '/var/lib/paypad',
      database: { dialect: 'postgres', url: 'postgres://paypad:pw@db:5432/paypad' },
      logLevel: 'debug',
      demoData: true,
      listeners: { headersTimeoutMs: 2_000, requestTimeoutMs: 4_000, idleTimeoutMs: 1_000, maxConnections: 64 },
      lookupLimits: { bucketSize: 40, refillPerMinute: 12, missCost: 10 },
      hsm: { kind: 'pkcs11', library: '/usr/lib/softhsm/libsofthsm2.so', tokenLabel: 'paypad', pin: { file: '/srv/paypad/secrets/hsm.pin' } },
    });
    expect(loadConfig({ PAYPAD_HOST: '', PAYPAD_PORT: ' ', DATABASE_URL: '' }, '/srv/paypad')).toMatchObject({ host: '127.0.0.1', port: 8780, database: { dialect: 'sqlite' } });
  });

  it('refuses listener limits that are not positive integers, or a headers timeout above the request timeout', () => {
    for (const name of ['PAYPAD_HEADERS_TIMEOUT_MS', 'PAYPAD_REQUEST_TIMEOUT_MS', 'PAYPAD_IDLE_TIMEOUT_MS', 'PAYPAD_MAX_CONNECTIONS']) {
      for (const bad of ['0', '-5', '1.5', 'ten', '99999999999']) expect(configError({ [name]: bad }).message).toMatch(new RegExp(`^${name} must be an integer from 1 to`));
    }
    expect(configError({ PAYPAD_HEADERS_TIMEOUT_MS: '40000' }).message).toMatch(/PAYPAD_HEADERS_TIMEOUT_MS \(40000\) must not exceed PAYPAD_REQUEST_TIMEOUT_MS \(30000\)/);
  });

  it('A14: refuses lookup limits that are not positive integers, or a miss that costs more than a full bucket', () => {
    for (const name of ['PAYPAD_LOOKUP_BUCKET_SIZE', 'PAYPAD_LOOKUP_REFILL_PER_MINUTE', 'PAYPAD_LOOKUP_MISS_COST']) {
      for (const bad of ['0', '-5', '1.5', 'ten', '99999999999']) expect(configError({ [name]: bad }).message).toMatch(new RegExp(`^${name} must be an integer from 1 to`));
    }
    expect(configError({ PAYPAD_LOOKUP_BUCKET_SIZE: '10', PAYPAD_LOOKUP_MISS_COST: '11' }).message).toBe('PAYPAD_LOOKUP_MISS_COST must be an integer from 1 to 10, got "11"');
  });

  it('HSM: the software HSM unless PAYPAD_HSM=pkcs11, which needs a library, a token label and one PIN source, never echoing the PIN', () => {
    const token = { PAYPAD_HSM: 'pkcs11', PAYPAD_PKCS11_LIBRARY: '/lib/p11.so', PAYPAD_PKCS11_TOKEN_LABEL: 'paypad' };
    expect(loadConfig({ ...token, PAYPAD_PKCS11_PIN: 'secret-pin-4711' }, '/srv/paypad').hsm).toEqual({ ...{ kind: 'pkcs11', library: '/lib/p11.so', tokenLabel: 'paypad' }, pin: { value: 'secret-pin-4711' } });
    expect(configError({ PAYPAD_HSM: 'luna' }).message).toMatch(/PAYPAD_HSM must be one of software, pkcs11/);
    expect(configError({ ...token, PAYPAD_PKCS11_LIBRARY: '' }).message).toMatch(/PAYPAD_PKCS11_LIBRARY/);
    expect(configError({ ...token, PAYPAD_PKCS11_TOKEN_LABEL: '' }).message).toMatch(/PAYPAD_PKCS11_TOKEN_LABEL/);
    expect(configError(token).message).toMatch(/exactly one of PAYPAD_PKCS11_PIN/);
    const both = configError({ ...token, PAYPAD_PKCS11_PIN: 'secret-pin-4711', PAYPAD_PKCS11_PIN_FILE: '/pin' });
    expect(both.message).toMatch(/exactly one of PAYPAD_PKCS11_PIN/);
    expect(both.message).not.toContain('secret-pin-4711');
  });

  it('accepts IPv6 literals, host names, postgresql:// and a Unix socket host', () => {
    expect(loadConfig({ PAYPAD_HOST: '::1' }).host).toBe('::1');
    expect(loadConfig({ PAYPAD_HOST: 'pos-host.example.com' }).host).toBe('pos-host.example.com');
    expect(loadConfig({ DATABASE_URL: 'postgresql://db.internal/paypad' }).database.dialect).toBe('postgres');
    expect(loadConfig({ DATABASE_URL: 'postgres:///paypad?host=/run/postgresql' }).database.dialect).toBe('postgres');
  });

  it('resolves a relative data directory against the working directory', () => {
    const config = loadConfig({ PAYPAD_DATA_DIR: 'state' }, '/srv/paypad');
    expect(config.dataDir).toBe(resolve('/srv/paypad', 'state'));
    expect(config.database).toEqual({ dialect: 'sqlite', file: join('/srv/paypad/state', 'paypad.sqlite') });
  });

  it('refuses ports that are not integers from 0 to 65535, naming the variable', () => {
    for (const port of ['65536', '-1', '80.5', 'http', '0x50', '1e3', '999999']) {
      expect(configError({ PAYPAD_PORT: port }).message).toMatch(/PAYPAD_PORT \(--port\) .* 0 to 65535/);
      expect(configError({ PAYPAD_MTMS_PORT: port }).message).toMatch(/^PAYPAD_MTMS_PORT .* 0 to 65535/);
      expect(configError({ PAYPAD_KMS_BASE_PORT: port }).message).toMatch(/^PAYPAD_KMS_BASE_PORT .* 0 to 65535/);
    }
  });

  it('refuses MTMS on the HTTP port, unless both are 0 (any free port)', () => {
    expect(configError({ PAYPAD_PORT: '9000', PAYPAD_MTMS_PORT: '9000' }).message).toMatch(/PAYPAD_MTMS_PORT must differ from PAYPAD_PORT/);
    expect(configError({ PAYPAD_MTMS_PORT: '8780' }).message).toMatch(/both are 8780/);
    expect(loadConfig({ PAYPAD_PORT: '0', PAYPAD_MTMS_PORT: '0' })).toMatchObject({ port: 0, mtmsPort: 0 });
  });

  it('demo data: on by default on SQLite only, PAYPAD_DEMO_DATA=0/1 overrides, anything else is refused', () => {
    const pg = 'postgres://paypad@db/paypad';
    expect(loadConfig({}).demoData).toBe(true);
    expect(loadConfig({ DATABASE_URL: pg }).demoData).toBe(false);
    expect(loadConfig({ PAYPAD_DEMO_DATA: '0' }).demoData).toBe(false);
    expect(loadConfig({ DATABASE_URL: pg, PAYPAD_DEMO_DATA: '1' }).demoData).toBe(true);
    expect(loadConfig({ PAYPAD_DEMO_DATA: ' ' }).demoData).toBe(true);
    for (const bad of ['yes', 'true', 'off', '2']) expect(configError({ PAYPAD_DEMO_DATA: bad }).message).toMatch(/PAYPAD_DEMO_DATA must be 1 .* or 0/);
  });

  it('refuses host values that are neither an IP nor a host name', () => {
    for (const host of ['http://x', 'a b', 'host:80', '-bad', 'x'.repeat(300)]) {
      expect(configError({ PAYPAD_HOST: host }).message).toMatch(/PAYPAD_HOST/);
    }
  });

  it('refuses unknown log levels', () => {
    expect(configError({ LOG_LEVEL: 'verbose' }).message).toMatch(/LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent/);
  });

  it('X1: refuses a bad DATABASE_URL without echoing it (it may hold a password)', () => {
    for (const url of ['mysql://root:s3cr3t-pw@db/paypad', 'not a url s3cr3t-pw', 'postgres://user:s3cr3t-pw@db', 'postgres://user:s3cr3t-pw@/paypad']) {
      const error = configError({ DATABASE_URL: url });
      expect(error.message).toMatch(/DATABASE_URL/);
      expect(error.message).not.toContain('s3cr3t-pw');
    }
  });

  it('X1: describes the database for logs without credentials', () => {
    expect(describeDatabase({ dialect: 'postgres', url: 'postgres://paypad:s3cr3t-pw@db:5432/paypad?sslmode=require' })).toBe('postgres://db:5432/paypad');
    expect(describeDatabase({ dialect: 'sqlite', file: '/data/paypad.sqlite' })).toBe('sqlite:/data/paypad.sqlite');
  });
});
