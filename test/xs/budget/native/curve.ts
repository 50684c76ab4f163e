/**
 * Moddable's `curve` module as xs-budget gives it to the firmware (see crypt.ts): P-256 scalar
 * multiplication in the harness's C (xsBudgetCrypt.c). Runs in xs-budget only.
 */
interface NativeCurve {
  p256(scalar: ArrayBuffer, point?: ArrayBuffer): ArrayBuffer;
}

const native = (globalThis as unknown as { nativeCrypt: NativeCurve }).nativeCrypt;

export default class Curve {
  constructor(name: 'secp256r1') {
    if (name !== 'secp256r1') throw new TypeError(`curve: ${String(name)} is not built in`);
  }
  dh(privateKey: ArrayBuffer, peer?: ArrayBuffer): ArrayBuffer {
    return native.p256(privateKey, peer);
  }
}
