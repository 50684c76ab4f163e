/**
 * `paypad crypto tr31 wrap|unwrap`: TR-31 version D key blocks (ANSI X9.143 / TR-31:2018).
 */
import { randomBytes } from 'node:crypto';
import { toHex } from '../../shared/bytes';
import { unwrapKeyBlock, wrapKeyBlock } from '../../shared/crypto/tr31';
import { parseKeyBlockHeader } from '../../shared/crypto/tr31Header';
import { aesKeyFlag, type Command, commandGroup, EXIT_OK, hexFlag, parseFlags, required, UsageError } from '../args';

const wrap: Command = {
  summary: 'wrap a key under a KBPK as a TR-31 key block',
  help: `Usage: paypad crypto tr31 wrap --kbpk HEX --header HEADER --key HEX [--mask-length N]

HEADER is the 16-character fixed header plus any optional blocks, e.g. D0000P0AE00E0000 (its
length field is recomputed). The key length is masked to the algorithm's maximum (AES: 32 bytes)
unless --mask-length says otherwise (pass the key's own length to turn masking off).`,
  run(argv) {
    const f = parseFlags(argv, { kbpk: { type: 'string' }, header: { type: 'string' }, key: { type: 'string' }, 'mask-length': { type: 'string' } });
    const mask = f['mask-length'];
    if (mask !== undefined && !/^\d{1,2}$/.test(mask)) throw new UsageError(`--mask-length must be a number of bytes, got '${mask}'`);
    const block = wrapKeyBlock(
      aesKeyFlag(f.kbpk, 'kbpk'),
      required(f.header, 'header'),
      hexFlag(f.key, 'key'),
      (n) => new Uint8Array(randomBytes(n)),
      mask === undefined ? {} : { maskedKeyLength: Number(mask) },
    );
    process.stdout.write(block + '\n');
    return EXIT_OK;
  },
};

const unwrap: Command = {
  summary: 'verify and unwrap a TR-31 key block',
  help: `Usage: paypad crypto tr31 unwrap --kbpk HEX --block BLOCK [--usage XX --mode M[,M...]]

Prints the key in hex on the first line, then the header fields as JSON. The MAC is verified
before anything is decrypted. With --usage and --mode the block must allow that use (e.g.
--usage P0 --mode E,B); without them the block's own header is taken as the intended use.`,
  run(argv) {
    const f = parseFlags(argv, { kbpk: { type: 'string' }, block: { type: 'string' }, usage: { type: 'string' }, mode: { type: 'string' } });
    const kbpk = aesKeyFlag(f.kbpk, 'kbpk');
    const block = required(f.block, 'block');
    if ((f.usage === undefined) !== (f.mode === undefined)) throw new UsageError('--usage and --mode go together');
    const policy =
      f.usage !== undefined && f.mode !== undefined
        ? { usage: f.usage, modesOfUse: f.mode.split(',') }
        : (({ header }) => ({ usage: header.keyUsage, modesOfUse: [header.modeOfUse] }))(parseKeyBlockHeader(block));
    const { key, header } = unwrapKeyBlock(kbpk, block, policy);
    process.stdout.write(`${toHex(key)}\n${JSON.stringify(header, null, 2)}\n`);
    return EXIT_OK;
  },
};

export const tr31Command = commandGroup('TR-31 key blocks, version D (AES)', 'Usage: paypad crypto tr31 wrap|unwrap [...]', { wrap, unwrap });
