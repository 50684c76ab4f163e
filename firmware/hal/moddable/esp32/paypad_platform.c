/*
 * Native functions bound to JavaScript through XS FFI (Moddable SDK, documentation/xs/XS FFI.md).
 * manifest.json's "ffi" block declares them; mcconfig generates the glue (mc.ffi.c) and the
 * `mc/ffi` module. This file is the ESP32 implementation; host/paypad_platform.c is the
 * simulator's. Both define the same functions with the same signatures.
 */
#include <stdint.h>
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
