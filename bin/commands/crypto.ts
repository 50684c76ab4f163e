/**
 * `paypad crypto`: a payments engineer's calculator over shared/crypto. stdout carries only the
 * result; errors go to stderr with a non-zero exit (bin/args.ts). Hex input in either case.
 */
import { randomBytes } from 'node:crypto';
import { toHex } from '../../shared/bytes';
import { aesCmac } from '../../shared/crypto/cmac';
import { keyCheckValue } from '../../shared/crypto/kcv';
import { decipherPinBlockIso4, encipherPinBlockIso4 } from '../../shared/crypto/pinblock';
import { aesKeyFlag, type Command, commandGroup, EXIT_OK, hexFlag, parseFlags, required, UsageError } from '../args';
import { tr31Command } from './cryptoTr31';

const rng = (n: number) => new Uint8Array(randomBytes(n));

function print(line: string): number {
  process.stdout.write(line + '\n');
  return EXIT_OK;
}

const cmac: Command = {
  summary: 'AES-CMAC (NIST SP 800-38B) of data under a key',
  help: 'Usage: paypad crypto cmac --key HEX --data HEX\n\nPrints the 16-byte AES-CMAC in hex. --data is required; --data "" MACs the empty message.',
  run(argv) {
    const f = parseFlags(argv, { key: { type: 'string' }, data: { type: 'string' } });
    if (f.data === undefined) throw new UsageError('missing --data (give --data "" to MAC the empty message)');
    const data = f.data === '' ? new Uint8Array(0) : hexFlag(f.data, 'data');
    return print(toHex(aesCmac(aesKeyFlag(f.key, 'key'), data)));
  },
};

const kcv: Command = {
  summary: 'key check value of an AES key',
  help: `Usage: paypad crypto kcv --key HEX [--method cmac|legacy]

cmac (default): first 5 bytes of AES-CMAC(K, 0^16), ANSI X9.24-1 / TR-31.
legacy: first 3 bytes of AES-ECB(K, 0^16).`,
  run(argv) {
    const f = parseFlags(argv, { key: { type: 'string' }, method: { type: 'string' } });
    const method = f.method ?? 'cmac';
    if (method !== 'cmac' && method !== 'legacy') throw new UsageError(`--method must be cmac or legacy, got '${method}'`);
    return print(toHex(keyCheckValue(aesKeyFlag(f.key, 'key'), method)));
  },
};

function pinBlockFormat(value: string | undefined): void {
  if (required(value, 'format') !== '4') throw new UsageError(`--format: only ISO 9564 format 4 (AES) is supported, got '${value}'`);
}

const pinblockEncode: Command = {
  summary: 'encipher a PIN as an ISO 9564 PIN block',
  help: 'Usage: paypad crypto pinblock encode --format 4 --key HEX --pin PIN --pan PAN\n\nPrints the enciphered 16-byte block in hex (the fill is random).',
  run(argv) {
    const f = parseFlags(argv, { format: { type: 'string' }, key: { type: 'string' }, pin: { type: 'string' }, pan: { type: 'string' } });
    pinBlockFormat(f.format);
    const key = aesKeyFlag(f.key, 'key');
    return print(toHex(encipherPinBlockIso4(key, required(f.pin, 'pin'), required(f.pan, 'pan'), rng)));
  },
};

const pinblockDecode: Command = {
  summary: 'decipher an ISO 9564 PIN block and print the PIN',
  help: 'Usage: paypad crypto pinblock decode --format 4 --key HEX --block HEX --pan PAN',
  run(argv) {
    const f = parseFlags(argv, { format: { type: 'string' }, key: { type: 'string' }, block: { type: 'string' }, pan: { type: 'string' } });
    pinBlockFormat(f.format);
    const key = aesKeyFlag(f.key, 'key');
    return print(decipherPinBlockIso4(key, hexFlag(f.block, 'block'), required(f.pan, 'pan')));
  },
};

export const cryptoCommand = commandGroup('payment-crypto calculator: cmac, kcv, tr31, pinblock', 'Usage: paypad crypto <command> [...]', {
  cmac,
  kcv,
  tr31: tr31Command,
  pinblock: commandGroup('ISO 9564 PIN blocks', 'Usage: paypad crypto pinblock encode|decode [...]', { encode: pinblockEncode, decode: pinblockDecode }),
});
