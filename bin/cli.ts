/**
 * `paypad`: the one CLI. Each top-level command lives in bin/commands/ (or, for the host, in
 * host/server.ts) and is registered here.
 */
import { commandGroup, EXIT_FAILED, reportError } from './args';
import { caCommand } from './commands/ca';
import { cryptoCommand } from './commands/crypto';
import { gatewayCommand } from './commands/gateway';
import { ledgerCommand } from './commands/ledger';
import { mobileCommand } from './commands/mobile';
import { mtmsCommand } from './commands/mtms';
import { operatorCommand } from './commands/operator';
import { phoneCommand } from './commands/phone';
import { serveCommand } from './commands/serve';
import { terminalCommand } from './commands/terminal';
import { tmsCommand } from './commands/tms';

const cli = commandGroup('paypad', 'Usage: paypad <command> [...]\n\npaypad: the open POS terminal platform (host, terminal tools, payment-crypto calculator).', {
  serve: serveCommand,
  mtms: mtmsCommand,
  tms: tmsCommand,
  ledger: ledgerCommand,
  mobile: mobileCommand,
  phone: phoneCommand,
  gateway: gatewayCommand,
  ca: caCommand,
  operator: operatorCommand,
  terminal: terminalCommand,
  crypto: cryptoCommand,
});

try {
  process.exitCode = await cli.run(process.argv.slice(2));
} catch (e) {
  process.exitCode = reportError(e) || EXIT_FAILED;
}
