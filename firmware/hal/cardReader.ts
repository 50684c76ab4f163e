/**
 * CardReader: a magnetic-stripe swipe, delivered as track data.
 *
 * Track data holds the PAN, so it travels as bytes (which the caller wipes), never as strings
 * (which cannot be wiped), and adapters never log it. The core encrypts it under the TDK before
 * it leaves the terminal (ARCHITECTURE §4).
 *
 * Tracks are the characters between the start and end sentinels (ISO/IEC 7813: track 1 starts
 * with '%' and has at most 79 characters, track 2 starts with ';' and has at most 40), without
 * the sentinels and the LRC. A swipe where neither track could be read is 'unreadable', so the
 * core can ask for another swipe.
 */
export type Swipe =
  | { status: 'read'; track1?: Uint8Array; track2?: Uint8Array }
  | { status: 'unreadable' }
  | { status: 'timeout' };

export interface CardReader {
  /**
   * The next swipe, or { status: 'timeout' } after timeoutMs. Swipes made while nobody waits
   * are discarded (a card is swiped in answer to a prompt). One reader at a time: a second
   * concurrent call fails with PaypadError('DEVICE_BUSY').
   */
  readSwipe(timeoutMs: number): Promise<Swipe>;
}

/** ISO/IEC 7813 maximum data characters per track. */
export const TRACK1_MAX = 79;
export const TRACK2_MAX = 40;
