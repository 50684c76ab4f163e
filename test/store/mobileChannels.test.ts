/**
 * C2 on every dialect: updates by SMS commands, e-mail and the voice menu (DTMF), each through the
 * simulator of its outside party; every channel confirms by the code texted to the registered
 * number, and what a channel must not take (card numbers by SMS or mail, unknown callers) is refused
 * with nothing changed.
 */
import { describe, expect, it } from 'vitest';
import { attachMailUpdates, parseMailUpdate } from '../../host/payments/mobile/channels/mailUpdates';
import { attachSmsCommands, parseSmsCommand, SMS_HELP } from '../../host/payments/mobile/channels/smsCommands';
import { attachVoiceMenu } from '../../host/payments/mobile/channels/voiceMenu';
import { MailGatewaySimulator } from '../../host/simulators/mailGatewaySimulator';
import { TEST_CARDS } from '../../host/simulators/testCards';
import { VoicePlatformSimulator } from '../../host/simulators/voicePlatformSimulator';
import { DIALECTS, useMigratedDatabase } from './helpers/testDatabase';
import { createMobileFixture, freshMobile } from './support/mobileFixture';

describe('C2: channel commands as parsed', () => {
  it('C2: SMS commands', () => {
    expect(parseSmsCommand(' 123456 ')).toEqual({ kind: 'code', code: '123456' });
    expect(parseSmsCommand('NAME 王小明')).toEqual({ kind: 'name', name: '王小明' });
    expect(parseSmsCommand('改名：王小明')).toEqual({ kind: 'name', name: '王小明' });
    expect(parseSmsCommand('CARD 6222021000000000058')).toEqual({ kind: 'card' });
    for (const t of ['hello', '12345', '1234567', 'NAME']) expect(parseSmsCommand(t)).toEqual({ kind: 'help' });
  });
  it('C2: e-mail updates: malformed subjects, missing names and card lines are MOBILE_COMMAND_INVALID', () => {
    expect(parseMailUpdate({ from: 'a@b.cn', subject: 'Update 13800138000', body: 'Name: 王小明\n' })).toEqual({ mobile: '13800138000', name: '王小明' });
    for (const mail of [
      { from: 'a@b.cn', subject: 'please update', body: 'name: 王小明' },
      { from: 'a@b.cn', subject: 'UPDATE 13800138000', body: 'hello' },
      { from: 'a@b.cn', subject: 'UPDATE 13800138000', body: 'name: 王小明\ncard: 6222021000000000058' },
    ]) expect(() => parseMailUpdate(mail)).toThrow(expect.objectContaining({ code: 'MOBILE_COMMAND_INVALID' }));
  });
});

describe.each(DIALECTS)('C2 updates by SMS, e-mail and voice on %s', (dialect) => {
  const database = useMigratedDatabase(dialect);

  it('C2: by SMS: NAME starts a change checked against the card, the code texted back confirms it; card numbers and strangers are turned away', async () => {
    const f = await createMobileFixture(database());
    const mobile = freshMobile();
    await f.register('张三', mobile, TEST_CARDS.unionPay.pan);
    attachSmsCommands(f.sms, { payees: f.mobile.payees, sms: f.sms });
    const from = `+86${mobile}`;
    await f.sms.receive(from, 'NAME 李四');
    expect(f.sms.sent(from).at(-1)!.text).toContain('the name is not the card holder');
    await f.sms.receive(from, 'CARD 6222021000000000058');
    expect(f.sms.sent(from).at(-1)!.text).toContain('do not take card numbers by SMS');
    await f.sms.receive(from, 'hi');
    expect(f.sms.sent(from).at(-1)!.text).toBe(SMS_HELP);
    await f.sms.receive(from, '123456');
    expect(f.sms.sent(from).at(-1)!.text).toContain('no change waiting');
    // An update to the card's own holder name (same name, new spacing) goes through.
    await f.sms.receive(from, 'NAME 张三');
    expect(f.sms.sent(from).at(-1)!.text).toBe('paypad: to confirm the new name, reply with the 6-digit code we have just sent you.');
    await f.sms.receive(from, f.lastCode(mobile));
    expect(f.sms.sent(from).at(-1)!.text).toBe('paypad: your registration is updated: 张三, card 622202*********0017.');
    const before = f.sms.sent().length;
    await f.sms.receive('+14155550100', 'NAME John Smith');
    expect(f.sms.sent().length).toBe(before);
    await expect(f.sms.receive('13800138000', 'hi')).rejects.toMatchObject({ code: 'SMS_MESSAGE_INVALID' });
  });

  it('C2: by e-mail: the change waits for the code texted to the registered number; the reply names the number masked', async () => {
    const f = await createMobileFixture(database());
    const mobile = freshMobile();
    await f.register('张三', mobile, TEST_CARDS.unionPay.pan);
    const mail = new MailGatewaySimulator(f.now);
    attachMailUpdates(mail, { payees: f.mobile.payees });
    attachSmsCommands(f.sms, { payees: f.mobile.payees, sms: f.sms });
    await mail.receive('someone@example.cn', `UPDATE ${mobile}`, 'card: 6222021000000000058');
    expect(mail.sent('someone@example.cn').at(-1)!.body).toContain('not taken by e-mail');
    expect(JSON.stringify(mail.sent())).not.toContain('6222021000000000058');
    await mail.receive('someone@example.cn', `UPDATE ${mobile}`, 'name: 张三');
    expect(mail.sent('someone@example.cn').at(-1)!.body).toContain(`${mobile.slice(0, 3)}****${mobile.slice(7)}`);
    expect(await f.mobile.payees.pendingFor(mobile)).toBeDefined();
    await f.sms.receive(`+86${mobile}`, f.lastCode(mobile));
    expect(f.sms.sent(`+86${mobile}`).at(-1)!.text).toContain('your registration is updated');
    await mail.receive('someone@example.cn', `UPDATE ${freshMobile()}`, 'name: 张三');
    expect(mail.sent('someone@example.cn').at(-1)!.body).toContain('no payee is registered');
    await expect(mail.receive('not an address', 'x', 'y')).rejects.toMatchObject({ code: 'MAIL_MESSAGE_INVALID' });
  });

  it('C2: by voice: 1 and a keyed card number start a card change, 2 and the texted code confirm it; an unregistered caller is turned away', async () => {
    const f = await createMobileFixture(database());
    const mobile = freshMobile();
    await f.register('王小明', mobile, TEST_CARDS.payee.pan);
    const voice = new VoicePlatformSimulator();
    attachVoiceMenu(voice, { payees: f.mobile.payees });
    // Another holder's card is refused by its bank.
    const refused = await voice.call(`+86${mobile}`, ['1', `${TEST_CARDS.unionPay.pan}#`]);
    expect(refused.lines.at(-1)).toContain('Sorry: the receiving card could not be verified');
    expect(JSON.stringify(refused.lines)).not.toContain(TEST_CARDS.unionPay.pan);
    // A card of the same holder: a second card of 王小明 is not in the test network, so the change keeps the card and is confirmed.
    const started = await voice.call(`+86${mobile}`, ['1', `${TEST_CARDS.payee.pan}#`]);
    expect(started.lines.at(-1)).toContain('We have texted a code');
    const wrong = await voice.call(`+86${mobile}`, ['2', '000000']);
    expect(wrong.lines.at(-1)).toMatch(/wrong code|Sorry/);
    const done = await voice.call(`+86${mobile}`, ['2', f.lastCode(mobile)]);
    expect(done.lines.at(-1)).toBe('say: Your receiving card is now the card ending 0058. Goodbye.');
    const stranger = await voice.call(`+86${freshMobile()}`, ['1']);
    expect(stranger.lines).toEqual(['say: This number is not registered for mobile-number payments. Please call from your registered phone. Goodbye.']);
    await expect(voice.call('13800138000', [])).rejects.toMatchObject({ code: 'VOICE_CALL_INVALID' });
    await expect(voice.call(`+86${mobile}`, ['1', 'ABC'])).rejects.toMatchObject({ code: 'VOICE_CALL_INVALID' });
  });
});
