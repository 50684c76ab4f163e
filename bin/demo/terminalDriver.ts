/**
 * How the onboarding scenario gets its PIN pads. The default is the emulated terminal through the
 * real CLI (`paypad terminal init`, `run`, `load-keys`, `status`), each a child process over one
 * state directory, as a person would run them. A test can hand in another driver over the same
 * state directory, e.g. with the firmware core in the XS engine (test/xs/terminal/xsTerminal.ts):
 * the scenario only needs a local link address, the key check values and the status.
 */
import type { TerminalStatus } from '../../firmware/core/terminal';
import { type PaypadRunOptions, runPaypad, runPaypadJson, startPaypad } from './paypadProcess';

/** What a terminal is manufactured with (`paypad terminal init`): everything pinned for life. */
export interface TerminalManufacture {
  readonly stateDir: string;
  readonly serial: string;
  /** Its customer's KMS, https://host:port. */
  readonly kmsUrl: string;
  /** MTMS's intake public key (uncompressed P-256, 130 hex digits), and a file holding that hex. */
  readonly mtmsPublicKeyHex: string;
  readonly mtmsKeyFile: string;
  /** The paypad CA certificate, PEM, and its file. */
  readonly caPem: string;
  readonly caFile: string;
}

export interface RunningTerminal {
  readonly serial: string;
  /** HOST:PORT of its local link, for `paypad operator --link`. */
  readonly link: string;
  /** A11 then A12: slot name (TMK, PIK, MAK, TDK, DMK) -> KCV hex, as the terminal computed it. */
  loadKeys(): Promise<Readonly<Record<string, string>>>;
  status(): Promise<TerminalStatus>;
  /** Stops its local link; the state directory stays. */
  stop(): Promise<void>;
}

export interface TerminalDriver {
  /** For the printed report: "emulated terminal (bin/paypad terminal)". */
  readonly name: string;
  /** Manufactures a terminal and starts its local link. */
  start(terminal: TerminalManufacture): Promise<RunningTerminal>;
}

/**
 * The emulated terminal through `bin/paypad terminal`, one child process per command; `onExit`
 * hears of each of them (paypadProcess.ts).
 */
export function cliTerminalDriver(options: Pick<PaypadRunOptions, 'onExit'> = {}): TerminalDriver {
  return {
    name: 'emulated terminal (bin/paypad terminal, Node HAL)',
    async start(t) {
      const stateDir = ['--state-dir', t.stateDir];
      await runPaypad(['terminal', 'init', ...stateDir, '--serial', t.serial, '--mtms-key-file', t.mtmsKeyFile, '--kms-url', t.kmsUrl, '--ca-file', t.caFile], options);
      const run = await startPaypad(['terminal', 'run', ...stateDir], /local link on (\S+:\d+)/, options);
      return {
        serial: t.serial,
        link: run.ready[1],
        loadKeys: async () => (await runPaypadJson<{ kcv: Record<string, string> }>(['terminal', 'load-keys', ...stateDir], options)).kcv,
        status: () => runPaypadJson<TerminalStatus>(['terminal', 'status', ...stateDir], options),
        stop: run.stop,
      };
    },
  };
}
