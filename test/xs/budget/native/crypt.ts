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
  sha256Begin(): ArrayBuffer;
  sha256Update(state: ArrayBuffer, data: ArrayBuffer | ArrayBufferView): void;
  sha256Finish(state: ArrayBuffer): ArrayBuffer;
}

const native = (globalThis as unknown as { nativeCrypt: NativeCrypt }).nativeCrypt;

/** Host constructors (xsBudgetCrypt.c) as the device's are: the cipher keeps its own copy of the key. */
export const BlockCipher = native.BlockCipher;
export type BlockCipher = InstanceType<NativeCrypt['BlockCipher']>;
export const Mode = native.Mode;
export type Mode = InstanceType<NativeCrypt['Mode']>;

export class Digest {
  /** The C context (xsBudgetCrypt.c), a fixed ~112 bytes however much is written: the device's C streams too. */
  readonly #state: ArrayBuffer;
  constructor(type: 'SHA256') {
    if (type !== 'SHA256') throw new TypeError(`crypt: digest ${String(type)} is not built in`);
    this.#state = native.sha256Begin();
  }
  write(data: ArrayBuffer | ArrayBufferView): void {
    native.sha256Update(this.#state, data);
  }
  close(): ArrayBuffer {
    return native.sha256Finish(this.#state);
  }
}
