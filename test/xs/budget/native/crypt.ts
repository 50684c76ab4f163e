/**
 * Moddable's `crypt` module as xs-budget gives it to the firmware (the part
 * firmware/hal/moddable/nativePrimitives.ts uses): the harness's C (xsBudgetCrypt.c), as the SDK's
 * classes are its own C. Runs in xs-budget only.
 */
interface NativeCrypt {
  BlockCipher: new (cipher: 'AES', key: ArrayBuffer) => { readonly key: ArrayBuffer };
  Mode: new (mode: 'ECB' | 'CBC', cipher: { readonly key: ArrayBuffer }, iv?: ArrayBuffer, pad?: boolean) => {
    encrypt(data: ArrayBuffer | ArrayBufferView): ArrayBuffer;
    decrypt(data: ArrayBuffer | ArrayBufferView): ArrayBuffer;
  };
  sha256(data: ArrayBuffer | ArrayBufferView): ArrayBuffer;
}

const native = (globalThis as unknown as { nativeCrypt: NativeCrypt }).nativeCrypt;

/** Host constructors (xsBudgetCrypt.c) as the device's are: the cipher keeps its own copy of the key. */
export const BlockCipher = native.BlockCipher;
export type BlockCipher = InstanceType<NativeCrypt['BlockCipher']>;
export const Mode = native.Mode;
export type Mode = InstanceType<NativeCrypt['Mode']>;

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
