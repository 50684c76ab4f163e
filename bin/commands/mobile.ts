/**
 * `paypad mobile`: the mobile payment platform's data channel from a shell (docs/mobile-payments.md).
 * Each command is a request to the running host's /mobile API (--url, default the host's own
 * address from PAYPAD_HOST and PAYPAD_PORT), because the platform's outside parties live in the
 * host process: the card network it verifies and credits cards through, the SMS provider that
 * carries the codes. Card numbers are read from standard input, never from a flag (a flag shows in
 * `ps` and the shell's history).
 */
import { PaypadError, type ErrorCode } from '../../shared/errors';
import { type Command, commandGroup, EXIT_FAILED, EXIT_OK, parseFlags, required, UsageError } from '../args';

const URL_HELP = '  --url URL        the host (default http://PAYPAD_HOST:PAYPAD_PORT, i.e. http://127.0.0.1:8780)';

function hostUrl(flag: string | undefined): string {
  const url = flag ?? `http://${process.env.PAYPAD_HOST || '127.0.0.1'}:${process.env.PAYPAD_PORT || '8780'}`;
  if (!/^https?:\/\/[^/]+$/.test(url)) throw new UsageError(`--url must be http(s)://host:port, got '${url.slice(0, 80)}'`);
  return url;
}

async function call(url: string, path: string, body?: unknown): Promise<unknown> {
  let res: Response;
  try {
    res = await fetch(`${url}/mobile${path}`, body === undefined ? {} : { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  } catch {
    throw new PaypadError('LINK_UNAVAILABLE', `no paypad host answers at ${url}: start it with \`paypad serve\` or say where it is with --url`);
  }
  const answer = (await res.json().catch(() => ({}))) as { error?: { code: ErrorCode; message: string } };
  if (!res.ok) {
    const retry = res.headers.get('retry-after');
    throw new PaypadError(answer.error?.code ?? 'INTERNAL', `${answer.error?.message ?? `HTTP ${res.status}`}${retry ? ` (Retry-After: ${retry} s)` : ''}`);
  }
  return answer;
}

/** One line from standard input: the card number, typed or piped. */
async function readPan(): Promise<string> {
  if (process.stdin.isTTY) process.stderr.write('receiving card number: ');
  let text = '';
  for await (const chunk of process.stdin) {
    text += String(chunk);
    if (text.includes('\n') || text.length > 64) break;
  }
  return text.split('\n')[0].trim();
}

function print(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

const register: Command = {
  summary: 'C1: register a payee (the card number on standard input); a code is texted to the number',
  help: `Usage: echo CARD | paypad mobile register --name NAME --mobile MOBILE [--url URL]

The host checks the card with its bank (the name must be the card holder's) and texts a
six-digit code to MOBILE; finish with \`paypad mobile confirm\`.
${URL_HELP}`,
  async run(argv) {
    const f = parseFlags(argv, { name: { type: 'string' }, mobile: { type: 'string' }, url: { type: 'string' } });
    const url = hostUrl(f.url);
    print(await call(url, '/v1/payees', { name: required(f.name, '--name'), mobile: required(f.mobile, '--mobile'), pan: await readPan() }));
    return EXIT_OK;
  },
};

const update: Command = {
  summary: 'C2: change a payee\'s name and/or card (--card: the new card number on standard input)',
  help: `Usage: paypad mobile update --mobile MOBILE [--name NAME] [--card] [--url URL]

  --card           read the new receiving card number from standard input
The code goes to the number registered; finish with \`paypad mobile confirm\`.
${URL_HELP}`,
  async run(argv) {
    const f = parseFlags(argv, { mobile: { type: 'string' }, name: { type: 'string' }, card: { type: 'boolean' }, url: { type: 'string' } });
    const url = hostUrl(f.url);
    const mobile = required(f.mobile, '--mobile');
    if (!/^\d{11}$/.test(mobile)) throw new UsageError('--mobile: 11 digits');
    print(await call(url, `/v1/payees/${mobile}/updates`, { name: f.name, pan: f.card ? await readPan() : undefined }));
    return EXIT_OK;
  },
};

const confirm: Command = {
  summary: 'C1, C2: confirm a registration or update with the code texted to the number',
  help: `Usage: paypad mobile confirm --registration ID --code CODE [--url URL]
${URL_HELP}`,
  async run(argv) {
    const f = parseFlags(argv, { registration: { type: 'string' }, code: { type: 'string' }, url: { type: 'string' } });
    const url = hostUrl(f.url);
    const id = required(f.registration, '--registration');
    if (!/^[0-9a-f-]{36}$/.test(id)) throw new UsageError('--registration: the registrationId that register or update printed');
    print(await call(url, `/v1/registrations/${id}/confirm`, { code: required(f.code, '--code') }));
    return EXIT_OK;
  },
};

const reconcile: Command = {
  summary: 'C9: reconcile a business day against the provider\'s settlement file, then credit the payees',
  help: `Usage: paypad mobile reconcile --day YYYY-MM-DD [--currency CNY] [--url URL]

Prints the report: the payments credited and every mismatch (typed, listed, never fixed);
exits 1 when there is a mismatch. Runs on the host, from the host's machine only.
${URL_HELP}`,
  async run(argv) {
    const f = parseFlags(argv, { day: { type: 'string' }, currency: { type: 'string' }, url: { type: 'string' } });
    const url = hostUrl(f.url);
    const report = (await call(url, '/v1/reconciliations', { businessDay: required(f.day, '--day'), currency: f.currency ?? 'CNY' })) as { credited: string[]; mismatches: { kind: string; reference: string; detail: string }[] };
    const lines = [`credited ${report.credited.length}: ${report.credited.join(' ') || '-'}`, `${report.mismatches.length} mismatches${report.mismatches.length ? ':' : ''}`];
    for (const m of report.mismatches) lines.push(`  ${m.kind.padEnd(22)} ${m.reference}  ${m.detail}`);
    process.stdout.write(`${lines.join('\n')}\n`);
    return report.mismatches.length === 0 ? EXIT_OK : EXIT_FAILED;
  },
};

const texts: Command = {
  summary: 'the texts the simulated SMS provider delivered to a number (where a demo reads its code)',
  help: `Usage: paypad mobile texts --mobile MOBILE [--url URL]
${URL_HELP}`,
  async run(argv) {
    const f = parseFlags(argv, { mobile: { type: 'string' }, url: { type: 'string' } });
    const url = hostUrl(f.url);
    const mobile = required(f.mobile, '--mobile');
    if (!/^\d{11}$/.test(mobile)) throw new UsageError('--mobile: 11 digits');
    const { texts: sent } = (await call(url, `/v1/simulated-phones/%2B86${mobile}/texts`)) as { texts: { sentAt: string; text: string }[] };
    process.stdout.write(sent.map((t) => `${t.sentAt}  ${t.text}`).join('\n') + (sent.length ? '\n' : ''));
    return EXIT_OK;
  },
};

export const mobileCommand: Command = commandGroup('mobile-number payments: payees, reconciliation', 'Usage: paypad mobile <command> [...]', { register, update, confirm, reconcile, texts });
