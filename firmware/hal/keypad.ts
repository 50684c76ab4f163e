/**
 * Keypad: digits, confirm, cancel and clear, read one press at a time.
 *
 * PIN entry is a mode of the keypad, not a separate device: the core's PIN-entry module turns
 * secure mode on, reads digits into a buffer it wipes, and turns it off. In secure mode the
 * adapter never logs, echoes or otherwise reports which key was pressed (ISO 9564-1 §5: the PIN
 * is protected from the moment it is entered), and the queue of unread presses is emptied on
 * every mode change, so keys typed before the prompt cannot become PIN digits and PIN digits
 * cannot be read by the next screen.
 *
 * Presses are queued (a few) so a fast typist loses none between two readKey() calls; when the
 * queue is full the newest press is dropped.
 */
export type Key = '0' | '1' | '2' | '3' | '4' | '5' | '6' | '7' | '8' | '9' | 'confirm' | 'cancel' | 'clear';

export interface Keypad {
  /**
   * The next press, or 'timeout' after timeoutMs without one. One reader at a time: a second
   * concurrent call fails with PaypadError('DEVICE_BUSY').
   */
  readKey(timeoutMs: number): Promise<Key | 'timeout'>;
  /** Enters or leaves secure (PIN) mode; either way unread presses are discarded. */
  setSecure(on: boolean): void;
  readonly secure: boolean;
}

/** Every key name: board configuration maps keypad positions to these. */
export const KEYS: readonly Key[] = Object.freeze(['1', '2', '3', '4', '5', '6', '7', '8', '9', 'clear', '0', 'confirm', 'cancel']);
