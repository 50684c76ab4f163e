/**
 * Builds the Hal from the Moddable adapters, for a board or the simulator. Platform differences
 * are modules named "platform/...", which manifest.json maps to esp32/ on esp32 (OTA updater, key
 * matrix over Digital) and to host/ elsewhere (the simulator: program slots as files, its buttons as keys).
 * The display is the screen where the platform set one up (Poco), else the console. Keypad and
 * card reader exist when the board's configuration (or the simulator) has them.
 */
import { createKeypad } from 'platform/keypad';
import { createUpdater } from 'platform/updater';
import type { Hal } from '../hal';
import { createClock } from './clock';
import type { FirmwareConfig } from './config';
import { createHttp } from './http';
import { createPocoDisplay, platformScreen } from './pocoDisplay';
import { createRng } from './rng';
import { createSerialCardReader } from './serialCardReader';
import { createStorage } from './storage';
import { createTraceDisplay } from './traceDisplay';

export function createHal(config: FirmwareConfig): Hal {
  const screen = platformScreen();
  const storage = createStorage();
  return {
    storage,
    rng: createRng(),
    http: createHttp(config.dnsServers),
    clock: createClock(),
    display: screen ? createPocoDisplay(screen, config.display.columns) : createTraceDisplay(config.display.columns, config.display.rows),
    keypad: createKeypad(config),
    cardReader: config.cardReader ? createSerialCardReader(config.cardReader) : null,
    updater: createUpdater(config.version, storage),
  };
}
