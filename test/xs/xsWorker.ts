/**
 * Drives the XS engine (`xsnap-worker` built by @agoric/xsnap on npm install) directly, without the
 * package's Node API: that API needs @endo/init, which locks down the whole Node process (test
 * runner included). See the handbook, MODDABLE.md "XS in this repository's tests".
 *
 * Protocol (xsnap-worker.c): netstrings on fd 3 (to the worker) and fd 4 (from the worker).
 *   e<code>   evaluate a script           -> .<meter json>\x01<bytes>  or  !<error text>
 *   ?<bytes>  call globalThis.handleCommand(ArrayBuffer); its result (an ArrayBuffer, or an object
 *             whose `result` is one once the promise jobs have run) is the reply's <bytes>
 *   w<path>   write a heap snapshot     -> .<meter json>\x01<size in decimal>
 *   q         quit
 * While a command runs, the script may call issueCommand(ArrayBuffer): the worker writes ?<bytes>
 * to fd 4 and blocks until it reads /<bytes> on fd 3. That synchronous call is the seam for the
 * firmware HAL (RNG, storage, clock, HTTP answered by Node), handled here by `onCommand`.
 *
 * `engine` swaps the binary for another that speaks the same protocol: test/xs/budget's xs-budget,
 * which runs the script in a plain ESP32's fixed memory and adds `memory` to every meter.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { NetstringReader, encodeNetstring } from './netstring';

export const XSNAP_WORKER_PATH = fileURLToPath(
  new URL('../../node_modules/@agoric/xsnap/xsnap-native/xsnap/build/bin/lin/release/xsnap-worker', import.meta.url),
);

/**
 * What xs-budget (test/xs/budget) adds to a meter: the app's memory, not counting what the device
 * keeps in flash (built-ins, byte code, the code's names). Peaks are the command's own.
 */
export interface XsMemory {
  /** Chunk bytes in use now, and the live high-water mark during the command. */
  chunks: number;
  chunksPeak: number;
  /** Heap slots in use now, and the live high-water mark during the command. */
  slots: number;
  slotsPeak: number;
  /** Stack depth in slots now, and the deepest during the command (XS's own roots included). */
  stack: number;
  stackPeak: number;
  /** Garbage collections the host ran to find the peaks, since the start. */
  collections: number;
  /** The flash part: chunk bytes, slots and keys of the built-ins and the loaded code. */
  romChunks: number;
  romSlots: number;
  romKeys: number;
  /** Keys the app has created at run time. */
  keys: number;
  /** The call chain (function names, innermost first) where the stack peaked during the command. */
  deepest: string;
}

/** What the worker reports after every successful command (xsnap-worker.c fxWriteOkay). */
export interface XsMeter {
  /** Deterministic count of XS work done by the command (the same run after run). */
  compute: number;
  /** Bytes the machine has reserved for its heap so far (grows in 4 MiB / 128 Ki-slot steps). */
  allocate: number;
  /** Slots in use: live slots after the last GC plus every slot allocated since. */
  currentHeapCount: number;
  /** Only from xs-budget. */
  memory?: XsMemory;
}

/** A binary that speaks xsnap-worker's protocol, and the arguments it needs after the name. */
export interface XsEngine {
  readonly path: string;
  readonly args: readonly string[];
}

const XSNAP_ENGINE: XsEngine = { path: XSNAP_WORKER_PATH, args: [] };

/** What made xs-budget stop (its stderr line `xs-budget: <reason> (<resource>): <detail>`). */
export interface XsAbort {
  /** "memory full", "stack overflow", "not enough keys", "too much computation". */
  readonly reason: string;
  /** "chunks", "slots", "stack", "keys", "compute" (or "loading" before the app runs). */
  readonly resource: string;
  readonly detail: string;
}

export interface XsReply {
  bytes: Uint8Array;
  meter: XsMeter;
}

/** Answers the script's issueCommand(ArrayBuffer) calls; may be async (the worker blocks meanwhile). */
export type XsCommandHandler = (request: Uint8Array) => Uint8Array | Promise<Uint8Array>;

export interface XsWorkerOptions {
  /** Default: refuse every issueCommand (the worker then fails the command). */
  onCommand?: XsCommandHandler;
  /** Per command, including the initial script evaluation. Default 60 s. */
  timeoutMs?: number;
  /** xsnap `-l`: compute units one command may use before the worker aborts (max 2^31 - 1). */
  meteringLimit?: number;
  /** Shown in error messages; letters, digits, '_', '.', ':' and '-' (not first). */
  name?: string;
  /** Default: xsnap-worker. */
  engine?: XsEngine;
}

/** The worker died, timed out, broke the protocol, or a script threw. */
export class XsWorkerError extends Error {
  constructor(
    message: string,
    /** Set when xs-budget stopped because a resource ran out. */
    readonly abort?: XsAbort,
  ) {
    super(message);
    this.name = 'XsWorkerError';
  }
}

const ABORT_LINE = /^xs-budget: ([a-z ]+) \((\w+)\): (.*)$/m;

function parseAbort(stderr: string): XsAbort | undefined {
  const match = ABORT_LINE.exec(stderr);
  return match ? { reason: match[1], resource: match[2], detail: match[3] } : undefined;
}

/** xsnap exit codes (@agoric/xsnap api.js ExitCode); xs-budget uses the same, and 3. */
const EXIT_REASONS: Record<number, string> = {
  1: 'bad argument usage',
  2: 'I/O error',
  3: 'xs-budget could not set up the machine',
  11: 'not enough memory',
  12: 'stack overflow',
  15: 'unhandled exception',
  16: 'property (key) name space exhausted',
  17: 'too much computation (metering limit)',
};

const OK = 0x2e; // '.'
const ERROR = 0x21; // '!'
const QUERY = 0x3f; // '?'
const METER_SEPARATOR = 0x01;
const TAIL_CHARS = 2000;

interface Pending {
  resolve: (reply: XsReply) => void;
  reject: (error: Error) => void;
}

export class XsWorker {
  private readonly reader = new NetstringReader();
  private readonly pending: Pending[] = [];
  private queue: Promise<unknown> = Promise.resolve();
  private failure: XsWorkerError | undefined;
  /** The reply to the script's evaluation in start(): what loading it cost, and its value's bytes. */
  startReply: XsReply = { bytes: new Uint8Array(), meter: { compute: 0, allocate: 0, currentHeapCount: 0 } };
  private stderrTail = '';
  private stdoutTail = '';
  /** Settles once the process has exited and its pipes are closed. */
  private readonly ended: Promise<void>;

  private constructor(
    private readonly child: ChildProcess,
    private readonly options: Required<Omit<XsWorkerOptions, 'onCommand'>> & Pick<XsWorkerOptions, 'onCommand'>,
  ) {
    child.stdout?.on('data', (d: Buffer) => (this.stdoutTail = (this.stdoutTail + d.toString()).slice(-TAIL_CHARS)));
    child.stderr?.on('data', (d: Buffer) => (this.stderrTail = (this.stderrTail + d.toString()).slice(-TAIL_CHARS)));
    const fromWorker = child.stdio[4] as NodeJS.ReadableStream;
    fromWorker.on('data', (chunk: Buffer) => this.onData(chunk));
    // Writes to a dead worker fail with EPIPE; the exit handler reports why it died.
    (child.stdio[3] as NodeJS.WritableStream).on('error', () => {});
    child.on('error', (e) => this.fail(`could not run ${options.engine.path}: ${e.message}`));
    // 'close' rather than 'exit': by then stderr has been read, so the failure can quote it.
    this.ended = new Promise((resolve) =>
      child.on('close', (code, signal) => {
        const reason = signal ? `signal ${signal}` : `exit ${code}${code && EXIT_REASONS[code] ? ` (${EXIT_REASONS[code]})` : ''}`;
        this.fail(`worker ended: ${reason}`);
        resolve();
      }),
    );
  }

  /** Spawns a worker and evaluates `script` (e.g. an esbuild iife bundle) in it. */
  static async start(script: string, options: XsWorkerOptions = {}): Promise<XsWorker> {
    const resolved = { timeoutMs: 60_000, meteringLimit: 2_000_000_000, name: 'xs', engine: XSNAP_ENGINE, ...options };
    if (!existsSync(resolved.engine.path)) {
      throw new XsWorkerError(
        resolved.engine === XSNAP_ENGINE ? `xsnap-worker not found at ${XSNAP_WORKER_PATH}: @agoric/xsnap builds it on npm install` : `XS engine not found at ${resolved.engine.path}`,
      );
    }
    // The name is argv[1]; xsnap would read a leading '-' as a flag.
    if (!/^[\w.:-]+$/.test(resolved.name) || resolved.name.startsWith('-')) throw new XsWorkerError(`bad worker name ${resolved.name}`);
    const child = spawn(resolved.engine.path, [resolved.name, '-l', String(resolved.meteringLimit), ...resolved.engine.args], {
      // 0 stdin, 1 stdout (print), 2 stderr, 3 commands in, 4 replies out; 5-8 (debugger, profiler,
      // snapshots) are not opened.
      stdio: ['ignore', 'pipe', 'pipe', 'pipe', 'pipe'],
    });
    const worker = new XsWorker(child, resolved);
    try {
      worker.startReply = await worker.evaluate(script);
    } catch (e) {
      await worker.close();
      throw e;
    }
    return worker;
  }

  /** Evaluates `code` as a global script. The reply bytes are its value if that is an ArrayBuffer. */
  evaluate(code: string): Promise<XsReply> {
    return this.run(new Uint8Array([0x65]), new TextEncoder().encode(code)); // 'e'
  }

  /** Calls the script's globalThis.handleCommand with `message`. */
  command(message: Uint8Array): Promise<XsReply> {
    return this.run(new Uint8Array([QUERY]), message);
  }

  /** JSON over `command`: the script's handleCommand must answer JSON too. */
  async request<T>(message: unknown): Promise<{ result: T; meter: XsMeter }> {
    const { bytes, meter } = await this.command(new TextEncoder().encode(JSON.stringify(message)));
    if (bytes.length === 0) throw new XsWorkerError(`${this.options.name}: handleCommand returned no ArrayBuffer`);
    return { result: JSON.parse(new TextDecoder().decode(bytes)) as T, meter };
  }

  /**
   * Writes a heap snapshot to `path` (xsnap `w`, which collects garbage first) and resolves to its
   * size in bytes: a measure of the live heap, slots and chunks alike.
   */
  async writeSnapshot(path: string): Promise<number> {
    const { bytes } = await this.run(new Uint8Array([0x77]), new TextEncoder().encode(path)); // 'w'
    const size = Number(new TextDecoder().decode(bytes));
    if (!Number.isInteger(size)) throw new XsWorkerError(`${this.options.name}: snapshot reply is not a size`);
    return size;
  }

  /** The worker's process id, for diagnostics. */
  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Asks the worker to quit, and kills it if it has not within a second. Safe to call twice. */
  async close(): Promise<void> {
    if (this.child.pid === undefined) return; // never started
    if (!this.failure) this.write(new Uint8Array([0x71])); // 'q'
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 1000);
    await this.ended;
    clearTimeout(timer);
  }

  /** Commands run one at a time: the worker has one machine and one channel. */
  private run(...message: Uint8Array[]): Promise<XsReply> {
    const result = this.queue.then(() => this.send(message));
    this.queue = result.catch(() => undefined);
    return result;
  }

  private send(message: Uint8Array[]): Promise<XsReply> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise<XsReply>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.fail(`command timed out after ${this.options.timeoutMs} ms`);
        this.child.kill('SIGKILL');
      }, this.options.timeoutMs);
      this.pending.push({
        resolve: (r) => (clearTimeout(timer), resolve(r)),
        reject: (e) => (clearTimeout(timer), reject(e)),
      });
      this.write(...message);
    });
  }

  private write(...parts: Uint8Array[]): void {
    (this.child.stdio[3] as NodeJS.WritableStream).write(encodeNetstring(...parts));
  }

  private onData(chunk: Buffer): void {
    let messages: Uint8Array[];
    try {
      messages = this.reader.push(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.length));
    } catch (e) {
      this.fail(`protocol error: ${(e as Error).message}`);
      this.child.kill('SIGKILL');
      return;
    }
    for (const m of messages) this.onMessage(m);
  }

  private onMessage(message: Uint8Array): void {
    if (message[0] === QUERY) {
      void this.answer(message.subarray(1));
      return;
    }
    const waiter = this.pending.shift();
    if (!waiter) {
      this.fail('protocol error: a reply arrived with no command outstanding');
      this.child.kill('SIGKILL');
      return;
    }
    if (message[0] === OK) {
      // `.{meter json}\x01<bytes>`; the meter JSON is ASCII and never contains 0x01.
      const sep = message.indexOf(METER_SEPARATOR);
      const raw = sep < 0 ? {} : (JSON.parse(new TextDecoder().decode(message.subarray(1, sep))) as Partial<XsMeter>);
      const meter: XsMeter = { compute: raw.compute ?? 0, allocate: raw.allocate ?? 0, currentHeapCount: raw.currentHeapCount ?? 0 };
      if (raw.memory) meter.memory = raw.memory;
      waiter.resolve({ bytes: message.slice(sep < 0 ? 1 : sep + 1), meter });
    } else if (message[0] === ERROR) {
      // A script exception: the worker stays usable.
      waiter.reject(new XsWorkerError(`${this.options.name}: uncaught in XS: ${new TextDecoder().decode(message.subarray(1))}`));
    } else {
      waiter.reject(new XsWorkerError(`${this.options.name}: protocol error: unknown reply type ${message[0]}`));
      this.child.kill('SIGKILL');
    }
  }

  /** Answers issueCommand; a handler that throws fails the running command and ends the worker. */
  private async answer(request: Uint8Array): Promise<void> {
    const handler = this.options.onCommand;
    try {
      if (!handler) throw new Error('no onCommand handler was given for issueCommand');
      const reply = await handler(request);
      if (!(reply instanceof Uint8Array)) throw new Error('onCommand must return a Uint8Array');
      this.write(new Uint8Array([0x2f]), reply); // '/'
    } catch (e) {
      this.fail(`onCommand failed: ${(e as Error).message}`);
      this.child.kill('SIGKILL');
    }
  }

  /** The first failure wins; every waiting command is rejected with it. */
  private fail(reason: string): void {
    if (!this.failure) {
      // XS has no console: print() output and the worker's stderr are the only clues to quote.
      const printed = this.stdoutTail.trim();
      const stderr = this.stderrTail.trim();
      this.failure = new XsWorkerError(
        `${this.options.name}: ${reason}${printed ? `\nprinted: ${printed}` : ''}${stderr ? `\nstderr: ${stderr}` : ''}`,
        parseAbort(stderr),
      );
    }
    for (const p of this.pending.splice(0)) p.reject(this.failure);
  }
}
