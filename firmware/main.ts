/**
 * The Moddable entry point (manifest.json "creation.main": "firmware/main"). Runs after the
 * SDK's setup modules, so Wi-Fi is up and, with `sntp=` in the config, the clock is set when it
 * starts (manifest_net: `ssid=` and `password=` on the mcconfig line).
 *
 * Builds the Hal, manufactures the terminal on its first boot (device root key, then identity,
 * from the manifest config), opens the terminal core over the board's Storage, Rng and Http,
 * and starts the local link UART and the key-loading application (hal/moddable/terminalApp).
 * With vendor keys configured it takes program updates (docs/updates.md): a new program confirms
 * itself before the application starts; once the terminal is signed on, the schedule is looked at
 * every minute (B5) and every POSP answer's update notice starts a check (B6). Whatever fails stops the terminal with its
 * error code on the console and the display.
 */
import config from 'mc/config';
import Timer from 'timer';
import { openLocalLink } from 'platform/localLink';
import { constantTimeEqual, wipe } from 'shared/bytes';
import { selfTestPrimitives } from 'shared/crypto/selfTest';
import { isPaypadError, PaypadError } from 'shared/errors';
import { LocalLinkSession } from './core/localLinkService';
import { MobilePaymentApp } from './core/mobilePaymentApp';
import { Terminal, type TerminalUpdates } from './core/terminal';
import type { UpdateCheckResult } from './core/updateClient';
import { loadTerminalIdentity, provisionTerminal } from './core/terminalIdentity';
import type { Display } from './hal/display';
import type { Hal } from './hal/hal';
import type { Rng } from './hal/rng';
import type { Storage } from './hal/storage';
import { MANUFACTURE_KEYS, type ManufactureConfig, parseFirmwareConfig, type UpdateConfig } from './hal/moddable/config';
import { createHal } from './hal/moddable/hal';
import { ensureDeviceRootKey, readDeviceRootKey } from './hal/moddable/rootKey';
import { TerminalApp } from './hal/moddable/terminalApp';
import { errorScreen } from './hal/moddable/terminalScreens';

export default function main(): void {
  let display: Display | undefined;
  const stop = (e: unknown): void => {
    // A terminal that cannot run says why, by code, and stays inert.
    trace(`paypad firmware stopped: ${isPaypadError(e) ? `${e.code}: ${e.message}` : String(e)}\n`);
    display?.show(errorScreen('paypad', e));
  };
  try {
    const parsed = parseFirmwareConfig(config);
    if (typeof parsed === 'string') throw new PaypadError('CONFIG_INVALID', `manifest config: ${parsed}`);
    const hal = createHal(parsed);
    display = hal.display;
    selfTestRng(hal.rng);
    selfTestPrimitives(); // native AES, SHA-256 and P-256 give the published answers before any key is touched
    trace(
      `paypad firmware ${hal.updater.currentVersion} (${hal.updater.startKind} start): keypad ${hal.keypad ? 'yes' : 'none'}, ` +
        `clock ${hal.clock.isSet() ? 'set' : 'not set'}\n`,
    );
    const terminal = openTerminal(hal, parsed.manufacture);
    // A new program on trial opens its updates at once, to confirm itself; otherwise they open once the terminal is signed on.
    const updates = parsed.update && hal.updater.startKind !== 'normal' ? openUpdates(terminal, hal, parsed.update) : undefined;
    // The UART on a board, a TCP port in the simulator ("platform/localLink"); sessions start on the first byte, after `app` exists.
    const link = openLocalLink(parsed, (stream) => new LocalLinkSession(app, stream));
    trace(`paypad: local link ${link ?? 'none'}\n`);
    // Payments need a card reader; the simulated network's accounts are in CNY.
    const payments = hal.cardReader ? { cardReader: hal.cardReader, newPayment: () => new MobilePaymentApp({ terminal, currency: 'CNY' }) } : undefined;
    const app = new TerminalApp({ terminal, display: hal.display, keypad: hal.keypad, clock: hal.clock, link: link !== null, log: (line) => trace(`${line}\n`), payments });
    // A new program confirms itself (or reports its rollback) before the application runs.
    const started = updates ? updates.client.start() : Promise.resolve();
    started
      .then(() => {
        if (parsed.update) watchForUpdates(terminal, hal, parsed.update, updates);
        return app.start();
      })
      .catch(stop);
  } catch (e) {
    stop(e);
  }
}

/** Every update check's end, on the console: what was installed, or why nothing was. */
function traceCheck(outcome: UpdateCheckResult | unknown): void {
  const result = outcome as UpdateCheckResult;
  if (result !== null && typeof result === 'object' && (result.outcome === 'none' || result.outcome === 'installed')) {
    trace(result.outcome === 'installed' ? `update: installed ${result.version}\n` : 'update: none offered\n');
  } else {
    trace(`update: check failed: ${isPaypadError(outcome) ? `${outcome.code}: ${outcome.message}` : String(outcome)}\n`);
  }
}

function openUpdates(terminal: Terminal, hal: Hal, update: UpdateConfig): TerminalUpdates {
  return terminal.openUpdates({
    updater: hal.updater,
    clock: hal.clock,
    model: update.model,
    programName: update.programName,
    vendorKeys: update.vendorKeys,
    schedule: update.schedule ?? undefined,
    onNoticeCheck: traceCheck,
  });
}

/**
 * B5, B6: looked at now and every minute. Until the terminal is signed on and its clock set,
 * nothing: no check could talk to the TMS, and key loading (the heaviest work the heap sees) runs
 * without the update client beside it. Then the update client opens once, POSP answers' notices
 * reach it from then on, and the schedule is looked at; a time missed while off checks at once.
 */
function watchForUpdates(terminal: Terminal, hal: Hal, update: UpdateConfig, opened: TerminalUpdates | undefined): void {
  let updates = opened;
  const tick = (): void => {
    if (!hal.clock.isSet() || !terminal.isSignedOn()) return;
    updates ??= openUpdates(terminal, hal, update);
    updates.triggers.tick(hal.clock.now())?.then(traceCheck, traceCheck);
  };
  tick();
  Timer.repeat(tick, 60_000);
}

/**
 * Manufacture happens on the first boot, from the manifest config: the device root key first,
 * then the identity (a power cut between them leaves a first boot to redo). Afterwards both are
 * only read; the config's identity is then ignored, as a serial never changes in the field.
 */
function openTerminal(hal: Hal, manufacture: ManufactureConfig | null): Terminal {
  if (!hasIdentity(hal.storage)) {
    if (!manufacture) {
      throw new PaypadError('TERMINAL_NOT_INITIALIZED', `no identity stored and none configured: build with ${MANUFACTURE_KEYS.join(', ')} set`);
    }
    wipe(ensureDeviceRootKey(hal.storage, hal.rng));
    const identity = provisionTerminal(hal.storage, manufacture);
    trace(`paypad: manufactured as ${identity.serial}, KMS ${identity.kmsUrl}\n`);
  }
  const rootKey = readDeviceRootKey(hal.storage);
  try {
    return Terminal.open({ storage: hal.storage, rng: hal.rng, http: hal.http, rootKey });
  } finally {
    wipe(rootKey); // the vault keeps its own copy
  }
}

function hasIdentity(storage: Storage): boolean {
  try {
    loadTerminalIdentity(storage);
    return true;
  } catch (e) {
    if (isPaypadError(e, 'TERMINAL_NOT_INITIALIZED')) return false;
    throw e; // a stored identity that does not read back is not a blank terminal
  }
}

/**
 * Two draws must differ: a broken FFI binding (wrong glue, a zero-filling stub) shows up at boot,
 * not as identical "random" keys on every terminal.
 */
function selfTestRng(rng: Rng): void {
  if (constantTimeEqual(rng(16), rng(16))) throw new PaypadError('RNG_FAILED', 'rng self-test: two 16-byte draws were identical');
}
