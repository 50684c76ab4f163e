/**
 * Keypad over a key matrix wired to GPIOs, through ECMA-419 Digital (`embedded:io/digital`).
 *
 * Every SCAN_MS each row is pulled low in turn while the columns (inputs with pull-ups) are
 * read; a column reading 0 is a closed key. Rows are open drain, so two keys pressed in one
 * column cannot short a driven-high row to a driven-low one. KeyDebouncer turns scans into
 * presses; InputQueue hands them to readKey(). Nothing here logs a key, in or out of secure mode.
 */
import Digital from 'embedded:io/digital';
import Timer from 'timer';
import { PaypadError } from 'shared/errors';
import type { Key, Keypad } from '../keypad';
import type { MatrixKeypadConfig } from './config';
import { InputQueue } from './inputQueue';
import { KeyDebouncer, NONE, SEVERAL } from './keyDebouncer';
import { timerScheduler } from './timerScheduler';

const SCAN_MS = 10;
/** 3 scans: a press must hold for 20-30 ms, longer than contact bounce (typically < 10 ms). */
const STABLE_SCANS = 3;
/** Presses kept between two reads, for a fast typist; setSecure() empties the queue. */
const QUEUE = 4;
const MAX_WAIT_MS = 600_000;

export function createMatrixKeypad(config: MatrixKeypadConfig): Keypad {
  const rows = config.rows.map((pin) => new Digital({ pin, mode: Digital.OutputOpenDrain }));
  const columns = config.columns.map((pin) => new Digital({ pin, mode: Digital.InputPullUp }));
  for (const row of rows) row.write(1);

  const debouncer = new KeyDebouncer(STABLE_SCANS);
  const presses = new InputQueue<Key>(QUEUE, timerScheduler);
  let secure = false;

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
    if (position !== undefined) presses.deliver(config.keys[position]);
  }, SCAN_MS);

  return {
    get secure() {
      return secure;
    },
    setSecure(on: boolean) {
      secure = on;
      presses.clear();
    },
    readKey(timeoutMs: number) {
      if (!Number.isInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > MAX_WAIT_MS) {
        return Promise.reject(new PaypadError('BAD_ARGUMENT', `keypad: timeout must be an integer from 1 to ${MAX_WAIT_MS} ms`));
      }
      if (presses.waiting) return Promise.reject(new PaypadError('DEVICE_BUSY', 'keypad: another reader is waiting'));
      return presses.read(timeoutMs);
    },
  };
}
