/**
 * The device budget, in one place: the JavaScript memory a plain ESP32 gives the firmware (the
 * `creation` of the repository's manifest.json, read here so the two cannot drift) and the share
 * of it the firmware core may use at its peak. The budget tests (test/xs/terminal.budget.test.ts)
 * assert against these targets; bench/xs-device-budget.ts reports against them.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** XS memory of a machine, as the manifest's `creation` gives it (growth must be 0). */
export interface Creation {
  /** Chunk heap bytes: strings, ArrayBuffer and typed-array data, BigInts, closures' scopes. */
  readonly chunk: number;
  /** Heap slots: objects, properties, array items, environment records. */
  readonly heap: number;
  /** Stack slots (arguments, locals, temporaries of the calls in progress). */
  readonly stack: number;
  /** Keys (property names) the app may create at run time; the code's own names are in flash. */
  readonly keys: number;
  readonly nameModulo: number;
  readonly symbolModulo: number;
}

export type Resource = 'chunks' | 'slots' | 'stack';

export const RESOURCES: readonly Resource[] = ['chunks', 'slots', 'stack'];

/** XS slot size on the ESP32 (32-bit); on a 64-bit host, where the tests run, a slot is 32 bytes. */
export const ESP32_SLOT_BYTES = 16;
export const HOST_SLOT_BYTES = 32;

const MANIFEST = fileURLToPath(new URL('../../../manifest.json', import.meta.url));

interface ManifestCreation {
  chunk: { initial: number; incremental: number };
  heap: { initial: number; incremental: number };
  stack: number;
  keys: { initial: number; incremental: number; name: number; symbol: number };
}

/**
 * The manifest's creation; throws if it lets memory grow, which would make every budget moot. The
 * keys are given as `initial` with `incremental` 0: the SDK's base manifest sets keys.initial 32
 * and incremental 32, and mcconfig takes `initial` over `available`, so `available` alone left the
 * key table growing on the device.
 */
export function readCreation(path = MANIFEST): Creation {
  const { creation } = JSON.parse(readFileSync(path, 'utf8')) as { creation: ManifestCreation };
  if (creation.chunk.incremental !== 0 || creation.heap.incremental !== 0 || creation.keys.incremental !== 0 || !Number.isInteger(creation.keys.initial)) {
    throw new Error(`${path}: creation.chunk/heap/keys.incremental must be 0 and keys.initial set (a fixed heap, as on the board)`);
  }
  return {
    chunk: creation.chunk.initial,
    heap: creation.heap.initial,
    stack: creation.stack,
    keys: creation.keys.initial,
    nameModulo: creation.keys.name,
    symbolModulo: creation.keys.symbol,
  };
}

/** A plain ESP32 (no PSRAM): 78,848 chunk bytes, 4,928 slots, 512 stack slots, 256 keys. */
export const ESP32_CREATION: Creation = readCreation();

/** The manifest's `preload` entries. */
export const MANIFEST_PRELOAD: readonly string[] = (JSON.parse(readFileSync(MANIFEST, 'utf8')) as { preload?: string[] }).preload ?? [];

/**
 * The modules `patterns` (as the manifest's `preload`) name, as mcconfig 8.2 matches them
 * (tools/mcconfig.js filterPreload): a name without `*` names that module; with one, the text
 * before the last `*` is a prefix, and it matches JavaScript modules only, not TypeScript ones.
 */
export function preloadedBy(patterns: readonly string[], modules: readonly { name: string; typescript: boolean }[]): string[] {
  return modules
    .filter(({ name, typescript }) =>
      patterns.some((pattern) => {
        const star = pattern.lastIndexOf('*');
        return star < 0 ? name === pattern : !typescript && name.startsWith(pattern.slice(0, star));
      }),
    )
    .map((m) => m.name);
}

/**
 * The most of each resource the firmware core may hold at its peak during onboarding (boot, TK
 * generation and export with ECDH, TMK download, sign-on), as a share of the creation.
 *
 * 60 %, the same for all three, because the rest is already spoken for on the device and is not
 * in this measurement: the TLS handshake of Moddable's secure socket (about 10 KB of chunks, 6 KB
 * of slots and 4 KB of stack while it runs: Moddable documentation/network/securesocket.md), the
 * ECMA-419 HTTP client and socket objects, and the payment and update applications still to come,
 * which must run beside the key-loading core without a reboot.
 */
export const ONBOARDING_TARGET: Readonly<Record<Resource, number>> = { chunks: 0.6, slots: 0.6, stack: 0.6 };

export const TARGET_REASON =
  'the rest of the creation is kept for what this harness does not run: Moddable\'s TLS handshake (~10 KB chunks, ~6 KB slots, ~4 KB stack), the HTTP client and sockets, and the payment and update apps to come';

/** The creation's amount of `resource`: bytes for chunks, slots for slots and stack. */
export function capacity(resource: Resource, creation: Creation = ESP32_CREATION): number {
  return resource === 'chunks' ? creation.chunk : resource === 'slots' ? creation.heap : creation.stack;
}

/** The target as an amount (rounded down): what a peak may reach. */
export function targetAmount(resource: Resource, creation: Creation = ESP32_CREATION): number {
  return Math.floor(capacity(resource, creation) * ONBOARDING_TARGET[resource]);
}
