import { afterEach, describe, expect, it, vi } from 'vitest';

describe('X3 power-up crypto self-test', () => {
  afterEach(() => {
    vi.doUnmock('../../../shared/crypto/primitives');
    vi.resetModules();
  });

  it('passes on the compact primitives', async () => {
    const { selfTestPrimitives } = await import('../../../shared/crypto/selfTest');
    expect(() => selfTestPrimitives()).not.toThrow();
  });

  for (const broken of ['aesEncryptEcb', 'aesDecryptCbc', 'sha256', 'p256PublicKey', 'p256SharedSecretX'] as const) {
    it(`stops with CRYPTO_SELF_TEST_FAILED when ${broken} answers wrongly (one flipped bit)`, async () => {
      vi.resetModules();
      vi.doMock('../../../shared/crypto/primitives', async (importOriginal) => {
        const real = await importOriginal<typeof import('../../../shared/crypto/primitives')>();
        const wrong = (...args: never[]) => {
          const out = (real[broken] as (...a: never[]) => Uint8Array)(...args);
          out[out.length - 1] ^= 1;
          return out;
        };
        return { ...real, [broken]: wrong };
      });
      const { selfTestPrimitives } = await import('../../../shared/crypto/selfTest');
      expect(() => selfTestPrimitives()).toThrow(expect.objectContaining({ code: 'CRYPTO_SELF_TEST_FAILED' }));
    });
  }
});
