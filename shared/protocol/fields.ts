/**
 * Field rules shared by the HTTP messages, the MAC'd envelope headers and the local link, so a
 * serial number or a key block is checked the same way everywhere. Lengths bound what a peer can
 * make us hold (an ESP32 has about 150 KB of JS heap); structure beyond the characters (a TR-31
 * header, an envelope's point) is checked by the crypto module that opens it.
 */
import { hex, string, text } from './validate';

/** Terminal serial number: 4 to 32 of A-Z 0-9 '-' (printed on the label; no lowercase ambiguity). */
export const serial = string({ min: 4, max: 32, pattern: /^[A-Z0-9-]+$/, describe: '4 to 32 of A-Z 0-9 -' });

/** Customer (acquirer) code, also the O= of that customer's KMS certificate. */
export const customerCode = string({ min: 2, max: 16, pattern: /^[A-Z0-9_-]+$/, describe: '2 to 16 of A-Z 0-9 _ -' });

/** Shown to the operator (A4, A6); may be any script, so counted in code points. */
export const customerName = text(1, 80);

/** Idempotency key of one MTMS -> KMS delivery (A7: applied once per id). */
export const deliveryId = string({ min: 1, max: 64, pattern: /^[A-Za-z0-9_-]+$/, describe: '1 to 64 of A-Z a-z 0-9 _ -' });

/**
 * A key-transport envelope (shared/crypto/keyTransport): version (1) + ephemeral P-256 point (65)
 * + RFC 5649 wrap of a 128-bit key (24) is the smallest; 256 bytes leaves room for AES-256 and a
 * later version without letting a peer send kilobytes.
 */
export const keyEnvelopeHex = hex(90, 256);

/**
 * A TR-31 key block as text: printable ASCII. 1024 characters hold an AES-256 key with several
 * optional blocks; the TR-31 length field would allow 9999, more than a terminal needs to buffer.
 */
export const tr31Block = string({ min: 16, max: 1024, pattern: /^[\x20-\x7E]+$/, describe: '16 to 1024 printable ASCII characters' });

/** The X9.24-1 / TR-31 AES key check value: the leftmost 5 bytes of CMAC(K, 0^16) (crypto/kcv). */
export const kcvHex = hex(5, 5);

/** A stable PaypadError code (shared/errors ErrorCode), possibly one newer than this side knows. */
export const errorCode = string({ min: 2, max: 64, pattern: /^[A-Z][A-Z0-9_]+$/, describe: '2 to 64 of A-Z 0-9 _ starting with a letter' });

export const ERROR_MESSAGE_MAX = 512;
export const errorMessage = text(1, ERROR_MESSAGE_MAX);

/** A device challenge nonce from MTMS (shared/protocol/deviceIdentity): 32 bytes. */
export const deviceNonceHex = hex(32, 32);

/** An ECDSA P-256 signature r || s (IEEE P1363), 64 bytes. */
export const signatureHex = hex(64, 64);

/** An uncompressed SEC 1 P-256 public key (0x04 || X || Y), 65 bytes; the curve check is the crypto's. */
export const publicKeyHex = hex(65, 65);

/**
 * A device certificate, DER. A P-256 certificate of the paypad CA is about 450 bytes; 1200 leaves
 * room for a longer CA name and keeps a local-link frame (4096 bytes) well clear of its limit.
 */
export const certificateHex = hex(128, 1200);
