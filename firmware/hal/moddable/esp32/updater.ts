/**
 * Updater over Moddable's ESP32 `ota` module (esp_ota_begin/write/end, esp_ota_set_boot_partition;
 * the module's manifest splits the factory partition into ota_0/ota_1 + otadata).
 *
 * The module trusts whatever it is given, so this adapter only enforces the order and the byte
 * count; the core verifies our signature before complete(). ESP-IDF itself rejects an image
 * whose header or checksum is wrong at esp_ota_end (complete() then fails with UPDATE_FAILED).
 * Any failure cancels, so the inactive slot never holds a half-written image marked bootable.
 * Mapped as module "platform/updater" for esp32 builds only (manifest.json).
 *
 * What the `ota` module does not offer, this adapter does not pretend to (docs/updates.md "Not
 * done"): writing at an offset (esp_ota_write_with_offset) after a restart, so resume() continues
 * only an update begun since this start and otherwise fails UPDATE_UNSUPPORTED (the core then
 * begins again); reading the slot back (esp_partition_read), which the core needs only to re-hash
 * a resumed image; and app rollback (esp_ota_mark_app_valid_cancel_rollback with
 * CONFIG_BOOTLOADER_APP_ROLLBACK_ENABLE), so every start is 'normal' and confirm() has nothing to mark.
 */
/// <reference path="../../../types/ota.d.ts" />
import FFI from 'mc/ffi';
import OTA from 'ota';
import { PaypadError } from 'shared/errors';
import type { Storage } from '../../storage';
import type { Updater } from '../../updater';

/** `_bootRecord` is unused here: ESP-IDF keeps the boot partition in otadata itself. */
export function createUpdater(currentVersion: string, _bootRecord: Storage): Updater {
  let ota: OTA | undefined;
  let expected = 0;
  let written = 0;

  const abandon = (): void => {
    try {
      ota?.cancel();
    } finally {
      ota = undefined;
      expected = written = 0;
    }
  };
  const failure = (code: 'UPDATE_STATE' | 'UPDATE_FAILED', message: string): PaypadError => {
    abandon();
    return new PaypadError(code, `update: ${message}`);
  };

  return {
    currentVersion,
    startKind: 'normal',
    begin(byteLength: number) {
      if (ota) throw new PaypadError('UPDATE_STATE', 'update: begin() while an update is in progress');
      if (!Number.isInteger(byteLength) || byteLength < 1) throw new PaypadError('BAD_ARGUMENT', 'update: byteLength must be a positive integer');
      try {
        // Announcing the size lets esp_ota_begin erase only what the image needs, and fail now
        // if the image cannot fit the partition.
        ota = new OTA({ byteLength });
      } catch (e) {
        throw failure('UPDATE_FAILED', `cannot start a ${byteLength}-byte update (${reason(e)})`);
      }
      expected = byteLength;
      written = 0;
    },
    resume(byteLength: number, at: number) {
      if (ota && byteLength === expected && at === written) return;
      throw new PaypadError('UPDATE_UNSUPPORTED', 'update: the ota module cannot continue an image begun before this start');
    },
    write(offset: number, chunk: Uint8Array) {
      if (!ota) throw new PaypadError('UPDATE_STATE', 'update: write() before begin()');
      if (!(chunk instanceof Uint8Array)) throw failure('UPDATE_STATE', 'write() expects Uint8Array');
      if (offset !== written) throw failure('UPDATE_STATE', `the ota module writes in order: a write at ${offset}, ${written} bytes written`);
      if (written + chunk.length > expected) throw failure('UPDATE_STATE', `more than the announced ${expected} bytes`);
      try {
        ota.write(chunk);
      } catch (e) {
        throw failure('UPDATE_FAILED', `flash write failed at byte ${written} (${reason(e)})`);
      }
      written += chunk.length;
    },
    read() {
      throw new PaypadError('UPDATE_UNSUPPORTED', 'update: the ota module cannot read the slot back');
    },
    complete() {
      if (!ota) throw new PaypadError('UPDATE_STATE', 'update: complete() before begin()');
      if (written !== expected) throw failure('UPDATE_STATE', `complete() after ${written} of ${expected} bytes`);
      try {
        ota.complete();
      } catch (e) {
        throw failure('UPDATE_FAILED', `the image was not accepted (${reason(e)})`);
      }
      ota = undefined;
    },
    cancel: abandon,
    confirm() {
      // No rollback without the bootloader option (above): the running image is already final.
    },
    restart() {
      new FFI().paypad_restart();
    },
  };
}

function reason(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
