/**
 * `mc/ffi`: the module mcconfig generates from manifest.json's "ffi" block (Moddable SDK,
 * documentation/xs/XS FFI.md; tools/ffi.js maps "void*" to ArrayBuffer and integer types to
 * number). mcconfig writes the same declaration for the device build (mc.ffi.d.ts); this copy
 * lets the repository type-check without the SDK. test/unit/firmware/manifest.test.ts checks
 * that the two stay the same.
 */
declare module 'mc/ffi' {
  export default class FFI {
    constructor();
    paypad_fill_random(arg0: ArrayBuffer, arg1: number): number;
    paypad_restart(): void;
    paypad_slot_erase(arg0: number): number;
    paypad_slot_write(arg0: number, arg1: ArrayBuffer, arg2: number): number;
    paypad_slot_read(arg0: number, arg1: ArrayBuffer, arg2: number): number;
    paypad_slot_activate(): number;
    paypad_start_state(): number;
    paypad_confirm(): number;
  }
}
