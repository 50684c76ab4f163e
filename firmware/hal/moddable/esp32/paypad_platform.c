/*
 * Native functions bound to JavaScript through XS FFI (Moddable SDK, documentation/xs/XS FFI.md).
 * manifest.json's "ffi" block declares them; mcconfig generates the glue (mc.ffi.c) and the
 * `mc/ffi` module. This file is the ESP32 implementation; host/paypad_platform.c is the
 * simulator's. Both define the same functions with the same signatures.
 */
#include <stdint.h>
#include "esp_ota_ops.h"
#include "esp_partition.h"
#include "esp_random.h"
#include "esp_system.h"

/*
 * Fills length bytes at buffer from the hardware RNG. True random while the RF subsystem runs
 * (Wi-Fi is started before the app: ESP-IDF Programming Guide, "Random Number Generation").
 * A wrapper rather than binding esp_fill_random directly: FFI has no size_t type, and the glue's
 * own prototype for esp_fill_random would not match ESP-IDF's. Returns 0 (it cannot fail).
 * The JavaScript side (hal/moddable/rng.ts) guarantees length == the ArrayBuffer's size.
 */
int32_t paypad_fill_random(void *buffer, uint32_t length)
{
	esp_fill_random(buffer, (size_t)length);
	return 0;
}

/* Reboots; after Updater.complete() the new image boots. */
void paypad_restart(void)
{
	esp_restart();
}

/*
 * Program slots (esp32/updater.ts). The slot an update goes to is the OTA partition the running
 * program is not in (esp_ota_get_next_update_partition); it stays the same across restarts until
 * a switch, which is what lets a download resume after a power cut. Each function returns an
 * esp_err_t: 0 (ESP_OK) or the ESP-IDF error.
 */
static const esp_partition_t *paypad_slot(void)
{
	return esp_ota_get_next_update_partition(NULL);
}

/* Erases the slot's first length bytes, whole sectors, so that any byte of an image that long can be written once. */
int32_t paypad_slot_erase(uint32_t length)
{
	const esp_partition_t *slot = paypad_slot();
	if (NULL == slot)
		return ESP_ERR_NOT_FOUND;
	uint32_t sector = slot->erase_size ? slot->erase_size : 4096;
	uint32_t span = ((length + sector - 1) / sector) * sector;
	if ((0 == length) || (span > slot->size))
		return ESP_ERR_INVALID_SIZE;
	return esp_partition_erase_range(slot, 0, span);
}

/* Writes length bytes at offset into the slot (erased by paypad_slot_erase; the same bytes may be written again). */
int32_t paypad_slot_write(uint32_t offset, void *data, uint32_t length)
{
	const esp_partition_t *slot = paypad_slot();
	if (NULL == slot)
		return ESP_ERR_NOT_FOUND;
	if ((offset > slot->size) || (length > slot->size - offset))
		return ESP_ERR_INVALID_SIZE;
	return esp_partition_write(slot, offset, data, length);
}

/* Reads length bytes at offset from the slot: the image as the flash holds it, for the whole-image hash. */
int32_t paypad_slot_read(uint32_t offset, void *data, uint32_t length)
{
	const esp_partition_t *slot = paypad_slot();
	if (NULL == slot)
		return ESP_ERR_NOT_FOUND;
	if ((offset > slot->size) || (length > slot->size - offset))
		return ESP_ERR_INVALID_SIZE;
	return esp_partition_read(slot, offset, data, length);
}

/*
 * Makes the slot the boot partition. ESP-IDF checks the app image first (header, segments,
 * checksum, and its SHA-256 when the image carries one) and refuses one that does not verify.
 * With CONFIG_BOOTLOADER_APP_ROLLBACK_ENABLE (esp32/sdkconfig) the new program boots on trial.
 */
int32_t paypad_slot_activate(void)
{
	const esp_partition_t *slot = paypad_slot();
	if (NULL == slot)
		return ESP_ERR_NOT_FOUND;
	return esp_ota_set_boot_partition(slot);
}

/* How this start came about: 1 on trial (never confirmed), 2 after a rollback, 0 otherwise. */
int32_t paypad_start_state(void)
{
	esp_ota_img_states_t state;
	const esp_partition_t *running = esp_ota_get_running_partition();
	if ((NULL != running) && (ESP_OK == esp_ota_get_state_partition(running, &state)) && (ESP_OTA_IMG_PENDING_VERIFY == state))
		return 1;
	const esp_partition_t *invalid = esp_ota_get_last_invalid_partition();
	if ((NULL != invalid) && (ESP_OK == esp_ota_get_state_partition(invalid, &state)) && (ESP_OTA_IMG_ABORTED == state))
		return 2;
	return 0;
}

/* The running program is good: the bootloader keeps it (ends the trial). */
int32_t paypad_confirm(void)
{
	return esp_ota_mark_app_valid_cancel_rollback();
}
