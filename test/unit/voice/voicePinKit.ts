/**
 * What the voice PIN tests share: a software HSM in a temp directory with the capture module's
 * keys, the simulated voice provider on a fast clock (1 ms per provider second), a logger whose
 * lines the test reads back (also written to host.log in the directory), and the issuer's side of the check: a PIN verification key and the
 * verification value of a PIN made from a reference block under a key entered as components, so
 * a captured block is checked in the HSM against a PIN the test knows without ever deciphering it.
 */
import { appendFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { toHex, wipe, xorBytes } from '../../../shared/bytes';
import { keyCheckValue } from '../../../shared/crypto/kcv';
import { encipherPinBlockIso4 } from '../../../shared/crypto/pinblock';
import { isPaypadError } from '../../../shared/errors';
import { createVoicePinKeys, type VoicePinKeys, voicePinBlocks } from '../../../host/gateway/voicePinBlock';
import { createVoicePinCapture, type VoicePinCaptureOptions } from '../../../host/gateway/voicePinCapture';
import type { VoicePinChannel } from '../../../host/gateway/voicePinChannel';
import type { Hsm, KeyHandle } from '../../../host/hsm/hsm';
import { openSoftwareHsm, systemRng } from '../../../host/hsm/index';
import { createLogger } from '../../../host/log';
import { VoicePlatformSimulator } from '../../../host/simulators/voicePlatformSimulator';

/** The software HSM's master key file in the kit's directory: key material, not scanned for secrets. */
export const LMK_FILE_NAME = 'gateway-lmk.key';

/** Fast test timings: seconds on the provider's clock are milliseconds here. */
export const FAST: Partial<VoicePinCaptureOptions> = Object.freeze({ ringTimeoutSeconds: 30, gatherTimeoutSeconds: 5, callDeadlineMs: 5_000 });

export interface VoicePinKit {
  readonly dir: string;
  readonly hsm: Hsm;
  readonly keys: VoicePinKeys;
  readonly voice: VoicePlatformSimulator;
  readonly channel: VoicePinChannel;
  readonly logLines: string[];
  /** True when `pinBlock` (under the capture module's PIN key) holds `pin` for `pan`, checked inside the HSM. */
  holdsPin(pinBlock: Uint8Array, pan: string, pin: string): Promise<boolean>;
  close(): Promise<void>;
}

export async function openVoicePinKit(options: Partial<VoicePinCaptureOptions> = {}): Promise<VoicePinKit> {
  const dir = mkdtempSync(join(tmpdir(), 'paypad-voice-pin-'));
  const hsm = await openSoftwareHsm({ lmkFile: join(dir, LMK_FILE_NAME), rng: systemRng });
  const keys = await createVoicePinKeys(hsm);
  const voice = new VoicePlatformSimulator({ msPerSecond: 1 });
  const logLines: string[] = [];
  // As a host logging to a file: every line kept for the test and written to host.log.
  const logFile = join(dir, 'host.log');
  const write = (line: string) => {
    logLines.push(line);
    appendFileSync(logFile, line);
  };
  const log = createLogger({ level: 'debug', destination: { write } });
  const channel = createVoicePinCapture({ voice, pinBlocks: voicePinBlocks(hsm, keys, systemRng), log }, { ...FAST, ...options });
  const pvk = await hsm.generateKey({ usage: 'V0', algorithm: 'A', modeOfUse: 'C', exportability: 'N', lengthBytes: 16 });
  const referenceKey = await referencePinKey(hsm);
  return {
    dir,
    hsm,
    keys,
    voice,
    channel,
    logLines,
    async holdsPin(pinBlock, pan, pin) {
      const referenceBlock = encipherPinBlockIso4(referenceKey.bytes, pin, pan, systemRng);
      const pvv = await hsm.pinVerificationValue(referenceKey.handle, pvk, referenceBlock, pan);
      try {
        await hsm.verifyPin(keys.pinKey, pvk, pinBlock, pan, pvv);
        return true;
      } catch (e) {
        if (isPaypadError(e, 'PIN_INCORRECT')) return false;
        throw e;
      }
    },
    async close() {
      wipe(referenceKey.bytes);
      await hsm.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A P0 key the test also holds in clear, entered as two components as at a key ceremony. */
async function referencePinKey(hsm: Hsm): Promise<{ handle: KeyHandle; bytes: Uint8Array }> {
  const a = systemRng(16);
  const b = systemRng(16);
  const bytes = xorBytes(a, b);
  const kcv = (key: Uint8Array) => toHex(keyCheckValue(key));
  const handle = await hsm.importKeyComponents({ usage: 'P0', algorithm: 'A', modeOfUse: 'B', exportability: 'N' }, [{ value: a, kcv: kcv(a) }, { value: b, kcv: kcv(b) }], kcv(bytes));
  return { handle, bytes };
}
