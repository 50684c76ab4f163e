/**
 * The Moddable entry point (manifest.json "creation.main": "firmware/main"). Runs after the
 * SDK's setup modules, so Wi-Fi is up when it starts (manifest_net: `ssid=` and `password=` on
 * the mcconfig line).
 *
 * For now it checks the configuration, builds the Hal, proves the RNG binding works and says
 * which firmware runs on what; the key vault and onboarding start from here next.
 */
import config from 'mc/config';
import { constantTimeEqual } from '../shared/bytes';
import { isPaypadError, PaypadError } from '../shared/errors';
import { createHal } from './hal/moddable/hal';
import { parseFirmwareConfig } from './hal/moddable/config';
import type { Rng } from './hal/rng';

export default function main(): void {
  try {
    const parsed = parseFirmwareConfig(config);
    if (typeof parsed === 'string') throw new PaypadError('CONFIG_INVALID', `manifest config: ${parsed}`);
    const hal = createHal(parsed);
    selfTestRng(hal.rng);
    trace(
      `paypad firmware ${hal.updater.currentVersion}: host ${parsed.hostUrl}, ` +
        `keypad ${hal.keypad ? 'yes' : 'none'}, card reader ${hal.cardReader ? 'yes' : 'none'}, ` +
        `clock ${hal.clock.isSet() ? 'set' : 'not set'}\n`,
    );
    hal.display.show({ title: `paypad ${hal.updater.currentVersion}`, lines: ['Starting...'] });
  } catch (e) {
    // A terminal that cannot start says why on its console, by code, and stays inert.
    trace(`paypad firmware failed to start: ${isPaypadError(e) ? `${e.code}: ${e.message}` : String(e)}\n`);
  }
}

/**
 * Two draws must differ: a broken FFI binding (wrong glue, a zero-filling stub) shows up at boot,
 * not as identical "random" keys on every terminal.
 */
function selfTestRng(rng: Rng): void {
  if (constantTimeEqual(rng(16), rng(16))) throw new PaypadError('RNG_FAILED', 'rng self-test: two 16-byte draws were identical');
}
