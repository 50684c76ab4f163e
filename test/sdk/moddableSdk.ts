/**
 * The Moddable SDK as the simulator tests drive it: whether it is here, an mcconfig build of the
 * repository's app for the moddable_two simulator, a headless X server, and mcsim running the
 * build with its console on stdout.
 *
 * Isolation, so a run touches nothing outside its own directory:
 * - the simulator's preference storage (its "NVS") is the file `modpreferences.json` under the
 *   SDK's `config.file.root`, `/tmp/` on Linux ($(MODDABLE)/modules/files/file/manifest.json).
 *   The build goes through a manifest of the run's own that includes the repository's
 *   manifest.json unchanged (same modules, same ESP32 creation) and points file.root at the run's
 *   directory;
 * - mcsim keeps its window settings and a copy of the app under $XDG_CONFIG_HOME, set to the
 *   run's directory too.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { accessSync, constants, copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { MemoryStorage } from '../support/memoryStorage';
import { ROOT } from '../unit/firmware/moddableModules';

/** Why the SDK tests cannot run here, or null when everything they need is present. */
export function sdkMissing(env: NodeJS.ProcessEnv = process.env): string | null {
  if (!env.MODDABLE) return 'MODDABLE is not set (the Moddable SDK is not installed here)';
  for (const tool of ['mcconfig', 'mcsim']) if (!onPath(tool, env)) return `${tool} is not on PATH ($MODDABLE/build/bin/lin/release)`;
  for (const tool of ['Xvfb', 'import']) if (!onPath(tool, env)) return `${tool} is not on PATH (apt-get install xvfb imagemagick)`;
  return null;
}

function onPath(tool: string, env: NodeJS.ProcessEnv): string | undefined {
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    const file = join(dir, tool);
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

export interface SimulatorBuild {
  /** The app library mcsim loads. */
  readonly library: string;
  /** The simulator's preference file (its NVS). */
  readonly preferences: string;
  /** mcconfig's output, for the record. */
  readonly log: string;
}

const NAME = 'paypad-sim';

/**
 * `mcconfig -m -p sim/moddable_two -t build` of the repository's manifest (through a wrapper that
 * only moves the preference file into `dir`), with `config` as key=value overrides.
 */
export async function buildSimulator(dir: string, config: Readonly<Record<string, string>>): Promise<SimulatorBuild> {
  const manifestDir = join(dir, NAME);
  const preferencesDir = join(dir, 'nvs');
  mkdirSync(manifestDir, { recursive: true });
  mkdirSync(preferencesDir, { recursive: true });
  writeFileSync(
    join(manifestDir, 'manifest.json'),
    JSON.stringify({ include: [join(ROOT, 'manifest.json')], platforms: { lin: { config: { file: { root: `${preferencesDir}/` } } } } }, null, 2),
  );
  const output = join(dir, 'build');
  mkdirSync(output, { recursive: true });
  const args = ['-m', '-p', 'sim/moddable_two', '-t', 'build', '-o', output, join(manifestDir, 'manifest.json'), ...Object.entries(config).map(([k, v]) => `${k}=${v}`)];
  // mcconfig compiles each .ts with the tsc it finds on PATH: the repository's.
  const env = { ...process.env, PATH: `${join(ROOT, 'node_modules/.bin')}${delimiter}${process.env.PATH ?? ''}` };
  const log = await new Promise<string>((resolve, reject) => {
    execFile('mcconfig', args, { cwd: ROOT, env, maxBuffer: 64 * 1024 * 1024, timeout: 40 * 60_000 }, (error, stdout, stderr) => {
      const text = `${stdout}${stderr}`;
      if (error) reject(new Error(`mcconfig ${args.join(' ')} failed (${error.code ?? error.signal}):\n${text.slice(-6000)}`));
      else resolve(text);
    });
  });
  return { library: join(output, 'bin/lin/moddable_two/release', NAME, 'mc.so'), preferences: join(preferencesDir, 'modpreferences.json'), log };
}

/** Lines of mcconfig's output that are warnings or errors about the repository's own files. */
export function projectDiagnostics(log: string): string[] {
  // tsc and xsc name our files by path; xsl names a preloaded module of ours that leaves an object
  // unfrozen or a variable not const ("### warning: shared/protocol/messages: ...: not frozen"):
  // such an object is copied from flash to RAM as soon as anything writes to it.
  return log.split('\n').filter((line) => /warning|error/i.test(line) && (line.includes(ROOT) || /^(### warning: )?(firmware|shared|platform)\//.test(line)));
}

export interface XServer {
  readonly display: string;
  stop(): Promise<void>;
}

/** Xvfb on a display number it picks itself (-displayfd), 1024x768. */
export function startXvfb(): Promise<XServer> {
  const child = spawn('Xvfb', ['-displayfd', '1', '-screen', '0', '1024x768x24', '-nolisten', 'tcp'], { stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let out = '';
    child.once('exit', (code) => reject(new Error(`Xvfb exited (${code}) before reporting its display`)));
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      const match = /^(\d+)\n/.exec(out);
      if (match) resolve({ display: `:${match[1]}`, stop: () => stopChild(child) });
    });
  });
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

export interface Simulator {
  /** Console lines so far. */
  readonly lines: readonly string[];
  /** The first line (from `from` on) matching `pattern`; rejects on a firmware stop, an XS abort or exit. */
  waitForLine(pattern: RegExp, what: string, timeoutMs?: number, from?: number): Promise<string>;
  /** The simulated device (skin and screen) in mcsim's window, as PNG, to `file`. */
  screenshot(file: string): Promise<void>;
  /** SIGTERM, as a power cut: the firmware gets no warning. */
  stop(): Promise<void>;
}

/** The mcsim window: controls pane and the device at full height. */
const WINDOW = { width: 700, height: 640 };
/** The device pane of that window, right of the controls, between menu and status bars. */
const DEVICE_PANE = { x: 320, y: 52, width: 380, height: 560 };
const FATAL = /XS abort|paypad firmware stopped/;

/** mcsim (by absolute path: it finds its device skins relative to argv[0]) running `library` on `x`. */
export function startSimulator(library: string, x: XServer, configDir: string): Simulator {
  // mcsim picks the device skin whose pattern matches the library's path (build/simulators/
  // moddable_two.js: "moddable_two/debug/.*"), else the first one: a file named that way gets the
  // Moddable Two skin for a release build (a copy: mcsim resolves symbolic links). The window is
  // made large enough for it.
  const linked = join(configDir, 'moddable_two/debug/paypad/mc.so');
  mkdirSync(dirname(linked), { recursive: true });
  copyFileSync(library, linked);
  writeFileSync(join(configDir, 'tech.moddable.mcsim.ini'), `[window]\nfullscreen=false\nmaximized=false\nx=0\ny=0\nwidth=${WINDOW.width}\nheight=${WINDOW.height}\n`);
  const mcsim = join(process.env.MODDABLE!, 'build/bin/lin/release/mcsim');
  const child = spawn('stdbuf', ['-o0', mcsim, linked], {
    env: { ...process.env, DISPLAY: x.display, XDG_CONFIG_HOME: configDir },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  const listeners = new Set<() => void>();
  let partial = '';
  const take = (chunk: string): void => {
    const parts = (partial + chunk).split('\n');
    partial = parts.pop() ?? '';
    lines.push(...parts);
    listeners.forEach((l) => l());
  };
  child.stdout!.setEncoding('utf8').on('data', take);
  child.stderr!.setEncoding('utf8').on('data', take);
  let exited = false;
  let exit = '';
  child.once('exit', (code, signal) => {
    exited = true;
    exit = signal ?? `code ${code}`;
    listeners.forEach((l) => l());
  });
  return {
    lines,
    waitForLine(pattern, what, timeoutMs = 60_000, from = 0) {
      return new Promise((resolve, reject) => {
        const done = (f: () => void): void => {
          clearTimeout(timer);
          listeners.delete(check);
          f();
        };
        const check = (): void => {
          const found = lines.slice(from).find((l) => pattern.test(l));
          if (found !== undefined) return done(() => resolve(found));
          const fatal = lines.slice(from).find((l) => FATAL.test(l));
          if (fatal !== undefined) return done(() => reject(new Error(`waiting for ${what}, the simulator said: ${fatal}\n${lines.join('\n')}`)));
          if (exited) done(() => reject(new Error(`mcsim exited (${exit}) before ${what}:\n${lines.join('\n')}`)));
        };
        const timer = setTimeout(() => done(() => reject(new Error(`no ${what} within ${timeoutMs} ms:\n${lines.join('\n')}`))), timeoutMs);
        listeners.add(check);
        check();
      });
    },
    screenshot(file) {
      return new Promise((resolve, reject) => {
        const crop = `${DEVICE_PANE.width}x${DEVICE_PANE.height}+${DEVICE_PANE.x}+${DEVICE_PANE.y}`;
        execFile('import', ['-display', x.display, '-window', 'root', '-crop', crop, '+repage', file], (error) => (error ? reject(error) : resolve()));
      });
    },
    stop: () => stopChild(child),
  };
}

/**
 * The simulator's preference file as HAL Storage: the SDK's Linux preference module keeps one
 * JSON object, domain -> key -> value, with ArrayBuffer values as `{ buffer: "1,2,3" }`.
 */
export function readSimulatorStorage(file: string): MemoryStorage {
  const json = JSON.parse(readFileSync(file, 'utf8')) as Record<string, Record<string, unknown>>;
  const storage = new MemoryStorage();
  for (const [namespace, entries] of Object.entries(json)) {
    for (const [key, value] of Object.entries(entries)) {
      const buffer = (value as { buffer?: unknown } | null)?.buffer;
      if (typeof buffer !== 'string') throw new Error(`${file}: ${namespace}/${key} is not a byte value`);
      storage.set(namespace, key, Uint8Array.from(buffer.split(',').map(Number)));
    }
  }
  return storage;
}

/**
 * Sets one value in the simulator's preference file (stopped), as the terminal would have stored
 * it: for a state the test cannot wait for in real time, such as a scheduled time long passed.
 */
export function writeSimulatorValue(file: string, namespace: string, key: string, value: Uint8Array): void {
  const json = JSON.parse(readFileSync(file, 'utf8')) as Record<string, Record<string, unknown>>;
  json[namespace] = { ...(json[namespace] ?? {}), [key]: { buffer: Array.from(value).join(',') } };
  writeFileSync(file, JSON.stringify(json));
}
