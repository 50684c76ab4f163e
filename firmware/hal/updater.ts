/**
 * Updater: writes a new firmware image to the inactive slot and switches to it.
 *
 * The platform checks no signature (Moddable's `ota` module, ESP-IDF esp_ota_*): the core
 * hashes every chunk as it writes it, verifies OUR signature over the whole image, and only
 * then calls complete(). Until complete() the running image stays the boot image, so a bad or
 * interrupted download costs nothing but cancel().
 *
 * Order: begin(byteLength), write() until exactly byteLength bytes are written, then complete()
 * or cancel(); restart() boots the new image. Calls out of order, or writing more or fewer
 * bytes than announced, fail with PaypadError('UPDATE_STATE'); flash errors with UPDATE_FAILED.
 * Platforms without an update partition (the simulator) fail begin() with UPDATE_UNSUPPORTED.
 */
export interface Updater {
  /** Version of the running firmware, as built (manifest config.version). */
  readonly currentVersion: string;
  begin(byteLength: number): void;
  write(chunk: Uint8Array): void;
  /** Marks the written image as the next boot image. Call only after the signature check. */
  complete(): void;
  /** Abandons an update in progress; harmless when none is. */
  cancel(): void;
  /** Reboots (into the new image after complete()). Does not return on a device. */
  restart(): void;
}
