/**
 * Builds the Hal from the Moddable adapters, for a board or the simulator. The only platform
 * difference visible here is "platform/updater", which manifest.json maps to the OTA updater on
 * esp32 and to the refusing one elsewhere. Keypad and card reader exist when the board's
 * configuration wires them.
 */
import { createUpdater } from 'platform/updater';
import type { Hal } from '../hal';
import { createClock } from './clock';
import type { FirmwareConfig } from './config';
import { createHttp } from './http';
import { createMatrixKeypad } from './matrixKeypad';
import { createRng } from './rng';
import { createSerialCardReader } from './serialCardReader';
import { createStorage } from './storage';
import { createTraceDisplay } from './traceDisplay';

export function createHal(config: FirmwareConfig): Hal {
  return {
    storage: createStorage(),
    rng: createRng(),
    http: createHttp(config.dnsServers),
    clock: createClock(),
    display: createTraceDisplay(config.display.columns, config.display.rows),
    keypad: config.keypad ? createMatrixKeypad(config.keypad) : null,
    cardReader: config.cardReader ? createSerialCardReader(config.cardReader) : null,
    updater: createUpdater(config.version),
  };
}
