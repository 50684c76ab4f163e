/**
 * Moddable's native crypto modules ($(MODDABLE)/modules/crypt: digest/crypt.js and etc/curve.js,
 * C underneath), which the npm @moddable/typings package does not describe. Only what paypad
 * calls. Both come with the TLS modules the HTTP client already includes, preloaded.
 */
declare module 'crypt' {
  export class BlockCipher {
    /** "AES" with a 16, 24 or 32-byte key (the key must be an ArrayBuffer). */
    constructor(cipher: 'AES', key: ArrayBuffer);
  }
  export class Mode {
    /** Unpadded when `pad` is false; `iv` (an ArrayBuffer) for CBC. */
    constructor(mode: 'ECB' | 'CBC', cipher: BlockCipher, iv?: ArrayBuffer, pad?: boolean);
    encrypt(data: ArrayBuffer | ArrayBufferView): ArrayBuffer;
    decrypt(data: ArrayBuffer | ArrayBufferView): ArrayBuffer;
  }
  export class Digest {
    constructor(type: 'SHA256');
    write(data: ArrayBuffer | ArrayBufferView): void;
    close(): ArrayBuffer;
  }
}

declare module 'curve' {
  export default class Curve {
    constructor(name: 'secp256r1');
    /**
     * Scalar multiplication: `privateKey` (32 bytes) times the peer's uncompressed point (65
     * bytes), or times the base point when `peer` is absent; the result is uncompressed.
     */
    dh(privateKey: ArrayBuffer, peer?: ArrayBuffer): ArrayBuffer;
  }
}
