/**
 * The board's key-loading application (firmware/hal/moddable/terminalApp.ts, terminalScreens.ts)
 * with a scripted terminal, keypad, clock and display: what the display says at each stage, when
 * key loading runs by itself (boot) and on the confirm key (A11, A12), and that failures show a
 * code, never a message.
 */
import { describe, expect, it } from 'vitest';
import { PaypadError } from '../../../shared/errors';
import { KmsRefusal } from '../../../firmware/core/kmsClient';
import type { Clock } from '../../../firmware/hal/clock';
import type { Display, Screen } from '../../../firmware/hal/display';
import type { Key, Keypad } from '../../../firmware/hal/keypad';
import { type AppTerminal, KEY_WAIT_MS, TerminalApp } from '../../../firmware/hal/moddable/terminalApp';
import { type TerminalStage, errorScreen, statusScreen } from '../../../firmware/hal/moddable/terminalScreens';
import type { LinkOp, LinkRequest, LinkResult } from '../../../shared/protocol/localLink';

const SERIAL = 'PP-0001-0042';
const TMK_KCV = '1A2B3C4D5E';

class ScriptedTerminal implements AppTerminal {
  readonly serial = SERIAL;
  stage: TerminalStage;
  readonly calls: string[] = [];
  /** Errors thrown by the next downloadTmk calls, in order; then success. */
  readonly downloadFailures: unknown[] = [];
  statusFailure: unknown;
  #gate: Promise<void> = Promise.resolve();
  constructor(stage: TerminalStage) {
    this.stage = stage;
  }
  /** Holds every later downloadTmk until the returned function is called. */
  holdDownloads(): () => void {
    let release!: () => void;
    this.#gate = new Promise((resolve) => (release = resolve));
    return release;
  }
  async status() {
    this.calls.push('status');
    if (this.statusFailure) throw this.statusFailure;
    return { stage: this.stage };
  }
  async downloadTmk() {
    this.calls.push('downloadTmk');
    await this.#gate;
    const failure = this.downloadFailures.shift();
    if (failure) throw failure;
    this.stage = 'tmk';
    return { kcv: TMK_KCV };
  }
  async signOn() {
    this.calls.push('signOn');
    this.stage = 'signed-on';
    return [];
  }
  async handleLinkRequest(request: LinkRequest): Promise<LinkResult<LinkOp>> {
    this.calls.push(`link:${request.op}`);
    if (request.op === 'repair') throw new PaypadError('TERMINAL_SERIAL_MISMATCH', 'not this one');
    this.stage = 'tk';
    return { v: 1, id: request.id, ok: true, serial: SERIAL, tkEnvelope: '00' } as LinkResult<LinkOp>;
  }
}

class RecordingDisplay implements Display {
  readonly columns = 20;
  readonly rows = 4;
  readonly screens: Screen[] = [];
  show(screen: Screen): void {
    this.screens.push(screen);
  }
  get last(): Screen {
    return this.screens[this.screens.length - 1];
  }
}

/** Presses the scripted keys, then fails with `end` so start() returns. */
function scriptedKeypad(keys: Key[], end = new PaypadError('DEVICE_BUSY', 'script over')): Keypad & { waits: number[] } {
  const waits: number[] = [];
  return {
    waits,
    secure: false,
    setSecure() {},
    async readKey(timeoutMs: number) {
      waits.push(timeoutMs);
      const key = keys.shift();
      if (key === undefined) throw end;
      return key;
    },
  };
}

function clock(set: boolean): Clock {
  return { now: () => (set ? 1_760_000_000_000 : 0), monotonic: () => 0, set: () => undefined, isSet: () => set };
}

function app(terminal: ScriptedTerminal, options: { keypad?: Keypad | null; clockSet?: boolean; link?: boolean } = {}) {
  const display = new RecordingDisplay();
  const log: string[] = [];
  const instance = new TerminalApp({
    terminal,
    display,
    keypad: options.keypad ?? null,
    clock: clock(options.clockSet ?? true),
    link: options.link ?? true,
    log: (line) => log.push(line),
  });
  return { app: instance, display, log };
}

describe('terminal screens', () => {
  const view = { serial: SERIAL, clockSet: true, keypad: true, link: true };

  it('says where key loading stands and what to do next, most important line first', () => {
    expect(statusScreen({ ...view, stage: 'no-tk' })).toEqual({ title: `SN ${SERIAL}`, lines: ['Waiting for operator'] });
    expect(statusScreen({ ...view, stage: 'tk' }).lines).toEqual(['TK issued, no TMK', 'OK: load keys']);
    expect(statusScreen({ ...view, stage: 'tmk', keypad: false }).lines).toEqual(['TMK loaded, no keys', 'Reboot: load keys']);
    expect(statusScreen({ ...view, stage: 'signed-on' }).lines).toEqual(['Ready: keys loaded']);
  });

  it('warns of an unset clock while keys are due, and of a missing link while the operator is awaited', () => {
    expect(statusScreen({ ...view, stage: 'tk', clockSet: false }).lines).toEqual(['TK issued, no TMK', 'Clock not set', 'OK: load keys']);
    expect(statusScreen({ ...view, stage: 'no-tk', link: false }).lines).toEqual(['Waiting for operator', 'No local link set']);
    expect(statusScreen({ ...view, stage: 'signed-on', clockSet: false }).lines).toEqual(['Ready: keys loaded']);
  });

  it('every line fits a 20-column display', () => {
    for (const stage of ['no-tk', 'tk', 'tmk', 'signed-on'] as const) {
      for (const flags of [view, { ...view, clockSet: false, keypad: false, link: false }]) {
        for (const line of statusScreen({ ...flags, stage }).lines) expect(line.length, line).toBeLessThanOrEqual(20);
      }
    }
  });

  it('X1: an error shows its code and a hint, never its message', () => {
    const screen = errorScreen('paypad', new PaypadError('HTTP_FAILED', 'https://kms.acme.example:8443/secret-path refused'), true);
    expect(screen).toEqual({ title: 'paypad', lines: ['HTTP_FAILED', 'KMS unreachable', 'OK: retry'] });
  });

  it('an authenticated KMS refusal shows the KMS\'s own code; anything not a PaypadError is INTERNAL', () => {
    expect(errorScreen('t', new KmsRefusal('tmk', 409, 'KMS_KEY_STATE', 'no TK')).lines).toEqual(['KMS_REFUSED', 'KMS: KMS_KEY_STATE']);
    expect(errorScreen('t', new TypeError('x is undefined')).lines).toEqual(['INTERNAL']);
    expect(errorScreen('t', 'thrown string').lines).toEqual(['INTERNAL']);
  });
});

describe('terminal application: key loading at boot and on the keypad (A11, A12)', () => {
  it('A11, A12: at boot, a terminal holding a TK and a set clock downloads the TMK, signs on and shows the TMK KCV', async () => {
    const terminal = new ScriptedTerminal('tk');
    const { app: a, display, log } = app(terminal);
    await a.start();
    expect(terminal.calls).toEqual(['status', 'downloadTmk', 'signOn']);
    expect(display.last).toEqual({ title: `SN ${SERIAL}`, lines: ['Ready: keys loaded', `TMK KCV ${TMK_KCV}`] });
    expect(log).toEqual([`key loading: signed on, TMK KCV ${TMK_KCV}`]);
  });

  it('A12: a TMK without working keys (a sign-on lost at power-off) loads again at boot', async () => {
    const terminal = new ScriptedTerminal('tmk');
    await app(terminal).app.start();
    expect(terminal.calls).toEqual(['status', 'downloadTmk', 'signOn']);
  });

  it('nothing is loaded at boot without a TK, once signed on, or while the clock is unset', async () => {
    for (const [stage, clockSet] of [['no-tk', true], ['signed-on', true], ['tk', false]] as const) {
      const terminal = new ScriptedTerminal(stage);
      const { app: a, display } = app(terminal, { clockSet });
      await a.start();
      expect(terminal.calls, `${stage} clock ${clockSet}`).toEqual(['status']);
      expect(display.screens).toHaveLength(1);
    }
  });

  it('A11: a failed boot attempt shows its code and hint, and the confirm key retries it', async () => {
    const terminal = new ScriptedTerminal('tk');
    terminal.downloadFailures.push(new PaypadError('KMS_RESPONSE_UNSIGNED', 'status 401, no MAC'));
    const keypad = scriptedKeypad(['confirm']);
    const { app: a, display, log } = app(terminal, { keypad });
    const shown: Screen[] = [];
    const show = display.show.bind(display);
    display.show = (screen) => {
      shown.push(screen);
      show(screen);
    };
    await expect(a.start()).rejects.toMatchObject({ code: 'DEVICE_BUSY' });
    expect(shown.map((s) => s.lines[0])).toEqual(['TK issued, no TMK', 'Loading keys...', 'KMS_RESPONSE_UNSIGNED', 'Loading keys...', 'Ready: keys loaded']);
    expect(shown[2].lines).toEqual(['KMS_RESPONSE_UNSIGNED', 'KMS lacks our TK', 'OK: retry']);
    expect(terminal.calls).toEqual(['status', 'downloadTmk', 'downloadTmk', 'signOn']);
    expect(log[0]).toBe('key loading failed: KMS_RESPONSE_UNSIGNED: status 401, no MAC');
    expect(keypad.waits.every((ms) => ms === KEY_WAIT_MS)).toBe(true);
  });

  it('A12: confirm signs on again when signed on (fresh working keys); cancel redraws; other keys do nothing', async () => {
    const terminal = new ScriptedTerminal('signed-on');
    const { app: a } = app(terminal, { keypad: scriptedKeypad(['5', 'cancel', 'confirm', 'clear']) });
    await expect(a.start()).rejects.toMatchObject({ code: 'DEVICE_BUSY' });
    expect(terminal.calls).toEqual(['status', 'status', 'downloadTmk', 'signOn']);
  });

  it('key loading runs once at a time: a second request while one runs is refused, not queued', async () => {
    const terminal = new ScriptedTerminal('tk');
    const release = terminal.holdDownloads();
    const { app: a } = app(terminal);
    const first = a.loadKeys();
    await expect(a.loadKeys()).resolves.toBe(false);
    release();
    await expect(first).resolves.toBe(true);
    expect(terminal.calls.filter((c) => c === 'downloadTmk')).toHaveLength(1);
    await expect(a.loadKeys()).resolves.toBe(true);
  });

  it('refuses to start key loading while the clock is unset (no certificate can be checked)', async () => {
    const terminal = new ScriptedTerminal('tk');
    const { app: a, display } = app(terminal, { clockSet: false });
    await expect(a.loadKeys()).resolves.toBe(false);
    expect(terminal.calls).toEqual([]);
    expect(display.last.lines).toEqual(['Clock not set', 'Cannot reach KMS']);
  });

  it('a status that cannot be read shows its code without a retry hint', async () => {
    const terminal = new ScriptedTerminal('tk');
    terminal.statusFailure = new PaypadError('STORAGE_CORRUPT', 'terminal state does not read back');
    const { app: a, display, log } = app(terminal, { keypad: scriptedKeypad([]) });
    await expect(a.refresh()).resolves.toBeUndefined();
    expect(display.last).toEqual({ title: `SN ${SERIAL}`, lines: ['STORAGE_CORRUPT'] });
    expect(log).toEqual(['status failed: STORAGE_CORRUPT: terminal state does not read back']);
  });
});

describe('terminal application: the local link (A2, A10, A13)', () => {
  it('A10: answers come from the terminal and the display follows the new stage', async () => {
    const terminal = new ScriptedTerminal('no-tk');
    const { app: a, display } = app(terminal);
    const answer = await a.handleLinkRequest({ v: 1, id: 4, op: 'tk' });
    expect(answer).toMatchObject({ id: 4, ok: true });
    expect(terminal.calls).toEqual(['link:tk', 'status']);
    expect(display.last.lines[0]).toBe('TK issued, no TMK');
  });

  it('A13: a refused request still reaches the link as an error, and the display is redrawn', async () => {
    const terminal = new ScriptedTerminal('tk');
    const { app: a } = app(terminal);
    await expect(a.handleLinkRequest({ v: 1, id: 5, op: 'repair', serial: 'PP-OTHER-0001' })).rejects.toMatchObject({ code: 'TERMINAL_SERIAL_MISMATCH' });
    expect(terminal.calls).toEqual(['link:repair', 'status']);
  });

  it('during key loading a link request leaves the key-loading screen up', async () => {
    const terminal = new ScriptedTerminal('tk');
    const release = terminal.holdDownloads();
    const { app: a, display } = app(terminal);
    const loading = a.loadKeys();
    await a.handleLinkRequest({ v: 1, id: 6, op: 'serial' });
    expect(display.last.lines).toEqual(['Loading keys...']);
    release();
    await loading;
  });
});
