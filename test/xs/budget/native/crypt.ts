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
    // The device's C streams; the harness joins the parts and digests them at once, for the same result.
    if (this.#parts.length === 1) return native.sha256(this.#parts[0]);
    let length = 0;
    for (const part of this.#parts) length += part.byteLength;
    const all = new Uint8Array(length);
    let offset = 0;
    for (const part of this.#parts) {
      const bytes = part instanceof ArrayBuffer ? new Uint8Array(part) : new Uint8Array(part.buffer, part.byteOffset, part.byteLength);
      all.set(bytes, offset);
      offset += bytes.length;
    }
    return native.sha256(all);
  }
}
