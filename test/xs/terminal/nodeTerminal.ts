/**
 * The emulated PIN pad with its core in Node, in this process: exactly what `paypad terminal init`,
 * `run` and `load-keys` do (bin/commands/terminal.ts), behind EmulatedTerminal so a scenario can
 * run it beside the XS engine (xsTerminal.ts).
 */
import { LocalLinkSession } from '../../../firmware/core/localLinkService';
import { Terminal } from '../../../firmware/core/terminal';
import { provisionTerminal } from '../../../firmware/core/terminalIdentity';
import { publicKeyCheckValue } from '../../../shared/protocol/publicKeyCheck';
import { listenLocalLink } from '../../../firmware/hal/node/localLinkServer';
import { openNodeDevice } from '../../../firmware/hal/node/nodeDevice';
import { lockKmsExchanges } from '../../../firmware/hal/node/stateLock';
import { type EmulatedTerminal, type TerminalEngine, loadKeysResult } from './emulatedTerminal';

export const nodeTerminalEngine: TerminalEngine = {
  name: 'node',

  async manufacture(stateDir, identity) {
    const device = openNodeDevice(stateDir, { manufacture: true });
    const stored = provisionTerminal(device.storage, identity);
    return { serial: stored.serial, kmsUrl: stored.kmsUrl, mtmsKeyCheck: publicKeyCheckValue(stored.mtmsPublicKey), stateDir };
  },

  async start({ stateDir, linkHost = '127.0.0.1', linkPort = 0, hal }): Promise<EmulatedTerminal> {
    const terminal = Terminal.open({ ...openNodeDevice(stateDir), ...hal });
    const server = await listenLocalLink({ host: linkHost, port: linkPort, connect: (stream) => new LocalLinkSession(terminal, stream) });
    const withKmsLock = async <T>(work: () => Promise<T>): Promise<T> => {
      const release = lockKmsExchanges(stateDir);
      try {
        return await work();
      } finally {
        release();
      }
    };
    return {
      serial: terminal.serial,
      linkHost: server.host,
      linkPort: server.port,
      loadKeys: () => withKmsLock(async () => loadKeysResult(terminal.serial, await terminal.downloadTmk(), await terminal.signOn())),
      downloadTmk: () => withKmsLock(() => terminal.downloadTmk()),
      signOn: () => withKmsLock(() => terminal.signOn()),
      status: () => terminal.status(),
      close: () => server.close(),
    };
  },
};
