/**
 * Keypad in the Moddable simulator (module "platform/keypad" on every platform but esp32,
 * manifest.json): the simulated device's buttons. The moddable_two simulator has one, "Default"
 * (the button in mcsim's Controls pane, or the Delete key on mcsim's window), which the SDK's
 * simulator host module offers as `Host.Button.Default`; it is this terminal's OK (confirm) key.
 * A simulator build without Host buttons (the generic `-p lin` screen) has no keypad, as a bare
 * board has none.
 */
import { createKeyPresses } from 'firmware/hal/moddable/keyPresses';
import type { Keypad } from '../../keypad';
import type { FirmwareConfig } from '../config';

/** build/simulators/modules/button.js: `onPush(pressed)` with 1 on press, 0 on release. */
interface SimulatorButton {
  new (options: { onPush(pressed: number): void }): object;
}

export function createKeypad(_config: FirmwareConfig): Keypad | null {
  const host = (globalThis as { Host?: { Button?: { Default?: SimulatorButton } } }).Host;
  const Button = host?.Button?.Default;
  if (!Button) return null;
  const presses = createKeyPresses();
  new Button({
    onPush(pressed) {
      if (pressed) presses.press('confirm');
    },
  });
  return presses.keypad;
}
