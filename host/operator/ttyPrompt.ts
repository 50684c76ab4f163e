/**
 * The operator's questions at a terminal (node:readline). Questions and progress go to `output`
 * (stderr in the CLI: stdout carries only the result). Only "y" or "yes" confirms (A4: the
 * operator must confirm; anything else, an empty line included, is no); an empty customer code
 * gives up. End of input (Ctrl-D) or Ctrl-C at a question stops the run: OPERATOR_CANCELLED.
 */
import { createInterface, type Interface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { PaypadError } from '../../shared/errors';
import { type OperatorPrompt, questions } from './prompt';

export interface TtyPrompt extends OperatorPrompt {
  close(): void;
}

const YES = /^\s*y(?:es)?\s*$/i;

export function createTtyPrompt(input: Readable, output: Writable): TtyPrompt {
  const rl: Interface = createInterface({ input, output, terminal: (input as { isTTY?: boolean }).isTTY === true });
  let closed = false;
  rl.on('close', () => (closed = true));
  // Without a listener readline only pauses on Ctrl-C and the question would wait forever.
  rl.on('SIGINT', () => {
    output.write('\n');
    rl.close();
  });

  const ended = () => new PaypadError('OPERATOR_CANCELLED', 'the operator ended the input (Ctrl-C or Ctrl-D); nothing was uploaded');

  /** The answer; OPERATOR_CANCELLED when input ended or the operator pressed Ctrl-C. */
  const ask = (question: string): Promise<string> =>
    new Promise((resolve, reject) => {
      if (closed) return reject(ended());
      const onClose = () => reject(ended());
      rl.once('close', onClose);
      rl.question(`${question} `, (answer) => {
        rl.off('close', onClose);
        resolve(answer);
      });
    });

  const confirm = async (question: string): Promise<boolean> => YES.test(await ask(`${question} [y/N]`));

  return {
    say: (line) => void output.write(`${line}\n`),
    confirmRepair: (serial) => confirm(questions.repair(serial)),
    confirmCustomer: (info) => confirm(questions.customer(info)),
    async enterCustomerCode() {
      const answer = await ask(questions.customerCode());
      return answer.trim() === '' ? undefined : answer;
    },
    confirmEnteredCustomer: (info) => confirm(questions.enteredCustomer(info)),
    close: () => rl.close(),
  };
}
