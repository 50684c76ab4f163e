/**
 * C1, C2, C5, C9 over the host app's data channel (/mobile) on every dialect, the way `npm start`
 * mounts it (startMobilePayments): demo payees registered through the real flow, a registration
 * confirmed with the code read off the simulated phone, typed error bodies, 429 with Retry-After,
 * reconciliation from a loopback caller.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../host/app';
import { loadConfig } from '../../host/config';
import { createLogger } from '../../host/log';
import { CARD_VAULT_KEY_FILE } from '../../host/payments/mobile/cardVaultKey';
import { DEMO_PAYEES, type RunningMobilePayments, startMobilePayments } from '../../host/payments/mobile/mobileRole';
import { TEST_CARDS } from '../../host/simulators/testCards';
import { listen } from '../unit/host/helpers/listen';
import { DIALECTS, useMigratedDatabase } from './helpers/testDatabase';
import { freshMobile } from './support/mobileFixture';

describe.each(DIALECTS)('the mobile data channel on %s', (dialect) => {
  const database = useMigratedDatabase(dialect);
  let dir: string;
  let running: RunningMobilePayments;
  let server: { url: string; close(): Promise<void> };
  const post = (path: string, body: unknown) => fetch(`${server.url}/mobile${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: typeof body === 'string' ? body : JSON.stringify(body) });
  const errorCode = async (res: Response) => ((await res.json()) as { error: { code: string } }).error.code;
  const codeFor = async (mobile: string) => {
    const { texts } = (await (await fetch(`${server.url}/mobile/v1/simulated-phones/%2B86${mobile}/texts`)).json()) as { texts: { text: string }[] };
    return /code is (\d{6})/.exec(texts.at(-1)!.text)![1];
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'paypad-mobile-'));
    const logger = createLogger({ level: 'silent' });
    running = await startMobilePayments({ dataDir: dir, database: database(), logger, demoData: true });
    server = await listen(createApp({ config: loadConfig({ PAYPAD_DATA_DIR: dir }), database: database(), logger, version: '0', roles: [running.role] }));
  });
  afterAll(async () => {
    await server?.close();
    await running?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('C1: the host starts with the demo payees registered through the real flow, and its card vault key is a 0600 file', async () => {
    expect(running.demoPayeesAdded).toEqual(DEMO_PAYEES.map((p) => p.mobile));
    expect(await running.mobile.payees.payee('13800138000')).toMatchObject({ name: '王小明', maskedCard: '622202*********0058' });
    expect(statSync(join(dir, CARD_VAULT_KEY_FILE)).mode & 0o777).toBe(0o600);
    const found = await running.mobile.platform.lookupPayee({ mobile: '15800158000', terminalId: 'PP-1001', merchantId: 'ACME SHOP 00001' });
    expect(found.maskedName).toBe('L* L**');
  });

  it('C1, C2: register and update over HTTP: 202 with a registration id, the code from the phone, 200 with the payee (masked card only)', async () => {
    const mobile = freshMobile();
    const started = await post('/v1/payees', { name: '张三', mobile, pan: TEST_CARDS.unionPay.pan });
    expect(started.status).toBe(202);
    const { registrationId } = (await started.json()) as { registrationId: string };
    const confirmed = await post(`/v1/registrations/${registrationId}/confirm`, { code: await codeFor(mobile) });
    expect(confirmed.status).toBe(200);
    const payee = (await confirmed.json()) as { maskedCard: string };
    expect(payee).toMatchObject({ mobile, name: '张三', maskedCard: '622202*********0017' });
    expect(JSON.stringify(payee)).not.toContain(TEST_CARDS.unionPay.pan);
    const update = await post(`/v1/payees/${mobile}/updates`, { name: '王小明', pan: TEST_CARDS.payee.pan });
    expect(update.status).toBe(202);
    const { registrationId: updateId } = (await update.json()) as { registrationId: string };
    const updated = (await (await post(`/v1/registrations/${updateId}/confirm`, { code: await codeFor(mobile) })).json()) as { maskedCard: string };
    expect(updated.maskedCard).toBe('622202*********0058');
  });

  it('C1: typed error bodies: malformed JSON 400, a bad number 400, a number registered twice 409, an unknown registration 404, a card not verified 422', async () => {
    const bad = await post('/v1/payees', '{"name":');
    expect(bad.status).toBe(400);
    expect(await errorCode(await post('/v1/payees', { name: '王小明', mobile: '123', pan: TEST_CARDS.payee.pan }))).toBe('MOBILE_NUMBER_INVALID');
    const twice = await post('/v1/payees', { name: '王小明', mobile: '13800138000', pan: TEST_CARDS.payee.pan });
    expect([twice.status, await errorCode(twice)]).toEqual([409, 'PAYEE_EXISTS']);
    const unknown = await post('/v1/registrations/nope/confirm', { code: '123456' });
    expect([unknown.status, await errorCode(unknown)]).toEqual([404, 'REGISTRATION_UNKNOWN']);
    const wrongName = await post('/v1/payees', { name: '李四', mobile: freshMobile(), pan: TEST_CARDS.payee.pan });
    expect([wrongName.status, await errorCode(wrongName)]).toEqual([422, 'PAYEE_CARD_NOT_VERIFIED']);
  });

  it('C5: an empty bucket answers 429 RATE_LIMITED with Retry-After in seconds', async () => {
    const mobile = freshMobile();
    for (let i = 0; i < 2; i++) expect((await post('/v1/payees', { name: '张伟', mobile, pan: TEST_CARDS.payee.pan })).status).toBe(422);
    const refused = await post('/v1/payees', { name: '张伟', mobile, pan: TEST_CARDS.payee.pan });
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toMatch(/^[1-9]\d*$/);
    expect(await errorCode(refused)).toBe('RATE_LIMITED');
  });

  it('C2: the simulated phone, mailbox and call over HTTP reach the SMS, e-mail and voice channels', async () => {
    const mobile = freshMobile();
    await running.mobile.payees.startRegistration({ name: '张三', mobile, pan: TEST_CARDS.unionPay.pan }, 'data');
    await running.mobile.payees.confirm((await running.mobile.payees.pendingFor(mobile))!, await codeFor(mobile));
    const sent = await post(`/v1/simulated-phones/%2B86${mobile}/send`, { text: 'CARD 6222021000000000058' });
    expect(sent.status).toBe(200);
    expect(JSON.stringify(await sent.json())).toContain('do not take card numbers by SMS');
    const mailed = (await (await post('/v1/simulated-mail', { from: 'someone@example.cn', subject: `UPDATE ${mobile}`, body: 'name: 李四' })).json()) as { reply: { body: string } };
    expect(mailed.reply.body).toContain('could not be verified');
    const called = (await (await post('/v1/simulated-calls', { from: `+86${mobile}`, keys: ['2'] })).json()) as { lines: string[] };
    expect(called.lines.at(-1)).toContain('no change waiting');
    const bad = await post('/v1/simulated-calls', { from: mobile, keys: [] });
    expect([bad.status, await errorCode(bad)]).toEqual([400, 'VOICE_CALL_INVALID']);
  });

  it('C9: a loopback caller runs the day\'s reconciliation and gets the report', async () => {
    const res = await post('/v1/reconciliations', { businessDay: new Date().toISOString().slice(0, 10), currency: 'CNY' });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ currency: 'CNY', credited: [], mismatches: [] });
    expect((await post('/v1/reconciliations', { businessDay: '2026-13-01', currency: 'CNY' })).status).toBe(400);
  });
});
