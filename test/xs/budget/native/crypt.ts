/**
 * Moddable's `crypt` module as xs-budget gives it to the firmware (the part
 * firmware/hal/moddable/nativePrimitives.ts uses): thin classes over the harness's C functions
 * (xsBudgetCrypt.c), as the SDK's are over its own C. Runs in xs-budget only.
 */
interface NativeCrypt {
  aes(cbc: boolean, decrypt: boolean, key: ArrayBuffer, iv: ArrayBuffer | undefined, data: ArrayBuffer | ArrayBufferView): ArrayBuffer;
  sha256(data: ArrayBuffer | ArrayBufferView): ArrayBuffer;
}

const native = (globalThis as unknown as { nativeCrypt: NativeCrypt }).nativeCrypt;

export class BlockCipher {
  readonly key: ArrayBuffer;
  constructor(cipher: 'AES', key: ArrayBuffer) {
    if (cipher !== 'AES') throw new TypeError(`crypt: cipher ${String(cipher)} is not built in`);
    // The device's C makes its key schedule here, so the caller may wipe `key` once this returns.
    this.key = key.slice(0);
  }
}

export class Mode {
  readonly #cbc: boolean;
  readonly #cipher: BlockCipher;
  readonly #iv: ArrayBuffer | undefined;
  constructor(mode: 'ECB' | 'CBC', cipher: BlockCipher, iv?: ArrayBuffer, pad?: boolean) {
    if (pad) throw new TypeError('crypt: only unpadded modes are built in');
    this.#cbc = mode === 'CBC';
    this.#cipher = cipher;
    this.#iv = iv;
  }
  encrypt(data: ArrayBuffer | ArrayBufferView): ArrayBuffer {
    return native.aes(this.#cbc, false, this.#cipher.key, this.#iv, data);
  }
  decrypt(data: ArrayBuffer | ArrayBufferView): ArrayBuffer {
    return native.aes(this.#cbc, true, this.#cipher.key, this.#iv, data);
  }
}

export class Digest {
  #parts: (ArrayBuffer | ArrayBufferView)[] = [];
  constructor(type: 'SHA256') {
    if (type !== 'SHA256') throw new TypeError(`crypt: digest ${String(type)} is not built in`);
  }
  write(data: ArrayBuffer | ArrayBufferView): void {
    this.#parts.push(data);
  }
  close(): ArrayBuffer {
    // nativePrimitives writes once per digest; the device's C would stream, for the same result.
    if (this.#parts.length !== 1) throw new TypeError('crypt: the harness digests one write');
    return native.sha256(this.#parts[0]);
  }
}
