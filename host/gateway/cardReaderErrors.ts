/**
 * Why the gateway could not get a card read from a checkout's reader (E4; docs/card-readers.md).
 * Each is a PaypadError with a stable code; none carries card data.
 */
import { PaypadError } from '../../shared/errors';
import type { CardReadFailure } from '../../shared/protocol/cardReadMessages';

/** No reader is paired with this checkout, or the reader is paired with another one. */
export class CardReaderNotPaired extends PaypadError {
  constructor(message: string) {
    super('CARD_READER_NOT_PAIRED', message);
  }
}

/** The checkout's reader is not connected, or its connection ended (unplugged, heartbeats stopped) while a read was waiting. */
export class CardReaderDisconnected extends PaypadError {
  readonly readerId: string;
  readonly midRead: boolean;
  constructor(readerId: string, midRead: boolean) {
    super('CARD_READER_DISCONNECTED', midRead ? `card reader ${readerId} disconnected during the card read` : `card reader ${readerId} is not connected`);
    this.readerId = readerId;
    this.midRead = midRead;
  }
}

/** The reader answered but has no card read: no swipe in time, an unreadable card, no keys, the PIN cancelled. */
export class CardReadFailed extends PaypadError {
  readonly reason: CardReadFailure;
  constructor(readerId: string, reason: CardReadFailure) {
    super('CARD_READ_FAILED', `card reader ${readerId}: ${REASONS[reason]}`);
    this.reason = reason;
  }
}

const REASONS: Readonly<Record<CardReadFailure, string>> = Object.freeze({
  timeout: 'no card was swiped in time',
  unreadable: 'the card could not be read; swipe again',
  busy: 'the reader is already reading a card',
  'no-keys': 'the reader has no card data keys (it needs key injection)',
  'no-pin-pad': 'the reader has no keypad for the PIN',
  cancelled: 'the read was cancelled (the PIN entry, or the checkout unpaired)',
});
