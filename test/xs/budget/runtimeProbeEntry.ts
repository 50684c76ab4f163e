/**
 * A script for the device-runtime tests (test/xs/budget.runtime.test.ts): handleCommand runs one
 * named probe of what the Moddable runtime differs in from xsnap, and answers JSON (UTF-8 through
 * shared/bytes: there is no TextEncoder to use).
 * Runs in XS: no Node APIs.
 */
import { randomBytes } from '@noble/hashes/utils.js';
import { bytesToUtf8, utf8ToBytes } from '../../../shared/bytes';
import { PaypadError, isPaypadError } from '../../../shared/errors';

export type RuntimeProbe = 'paypadError' | 'assignedName' | 'nobleRandom';

function outcome(work: () => unknown): unknown {
  try {
    return { ok: work() };
  } catch (e) {
    return { threw: e instanceof Error ? `${e.name}: ${e.message}` : String(e) };
  }
}

/** An Error subclass that names itself by assignment, as PaypadError once did. */
class AssigningError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AssigningError';
  }
}

const probes: Record<RuntimeProbe, () => unknown> = {
  paypadError: () => {
    const e = new PaypadError('BAD_ARGUMENT', 'probe');
    return { name: e.name, code: e.code, message: e.message, isPaypadError: isPaypadError(e, 'BAD_ARGUMENT'), isError: e instanceof Error };
  },
  assignedName: () => new AssigningError('probe').name,
  nobleRandom: () => randomBytes(16).length,
};

(globalThis as unknown as { handleCommand: (message: ArrayBuffer) => ArrayBuffer }).handleCommand = (message) => {
  const probe = bytesToUtf8(new Uint8Array(message)) as RuntimeProbe;
  const bytes = utf8ToBytes(JSON.stringify(outcome(probes[probe])));
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length) as ArrayBuffer;
};
