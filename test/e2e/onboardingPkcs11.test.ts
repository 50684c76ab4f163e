/**
 * The whole System A e2e suite (onboarding.test.ts) once more with every HSM of the host on
 * PKCS#11: MTMS and each KMS keep their master keys in a SoftHSM2 token this run initialises in a
 * temporary SOFTHSM2_CONF directory. Skipped, saying why, where SoftHSM2 is not installed.
 */
import { afterAll, describe, it } from 'vitest';
import { disposeSoftHsmToken, softHsmMissing } from '../support/softHsmToken';

const missing = softHsmMissing();
if (missing === undefined) {
  process.env.PAYPAD_E2E_HSM = 'pkcs11';
  // Registered first, so it runs after the suite's own afterAll has closed the host.
  afterAll(disposeSoftHsmToken);
  // Imported after the variable is set: the suite reads it as it loads.
  await import('./onboarding.test');
} else {
  describe('issue 7: System A onboarding end to end with the PKCS#11 HSM', () => {
    it.skip(`skipped: ${missing}`, () => {});
  });
}
