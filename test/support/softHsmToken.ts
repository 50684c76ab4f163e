/**
 * A SoftHSM2 token of this test run's own: a temporary directory with its softhsm2.conf and token
 * store, SOFTHSM2_CONF pointing at it (SoftHSM reads it at C_Initialize), and one token initialised
 * with softhsm2-util. Each HSM a test opens gets its own key label, so its own master key.
 * No test-runner dependency: benchmarks use it too.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pkcs11js from 'pkcs11js';
import { parseKeyBlockHeader } from '../../shared/crypto/tr31Header';
import type { UnwrappedKey } from '../../shared/crypto/tr31';
import type { HsmConfig, KeyHandle } from '../../host/hsm/index';

export const SOFTHSM_LIBRARY = process.env.PAYPAD_PKCS11_LIBRARY ?? '/usr/lib/softhsm/libsofthsm2.so';
const TOKEN_LABEL = 'paypad-test';
const PIN = '246810';
const SO_PIN = '13579135';

/** Why the PKCS#11 tests cannot run here, or undefined. */
export function softHsmMissing(): string | undefined {
  if (!existsSync(SOFTHSM_LIBRARY)) return `SoftHSM2 is not installed (no ${SOFTHSM_LIBRARY}; apt-get install softhsm2)`;
  try {
    execFileSync('softhsm2-util', ['--version'], { stdio: 'ignore' });
  } catch {
    return 'SoftHSM2 is not installed (no softhsm2-util on PATH; apt-get install softhsm2)';
  }
  return undefined;
}

let token: Promise<string> | undefined;
let dir: string | undefined;
let labels = 0;

/** Removes this run's token directory (its user calls this when done: a test file's afterAll, a benchmark's close). */
export async function disposeSoftHsmToken(): Promise<void> {
  const done = dir;
  token = undefined;
  dir = undefined;
  if (done) await rm(done, { recursive: true, force: true });
}

/** Initialises this run's token once; answers its directory. */
function ensureToken(): Promise<string> {
  token ??= (async () => {
    dir = await mkdtemp(join(tmpdir(), 'paypad-softhsm-'));
    await mkdir(join(dir, 'tokens'), { mode: 0o700 });
    const conf = join(dir, 'softhsm2.conf');
    await writeFile(conf, `directories.tokendir = ${join(dir, 'tokens')}\nobjectstore.backend = file\nlog.level = ERROR\n`);
    process.env.SOFTHSM2_CONF = conf;
    execFileSync('softhsm2-util', ['--init-token', '--free', '--label', TOKEN_LABEL, '--pin', PIN, '--so-pin', SO_PIN], { stdio: 'ignore' });
    return dir;
  })();
  return token;
}

/** The createHsm configuration of a new HSM on this run's token. */
export async function softHsmConfig(): Promise<HsmConfig> {
  await ensureToken();
  labels++;
  return { kind: 'pkcs11', library: SOFTHSM_LIBRARY, tokenLabel: TOKEN_LABEL, pin: { value: PIN }, keyLabel: `test-${process.pid}-${labels}` };
}

/** The host configuration variables (host/config.ts) that put a host's HSMs on this run's token. */
export async function softHsmHostEnv(): Promise<Record<string, string>> {
  await ensureToken();
  return { PAYPAD_HSM: 'pkcs11', PAYPAD_PKCS11_LIBRARY: SOFTHSM_LIBRARY, PAYPAD_PKCS11_TOKEN_LABEL: TOKEN_LABEL, PAYPAD_PKCS11_PIN: PIN };
}

/**
 * Test oracle for a token key block: unwraps its body with the master key into a readable session
 * object and reads the value. The token allows it to whoever holds the PIN (SoftHSM2 enforces no
 * unwrap template); a production HSM's policy would not, which is why only a test does this.
 */
export async function openWithToken(config: HsmConfig, handle: KeyHandle): Promise<UnwrappedKey> {
  if (config.kind !== 'pkcs11') throw new Error('not a PKCS#11 configuration');
  const module = new pkcs11js.PKCS11();
  module.load(config.library);
  try {
    module.C_Initialize();
  } catch (e) {
    if (!(e instanceof pkcs11js.Pkcs11Error && e.code === pkcs11js.CKR_CRYPTOKI_ALREADY_INITIALIZED)) throw e;
  }
  const slot = module.C_GetSlotList(true).find((s) => module.C_GetTokenInfo(s).label.trim() === config.tokenLabel);
  if (!slot) throw new Error('no test token');
  const session = module.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
  try {
    try {
      module.C_Login(session, pkcs11js.CKU_USER, PIN);
    } catch (e) {
      if (!(e instanceof pkcs11js.Pkcs11Error && e.code === pkcs11js.CKR_USER_ALREADY_LOGGED_IN)) throw e;
    }
    module.C_FindObjectsInit(session, [{ type: pkcs11js.CKA_LABEL, value: `${config.keyLabel}.lmk.wrap` }]);
    const [lmkWrap] = module.C_FindObjects(session, 1);
    module.C_FindObjectsFinal(session);
    const { header, headerLength } = parseKeyBlockHeader(handle.block);
    const body = Buffer.from(handle.block.slice(headerLength, -32), 'hex');
    const pair = header.algorithm === 'E';
    const template: pkcs11js.Template = pair
      ? [
          { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PRIVATE_KEY },
          { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_EC },
        ]
      : [
          { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
          { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_AES },
        ];
    template.push({ type: pkcs11js.CKA_TOKEN, value: false }, { type: pkcs11js.CKA_SENSITIVE, value: false }, { type: pkcs11js.CKA_EXTRACTABLE, value: true });
    const key = module.C_UnwrapKey(session, { mechanism: pkcs11js.CKM_AES_KEY_WRAP_PAD }, lmkWrap, pair ? body.subarray(65) : body, template);
    const [value] = module.C_GetAttributeValue(session, key, [{ type: pkcs11js.CKA_VALUE }]);
    module.C_DestroyObject(session, key);
    return { key: new Uint8Array(value.value as Buffer), header };
  } finally {
    module.C_CloseSession(session);
  }
}
