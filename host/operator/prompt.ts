/**
 * What the onboarding flow asks the person at the operating terminal (A4, A6, A13), as questions
 * with meaning rather than raw text, so one flow runs at a TTY (ttyPrompt.ts) and unattended from
 * command-line answers (answeringPrompt below). The wording lives here once for both.
 *
 * Customer names and codes come from MTMS validated as printable text (protocol/fields: no control
 * characters), so showing them cannot drive the operator's terminal with escape sequences.
 */
import { PaypadError } from '../../shared/errors';
import type { CustomerInfo } from '../../shared/protocol/messages';

export interface OperatorPrompt {
  /** A line for the operator: progress, and the problems the flow recovers from. */
  say(line: string): void;
  /** A13: wipe this terminal's keys and make a new TK? */
  confirmRepair(serial: string): Promise<boolean>;
  /** S3/S4 (A4): is the customer MTMS names for this serial the right one? */
  confirmCustomer(info: CustomerInfo): Promise<boolean>;
  /** A6: the customer code the operator types instead; undefined to give up. */
  enterCustomerCode(serial: string): Promise<string | undefined>;
  /** A6: upload to the customer of the code just typed, shown with its name? */
  confirmEnteredCustomer(info: CustomerInfo): Promise<boolean>;
}

export const questions = {
  repair: (serial: string) => `Repair terminal ${serial}: zeroize its keys and make a new TK?`,
  customer: (info: CustomerInfo) => `Serial ${info.serial} belongs to customer ${info.customerCode} ${info.customerName}. Confirm?`,
  customerCode: () => 'Customer code:',
  enteredCustomer: (info: CustomerInfo) => `Customer ${info.customerCode} is ${info.customerName}. Upload the TK of serial ${info.serial} for this customer?`,
} as const;

/** The answers a script gives on the command line: --yes and --customer CODE. */
export interface PromptAnswers {
  /** Yes to the repair and, without `customerCode`, to the customer MTMS names. */
  readonly yes: boolean;
  /** No to the customer MTMS names; upload for this customer instead (A6). */
  readonly customerCode?: string;
}

/** True when the answers leave a question for a person: then a TTY is needed. */
export function needsOperator(answers: PromptAnswers, repair: boolean): boolean {
  return !answers.yes && (repair || answers.customerCode === undefined);
}

/**
 * Answers from the command line, and asks `operator` (a TTY prompt) whatever they leave open.
 * Each answer is echoed through `say` so a script's log shows what was decided and by what. The
 * customer code is given once: if MTMS does not know it, the flow stops instead of asking again.
 */
export function answeringPrompt(answers: PromptAnswers, say: (line: string) => void, operator?: OperatorPrompt): OperatorPrompt {
  let codeGiven = false;
  const ask = <T>(question: (p: OperatorPrompt) => Promise<T>): Promise<T> => {
    // The CLI checks needsOperator before it starts: reaching this is a caller's mistake.
    if (operator === undefined) throw new PaypadError('BAD_ARGUMENT', 'this question needs an operator at a terminal; answer it with --yes or --customer');
    return question(operator);
  };
  return {
    say,
    async confirmRepair(serial) {
      if (!answers.yes) return ask((p) => p.confirmRepair(serial));
      say(`${questions.repair(serial)} yes (--yes)`);
      return true;
    },
    async confirmCustomer(info) {
      if (answers.customerCode !== undefined) {
        say(`${questions.customer(info)} no (--customer ${answers.customerCode})`);
        return false;
      }
      if (!answers.yes) return ask((p) => p.confirmCustomer(info));
      say(`${questions.customer(info)} yes (--yes)`);
      return true;
    },
    async enterCustomerCode(serial) {
      if (answers.customerCode === undefined) return ask((p) => p.enterCustomerCode(serial));
      if (codeGiven) return undefined;
      codeGiven = true;
      say(`${questions.customerCode()} ${answers.customerCode} (--customer)`);
      return answers.customerCode;
    },
    async confirmEnteredCustomer(info) {
      // --customer CODE is the operator's decision made in advance: the name is shown, for the log.
      if (answers.customerCode !== undefined) {
        say(`${questions.enteredCustomer(info)} yes (--customer)`);
        return true;
      }
      return ask((p) => p.confirmEnteredCustomer(info));
    },
  };
}
