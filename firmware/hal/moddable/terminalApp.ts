/**
 * The board's key-loading application around the terminal core (firmware/core/terminal): keeps
 * the display on the terminal's status, answers the local link, and runs key loading (TMK
 * download, A11, then sign-on, A12, as `paypad terminal load-keys` does) when it can succeed:
 *
 *   at boot   when the terminal holds a TK but no working keys and the clock is set: the TK was
 *             read and uploaded before the reboot, so MTMS has had time to deliver it (A7)
 *   on OK     the keypad's confirm key, at any stage (again after signed-on: fresh working keys);
 *             cancel redraws the status
 *
 * Nothing runs when a TK is issued over the link: the KMS only gets it after the operator's
 * upload and MTMS's delivery, which the terminal cannot see, so the person at it presses OK
 * (or reboots a board without a keypad) once the operator says the upload is done.
 * Pure over the HAL interfaces and a structural Terminal, so the flow is tested in Node.
 */
import type { LinkOp, LinkRequest, LinkResult } from 'shared/protocol/localLink';
import type { Clock } from '../clock';
import type { Display } from '../display';
import type { Keypad } from '../keypad';
import { type TerminalStage, awaitingKeys, errorCode, errorScreen, loadedScreen, loadingScreen, statusScreen, titleFor } from './terminalScreens';

/** What the application uses of firmware/core/terminal's Terminal. */
export interface AppTerminal {
  readonly serial: string;
  status(): Promise<{ readonly stage: TerminalStage }>;
  downloadTmk(): Promise<{ readonly kcv: string }>;
  signOn(): Promise<readonly unknown[]>;
  handleLinkRequest(request: LinkRequest): Promise<LinkResult<LinkOp>>;
}

export interface TerminalAppOptions {
  readonly terminal: AppTerminal;
  readonly display: Display;
  readonly keypad: Keypad | null;
  readonly clock: Clock;
  /** A local link UART is configured. */
  readonly link: boolean;
  /** Console lines (trace on the device): codes and non-secret messages only. */
  readonly log: (line: string) => void;
}

/** The longest a keypad read may wait (hal/moddable matrixKeypad); a timeout just reads again. */
export const KEY_WAIT_MS = 600_000;

export class TerminalApp {
  readonly #terminal: AppTerminal;
  readonly #display: Display;
  readonly #keypad: Keypad | null;
  readonly #clock: Clock;
  readonly #link: boolean;
  readonly #log: (line: string) => void;
  #loading = false;

  constructor(options: TerminalAppOptions) {
    this.#terminal = options.terminal;
    this.#display = options.display;
    this.#keypad = options.keypad;
    this.#clock = options.clock;
    this.#link = options.link;
    this.#log = options.log;
  }

  /**
   * Shows the status, loads keys if due at boot, then serves the keypad until it fails (never,
   * on a working keypad). Resolves at once after boot on a board without a keypad.
   */
  async start(): Promise<void> {
    const stage = await this.refresh();
    if (stage !== undefined && awaitingKeys(stage) && this.#clock.isSet()) await this.loadKeys();
    if (!this.#keypad) return;
    for (;;) {
      const key = await this.#keypad.readKey(KEY_WAIT_MS);
      if (key === 'confirm') await this.loadKeys();
      else if (key === 'cancel') await this.refresh();
    }
  }

  /** Shows the terminal's status; returns its stage, or undefined when it could not be read. */
  async refresh(): Promise<TerminalStage | undefined> {
    try {
      const { stage } = await this.#terminal.status();
      this.#display.show(statusScreen({ serial: this.#terminal.serial, stage, clockSet: this.#clock.isSet(), keypad: this.#keypad !== null, link: this.#link }));
      return stage;
    } catch (e) {
      this.#fail('status', e, false);
      return undefined;
    }
  }

  /**
   * A11 then A12. True when both succeeded. Refuses to start a second run while one is going,
   * and to start at all while the clock is unset (no certificate can be checked).
   */
  async loadKeys(): Promise<boolean> {
    if (this.#loading) return false;
    const title = titleFor(this.#terminal.serial);
    if (!this.#clock.isSet()) {
      this.#display.show({ title, lines: ['Clock not set', 'Cannot reach KMS'] });
      return false;
    }
    this.#loading = true;
    this.#display.show(loadingScreen(this.#terminal.serial));
    try {
      const tmk = await this.#terminal.downloadTmk();
      await this.#terminal.signOn();
      this.#log(`key loading: signed on, TMK KCV ${tmk.kcv}`);
      this.#display.show(loadedScreen(this.#terminal.serial, tmk.kcv));
      return true;
    } catch (e) {
      this.#fail('key loading', e, this.#keypad !== null);
      return false;
    } finally {
      this.#loading = false;
    }
  }

  /** The local link's requests (firmware/core/localLinkService): the terminal answers, the display follows. */
  async handleLinkRequest(request: LinkRequest): Promise<LinkResult<LinkOp>> {
    try {
      return await this.#terminal.handleLinkRequest(request);
    } finally {
      // A TK issued or a repair changes the stage; during key loading its own screen stays up.
      if (!this.#loading) await this.refresh();
    }
  }

  #fail(what: string, e: unknown, canRetry: boolean): void {
    const message = e instanceof Error ? e.message : String(e);
    this.#log(`${what} failed: ${errorCode(e)}: ${message}`);
    this.#display.show(errorScreen(titleFor(this.#terminal.serial), e, canRetry));
  }
}
