/**
 * System C end to end (docs/mobile-payments.md, SPEC C1-C9; CN101976403A's scenario): paying
 * someone by their mobile number at a POS, through the real CLIs against a running host.
 *
 *   terminals  two emulated terminals onboarded and signed on (onboardingScenario.ts, System A)
 *   payee      registers their number and card (`paypad mobile register`), reads the code off the
 *              simulated phone (`paypad mobile texts`) and confirms it (C1)
 *   payer      pays at terminal 1 by the payee's number (`paypad terminal pay mobile`): the name
 *              shown masked and confirmed, the amount, a test card swiped, the PIN on standard
 *              input; POSP translates the PIN block in the HSM and debits the card over ISO 8583
 *              at the simulated bank (C3-C8); the POS shows success; the payer is texted
 *   evening    reconciliation against the provider's settlement file credits the payee's card and
 *              texts the payee naming the payer's number, masked (C9); the ledger verifies
 *   failures   (failurePaths) a number failing the rule, an unknown payee, a card of a bank the
 *              provider has no contract with, insufficient funds, a wrong PIN, and lookups until
 *              the payer's anti-enumeration bucket is empty: each with its code and POS screen,
 *              and no bank balance and no ledger total moved
 *
 * The host runs in this process (the caller starts it), so the scenario reads the simulated
 * banks' balances and the ledger's totals directly; everything else goes through `bin/paypad`.
 */
import { randomInt } from 'node:crypto';
import { join } from 'node:path';
import { PaypadError } from '../../shared/errors';
import { maskMobileNumber } from '../../shared/mobileNumber';
import { createLedger } from '../../host/payments/ledger/ledger';
import { maskPayeeName } from '../../host/payments/mobile/payeeName';
import type { RunningHost } from '../../host/server';
import { TEST_CARDS, TEST_PIN } from '../../host/simulators/testCards';
import { databaseEnv, type OnboardingScenarioResult, runOnboardingScenario } from './onboardingScenario';
import { type PaypadRunOptions, type PaypadTranscript, runPaypad, runPaypadJson, runPaypadTranscript } from './paypadProcess';

export interface MobilePaymentScenarioOptions {
  /** A running host with the demo customers (demo data on). */
  readonly host: RunningHost;
  /** Where the terminals' state directories go; the caller removes it. */
  readonly workDir: string;
  /** Also run every failure path (the e2e test does; the demo shows the scenario). */
  readonly failurePaths?: boolean;
  readonly progress?: (line: string) => void;
  /** Hears of every `paypad` process once it exited, with what it printed (tests scan it, X1). */
  readonly onPaypadExit?: (transcript: PaypadTranscript) => void;
}

/** One step as the demo prints it. */
export interface ScenarioStep {
  readonly name: string;
  readonly detail: string;
  /** The POS screens the step drew (the emulated terminal's display), if it ran one. */
  readonly screens?: string;
  readonly ok: boolean;
}

/** A failure path: what the payer saw and what moved (nothing should). */
export interface FailurePath {
  readonly name: string;
  readonly exit: number | string | null;
  /** The outcome's code (the response code for a decline). */
  readonly code?: string;
  /** The last screen's text. */
  readonly screen: string;
  readonly moved: readonly string[];
}

export interface MobilePaymentScenarioResult {
  readonly steps: readonly ScenarioStep[];
  readonly failures: readonly FailurePath[];
  /** The payee registered here, the payer's number, the amount paid and the payment's reference. */
  readonly payee: { readonly mobile: string; readonly name: string };
  readonly payerMobile: string;
  readonly amount: number;
  readonly reference?: string;
  /** The two terminals' state directories (signed on), and how they were onboarded. */
  readonly terminals: readonly string[];
  readonly onboarding: OnboardingScenarioResult;
  readonly ok: boolean;
}

/** What `paypad terminal pay mobile` prints on stdout. */
export interface PayOutcome {
  readonly outcome: 'approved' | 'declined' | 'failed' | 'cancelled';
  readonly payee?: string;
  readonly responseCode?: string;
  readonly reason?: string;
  readonly reference?: string;
  readonly maskedPan?: string;
  readonly code?: string;
}

const AMOUNT = 2_500;
const PAYEE_NAME = 'Han Meimei';

/** A mobile number no earlier run used: 139 then eight random digits (valid under the C4 rule). */
export function newMobileNumber(prefix = '139'): string {
  return `${prefix}${String(randomInt(0, 100_000_000)).padStart(8, '0')}`;
}

/** @throws PaypadError DEMO_STEP_FAILED when a step cannot be carried out; a wrong result is a step not ok. */
export async function runMobilePaymentScenario(options: MobilePaymentScenarioOptions): Promise<MobilePaymentScenarioResult> {
  const { host } = options;
  const say = options.progress ?? (() => {});
  const commands: PaypadRunOptions = { onExit: options.onPaypadExit };
  const url = ['--url', host.url];
  const steps: ScenarioStep[] = [];
  const step = (s: ScenarioStep) => {
    steps.push(s);
    say(`${s.ok ? 'ok  ' : 'FAIL'} ${s.name}: ${s.detail}`);
  };

  // Terminals: System A, through the real CLIs.
  say('onboarding two terminals (System A) ...');
  const onboarding = await runOnboardingScenario({ host, workDir: join(options.workDir, 'terminals'), onPaypadExit: options.onPaypadExit });
  const terminals = onboarding.terminals.map((t) => t.stateDir);
  step({ name: 'terminals onboarded', detail: onboarding.terminals.map((t) => `${t.serial} for ${t.customerCode} (${t.problems.length === 0 ? 'keys agree' : t.problems.join('; ')})`).join(', '), ok: onboarding.ok });

  // C1: the payee registers their number and card, with the code texted to the number.
  const payee = { mobile: newMobileNumber(), name: PAYEE_NAME };
  const payeeCard = TEST_CARDS.masterCard.pan;
  const registration = await runPaypadJson<{ registrationId: string }>(['mobile', 'register', '--name', payee.name, '--mobile', payee.mobile, ...url], { ...commands, stdin: `${payeeCard}\n` });
  const code = /code is (\d{6})/.exec((await runPaypad(['mobile', 'texts', '--mobile', payee.mobile, ...url], commands)).stdout)?.[1];
  if (code === undefined) throw new PaypadError('DEMO_STEP_FAILED', `no code texted to ${payee.mobile}`);
  await runPaypadJson(['mobile', 'confirm', '--registration', registration.registrationId, '--code', code, ...url], commands);
  step({ name: 'payee registered (C1)', detail: `${payee.name} ${payee.mobile}, receiving card ${maskedPan(payeeCard)}, code ${code} read off the simulated phone`, ok: true });

  // C3-C8: the payer pays by the payee's number at terminal 1.
  const payerMobile = newMobileNumber('137');
  const payerCard = TEST_CARDS.unionPay.pan;
  const before = await snapshot(host);
  const pay = await payAt(terminals[0], { payee: payee.mobile, amount: AMOUNT, card: 'unionPay', pin: TEST_PIN, payer: payerMobile }, commands);
  const approved = pay.exit === 0 && pay.outcome.outcome === 'approved' && pay.outcome.responseCode === '00';
  step({ name: 'payer pays by number (C3-C8)', detail: `${pay.outcome.outcome} ${pay.outcome.responseCode ?? pay.outcome.code ?? ''} ${pay.outcome.reason ?? ''}, payee shown as ${pay.outcome.payee}, reference ${pay.outcome.reference ?? '-'}`, screens: pay.screens, ok: approved && pay.outcome.payee === maskPayeeName(payee.name) });
  const debited = before.balances[payerCard] - (await balance(host, payerCard));
  step({ name: 'card debited at the simulated bank over ISO 8583', detail: `${maskedPan(payerCard)} down ${debited} fen`, ok: debited === AMOUNT });
  await host.mobile.mobile.sendQueuedTexts();
  const payerTexts = (await runPaypad(['mobile', 'texts', '--mobile', payerMobile, ...url], commands)).stdout.trim();
  step({ name: "payer's text (C8)", detail: lastLine(payerTexts), ok: pay.outcome.reference !== undefined && payerTexts.includes(pay.outcome.reference) });

  // C9: reconciliation credits the payee and texts them the payer's number, masked.
  const payeeBefore = await balance(host, payeeCard);
  const reconcile = await runPaypadTranscript(['mobile', 'reconcile', '--day', new Date().toISOString().slice(0, 10), ...url], commands);
  const credited = (await balance(host, payeeCard)) - payeeBefore;
  step({ name: 'reconciliation (C9)', detail: `${reconcile.stdout.trim().replace(/\n/g, '; ')}; payee card ${maskedPan(payeeCard)} up ${credited} fen`, ok: reconcile.exit === 0 && credited === AMOUNT });
  await host.mobile.mobile.sendQueuedTexts();
  const payeeTexts = (await runPaypad(['mobile', 'texts', '--mobile', payee.mobile, ...url], commands)).stdout.trim();
  step({ name: "payee's text names the payer (C9)", detail: lastLine(payeeTexts), ok: payeeTexts.includes(maskMobileNumber(payerMobile)) && payeeTexts.includes('credited') });
  const verify = await runPaypadTranscript(['ledger', 'verify'], { ...commands, env: databaseEnv(host) });
  step({ name: 'ledger balances', detail: verify.stdout.trim().split('\n').at(-1) ?? '', ok: verify.exit === 0 });

  const failures = options.failurePaths ? await failurePaths(host, terminals, payee.mobile, commands, say) : [];
  const failuresOk = failures.every((f) => f.moved.length === 0);
  return { steps, failures, payee, payerMobile, amount: AMOUNT, reference: pay.outcome.reference, terminals, onboarding, ok: steps.every((s) => s.ok) && failuresOk };
}

/** Each failure path with its expected exit, code and screen; the caller checks them. */
async function failurePaths(host: RunningHost, terminals: readonly string[], payee: string, commands: PaypadRunOptions, say: (line: string) => void): Promise<FailurePath[]> {
  const payer = newMobileNumber('136');
  const base = { payee, amount: AMOUNT, card: 'unionPay', pin: TEST_PIN, payer };
  const plans: { name: string; terminal: string; pay: PayPlan }[] = [
    { name: 'bad number', terminal: terminals[0], pay: { ...base, payee: '12345678901' } },
    { name: 'unknown payee', terminal: terminals[0], pay: { ...base, payee: newMobileNumber('135') } },
    { name: 'non-contracted bank', terminal: terminals[0], pay: { ...base, card: 'nonContracted' } },
    { name: 'insufficient funds', terminal: terminals[0], pay: { ...base, card: 'insufficientFunds' } },
    { name: 'wrong PIN', terminal: terminals[0], pay: { ...base, pin: '9999' } },
  ];
  // Anti-enumeration: a payer looking up unknown numbers empties their bucket (C5).
  const prober = newMobileNumber('133');
  for (let i = 1; i <= 6; i++) plans.push({ name: i < 6 ? `enumeration miss ${i}` : 'empty anti-enumeration bucket', terminal: terminals[1], pay: { ...base, payer: prober, payee: newMobileNumber('135') } });
  const results: FailurePath[] = [];
  for (const plan of plans) {
    const before = await snapshot(host);
    const run = await payAt(plan.terminal, plan.pay, commands);
    const after = await snapshot(host);
    const moved = differences(before, after);
    const code = run.outcome.responseCode ?? run.outcome.code ?? (/MOBILE_NUMBER_INVALID/.test(run.stderr) ? 'MOBILE_NUMBER_INVALID' : undefined);
    results.push({ name: plan.name, exit: run.exit, code, screen: lastScreen(run.screens), moved });
    say(`${moved.length === 0 ? 'ok  ' : 'FAIL'} failure path ${plan.name}: exit ${run.exit}, ${code ?? '-'}, screen "${lastScreen(run.screens)}"${moved.length ? `, moved: ${moved.join('; ')}` : ', nothing moved'}`);
  }
  return results;
}

interface PayPlan {
  readonly payee: string;
  readonly amount: number;
  readonly card: string;
  readonly pin: string;
  readonly payer?: string;
}

/** `paypad terminal pay mobile` with every value a flag and the PIN on standard input. */
export async function payAt(stateDir: string, plan: PayPlan, commands: PaypadRunOptions): Promise<{ exit: PaypadTranscript['exit']; outcome: PayOutcome; screens: string; stderr: string }> {
  const args = ['terminal', 'pay', 'mobile', '--state-dir', stateDir, '--payee', plan.payee, '--amount', String(plan.amount), '--card', plan.card, '--pin-stdin', '--yes'];
  if (plan.payer !== undefined) args.push('--payer', plan.payer);
  const run = await runPaypadTranscript(args, { ...commands, stdin: `${plan.pin}\n` });
  let outcome: PayOutcome = { outcome: 'failed' };
  try {
    if (run.stdout.trim() !== '') outcome = JSON.parse(run.stdout) as PayOutcome;
  } catch {
    throw new PaypadError('DEMO_STEP_FAILED', `\`paypad ${args.join(' ')}\` printed no JSON: ${run.stderr.slice(-500)}`);
  }
  const screens = run.stderr.split('\n').filter((l) => /^[+|]/.test(l)).join('\n');
  return { exit: run.exit, outcome, screens, stderr: run.stderr };
}

/** Every test card's balance at the simulated banks, and the ledger's totals. */
export interface Snapshot {
  readonly balances: Readonly<Record<string, number>>;
  readonly ledger: string;
}

export async function snapshot(host: RunningHost): Promise<Snapshot> {
  const balances: Record<string, number> = {};
  for (const card of Object.values(TEST_CARDS)) balances[card.pan] = await balance(host, card.pan);
  const report = await createLedger(host.database).verify();
  return { balances, ledger: JSON.stringify(report.totals, (_key, value: unknown) => (typeof value === 'bigint' ? String(value) : value)) };
}

export function differences(before: Snapshot, after: Snapshot): string[] {
  const moved: string[] = [];
  for (const pan of Object.keys(before.balances)) {
    if (!Object.is(before.balances[pan], after.balances[pan])) moved.push(`${maskedPan(pan)} ${before.balances[pan]} -> ${after.balances[pan]}`);
  }
  if (before.ledger !== after.ledger) moved.push(`ledger totals ${before.ledger} -> ${after.ledger}`);
  return moved;
}

async function balance(host: RunningHost, pan: string): Promise<number> {
  return host.mobile.network.provider.balanceOf(pan)?.balance ?? Number.NaN;
}

/** First 6 and last 4 (PCI DSS 3.4), as everything paypad prints. */
function maskedPan(pan: string): string {
  return `${pan.slice(0, 6)}${'*'.repeat(pan.length - 10)}${pan.slice(-4)}`;
}

function lastLine(text: string): string {
  return text.split('\n').at(-1)?.replace(/^\S+\s+/, '') ?? '';
}

/** The last screen drawn, its lines joined: what the payer is left looking at. */
export function lastScreen(screens: string): string {
  const boxes = screens.split(/\+-+\+\n?/).filter((b) => b.trim() !== '');
  return (boxes.at(-1) ?? '')
    .split('\n')
    .map((l) => l.replace(/^\| ?|\s*\|$/g, '').trim())
    .filter(Boolean)
    .join(' / ');
}
