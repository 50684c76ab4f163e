/** C9: operator actions on /mobile (reconciliation, the simulated phones' codes) answer only callers on the host's machine. */
import type { Request, Response } from 'express';
import { describe, expect, it } from 'vitest';
import { loopbackOnly } from '../../../host/payments/mobile/router';

const from = (remoteAddress: string | undefined) => ({ socket: { remoteAddress } }) as unknown as Request;

describe('C9: loopbackOnly', () => {
  const guard = loopbackOnly('operators only');
  it.each([['127.0.0.1'], ['127.1.2.3'], ['::1'], ['::ffff:127.0.0.1']])('C9: %s is let through', (address) => {
    let passed = false;
    guard(from(address), {} as Response, () => void (passed = true));
    expect(passed).toBe(true);
  });
  it.each([['10.0.0.5'], ['192.168.1.20'], ['::ffff:10.0.0.5'], ['fe80::1'], ['128.0.0.1'], [undefined]])('C9: %s is OPERATOR_ONLY', (address) => {
    expect(() => guard(from(address), {} as Response, () => undefined)).toThrow(expect.objectContaining({ code: 'OPERATOR_ONLY' }));
  });
});
