/**
 * Keypad over a key matrix wired to GPIOs, through ECMA-419 Digital (`embedded:io/digital`).
 * Module "platform/keypad" on esp32 builds (manifest.json); the simulator, which has no Digital,
 * gets host/keypad.ts. Being a platform module, it names its runtime imports by module name.
 *
 * Every SCAN_MS each row is pulled low in turn while the columns (inputs with pull-ups) are
 * read; a column reading 0 is a closed key. Rows are open drain, so two keys pressed in one
 * column cannot short a driven-high row to a driven-low one. KeyDebouncer turns scans into
 * presses; keyPresses hands them to readKey(). Nothing here logs a key, in or out of secure mode.
 */
import Digital from 'embedded:io/digital';
import Timer from 'timer';
import { KeyDebouncer, NONE, SEVERAL } from 'firmware/hal/moddable/keyDebouncer';
import { createKeyPresses } from 'firmware/hal/moddable/keyPresses';
import type { Keypad } from '../../keypad';
import type { FirmwareConfig, MatrixKeypadConfig } from '../config';

const SCAN_MS = 10;
/** 3 scans: a press must hold for 20-30 ms, longer than contact bounce (typically < 10 ms). */
const STABLE_SCANS = 3;

/** The board's keypad, or null when its configuration wires none. */
export function createKeypad(config: FirmwareConfig): Keypad | null {
  return config.keypad ? createMatrixKeypad(config.keypad) : null;
}

function createMatrixKeypad(config: MatrixKeypadConfig): Keypad {
  const rows = config.rows.map((pin) => new Digital({ pin, mode: Digital.OutputOpenDrain }));
  const columns = config.columns.map((pin) => new Digital({ pin, mode: Digital.InputPullUp }));
  for (const row of rows) row.write(1);

  const debouncer = new KeyDebouncer(STABLE_SCANS);
  const presses = createKeyPresses();

  const scan = (): number => {
    let found = NONE;
    for (let r = 0; r < rows.length; r++) {
      rows[r].write(0);
      for (let c = 0; c < columns.length; c++) {
        if (columns[c].read() === 0) found = found === NONE ? r * columns.length + c : SEVERAL;
      }
      rows[r].write(1);
    }
    return found;
  };
  Timer.repeat(() => {
    const position = debouncer.feed(scan());
    if (position !== undefined) presses.press(config.keys[position]);
  }, SCAN_MS);
  return presses.keypad;
}
