/**
 * The program image an Updater is writing (firmware/hal/updater.ts): its announced size and how
 * many bytes of it are written, and the rules every platform's Updater keeps for it: chunks in
 * order from where the image ends (writing again at an earlier offset is allowed: a progress record
 * that lagged behind a power cut), nothing past the announced size, reads only of bytes written,
 * the switch only once it is whole. Refusals are PaypadError UPDATE_STATE (BAD_ARGUMENT for a size).
 * Runs in XS: no Node APIs.
 */
import { PaypadError } from 'shared/errors';

export class ImageWrite {
  readonly size: number;
  #written: number;

  private constructor(size: number, written: number) {
    this.size = size;
    this.#written = written;
  }

  /** A new image of `size` bytes. */
  static begin(size: number): ImageWrite {
    checkSize(size);
    return new ImageWrite(size, 0);
  }

  /** An image of `size` bytes begun before, of which `written` are held (the platform checked it holds them). */
  static resume(size: number, written: number): ImageWrite {
    checkSize(size);
    if (!Number.isSafeInteger(written) || written < 0 || written > size) {
      throw new PaypadError('UPDATE_STATE', `update: ${written} of ${size} bytes cannot be resumed`);
    }
    return new ImageWrite(size, written);
  }

  get written(): number {
    return this.#written;
  }

  /** Checks a write of `chunk` at `offset`; call wrote() once it is in flash. */
  checkWrite(offset: number, chunk: Uint8Array): void {
    if (!(chunk instanceof Uint8Array) || !Number.isSafeInteger(offset) || offset < 0 || offset > this.#written || offset + chunk.length > this.size) {
      throw new PaypadError('UPDATE_STATE', `update: a write at ${offset} does not continue the ${this.#written} of ${this.size} bytes written`);
    }
  }

  wrote(offset: number, length: number): void {
    if (offset + length > this.#written) this.#written = offset + length;
  }

  checkRead(offset: number, length: number): void {
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 1 || offset + length > this.#written) {
      throw new PaypadError('UPDATE_STATE', `update: read outside the ${this.#written} bytes written`);
    }
  }

  checkComplete(): void {
    if (this.#written !== this.size) throw new PaypadError('UPDATE_STATE', `update: complete() after ${this.#written} of ${this.size} bytes`);
  }
}

/** The image being written, or UPDATE_STATE naming the call made before any. */
export function imageInProgress(image: ImageWrite | undefined, what: string): ImageWrite {
  if (image === undefined) throw new PaypadError('UPDATE_STATE', `update: ${what} before begin() or resume()`);
  return image;
}

function checkSize(size: number): void {
  if (!Number.isSafeInteger(size) || size < 1) throw new PaypadError('BAD_ARGUMENT', 'update: byteLength must be a positive integer');
}
