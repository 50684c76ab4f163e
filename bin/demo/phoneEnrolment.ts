/**
 * A phone's payment client set up as its user sets it up, through the real `paypad phone` CLI
 * against a running host: a fresh number enrolled with the code the simulated SMS provider texted
 * to it (read with `paypad mobile texts`), then cards bound, each verified with its bank. The
 * bill-payment demo (D1) and the online-payment demo's phone part (E3) start from here.
 */
import { PaypadError } from '../../shared/errors';
import type { RunningHost } from '../../host/server';
import { newMobileNumber } from './mobilePaymentScenario';
import { type PaypadRunOptions, runPaypad, runPaypadJson } from './paypadProcess';

export interface EnrolledPhone {
  /** The enrolled number, 11 digits. */
  readonly mobile: string;
  /** The code texted to it (a demo shows it read off the simulated phone). */
  readonly code: string;
  /** The bound cards' masked numbers, in the order given. */
  readonly maskedPans: readonly string[];
}

/**
 * `paypad phone enrol`, `confirm` and `bind-card` (the card number on standard input) with the
 * phone's directory `home`.
 * @throws PaypadError DEMO_STEP_FAILED when a command fails or no code was texted.
 */
export async function enrolPhone(host: RunningHost, home: string, cards: readonly { pan: string; expiry: string; holderName: string }[], commands: PaypadRunOptions = {}): Promise<EnrolledPhone> {
  const where = ['--home', home, '--url', host.url];
  const mobile = newMobileNumber();
  await runPaypad(['phone', 'enrol', '--mobile', mobile, ...where], commands);
  const code = /code is (\d{6})/.exec(await texts(host, mobile, commands))?.[1];
  if (code === undefined) throw new PaypadError('DEMO_STEP_FAILED', `no code texted to ${mobile}`);
  await runPaypadJson(['phone', 'confirm', '--code', code, ...where], commands);
  const maskedPans: string[] = [];
  for (const card of cards) {
    const answer = await runPaypadJson<{ maskedPan: string }>(['phone', 'bind-card', '--expiry', card.expiry, '--holder', card.holderName, ...where], { ...commands, stdin: `${card.pan}\n` });
    maskedPans.push(answer.maskedPan);
  }
  return { mobile, code, maskedPans };
}

/** The simulated phone's texts of `mobile`, through `paypad mobile texts`. */
export async function texts(host: RunningHost, mobile: string, commands: PaypadRunOptions = {}): Promise<string> {
  return (await runPaypad(['mobile', 'texts', '--mobile', mobile, '--url', host.url], commands)).stdout;
}
