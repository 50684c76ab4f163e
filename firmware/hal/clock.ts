/**
 * Clock: wall time for certificates and receipts, monotonic time for timeouts.
 *
 * An ESP32 boots at 1970 with no battery-backed clock. The host's time (carried in a MAC'd
 * response) is the reference, so the core sets the clock, and until then isSet() is false:
 * TLS rejects every certificate as not yet valid, and nothing may stamp a record.
 *
 * monotonic() is the only time to measure intervals with: the wall clock jumps when it is set.
 */
export interface Clock {
  /** Wall-clock milliseconds since 1970-01-01T00:00:00Z. Meaningless while !isSet(). */
  now(): number;
  /** Milliseconds since an arbitrary start; never decreases, unaffected by set(). */
  monotonic(): number;
  /**
   * Sets wall time (ms since the epoch). Rejects values before CLOCK_EARLIEST or after
   * CLOCK_LATEST with PaypadError('BAD_ARGUMENT'): such a value is a fault, not a time.
   */
  set(epochMs: number): void;
  /** True once the wall clock holds a plausible time. */
  isSet(): boolean;
}

/** 2025-01-01T00:00:00Z: no real time is earlier than this firmware. */
export const CLOCK_EARLIEST = 1_735_689_600_000;
/** 2100-01-01T00:00:00Z: later values are corrupt input. */
export const CLOCK_LATEST = 4_102_444_800_000;
