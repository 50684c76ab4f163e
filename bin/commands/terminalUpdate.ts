/**
 * `paypad terminal update`: one start of the emulated terminal's program and one update check
 * against its TMS (docs/updates.md), as the board does at boot and on its schedule:
 *
 *   1. the program slots open (firmware/hal/node/slotUpdater: the bootloader's decision), and
 *      the program starts: a new one on trial confirms itself and reports success, a start after a
 *      rollback reports 402 (UpdateClient.start);
 *   2. the check: query, the vendor's signature, B3, the image in MAC'd range requests, the
 *      switch. The "restart" into a new program is this command's exit: the next `paypad terminal`
 *      command is the new program's first start.
 *
 * stdout gets JSON: how this start came about (startKind), the version running, the check's outcome
 * (and the version installed).
 * Exit 0 when the check ran (an update installed, or none offered), 1 when it was refused.
 */
import { readFileSync } from 'node:fs';
import { fromHex } from '../../shared/bytes';
import { UPDATE_TRIGGERS, type UpdateTrigger } from '../../shared/protocol/updateMessages';
import { openNodeUpdates } from '../../firmware/hal/node/nodeUpdates';
import { lockKmsExchanges } from '../../firmware/hal/node/stateLock';
import { type Command, EXIT_OK, flagValue, parseFlags, required, UsageError } from '../args';

/** The emulated terminal's model, and the program its packages replace. */
export const EMULATED_MODEL = 'PP-ESP32';
export const PROGRAM_NAME = 'paypad-firmware';
/** The program in slot a at manufacture: the firmware's own version (manifest.json config.version). */
const FACTORY_VERSION = '0.1.0';

export const updateCommand: Command = {
  summary: 'B1-B4: start the program (confirming a new one) and check the TMS for an update',
  help: `Usage: paypad terminal update --state-dir DIR --vendor-key FILE [--trigger schedule|notice|manual|resume]

Opens the terminal's two program slots as its bootloader does, starts the program (a new one
confirms itself and reports success to the TMS; one that never confirmed has been rolled back and
reports 402), then asks the TMS beside its KMS for an update: the package's vendor signature and
checks, mutual authentication under DMK, the image in MAC'd range requests into the other slot,
resuming what an earlier run left, the whole image checked, the switch. The new program starts
with the next paypad terminal command. Prints JSON; exit 0 when the check ran, 1 when refused.
  --state-dir DIR     the terminal, signed on (\`paypad terminal load-keys\`)
  --vendor-key FILE   the vendor's public key (vendor.pub from \`paypad tms vendor-key\`): the key
                      the firmware is built with
  --trigger T         what asks: schedule, notice, manual (default) or resume`,
  async run(argv) {
    const f = parseFlags(argv, { 'state-dir': { type: 'string' }, 'vendor-key': { type: 'string' }, trigger: { type: 'string' } });
    const stateDir = required(f['state-dir'], 'state-dir');
    const keyFile = required(f['vendor-key'], 'vendor-key');
    const vendorKey = flagValue('vendor-key', () => fromHex(readFileSync(keyFile, 'utf8').trim(), 'vendor key'));
    const trigger = (f.trigger ?? 'manual') as UpdateTrigger;
    if (!UPDATE_TRIGGERS.includes(trigger)) throw new UsageError(`--trigger: one of ${UPDATE_TRIGGERS.join(', ')}`);
    const release = lockKmsExchanges(stateDir);
    try {
      const { client, updater } = openNodeUpdates(stateDir, {
        model: EMULATED_MODEL,
        programName: PROGRAM_NAME,
        vendorKeys: [vendorKey],
        factoryVersion: FACTORY_VERSION,
        restart: () => undefined,
      });
      const started = { startKind: updater.startKind, running: updater.currentVersion };
      await client.start();
      const result = await client.check(trigger);
      process.stdout.write(`${JSON.stringify({ ...started, ...result }, null, 2)}\n`);
      return EXIT_OK;
    } finally {
      release();
    }
  },
};
