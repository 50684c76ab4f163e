/**
 * What the board's display says about key loading (docs/key-loading.md "Flow"): where the
 * terminal stands, what the person at it can do next, and why the last attempt failed.
 *
 * Lines are written for a 20 x 4 character display and most important first, since the Display
 * clips to its own size. Errors show their stable code (and the KMS's own code for an
 * authenticated refusal), never the message: messages are for the console and may name hosts.
 * Pure, so every screen is tested in Node.
 */
import { isPaypadError } from 'shared/errors';
import type { Screen } from '../display';

/** Key-loading stage, as firmware/core/terminal reports it. */
export type TerminalStage = 'no-tk' | 'tk' | 'tmk' | 'signed-on';

export interface StatusView {
  readonly serial: string;
  readonly stage: TerminalStage;
  readonly clockSet: boolean;
  readonly keypad: boolean;
  /** A local link UART is configured. */
  readonly link: boolean;
  /** The payment app can run (a keypad, keys loaded): the menu offers it. */
  readonly payments?: boolean;
}

const STAGE_LINE: Readonly<Record<TerminalStage, string>> = Object.freeze({
  'no-tk': 'Waiting for operator',
  tk: 'TK issued, no TMK',
  tmk: 'TMK loaded, no keys',
  'signed-on': 'Ready: keys loaded',
});

/** Short advice for the failures a person at the terminal can act on. */
const HINTS: Readonly<Record<string, string>> = Object.freeze({
  TERMINAL_STATE: 'Operator reads TK',
  KMS_RESPONSE_UNSIGNED: 'KMS lacks our TK',
  HTTP_FAILED: 'KMS unreachable',
  HTTP_TIMEOUT: 'KMS did not answer',
  TERMINAL_NOT_INITIALIZED: 'Not manufactured',
  ROOT_KEY_INVALID: 'Erase, manufacture',
  CONFIG_INVALID: 'Fix the build config',
});

/** The menu entry of the payment app (firmware/core/mobilePaymentApp) on the ready screen. */
export const PAY_BY_MOBILE_MENU_LINE = '1: pay by mobile';

export function titleFor(serial: string): string {
  return `SN ${serial}`;
}

/** True when the terminal holds a TK but no working keys, the one state a retry can move on. */
export function awaitingKeys(stage: TerminalStage): boolean {
  return stage === 'tk' || stage === 'tmk';
}

export function statusScreen(view: StatusView): Screen {
  const lines = [STAGE_LINE[view.stage]];
  if (awaitingKeys(view.stage)) {
    // Key loading is HTTPS to the KMS: certificates cannot be checked before the clock is set.
    if (!view.clockSet) lines.push('Clock not set');
    lines.push(view.keypad ? 'OK: load keys' : 'Reboot: load keys');
  }
  if (view.stage === 'no-tk' && !view.link) lines.push('No local link set');
  if (view.stage === 'signed-on' && view.payments === true) lines.push(PAY_BY_MOBILE_MENU_LINE);
  return { title: titleFor(view.serial), lines };
}

export function loadingScreen(serial: string): Screen {
  return { title: titleFor(serial), lines: ['Loading keys...'] };
}

/** After a sign-on: the TMK's KCV, for the operator to compare with the KMS's record. */
export function loadedScreen(serial: string, tmkKcv: string): Screen {
  return { title: titleFor(serial), lines: [STAGE_LINE['signed-on'], `TMK KCV ${tmkKcv}`] };
}

/** `title` is the serial's title once it is known, else the product name. */
export function errorScreen(title: string, error: unknown, canRetry = false): Screen {
  const code = errorCode(error);
  const lines = [code];
  const kmsCode = (error as { kmsCode?: unknown } | null)?.kmsCode;
  if (typeof kmsCode === 'string') lines.push(`KMS: ${kmsCode}`);
  else if (HINTS[code]) lines.push(HINTS[code]);
  if (canRetry) lines.push('OK: retry');
  return { title, lines };
}

/** The PaypadError code, or INTERNAL for anything else (a bug, not a state to explain). */
export function errorCode(error: unknown): string {
  return isPaypadError(error) ? error.code : 'INTERNAL';
}
