/**
 * Issue 2 item 5: the crypto CLI as a payments engineer uses it, driven through the real
 * bin/paypad process. stdout carries only the result; errors go to stderr with a non-zero exit.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const PAYPAD = fileURLToPath(new URL('../../bin/paypad', import.meta.url));

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function paypad(...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(PAYPAD, args, { timeout: 30_000 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

// TR-31:2018 annex A.7.4 (handbook STANDARDS.md)
const A74 = {
  kbpk: '88E1AB2A2E3DD38C1FA039A536500CC8A87AB9D62DC92C01058FA79F44657DE6',
  key: '3F419E1CB7079442AA37474C2EFBF8B8',
  block: 'D0112P0AE00E0000B82679114F470F540165EDFBF7E250FCEA43F810D215F8D207E2E417C07156A27E8E31DA05F7425509593D03A457DC34',
};

describe('paypad crypto (issue 2 item 5)', () => {
  it('cmac prints the RFC 4493 example 2 MAC, hex accepted in either case', async () => {
    const r = await paypad('crypto', 'cmac', '--key', '2b7e151628aed2a6abf7158809cf4f3c', '--data', '6BC1BEE22E409F96E93D7E117393172A');
    expect(r).toEqual({ code: 0, stdout: '070A16B46B4D4144F79BDD9DD04A287C\n', stderr: '' });
  });

  it('kcv prints the CMAC and legacy check values from STANDARDS.md', async () => {
    expect((await paypad('crypto', 'kcv', '--key', A74.key)).stdout).toBe('08793E25AB\n');
    expect((await paypad('crypto', 'kcv', '--key', A74.key.toLowerCase(), '--method', 'legacy')).stdout).toBe('E5E07C\n');
  });

  it('tr31 unwrap opens the published A.7.4 block: key on the first line, header fields as JSON after it', async () => {
    const r = await paypad('crypto', 'tr31', 'unwrap', '--kbpk', A74.kbpk, '--block', A74.block);
    expect(r.code).toBe(0);
    const [key, ...json] = r.stdout.split('\n');
    expect(key).toBe(A74.key);
    expect(JSON.parse(json.join('\n'))).toMatchObject({ versionId: 'D', keyUsage: 'P0', algorithm: 'A', modeOfUse: 'E', exportability: 'E' });
  });

  it('tr31 wrap makes a block that unwrap accepts, and a wrong-usage request is refused with exit 1', async () => {
    const wrapped = await paypad('crypto', 'tr31', 'wrap', '--kbpk', A74.kbpk, '--header', 'D0000M6AC00N0000', '--key', A74.key);
    expect(wrapped.code).toBe(0);
    const block = wrapped.stdout.trim();
    expect(block).toMatch(/^D0144M6AC00N0000[0-9A-F]+$/); // key length masked to 32 bytes
    const back = await paypad('crypto', 'tr31', 'unwrap', '--kbpk', A74.kbpk, '--block', block, '--usage', 'M6', '--mode', 'C');
    expect(back.stdout.split('\n')[0]).toBe(A74.key);
    const refused = await paypad('crypto', 'tr31', 'unwrap', '--kbpk', A74.kbpk, '--block', block, '--usage', 'P0', '--mode', 'E');
    expect(refused).toMatchObject({ code: 1, stdout: '' });
    expect(refused.stderr).toContain('TR31_USAGE_NOT_ALLOWED');
  });

  it('a tampered block and a wrong KBPK exit 1 with TR31_MAC_MISMATCH on stderr and nothing on stdout', async () => {
    const tampered = A74.block.slice(0, 40) + (A74.block[40] === '0' ? '1' : '0') + A74.block.slice(41);
    for (const [kbpk, block] of [[A74.kbpk, tampered], ['00'.repeat(32), A74.block]]) {
      const r = await paypad('crypto', 'tr31', 'unwrap', '--kbpk', kbpk, '--block', block);
      expect(r).toMatchObject({ code: 1, stdout: '' });
      expect(r.stderr).toContain('TR31_MAC_MISMATCH');
    }
  });

  it('pinblock decode reads the ep2 format 4 vector; encode then decode round-trips', async () => {
    const key = 'C1D0F8FB4958670DBA40AB1F3752EF0D', pan = '432198765432109870';
    const decoded = await paypad('crypto', 'pinblock', 'decode', '--format', '4', '--key', key, '--block', 'cc17f65586bfd0953010226c4fc5b3ca', '--pan', pan);
    expect(decoded).toEqual({ code: 0, stdout: '1234\n', stderr: '' });
    const encoded = await paypad('crypto', 'pinblock', 'encode', '--format', '4', '--key', key, '--pin', '987654', '--pan', pan);
    expect(encoded.stdout).toMatch(/^[0-9A-F]{32}\n$/);
    const again = await paypad('crypto', 'pinblock', 'decode', '--format', '4', '--key', key, '--block', encoded.stdout.trim(), '--pan', pan);
    expect(again.stdout).toBe('987654\n');
  });

  it('bad input: a short PIN exits 1 with PIN_INVALID and the PIN is not echoed; a missing flag or unknown format exits 2', async () => {
    const r = await paypad('crypto', 'pinblock', 'encode', '--format', '4', '--key', '00'.repeat(16), '--pin', '123', '--pan', '4111111111111111');
    expect(r).toMatchObject({ code: 1, stdout: '' });
    expect(r.stderr).toContain('PIN_INVALID');
    expect(r.stderr).not.toContain('4111111111111111');
    expect((await paypad('crypto', 'cmac', '--data', '00')).code).toBe(2);
    expect((await paypad('crypto', 'pinblock', 'encode', '--format', '0', '--key', '00', '--pin', '1234', '--pan', '1')).code).toBe(2);
    expect((await paypad('crypto', 'kcv', '--key', 'XYZ')).stderr).toContain('BAD_HEX');
  });

  it('--help works at every level and exits 0', async () => {
    for (const path of [[], ['crypto'], ['crypto', 'tr31'], ['crypto', 'tr31', 'wrap'], ['crypto', 'pinblock', 'decode'], ['crypto', 'kcv']]) {
      const r = await paypad(...path, '--help');
      expect(r.code, path.join(' ')).toBe(0);
      expect(r.stdout).toMatch(/^Usage: paypad/);
    }
  });
});
