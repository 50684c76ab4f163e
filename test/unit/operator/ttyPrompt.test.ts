/**
 * The operator's questions over readline (host/operator/ttyPrompt), driven through streams: the
 * wording of A4/A6/A13, only "y"/"yes" confirms, an empty code gives up, end of input cancels.
 * (At a real pseudo-terminal: operatorCli.test.ts.)
 */
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createTtyPrompt } from '../../../host/operator/ttyPrompt';

const INFO = { v: 1 as const, serial: 'PP-0001', customerCode: 'ACME', customerName: 'Acme Bank' };

function session() {
  const input = new PassThrough();
  const output = new PassThrough();
  let shown = '';
  output.on('data', (c: Buffer) => (shown += c.toString('utf8')));
  const prompt = createTtyPrompt(input, output);
  return { input, prompt, shown: () => shown };
}

describe('A4/A6/A13 questions at the operating terminal', () => {
  it.each([
    ['y', true],
    ['YES', true],
    [' yes ', true],
    ['', false],
    ['n', false],
    ['yep', false],
    ['ja', false],
  ])('A4 the answer %j confirms: %s', async (answer, confirmed) => {
    const { input, prompt, shown } = session();
    const asked = prompt.confirmCustomer(INFO);
    input.write(`${answer}\n`);
    expect(await asked).toBe(confirmed);
    expect(shown()).toBe('Serial PP-0001 belongs to customer ACME Acme Bank. Confirm? [y/N] ');
    prompt.close();
  });

  it('A6 asks for a code, then for the named customer; A13 asks before a repair', async () => {
    const { input, prompt, shown } = session();
    const code = prompt.enterCustomerCode('PP-0001');
    input.write('globex\n');
    expect(await code).toBe('globex');
    const entered = prompt.confirmEnteredCustomer({ ...INFO, customerCode: 'GLOBEX', customerName: 'Globex Pay' });
    input.write('y\n');
    expect(await entered).toBe(true);
    const repair = prompt.confirmRepair('PP-0001');
    input.write('n\n');
    expect(await repair).toBe(false);
    expect(shown()).toBe(
      'Customer code: ' +
        'Customer GLOBEX is Globex Pay. Upload the TK of serial PP-0001 for this customer? [y/N] ' +
        'Repair terminal PP-0001: zeroize its keys and make a new TK? [y/N] ',
    );
    prompt.close();
  });

  it('A6 an empty customer code gives up (undefined)', async () => {
    const { input, prompt } = session();
    const code = prompt.enterCustomerCode('PP-0001');
    input.write('   \n');
    expect(await code).toBeUndefined();
    prompt.close();
  });

  it('end of input at a question is OPERATOR_CANCELLED, and so is every later question', async () => {
    const { input, prompt } = session();
    const asked = prompt.confirmCustomer(INFO);
    input.end();
    await expect(asked).rejects.toMatchObject({ code: 'OPERATOR_CANCELLED' });
    await expect(prompt.enterCustomerCode('PP-0001')).rejects.toMatchObject({ code: 'OPERATOR_CANCELLED' });
  });
});
