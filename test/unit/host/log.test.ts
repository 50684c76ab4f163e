import { describe, expect, it } from 'vitest';
import { findSecretField, isSecretField, MAX_LOG_DEPTH, redactSecrets, SECRET_FIELDS } from '../../../host/redact';
import { PaypadError } from '../../../shared/errors';
import { captureLogger } from './helpers/captureLogger';

// A distinct, greppable value per field and depth: if any appears in a log line, redaction failed.
const sentinel = (field: string, depth: number) => `SENTINEL-${field}-${depth}-7E3A`;

/** { field: v0, n: { field: v1, n: { ... } } } down to `depth`. */
function nested(field: string, depth: number): Record<string, unknown> {
  let object: Record<string, unknown> = { [field]: sentinel(field, depth), visible: `ok-${depth}` };
  for (let d = depth - 1; d >= 0; d--) object = { [field]: sentinel(field, d), visible: `ok-${d}`, n: object };
  return object;
}

describe('X1: logs never show secret values', () => {
  it('censors every secret field at every depth, in objects, arrays, child bindings and errors', () => {
    const { logger, lines } = captureLogger();
    for (const field of SECRET_FIELDS) {
      logger.info(nested(field, 8), 'nested object');
      logger.info({ list: [{ [field]: sentinel(field, 101) }, [{ [field]: sentinel(field, 102) }]] }, 'arrays');
      logger.child({ [field]: sentinel(field, 103), ctx: { [field]: sentinel(field, 104) } }).info('child bindings');
      const grandchild = logger.child({ role: 'kms' }).child({ [field]: sentinel(field, 109) });
      grandchild.setBindings({ later: { [field]: sentinel(field, 110) } });
      grandchild.info('grandchild bindings');
      const err = Object.assign(new PaypadError('KEY_UNWRAP_FAILED', 'unwrap failed'), { [field]: sentinel(field, 105) });
      logger.error({ err, cause: { detail: { [field]: sentinel(field, 106) } } }, 'error object');
      logger.error(Object.assign(new Error('bare error', { cause: { [field]: sentinel(field, 107) } }), { [field]: sentinel(field, 108) }));
    }
    const output = lines.join('');
    expect(output).not.toMatch(/SENTINEL-/);
    expect(output).toContain('[REDACTED]');
    // Non-secret neighbours still come through, and errors keep their code and stack for operators.
    expect(output).toContain('"visible":"ok-8"');
    expect(output).toContain('"code":"KEY_UNWRAP_FAILED"');
    expect(output).toContain('"stack":"PaypadError: unwrap failed');
  });

  it('censors whatever the spelling: UPPER, snake_case, kebab-case and HTTP header names', () => {
    const { logger, lines } = captureLogger();
    logger.info({
      PIN: sentinel('PIN', 0),
      pin_block: sentinel('pin_block', 0),
      'Pin-Block': sentinel('Pin-Block', 0),
      PRIVATE_KEY: sentinel('PRIVATE_KEY', 0),
      headers: { authorization: sentinel('authorization', 1), Cookie: sentinel('Cookie', 1), 'set-cookie': [sentinel('set-cookie', 1)], 'X-Api-Key': sentinel('X-Api-Key', 1) },
    });
    expect(lines.join('')).not.toMatch(/SENTINEL-/);
  });

  it('logs bytes as their length only, whatever the field is called', () => {
    const { logger, lines } = captureLogger();
    const keyBytes = Uint8Array.from([0xde, 0xad, 0xbe, 0xef]);
    logger.info({ innocuous: keyBytes, buf: Buffer.from('secret-bytes'), ab: keyBytes.buffer }, 'bytes');
    const [entry] = lines.map((l) => JSON.parse(l));
    expect(entry).toMatchObject({ innocuous: '[BYTES 4]', buf: '[BYTES 12]', ab: '[BYTES 4]' });
    expect(lines[0]).not.toContain('secret-bytes');
  });

  it('survives cycles and absurd depth without leaking or hanging', () => {
    const { logger, lines } = captureLogger();
    const cyclic: Record<string, unknown> = { name: 'loop' };
    cyclic.self = cyclic;
    const deep = nested('pan', MAX_LOG_DEPTH + 10);
    logger.info({ cyclic, deep });
    expect(lines.join('')).not.toMatch(/SENTINEL-/);
    expect(lines[0]).toContain('[CIRCULAR]');
    expect(lines[0]).toContain('[TOO DEEP]');
  });

  it('never modifies the object it was given', () => {
    const { logger } = captureLogger();
    const input = { pan: '4111111111111111', nested: { tmk: 'AA' } };
    logger.info(input);
    expect(input).toEqual({ pan: '4111111111111111', nested: { tmk: 'AA' } });
  });

  it('respects the level: nothing below it is written', () => {
    const { logger, lines } = captureLogger('warn');
    logger.info('quiet');
    logger.warn('loud');
    expect(lines).toHaveLength(1);
  });
});

describe('secret field names', () => {
  it('match ignoring case, "-" and "_"', () => {
    for (const name of ['pan', 'PAN', 'pinBlock', 'PIN_BLOCK', 'pin-block', 'Set-Cookie', 'privateKey', 'private_key']) expect(isSecretField(name)).toBe(true);
    for (const name of ['kcv', 'keyId', 'panLast4', 'pins', 'status', 'serial']) expect(isSecretField(name)).toBe(false);
  });

  it('findSecretField finds the first at any depth and ignores array indices and cycles', () => {
    expect(findSecretField({ a: [{ b: { TRACK2: 'x' } }] })).toBe('TRACK2');
    expect(findSecretField({ a: ['pan', 'pin'], kcv: 'ABC' })).toBeUndefined();
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(findSecretField(cyclic)).toBeUndefined();
    expect(findSecretField('pan')).toBeUndefined();
  });

  it('redactSecrets follows toJSON the way JSON.stringify does', () => {
    const when = new Date(Date.UTC(2025, 0, 1));
    expect(redactSecrets({ when, wrapped: { toJSON: () => ({ tk: 'x', kcv: 'ABC' }) } })).toEqual({ when: '2025-01-01T00:00:00.000Z', wrapped: { tk: '[REDACTED]', kcv: 'ABC' } });
  });
});
