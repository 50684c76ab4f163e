/**
 * An in-memory HAL Storage for tests. It enforces the same name and value limits as the device
 * adapters (firmware/hal/storage), copies values in and out as NVS does, and lets a test make a
 * write fail to see what the caller leaves behind.
 */
import { PaypadError } from '../../shared/errors';
import { type Storage, storageNameProblem, storageValueProblem } from '../../firmware/hal/storage';

export type StorageWrite = { readonly op: 'set' | 'delete'; readonly namespace: string; readonly key: string };

export class MemoryStorage implements Storage {
  readonly #namespaces = new Map<string, Map<string, Uint8Array>>();
  /** Called before every set and delete; throw from it to simulate a flash failure. */
  beforeWrite: ((write: StorageWrite) => void) | undefined;

  get(namespace: string, key: string): Uint8Array | undefined {
    checkNames(namespace, key);
    return this.#namespaces.get(namespace)?.get(key)?.slice();
  }

  set(namespace: string, key: string, value: Uint8Array): void {
    checkNames(namespace, key);
    const problem = storageValueProblem(value);
    if (problem) throw new PaypadError('STORAGE_LIMIT', problem);
    this.beforeWrite?.({ op: 'set', namespace, key });
    let entries = this.#namespaces.get(namespace);
    if (!entries) this.#namespaces.set(namespace, (entries = new Map()));
    entries.set(key, value.slice());
  }

  delete(namespace: string, key: string): void {
    checkNames(namespace, key);
    this.beforeWrite?.({ op: 'delete', namespace, key });
    this.#namespaces.get(namespace)?.delete(key);
  }

  keys(namespace: string): string[] {
    const problem = storageNameProblem('namespace', namespace);
    if (problem) throw new PaypadError('STORAGE_LIMIT', problem);
    return [...(this.#namespaces.get(namespace)?.keys() ?? [])];
  }

  /** Every stored value, for tests that search the whole store (X1: nothing secret in clear). */
  allValues(): Uint8Array[] {
    const out: Uint8Array[] = [];
    for (const entries of this.#namespaces.values()) for (const value of entries.values()) out.push(value.slice());
    return out;
  }
}

function checkNames(namespace: string, key: string): void {
  const problem = storageNameProblem('namespace', namespace) ?? storageNameProblem('key', key);
  if (problem) throw new PaypadError('STORAGE_LIMIT', problem);
}
