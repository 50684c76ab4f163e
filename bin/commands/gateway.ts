/**
 * `paypad gateway`: the payment gateway operator's commands (System E), on the host's database
 * and data directory as `paypad mtms` works (--data-dir / PAYPAD_DATA_DIR, DATABASE_URL). A
 * running host uses what is changed here from its next reader payment on; a host started later
 * finds it at once.
 *
 *   reader-bdk load    the key ceremony for the card readers' base derivation key (E4): its
 *                      components keyed by their custodians, never on the command line
 *   reader-bdk status  the loaded BDK's check value, who loaded it, when
 *   reader register    the initial key ID a card reader was injected with: its reads must carry it
 *   reader list        the registered readers
 */
import { wipe } from '../../shared/bytes';
import { type Command, commandGroup, EXIT_OK, parseFlags, required, withFlagArguments } from '../args';
import { withHostDatabase } from '../hostDatabase';
import { componentCount, readKeyComponents } from '../keyComponentInput';
import { actor } from './mtms';

const DATA_DIR_HELP = `  --data-dir DIR     the host's data directory (PAYPAD_DATA_DIR, default ./data); the database is
                     DATABASE_URL (postgres://...) or, unset, SQLite in the data directory`;

const load: Command = {
  summary: "E4: load the card readers' BDK from its custodians' components (key ceremony)",
  help: `Usage: paypad gateway reader-bdk load --kcv KCV [--components 2|3] [--replace] [--data-dir DIR] [--json]

The key ceremony for the base derivation key of the checkout page's secure card readers (AES
DUKPT). Each custodian enters their component and its check value: at a terminal, keyed with echo
off; from a pipe, one line per component, "COMPONENT KCV" (hex). The gateway's HSM checks each
component against its check value and the combined key against --kcv, and keeps the BDK as a key
block under its master key (TR-31 B0, mode X, never exportable) in the host's database: it is
never on disk in clear, and every host on the database uses it, after restarts too.
  --kcv KCV          the combined BDK's check value (10 hex digits, the CMAC KCV)
  --components N     how many components (2, the default, or 3)
  --replace          replace a BDK loaded already (audited): readers injected from the old one
                     must be injected again
  --json             print the result as JSON
${DATA_DIR_HELP}
Exit codes: 0 loaded; 1 refused (KCV_MISMATCH naming the component or the combined key,
BAD_LENGTH, KEY_COMPONENTS_INVALID, READER_BDK_LOADED), nothing stored; 2 the command line is wrong.`,
  async run(argv) {
    const f = parseFlags(argv, { kcv: { type: 'string' }, components: { type: 'string' }, replace: { type: 'boolean' }, 'data-dir': { type: 'string' }, json: { type: 'boolean' } });
    const kcv = required(f.kcv, 'kcv');
    const count = componentCount(f.components);
    const replace = f.replace === true;
    return withHostDatabase(f['data-dir'], async (database, config) => {
      const [{ createReaderBdkStore, gatewayHsmConfig, ReaderBdkLoaded }, { createHsm }] = await Promise.all([import('../../host/gateway/readerBdk'), import('../../host/hsm/index')]);
      const store = createReaderBdkStore(database);
      // Before the custodians key anything: a ceremony that cannot store its key is not started.
      const loaded = await store.status();
      if (loaded !== undefined && !replace) throw new ReaderBdkLoaded(loaded.kcv);
      const components = await readKeyComponents(count);
      const hsm = await createHsm(gatewayHsmConfig(config.hsm, config.dataDir));
      try {
        const result = await store.load({ hsm, components, kcv, replace, actor: actor() });
        if (f.json) process.stdout.write(`${JSON.stringify(result)}\n`);
        else process.stdout.write(`card readers' BDK loaded: check value ${result.kcv}${result.replacedKcv === undefined ? '' : `, replacing ${result.replacedKcv}`}\n`);
        return EXIT_OK;
      } finally {
        for (const component of components) wipe(component.value);
        await hsm.close();
      }
    });
  },
};

const status: Command = {
  summary: "the card readers' BDK: its check value, who loaded it and when",
  help: `Usage: paypad gateway reader-bdk status [--data-dir DIR] [--json]

Prints the loaded BDK's check value, when and by whom it was loaded, or that none is loaded yet
(the checkout then takes only keyboard-wedge swipes).
  --json             print the result as JSON ({"loaded": false} before the ceremony)
${DATA_DIR_HELP}`,
  async run(argv) {
    const f = parseFlags(argv, { 'data-dir': { type: 'string' }, json: { type: 'boolean' } });
    return withHostDatabase(f['data-dir'], async (database) => {
      const { createReaderBdkStore } = await import('../../host/gateway/readerBdk');
      const loaded = await createReaderBdkStore(database).status();
      if (f.json) process.stdout.write(`${JSON.stringify(loaded === undefined ? { loaded: false } : { loaded: true, ...loaded })}\n`);
      else process.stdout.write(loaded === undefined ? "no card readers' BDK is loaded: run paypad gateway reader-bdk load\n" : `card readers' BDK: check value ${loaded.kcv}, loaded ${loaded.loadedAt} by ${loaded.loadedBy}\n`);
      return EXIT_OK;
    });
  },
};

const register: Command = {
  summary: 'E4: record the initial key ID a card reader was injected with',
  help: `Usage: paypad gateway reader register --reader-id ID --initial-key-id HEX [--data-dir DIR] [--json]

Records which initial key ID (BDK ID and derivation ID, as given to \`paypad terminal reader
inject\`) the reader ID was injected with. From then on a read from that reader whose KSN carries
another initial key ID is refused (DUKPT_KSN_INVALID): another device under the same BDK cannot
pay as this reader. Registering the reader again (injected again) replaces the record, audited.
A reader never registered is not checked.
  --reader-id ID         the name checkouts pair the reader by (1-64 of A-Z a-z 0-9 . _ -)
  --initial-key-id HEX   16 hex digits
  --json                 print the result as JSON
${DATA_DIR_HELP}`,
  async run(argv) {
    const f = parseFlags(argv, { 'reader-id': { type: 'string' }, 'initial-key-id': { type: 'string' }, 'data-dir': { type: 'string' }, json: { type: 'boolean' } });
    const readerId = required(f['reader-id'], 'reader-id');
    const initialKeyId = required(f['initial-key-id'], 'initial-key-id');
    return withHostDatabase(f['data-dir'], async (database) => {
      const { createReaderRegistry } = await import('../../host/gateway/readerRegistry');
      const result = await withFlagArguments(createReaderRegistry(database).register(readerId, initialKeyId, actor()));
      if (f.json) process.stdout.write(`${JSON.stringify(result)}\n`);
      else process.stdout.write(`card reader ${result.readerId} registered with initial key ID ${result.initialKeyId}${result.replacedInitialKeyId === undefined ? '' : `, replacing ${result.replacedInitialKeyId}`}\n`);
      return EXIT_OK;
    });
  },
};

const list: Command = {
  summary: 'the registered card readers and their initial key IDs',
  help: `Usage: paypad gateway reader list [--data-dir DIR] [--json]

One line per registered reader: its ID, initial key ID, when and by whom it was registered.
  --json                 print the readers as a JSON array
${DATA_DIR_HELP}`,
  async run(argv) {
    const f = parseFlags(argv, { 'data-dir': { type: 'string' }, json: { type: 'boolean' } });
    return withHostDatabase(f['data-dir'], async (database) => {
      const { createReaderRegistry } = await import('../../host/gateway/readerRegistry');
      const readers = await createReaderRegistry(database).list();
      if (f.json) process.stdout.write(`${JSON.stringify(readers)}\n`);
      else process.stdout.write(readers.length === 0 ? 'no card readers registered\n' : readers.map((r) => `${r.readerId}  ${r.initialKeyId}  ${r.registeredAt}  ${r.registeredBy}\n`).join(''));
      return EXIT_OK;
    });
  },
};

export const gatewayCommand = commandGroup("the payment gateway's operator commands (System E)", 'Usage: paypad gateway <command> [...]', {
  'reader-bdk': commandGroup("E4: the card readers' base derivation key (AES DUKPT) in the gateway's HSM", 'Usage: paypad gateway reader-bdk <command> [...]', { load, status }),
  reader: commandGroup('E4: the card readers and the initial key IDs they were injected with', 'Usage: paypad gateway reader <command> [...]', { register, list }),
});
