/**
 * `paypad tms` on a host's data directory (SQLite; SPEC B4 and docs/updates.md): a vendor key
 * (files 0600, trusted), packages signed and stored with their metadata version raised, groups,
 * a deployment, its status, halt and resume; a package under a key the TMS does not trust and a
 * plan that does not reach 100% exit 1 with their code, a wrong command line exits 2, and each
 * refusal changes nothing.
 */
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { EXIT_FAILED, EXIT_OK, EXIT_USAGE } from '../../bin/args';
import { tmsCommand } from '../../bin/commands/tms';
import { runCommand } from '../support/runCommand';

describe('paypad tms on a data directory', () => {
  let dir: string;
  const tms = (argv: string[]) => runCommand(tmsCommand, [...argv, '--data-dir', join(dir, 'data')]);

  beforeAll(() => {
    // The CLI reads DATABASE_URL: this test is about the data directory's SQLite.
    vi.stubEnv('DATABASE_URL', '');
    dir = mkdtempSync(join(tmpdir(), 'paypad-tms-cli-'));
    mkdirSync(join(dir, 'data'), { mode: 0o700 });
    writeFileSync(join(dir, 'app.bin'), randomBytes(3000));
  });
  afterAll(() => {
    vi.unstubAllEnvs();
    rmSync(dir, { recursive: true, force: true });
  });

  it('B4: vendor key, packages, a group, a deployment, its status, halt and resume', async () => {
    const key = await tms(['vendor-key', '--name', 'CLI Vendor', '--out', join(dir, 'vendor')]);
    expect(key.code, key.err).toBe(EXIT_OK);
    expect(key.out).toMatch(/^vendor key [0-9A-F]{16} \(CLI Vendor\) trusted/);
    expect(statSync(join(dir, 'vendor', 'vendor.key')).mode & 0o777).toBe(0o600);

    const pack = (version: string, vendorDir = join(dir, 'vendor')) =>
      tms(['package', '--image', join(dir, 'app.bin'), '--name', 'paypad-firmware', '--version', version, '--models', 'PP-ESP32', '--minimum-version', '1.0.0', '--vendor-key', vendorDir]);
    expect((await pack('1.1.0')).out).toMatch(/^package 1: paypad-firmware 1\.1\.0 for PP-ESP32, 3000 bytes, .*metadata version 1,/);
    expect((await pack('1.2.0')).out).toMatch(/^package 2: .*metadata version 2,/);

    expect((await tms(['group', 'add', '--group', 'pilot', '--serials', 'PP-1001,PP-1002'])).code).toBe(EXIT_OK);
    const deployed = await tms(['deploy', '--package', '2', '--groups', 'pilot', '--phases', '50,100', '--window', '22:00-04:00', '--mode', 'forced']);
    expect(deployed.out).toBe('deployment 1: package 2, 2 terminals now in 2 phase(s), running\n');
    const status = await tms(['status', '--deployment', '1']);
    expect(status.out).toMatch(/^deployment 1: package 2, forced, running, phase 1 of 2\n {2}PP-1001 +phase 1 {2}pending .*\n {2}PP-1002 +phase 2 {2}pending/);
    expect((await tms(['halt', '--deployment', '1', '--reason', 'store closing'])).out).toMatch(/halted, phase 1 of 2 \(halted: store closing\)/);
    const again = await tms(['halt', '--deployment', '1']);
    expect([again.code, again.err]).toEqual([EXIT_FAILED, expect.stringContaining('TMS_DEPLOYMENT_STATE')]);
    expect((await tms(['resume', '--deployment', '1'])).out).toMatch(/running, phase 1 of 2/);
  });

  it('B4: an untrusted key and an unfinished plan exit 1 with their code and store nothing; a wrong command line exits 2', async () => {
    const before = (await tms(['status'])).out;
    mkdirSync(join(dir, 'stranger'));
    writeFileSync(join(dir, 'stranger', 'vendor.key'), `${randomBytes(32).toString('hex')}\n`);
    const untrusted = await tms(['package', '--image', join(dir, 'app.bin'), '--name', 'paypad-firmware', '--version', '1.9.0', '--models', 'PP-ESP32', '--vendor-key', join(dir, 'stranger')]);
    expect([untrusted.code, untrusted.err]).toEqual([EXIT_FAILED, expect.stringContaining('TMS_PACKAGE_INVALID')]);
    const unfinished = await tms(['deploy', '--package', '1', '--serials', 'PP-1001', '--phases', '10,50']);
    expect([unfinished.code, unfinished.err]).toEqual([EXIT_FAILED, expect.stringContaining('TMS_DEPLOYMENT_INVALID')]);
    expect((await tms(['status'])).out).toBe(before);
    expect((await tms(['deploy', '--package', '1', '--serials', 'PP-1001', '--mode', 'later'])).code).toBe(EXIT_USAGE);
    expect((await tms(['deploy', '--package', '1', '--serials', 'PP-1001', '--window', '9-17'])).code).toBe(EXIT_USAGE);
    expect((await tms(['deploy', '--packages', '1'])).code).toBe(EXIT_USAGE);
  });
});
