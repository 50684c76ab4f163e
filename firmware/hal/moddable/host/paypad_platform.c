/*
 * Native functions bound to JavaScript through XS FFI (Moddable SDK, documentation/xs/XS FFI.md),
 * simulator implementation: the host operating system's CSPRNG. Same functions and signatures
 * as esp32/paypad_platform.c. Any other platform fails to build rather than get weak randomness.
 */
#include <stdint.h>
#include <stdlib.h>

#if defined(__APPLE__)
	/* arc4random_buf: the kernel CSPRNG on macOS; never fails. */
#elif defined(__linux__)
	#include <errno.h>
	#include <sys/random.h>
#else
	#error "paypad: no secure random source for this platform"
#endif

/* Fills length bytes at buffer. Returns 0, or -1 if the OS could not supply them. */
int32_t paypad_fill_random(void *buffer, uint32_t length)
{
#if defined(__APPLE__)
	arc4random_buf(buffer, length);
	return 0;
#else
	uint8_t *at = buffer;
	while (length > 0) {
		ssize_t got = getrandom(at, length, 0);
		if (got < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		at += got;
		length -= (uint32_t)got;
	}
	return 0;
#endif
}

/* The simulator has nothing to reboot into; the host Updater never calls this. */
void paypad_restart(void)
{
	exit(EXIT_SUCCESS);
}

/*
 * Program slots: the simulator keeps its slots as files (host/updater.ts) and never calls these.
 * They exist because the "ffi" block is the same for every platform; each refuses with -1.
 */
int32_t paypad_slot_erase(uint32_t length)
{
	(void)length;
	return -1;
}

int32_t paypad_slot_write(uint32_t offset, void *data, uint32_t length)
{
	(void)offset, (void)data, (void)length;
	return -1;
}

int32_t paypad_slot_read(uint32_t offset, void *data, uint32_t length)
{
	(void)offset, (void)data, (void)length;
	return -1;
}

int32_t paypad_slot_activate(void)
{
	return -1;
}

int32_t paypad_start_state(void)
{
	return 0;
}

int32_t paypad_confirm(void)
{
	return -1;
}
