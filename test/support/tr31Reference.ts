/**
 * An independent TR-31 version D implementation for cross-checking shared/crypto/tr31.ts.
 * Written from the standard's description (ANSI X9.143:2021 §6.2, §7.2.1.1; TR-31:2018 §5.3.2.3,
 * §A.3) on node:crypto alone: its own AES-CMAC (NIST SP 800-38B) on aes-*-ecb, its own
 * derivation, header walk and payload layout. It imports nothing from shared/, so a shared
 * misunderstanding would have to be made twice, in two styles, to go unnoticed.
 * Test code: it checks little and throws plain Errors.
 */
import { createCipheriv, createDecipheriv } from 'node:crypto';

export interface ReferenceHeaderFields {
  usage: string;
  algorithm: string;
  mode: string;
  keyVersion: string;
  exportability: string;
  context: string;
  blocks: Array<[id: string, data: string]>;
}

const aesName = (key: Buffer, mode: 'ecb' | 'cbc'): string => `aes-${key.length * 8}-${mode}`;

function ecbEncryptBlock(key: Buffer, block: Buffer): Buffer {
  const c = createCipheriv(aesName(key, 'ecb'), key, null).setAutoPadding(false);
  return Buffer.concat([c.update(block), c.final()]);
}

/** Doubling in GF(2^128) for the CMAC subkeys (SP 800-38B §6.1). */
function double(b: Buffer): Buffer {
  const out = Buffer.alloc(16);
  for (let i = 0; i < 16; i++) out[i] = ((b[i] << 1) | (i < 15 ? b[i + 1] >> 7 : 0)) & 0xff;
  if (b[0] & 0x80) out[15] ^= 0x87;
  return out;
}

/** AES-CMAC, SP 800-38B §6.2, written as a CBC-MAC over a message with its last block adjusted. */
export function referenceCmac(key: Buffer, message: Buffer): Buffer {
  const k1 = double(ecbEncryptBlock(key, Buffer.alloc(16)));
  const k2 = double(k1);
  const complete = message.length > 0 && message.length % 16 === 0;
  const padded = complete ? Buffer.from(message) : Buffer.concat([message, Buffer.from([0x80]), Buffer.alloc(15 - (message.length % 16))]);
  const last = padded.length - 16;
  const subkey = complete ? k1 : k2;
  for (let i = 0; i < 16; i++) padded[last + i] ^= subkey[i];
  const c = createCipheriv(aesName(key, 'cbc'), key, Buffer.alloc(16)).setAutoPadding(false);
  const all = Buffer.concat([c.update(padded), c.final()]);
  return all.subarray(all.length - 16);
}

/** X9.143:2021 table 24: counter, key usage (0 encryption, 1 MAC), separator, algorithm, bit length. */
export function referenceDerive(kbpk: Buffer, purpose: 'encryption' | 'mac'): Buffer {
  const algorithm = { 16: 2, 24: 3, 32: 4 }[kbpk.length];
  if (algorithm === undefined) throw new Error('reference: KBPK must be AES-128/192/256');
  const parts: Buffer[] = [];
  for (let counter = 1; counter <= Math.ceil(kbpk.length / 16); counter++) {
    const data = Buffer.alloc(8);
    data.writeUInt8(counter, 0);
    data.writeUInt16BE(purpose === 'encryption' ? 0 : 1, 1);
    data.writeUInt16BE(algorithm, 4);
    data.writeUInt16BE(kbpk.length * 8, 6);
    parts.push(referenceCmac(kbpk, data));
  }
  return Buffer.concat(parts).subarray(0, kbpk.length);
}

function encodeBlock(id: string, data: string): string {
  const short = 4 + data.length;
  if (short < 256) return id + short.toString(16).toUpperCase().padStart(2, '0') + data;
  return id + '00' + '02' + (10 + data.length).toString(16).toUpperCase().padStart(4, '0') + data;
}

/** Header text for a block whose payload and MAC take `bodyLength` characters; pads with PB of '0's. */
export function referenceHeader(fields: ReferenceHeaderFields, bodyLength: number): string {
  let optional = fields.blocks.map(([id, data]) => encodeBlock(id, data)).join('');
  let count = fields.blocks.length;
  while ((16 + optional.length) % 16 !== 0) {
    let need = 16 - ((16 + optional.length) % 16);
    if (need < 4) need += 16;
    optional += 'PB' + need.toString(16).toUpperCase().padStart(2, '0') + '0'.repeat(need - 4);
    count += 1;
  }
  const total = 16 + optional.length + bodyLength;
  const fixed =
    'D' + String(total).padStart(4, '0') + fields.usage + fields.algorithm + fields.mode + fields.keyVersion +
    fields.exportability + String(count).padStart(2, '0') + fields.context + '0';
  return fixed + optional;
}

/** Wraps with an explicit pad; `maskedLength` is the key length the padding pretends. */
export function referenceWrap(kbpk: Buffer, fields: ReferenceHeaderFields, key: Buffer, pad: Buffer, maskedLength: number): string {
  const payloadLength = 16 * Math.ceil((2 + maskedLength) / 16);
  if (pad.length !== payloadLength - 2 - key.length) throw new Error(`reference: pad must be ${payloadLength - 2 - key.length} bytes`);
  const header = referenceHeader(fields, 2 * payloadLength + 32);
  const lengthField = Buffer.alloc(2);
  lengthField.writeUInt16BE(key.length * 8);
  const payload = Buffer.concat([lengthField, key, pad]);
  const mac = referenceCmac(referenceDerive(kbpk, 'mac'), Buffer.concat([Buffer.from(header, 'latin1'), payload]));
  const kbek = referenceDerive(kbpk, 'encryption');
  const c = createCipheriv(aesName(kbek, 'cbc'), kbek, mac).setAutoPadding(false);
  const encrypted = Buffer.concat([c.update(payload), c.final()]);
  return header + encrypted.toString('hex').toUpperCase() + mac.toString('hex').toUpperCase();
}

/** Walks the optional blocks to find where the header ends (X9.143:2021 §6.2). */
function headerLength(block: string): number {
  let pos = 16;
  const count = Number(block.slice(12, 14));
  for (let i = 0; i < count; i++) {
    let length = parseInt(block.slice(pos + 2, pos + 4), 16);
    if (length === 0) {
      const lengthBytes = parseInt(block.slice(pos + 4, pos + 6), 16);
      length = parseInt(block.slice(pos + 6, pos + 6 + 2 * lengthBytes), 16);
    }
    pos += length;
  }
  return pos;
}

export function referenceUnwrap(kbpk: Buffer, block: string): { header: string; key: Buffer } {
  if (block[0] !== 'D' || Number(block.slice(1, 5)) !== block.length) throw new Error('reference: not a version D block of the right length');
  const end = headerLength(block);
  const header = block.slice(0, end);
  const encrypted = Buffer.from(block.slice(end, block.length - 32), 'hex');
  const mac = Buffer.from(block.slice(block.length - 32), 'hex');
  const kbek = referenceDerive(kbpk, 'encryption');
  const d = createDecipheriv(aesName(kbek, 'cbc'), kbek, mac).setAutoPadding(false);
  const payload = Buffer.concat([d.update(encrypted), d.final()]);
  const expected = referenceCmac(referenceDerive(kbpk, 'mac'), Buffer.concat([Buffer.from(header, 'latin1'), payload]));
  if (!expected.equals(mac)) throw new Error('reference: MAC does not verify');
  const bits = payload.readUInt16BE(0);
  return { header, key: payload.subarray(2, 2 + bits / 8) };
}
