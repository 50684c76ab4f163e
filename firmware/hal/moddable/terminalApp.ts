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
 * Once keys are loaded, key 1 on the ready screen opens the payment app: pay someone by their
 * mobile number (firmware/core/mobilePaymentApp, screens in paymentScreens.ts), the keypad in
 * secure mode while the PIN is keyed, the card reader asked for the swipe.
 *
 * Nothing runs when a TK is issued over the link: the KMS only gets it after the operator's
 * upload and MTMS's delivery, which the terminal cannot see, so the person at it presses OK
 * (or reboots a board without a keypad) once the operator says the upload is done.
 * Pure over the HAL interfaces and a structural Terminal, so the flow is tested in Node.
 */
import type { LinkOp, LinkRequest, LinkResult } from 'shared/protocol/localLink';
import type { MobilePaymentApp } from '../../core/mobilePaymentApp';
import type { CardReader } from '../cardReader';
import type { Clock } from '../clock';
import type { Display } from '../display';
import type { Keypad } from '../keypad';
import { paymentScreen } from './paymentScreens';
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
  /**
   * A new payment app for each payment, and the card reader it swipes with; absent, the menu does
   * not offer it. (Made by the entry: the device loader resolves one leading '../' only.)
   */
  readonly payments?: { readonly newPayment: () => MobilePaymentApp; readonly cardReader: CardReader };
}

/** The longest a keypad read may wait (hal/moddable matrixKeypad); a timeout just reads again. */
export const KEY_WAIT_MS = 600_000;
/** How long the payment app waits for a key or a swipe before it cancels the payment. */
export const PAYMENT_WAIT_MS = 60_000;

export class TerminalApp {
  readonly #terminal: AppTerminal;
  readonly #display: Display;
  readonly #keypad: Keypad | null;
  readonly #clock: Clock;
  readonly #link: boolean;
  readonly #log: (line: string) => void;
  readonly #payments: TerminalAppOptions['payments'];
  #loading = false;
  #stage: TerminalStage | undefined;

  constructor(options: TerminalAppOptions) {
    this.#terminal = options.terminal;
    this.#display = options.display;
    this.#keypad = options.keypad;
    this.#clock = options.clock;
    this.#link = options.link;
    this.#log = options.log;
    this.#payments = options.payments;
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
      else if (key === '1' && this.#stage === 'signed-on' && this.#payments) await this.payByMobile();
    }
  }

  /** Shows the terminal's status; returns its stage, or undefined when it could not be read. */
  async refresh(): Promise<TerminalStage | undefined> {
    try {
      const { stage } = await this.#terminal.status();
      this.#stage = stage;
      const payments = this.#payments !== undefined && this.#keypad !== null;
      this.#display.show(statusScreen({ serial: this.#terminal.serial, stage, clockSet: this.#clock.isSet(), keypad: this.#keypad !== null, link: this.#link, payments }));
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

  /**
   * One payment by mobile number (C3-C8), screen by screen, then back to the status. A key or a
   * swipe not given within PAYMENT_WAIT_MS cancels it; the result stays up until a key is pressed.
   */
  async payByMobile(): Promise<void> {
    const payments = this.#payments;
    const keypad = this.#keypad;
    if (!payments || !keypad) return;
    const app = payments.newPayment();
    try {
      while (!app.done) {
        this.#display.show(paymentScreen(app.view));
        const secure = app.view.step === 'pin';
        // Secure mode on a change only: every change empties the queue of unread presses.
        if (keypad.secure !== secure) keypad.setSecure(secure);
        if (app.view.step === 'swipe') {
          app.swipe(await payments.cardReader.readSwipe(PAYMENT_WAIT_MS));
          continue;
        }
        const key = await keypad.readKey(PAYMENT_WAIT_MS);
        const exchange = app.press(key === 'timeout' ? 'cancel' : key);
        if (exchange) {
          this.#display.show(paymentScreen(app.view));
          await exchange;
        }
      }
    } finally {
      if (keypad.secure) keypad.setSecure(false);
    }
    const { outcome } = app.view;
    this.#log(`payment: ${outcome?.kind}${outcome?.kind === 'approved' || outcome?.kind === 'declined' ? ` ${outcome.answer.responseCode} ${outcome.answer.reference}` : ''}${outcome?.kind === 'failed' ? ` ${outcome.pospCode ?? outcome.code}` : ''}`);
    this.#display.show(paymentScreen(app.view));
    await keypad.readKey(KEY_WAIT_MS);
    await this.refresh();
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
