/**
 * Updater: writes a new program image into the inactive slot, switches to it, and takes it back
 * when the new program does not confirm itself (docs/updates.md "On the terminal").
 *
 * The platform checks no signature (Moddable's `ota` module, ESP-IDF esp_ota_*): the core MACs
 * every chunk before it is written, hashes the whole slot through read() and verifies OUR
 * signature, and only then calls complete(). Until complete() the running image stays the boot
 * image, so a bad or interrupted download costs nothing.
 *
 * Resumable: the core keeps in its Storage how many bytes of which image it wrote; after a power
 * cut it calls resume(byteLength, written) and goes on writing at `written`. write() takes the
 * offset it writes at, which must be where the image so far ends (chunks in order, once each;
 * writing again at an earlier offset, after a progress record that lagged behind a power cut,
 * overwrites the same bytes).
 *
 * Switching: complete(version) makes the inactive slot the next boot image ON TRIAL, atomically
 * (a power cut leaves either the old or the new program to boot, never neither). The first start
 * of a trial image reports `startKind` 'trial'; it must call confirm(). A start that finds the
 * trial never confirmed goes back to the previous slot and reports 'rolledBack' (ESP-IDF's app
 * rollback: ESP_OTA_IMG_PENDING_VERIFY, esp_ota_mark_app_valid_cancel_rollback).
 *
 * Calls out of order, or writing past the announced size, fail with PaypadError('UPDATE_STATE');
 * flash errors with UPDATE_FAILED. Platforms without an update partition (the simulator) fail
 * begin() with UPDATE_UNSUPPORTED.
 */
export type StartKind = 'normal' | 'trial' | 'rolledBack';

export interface Updater {
  /** Version of the running program: as built (manifest config.version), or as installed. */
  readonly currentVersion: string;
  /** How this start came about (see above); read it once at boot. */
  readonly startKind: StartKind;
  /** Starts a new image of `byteLength` bytes in the inactive slot; what was there is discarded. */
  begin(byteLength: number): void;
  /**
   * Goes on with the image of `byteLength` bytes begun before this start, of which the caller
   * recorded `written` bytes. UPDATE_STATE when the slot does not hold that much of it (the caller
   * then begins again); UPDATE_UNSUPPORTED on a platform that cannot resume.
   */
  resume(byteLength: number, written: number): void;
  /** Writes `chunk` at `offset` (at most the bytes written so far). */
  write(offset: number, chunk: Uint8Array): void;
  /** `length` bytes of the image being written, from `offset`, for the whole-image hash. */
  read(offset: number, length: number): Uint8Array;
  /** Makes the written image the next boot image, on trial; `version` is the manifest's. Call only after every check. */
  complete(version: string): void;
  /** Abandons an update in progress; harmless when none is. */
  cancel(): void;
  /** The running program is good: no rollback at the next start. Harmless when not on trial. */
  confirm(): void;
  /** Reboots (into the new image after complete()). Does not return on a device. */
  restart(): void;
}
