/**
 * The onboarding scenario's terminals (bin/demo/terminalDriver.ts) with the firmware core in the
 * XS engine (SPEC X3): test/xs/terminal/xsTerminal.ts runs firmware/core/terminal in xsnap-worker,
 * its HAL bridged to the emulated terminal's Node HAL over the same state directory layout that
 * `paypad terminal` uses. The scenario cannot tell it from the CLI driver: a local link address,
 * the KCVs load-keys reports and the status.
 *
 * Manufacture is `paypad terminal init` with the core in XS: the root key is made in Node (the
 * platform secret, as NVS on the board), the identity validated and stored by the core.
 */
import { X509Certificate } from 'node:crypto';
import { fromHex } from '../../../shared/bytes';
import type { TerminalDriver } from '../../../bin/demo/terminalDriver';
import { XsTerminal } from '../../xs/terminal/xsTerminal';

export function xsTerminalDriver(): TerminalDriver {
  return {
    name: 'emulated terminal, firmware core in the XS engine (xsnap-worker, HAL bridged to Node)',
    async start(t) {
      await XsTerminal.manufacture(t.stateDir, {
        serial: t.serial,
        mtmsPublicKey: fromHex(t.mtmsPublicKeyHex, 'MTMS intake public key'),
        kmsUrl: t.kmsUrl,
        trustAnchor: new Uint8Array(new X509Certificate(t.caPem).raw),
      });
      const terminal = await XsTerminal.start({ stateDir: t.stateDir });
      return {
        serial: terminal.serial,
        link: `${terminal.linkHost}:${terminal.linkPort}`,
        loadKeys: async () => (await terminal.loadKeys()).kcv,
        status: () => terminal.status(),
        stop: () => terminal.close(),
      };
    },
  };
}
