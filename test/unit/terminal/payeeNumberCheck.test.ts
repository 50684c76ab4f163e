/**
 * C4 at the POS: the terminal checks the payee's and the payer's numbers with the platform's own
 * rule (shared/mobileNumber.ts) before it sends anything, so a bad number is keyed again at once.
 * The terminal here is manufactured but never signed on: a number that passes would fail later
 * for that reason, one that does not never gets that far.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Terminal } from '../../../firmware/core/terminal';
import { makeMtmsKey, makePki, manufacture, tempDirs } from './support';

const dirs = tempDirs();
let terminal: Terminal;
beforeAll(async () => {
  terminal = manufacture(dirs.make(), { mtms: makeMtmsKey(), kmsUrl: 'https://127.0.0.1:1', caDer: (await makePki()).caDer }).terminal;
});
afterAll(() => dirs.cleanup());

describe('C4: the number check unit on the POS', () => {
  it.each([['12345678901'], ['1380013800'], ['+8613800138000'], ['15412345678']])("C4: payee %s is MOBILE_NUMBER_INVALID before anything is sent", async (payee) => {
    await expect(terminal.lookupPayee(payee)).rejects.toMatchObject({ code: 'MOBILE_NUMBER_INVALID', message: expect.stringContaining("payee's mobile number") });
  });

  it("C4: a bad payer number is refused the same way, naming the payer's", async () => {
    await expect(terminal.lookupPayee('13800138000', '23800138000')).rejects.toMatchObject({ code: 'MOBILE_NUMBER_INVALID', message: expect.stringContaining("payer's mobile number") });
  });

  it('C4: a good number passes the check and meets the next one (the terminal has not signed on)', async () => {
    await expect(terminal.lookupPayee('13800138000', '13900139000')).rejects.not.toMatchObject({ code: 'MOBILE_NUMBER_INVALID' });
  });
});
