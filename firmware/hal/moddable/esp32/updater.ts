/**
 * Updater on the ESP32 (firmware/hal/updater.ts): the OTA partition the running program is not in
 * is the slot, written and read back at any offset through ESP-IDF's partition API, switched with
 * esp_ota_set_boot_partition, and kept or rolled back by ESP-IDF's app rollback
 * (CONFIG_BOOTLOADER_APP_ROLLBACK_ENABLE, esp32/sdkconfig). The C side is esp32/paypad_platform.c,
 * bound through XS FFI. Mapped as module "platform/updater" for esp32 builds only (manifest.json);
 * the `ota` module's manifest is included for its partition layout (the factory partition split
 * into ota_0 and ota_1 with otadata), not for the module.
 *
 *   begin      erases as many sectors of the slot as the image needs
 *   resume     the slot keeps what was written before a restart (the same slot until a switch);
 *              the core's progress record says how much, and its whole-image hash checks it
 *   write      at the offset, into erased flash (writing the same bytes again is harmless)
 *   read       the flash as it holds the image, for the whole-image hash before the switch
 *   complete   ESP-IDF verifies the app image and makes it the boot partition; it boots on trial
 *   startKind  'trial' while the running image is ESP_OTA_IMG_PENDING_VERIFY, 'rolledBack' after
 *              the bootloader aborted an unconfirmed trial
 *   confirm    esp_ota_mark_app_valid_cancel_rollback
 *
 * The version is the running build's (manifest config.version): a new program is a new build.
 */
import FFI from 'mc/ffi';
import { ImageWrite, imageInProgress } from 'firmware/core/imageWrite';
import { PaypadError } from 'shared/errors';
import type { Storage } from '../../storage';
import type { StartKind, Updater } from '../../updater';

const START_KINDS: readonly StartKind[] = Object.freeze(['normal', 'trial', 'rolledBack']);

/** `_bootRecord` is unused here: ESP-IDF keeps the boot partition and the trial in otadata itself. */
export function createUpdater(currentVersion: string, _bootRecord: Storage): Updater {
  const native = new FFI();
  let image: ImageWrite | undefined;

  const check = (err: number, what: string): void => {
    if (err !== 0) throw new PaypadError('UPDATE_FAILED', `update: ${what} failed (esp_err_t 0x${err.toString(16)})`);
  };

  return {
    currentVersion,
    startKind: START_KINDS[native.paypad_start_state()] ?? 'normal',
    begin(byteLength) {
      image = undefined;
      const next = ImageWrite.begin(byteLength);
      check(native.paypad_slot_erase(byteLength), `erasing ${byteLength} bytes of the update partition`);
      image = next;
    },
    resume(byteLength, written) {
      // The partition keeps what was written before the restart; the core's whole-image hash checks it.
      image = ImageWrite.resume(byteLength, written);
    },
    write(offset, chunk) {
      const state = imageInProgress(image, 'write()');
      state.checkWrite(offset, chunk);
      // FFI passes whole ArrayBuffers; a chunk may be a view into a larger one.
      const bytes = chunk.byteOffset === 0 && chunk.byteLength === chunk.buffer.byteLength ? chunk.buffer : chunk.slice().buffer;
      check(native.paypad_slot_write(offset, bytes as ArrayBuffer, chunk.length), `flash write at byte ${offset}`);
      state.wrote(offset, chunk.length);
    },
    read(offset, length) {
      imageInProgress(image, 'read()').checkRead(offset, length);
      const bytes = new ArrayBuffer(length);
      check(native.paypad_slot_read(offset, bytes, length), `flash read at byte ${offset}`);
      return new Uint8Array(bytes);
    },
    complete() {
      imageInProgress(image, 'complete()').checkComplete();
      check(native.paypad_slot_activate(), 'making the image the boot image (ESP-IDF checks it first)');
      image = undefined;
    },
    cancel() {
      image = undefined;
    },
    confirm() {
      if (this.startKind === 'trial') check(native.paypad_confirm(), 'marking the running image valid');
    },
    restart() {
      native.paypad_restart();
    },
  };
}
