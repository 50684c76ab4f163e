/**
 * The operating terminal's part of key loading (docs/key-loading.md "Flow" 2; SPEC A2-A6, A10,
 * A13, A14), written against ports so it runs the same with a TCP or UART link, a real or test
 * MTMS, and a person or a script answering.
 *
 *   S1 (A2)    read the serial from the terminal
 *   S2 (A3)    ask MTMS whose terminal it is
 *   S3/S4 (A4) show the customer, wait for the operator's confirmation
 *   S5 (A5)    confirmed: ask MTMS for a TK challenge, have the terminal sign its TK envelope over
 *              it (A8), and upload serial + envelope + device signature and certificate
 *   A6         not confirmed: the operator types a customer code, MTMS names that customer for
 *              this serial only (A14), the operator confirms, and serial + envelope + code go up
 *
 * Decisions:
 * - A serial MTMS does not know stops the flow (MTMS_SERIAL_UNKNOWN): MTMS refuses an intake and a
 *   customer name for an unregistered serial anyway, and registering serials is the MTMS
 *   administrator's job (production orders, A9), not the operator's.
 * - The TK envelope is read only after a customer is confirmed: nothing secret-bearing leaves the
 *   terminal for an upload that will not happen. It is relayed as the hex the terminal sent (A10).
 * - The terminal must answer the same serial throughout: a device swapped on the link mid-flow
 *   would otherwise have its TK filed under another terminal's serial.
 * - The upload is sent twice at most when MTMS's answer is lost, each time over a fresh challenge
 *   (a nonce is used once, by whichever upload reached MTMS) and so a fresh envelope of the same
 *   TK: MTMS records the same TK for the same customer once and answers the first receipt again.
 * - At most MAX_CODE_ATTEMPTS customer codes per run: A14 asks that an operator learn names for
 *   the serial in hand, not walk MTMS's customer list.
 */
import { isPaypadError, PaypadError } from '../../shared/errors';
import { customerCode as customerCodeField } from '../../shared/protocol/fields';
import type { CustomerInfo, TkIntakeReceipt } from '../../shared/protocol/messages';
import type { TerminalLink } from './linkClient';
import type { MtmsPort } from './mtmsClient';
import type { OperatorPrompt } from './prompt';
import { isRefusal } from './refusal';

export interface OperatorPorts {
  readonly link: TerminalLink;
  readonly mtms: MtmsPort;
  readonly prompt: OperatorPrompt;
}

export interface OnboardingResult {
  readonly serial: string;
  readonly customerCode: string;
  readonly customerName: string;
  /** MTMS's id for the delivery to the customer's KMS (A7). */
  readonly deliveryId: string;
  /** The customer MTMS named first, when the operator chose another (A6). */
  readonly reassociatedFrom?: string;
  /** True when the terminal was repaired first (A13). */
  readonly repaired: boolean;
}

export const MAX_CODE_ATTEMPTS = 3;
const UPLOAD_ATTEMPTS = 2;

/** A2-A6: onboards the terminal on the link. @throws PaypadError; OPERATOR_CANCELLED when the operator said no. */
export async function onboardTerminal(ports: OperatorPorts): Promise<OnboardingResult> {
  return onboard(ports, await ports.link.readSerial(), false);
}

/** A13: the terminal zeroizes its vault and makes a new TK, which then goes through A2-A6 again. */
export async function repairTerminal(ports: OperatorPorts): Promise<OnboardingResult> {
  const { link, prompt } = ports;
  const serial = await link.readSerial();
  if (!(await prompt.confirmRepair(serial))) throw cancelled(`terminal ${serial} was not repaired; nothing was changed`);
  // The request names the serial: a different device on the link refuses it and wipes nothing.
  const repaired = await link.repair(serial);
  if (repaired !== serial) throw swapped(serial, repaired);
  prompt.say(`Terminal ${serial} zeroized its keys and made a new TK.`);
  const again = await link.readSerial();
  if (again !== serial) throw swapped(serial, again);
  return onboard(ports, serial, true);
}

async function onboard(ports: OperatorPorts, serial: string, repaired: boolean): Promise<OnboardingResult> {
  const { mtms, prompt } = ports;
  prompt.say(`Terminal serial: ${serial}`);
  let shown: CustomerInfo;
  try {
    shown = await mtms.lookup(serial);
  } catch (e) {
    if (isRefusal(e, 'MTMS', 'MTMS_SERIAL_UNKNOWN')) {
      throw new PaypadError('MTMS_SERIAL_UNKNOWN', `serial ${serial} is not in MTMS's serial table; the MTMS administrator registers serials (production orders). Nothing was uploaded.`);
    }
    throw e;
  }
  const confirmed = await prompt.confirmCustomer(shown);
  const chosen = confirmed ? shown : await chooseCustomer(ports, serial);

  const receipt = await upload(ports, serial, confirmed ? undefined : chosen.customerCode);
  // A5 sends no code and MTMS files the TK for the serial's customer at that moment: it must be
  // the one the operator confirmed, or the serial changed customer in between.
  if (receipt.customerCode !== chosen.customerCode) {
    throw new PaypadError(
      'MTMS_REFUSED',
      `MTMS filed the TK of serial ${serial} for customer ${receipt.customerCode}, not ${chosen.customerCode} as confirmed (delivery ${receipt.deliveryId}): the serial changed customer meanwhile; tell the MTMS administrator`,
    );
  }
  const moved = chosen.customerCode !== shown.customerCode;
  return {
    serial,
    customerCode: chosen.customerCode,
    customerName: chosen.customerName,
    deliveryId: receipt.deliveryId,
    ...(moved ? { reassociatedFrom: shown.customerCode } : {}),
    repaired,
  };
}

/** A6: a customer code typed by the operator, named by MTMS, confirmed by the operator. */
async function chooseCustomer({ mtms, prompt }: OperatorPorts, serial: string): Promise<CustomerInfo> {
  let lastProblem: PaypadError | undefined;
  for (let attempt = 1; attempt <= MAX_CODE_ATTEMPTS; attempt++) {
    const typed = await prompt.enterCustomerCode(serial);
    if (typed === undefined) throw lastProblem ?? cancelled(`no customer code given for serial ${serial}; nothing was uploaded`);
    const code = typed.trim().toUpperCase();
    try {
      customerCodeField(code, 'customer code');
    } catch (e) {
      lastProblem = e as PaypadError;
      prompt.say(`"${code.slice(0, 32)}" is not a customer code: 2 to 16 of A-Z 0-9 _ -.`);
      continue;
    }
    let info: CustomerInfo;
    try {
      info = await mtms.customerName(serial, code);
    } catch (e) {
      if (!isRefusal(e, 'MTMS', 'MTMS_CUSTOMER_UNKNOWN')) throw e;
      lastProblem = e;
      prompt.say(`MTMS knows no customer ${code}.`);
      continue;
    }
    if (await prompt.confirmEnteredCustomer(info)) return info;
    throw cancelled(`customer ${code} was not confirmed for serial ${serial}; nothing was uploaded`);
  }
  throw new PaypadError('OPERATOR_CANCELLED', `no customer confirmed after ${MAX_CODE_ATTEMPTS} codes for serial ${serial}; nothing was uploaded`);
}

/** A5/A8: a TK challenge from MTMS, the envelope the terminal signs over it, and the upload. */
async function upload({ link, mtms, prompt }: OperatorPorts, serial: string, customerCode: string | undefined): Promise<TkIntakeReceipt> {
  for (let attempt = 1; ; attempt++) {
    const challenge = await mtms.tkChallenge(serial);
    const envelope = await link.readTkEnvelope(challenge.nonce);
    if (envelope.serial !== serial) throw swapped(serial, envelope.serial);
    try {
      return await mtms.uploadTk({
        serial,
        tkEnvelope: envelope.tkEnvelope,
        ...(customerCode === undefined ? {} : { customerCode }),
        nonce: challenge.nonce,
        deviceSignature: envelope.signature,
        deviceCertificate: envelope.certificate,
      });
    } catch (e) {
      // Only a lost answer is retried; a refusal, a certificate problem or a bad answer is final.
      const lost = isPaypadError(e, 'HTTP_TIMEOUT') || isPaypadError(e, 'HTTP_FAILED');
      if (!lost || attempt === UPLOAD_ATTEMPTS) throw e;
      prompt.say(`No answer from MTMS (${e.message}); sending the same TK again over a new challenge: MTMS records it once.`);
    }
  }
}

function cancelled(message: string): PaypadError {
  return new PaypadError('OPERATOR_CANCELLED', message);
}

function swapped(expected: string, got: string): PaypadError {
  return new PaypadError('PROTOCOL_MALFORMED', `the terminal on the link answered serial ${got}, but this flow is for ${expected}: was the device changed? Nothing was uploaded.`);
}
