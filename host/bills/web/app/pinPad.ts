/**
 * PIN entry on the page. The digits live only in this object's private array: the page shows a dot
 * per digit, no input element ever holds them (so no autofill, history or form state can keep
 * them), and `take` hands them, once, to the function that enciphers them (the client core's ISO
 * 9564 format 4 under the element's PIN key), then forgets them whatever that function does.
 */
import { h } from './dom';

export const PIN_MIN_DIGITS = 4;
export const PIN_MAX_DIGITS = 12;

export class PinPad {
  readonly element: HTMLElement;
  #digits: number[] = [];
  readonly #dots: HTMLElement;
  readonly #onChange: (length: number) => void;
  readonly #onKey = (event: KeyboardEvent) => {
    if (/^[0-9]$/.test(event.key)) this.#press(Number(event.key));
    else if (event.key === 'Backspace') this.#erase();
    else return;
    event.preventDefault();
  };

  constructor(onChange: (length: number) => void) {
    this.#onChange = onChange;
    this.#dots = h('div', { class: 'pin-dots', 'aria-label': 'PIN digits entered', role: 'status' });
    const key = (digit: number) => h('button', { type: 'button', 'data-key': digit, 'aria-label': String(digit), onclick: () => this.#press(digit) }, String(digit));
    this.element = h(
      'div',
      { class: 'pin-pad' },
      this.#dots,
      h(
        'div',
        { class: 'keypad' },
        [1, 2, 3, 4, 5, 6, 7, 8, 9].map(key),
        h('button', { type: 'button', class: 'fn', 'data-key': 'clear', onclick: () => this.clear() }, 'Clear'),
        key(0),
        h('button', { type: 'button', class: 'fn', 'data-key': 'erase', 'aria-label': 'Delete', onclick: () => this.#erase() }, '⌫'),
      ),
    );
    document.addEventListener('keydown', this.#onKey);
    this.#render();
  }

  get length(): number {
    return this.#digits.length;
  }

  get complete(): boolean {
    return this.#digits.length >= PIN_MIN_DIGITS;
  }

  /** Runs `use` with the PIN and forgets it, however `use` ends. */
  take<T>(use: (pin: string) => T): T {
    const pin = this.#digits.join('');
    this.clear();
    return use(pin);
  }

  clear(): void {
    this.#digits.fill(0);
    this.#digits = [];
    this.#render();
  }

  /** Stops listening to the keyboard and forgets any digits. */
  dispose(): void {
    document.removeEventListener('keydown', this.#onKey);
    this.clear();
  }

  #press(digit: number): void {
    if (this.#digits.length >= PIN_MAX_DIGITS) return;
    this.#digits.push(digit);
    this.#render();
  }

  #erase(): void {
    this.#digits.pop();
    this.#render();
  }

  #render(): void {
    const dots = Math.max(this.#digits.length, PIN_MIN_DIGITS);
    this.#dots.replaceChildren(...Array.from({ length: dots }, (_, i) => h('span', { class: i < this.#digits.length ? 'on' : '' })));
    this.#onChange(this.#digits.length);
  }
}
