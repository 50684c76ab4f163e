/**
 * `paypad mobile` against a host serving /mobile (C1, C2, C9): register with the card number on
 * standard input, read the code off the simulated phone, confirm; a replayed confirmation and a
 * reconciliation with a mismatch exit 1; a wrong command line exits 2; no host exits 1 and says so.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { EXIT_FAILED, EXIT_OK, EXIT_USAGE } from '../../bin/args';
import { mobileCommand } from '../../bin/commands/mobile';
import { createApp } from '../../host/app';
import { loadConfig } from '../../host/config';
import { createLogger } from '../../host/log';
import { type RunningMobilePayments, startMobilePayments } from '../../host/payments/mobile/mobileRole';
import { TEST_CARDS } from '../../host/simulators/testCards';
import { maskPan } from '../../shared/pan';
import { runCommand } from '../support/runCommand';
import { listen } from '../unit/host/helpers/listen';
import { DIALECTS, useMigratedDatabase } from './helpers/testDatabase';
import { freshMobile } from './support/mobileFixture';

describe.each(DIALECTS)('paypad mobile on %s', (dialect) => {
  const database = useMigratedDatabase(dialect);
  let dir: string;
  let running: RunningMobilePayments;
  let server: { url: string; close(): Promise<void> };
  const mobile = (argv: string[], stdin?: string) => {
    const input = vi.spyOn(process, 'stdin', 'get').mockReturnValue(Readable.from(stdin === undefined ? [] : [stdin]) as typeof process.stdin);
    return runCommand(mobileCommand, [...argv, '--url', server.url]).finally(() => input.mockRestore());
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'paypad-mobile-cli-'));
    const logger = createLogger({ level: 'silent' });
    running = await startMobilePayments({ dataDir: dir, database: database(), logger, demoData: false });
    server = await listen(createApp({ config: loadConfig({ PAYPAD_DATA_DIR: dir }), database: database(), logger, version: '0', roles: [running.role] }));
  });
  afterAll(async () => {
    await server?.close();
    await running?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('C1: register (card on standard input), texts, confirm; a replayed confirmation exits 1 with its code', async () => {
    const number = freshMobile();
    const registered = await mobile(['register', '--name', '王小明', '--mobile', number], `${TEST_CARDS.payee.pan}\n`);
    expect(registered.code).toBe(EXIT_OK);
    const { registrationId } = JSON.parse(registered.out) as { registrationId: string };
    const texts = await mobile(['texts', '--mobile', number]);
    const code = /code is (\d{6})/.exec(texts.out)![1];
    const confirmed = await mobile(['confirm', '--registration', registrationId, '--code', code]);
    expect(confirmed.code).toBe(EXIT_OK);
    expect(JSON.parse(confirmed.out)).toMatchObject({ mobile: number, name: '王小明', maskedCard: '622202*********0058' });
    expect(await mobile(['confirm', '--registration', registrationId, '--code', code])).toMatchObject({ code: EXIT_FAILED, err: expect.stringMatching(/^paypad: REGISTRATION_UNKNOWN: /) });
  });

  it('C9: reconcile lists each mismatch and exits 1; a wrong command line exits 2; no host exits 1', async () => {
    const payee = freshMobile();
    const registered = await mobile(['register', '--name', '王小明', '--mobile', payee], TEST_CARDS.payee.pan);
    const { registrationId } = JSON.parse(registered.out) as { registrationId: string };
    await mobile(['confirm', '--registration', registrationId, '--code', /code is (\d{6})/.exec((await mobile(['texts', '--mobile', payee])).out)![1]]);
    const { lookupId } = await running.mobile.platform.lookupPayee({ mobile: payee, terminalId: 'PP-1001', merchantId: 'M001' });
    await running.mobile.platform.recordPayment({ lookupId, reference: 'CLINODEBIT01', amount: 100, currency: 'CNY', maskedPan: maskPan(TEST_CARDS.unionPay.pan), terminalId: 'PP-1001' });
    const report = await mobile(['reconcile', '--day', new Date().toISOString().slice(0, 10)]);
    expect(report.code).toBe(EXIT_FAILED);
    expect(report.out).toContain('MISSING_FROM_FILE');
    expect(report.out).toContain('CLINODEBIT01');
    for (const argv of [['register', '--mobile', payee], ['confirm', '--registration', 'x', '--code', '1'], ['texts', '--mobile', '123'], ['reconcile']]) {
      expect((await mobile(argv)).code, argv.join(' ')).toBe(EXIT_USAGE);
    }
    const nobody = await runCommand(mobileCommand, ['reconcile', '--day', '2026-12-06', '--url', 'http://127.0.0.1:1']);
    expect(nobody).toMatchObject({ code: EXIT_FAILED, err: expect.stringContaining('LINK_UNAVAILABLE') });
  });
});
