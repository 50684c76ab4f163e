/**
 * The acquirer link's message layer: ISO 8583:1987 over TCP between POSP and the banks
 * (docs/acquirer-link.md). What other roles use:
 *
 *   packing     createPackager(ACQUIRER_LINK_FIELDS) -> pack / unpack (ISO87_FIELDS for the full 1987 table)
 *   messages    build/read for 0200/0210, 0400/0410, 0500/0510, 0800/0810
 *   MAC         signMessage / verifyMessage with a MessageAuthenticator (hsmMessageAuthenticator)
 *   channel     connectAcquirerLink (requester), listenAcquirerLink (responder)
 */
export type { FieldKind, FieldSpec, FieldTable, FieldValue, LengthType } from './fieldSpec';
export { ISO87_FIELDS } from './iso87Fields';
export { ACQUIRER_LINK_FIELDS, PIN_BLOCK_BYTES } from './linkFields';
export { type Iso8583Message, type Packager, createPackager } from './packager';
export { MTI, responseMtiFor } from './mti';
export { localTransactionTime, transmissionDateTime } from './clock';
export * from './financial';
export * from './reversal';
export * from './networkManagement';
export * from './reconciliation';
export { MAC_BYTES, type MessageAuthenticator, hsmMessageAuthenticator, signMessage, verifyMessage } from './mac';
export { DEFAULT_FRAME_TIMEOUT_MS } from './frameStream';
export { type AcquirerLinkClient, type AcquirerLinkClientOptions, DEFAULT_REQUEST_TIMEOUT_MS, connectAcquirerLink } from './linkClient';
export { type AcquirerLinkHandler, type AcquirerLinkServer, type AcquirerLinkServerOptions, listenAcquirerLink } from './linkServer';
