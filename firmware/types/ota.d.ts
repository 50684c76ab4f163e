/**
 * Moddable's ESP32 `ota` module ($(MODDABLE)/build/devices/esp32/modules/ota), which the npm
 * @moddable/typings package does not describe. Methods throw on ESP-IDF errors.
 */
declare module 'ota' {
  export default class OTA {
    /** esp_ota_begin on the next update partition; byteLength bounds the erase. */
    constructor(options?: { byteLength?: number });
    /** esp_ota_write of the bytes, in order. */
    write(data: ArrayBuffer | ArrayBufferView): void;
    /** esp_ota_end (validates the image) and esp_ota_set_boot_partition. Does not reboot. */
    complete(): void;
    /** Abandons the update; safe to call more than once. */
    cancel(): void;
  }
}
