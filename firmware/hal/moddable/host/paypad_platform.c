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
