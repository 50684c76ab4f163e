/**
 * POSP under test (host/posp): beside a KMS on a migrated database and a software HSM, the acquirer
 * link over loopback TCP to the simulated provider's server (host/simulators/bankSimulatorServer),
 * a signed-on terminal simulated from shared/crypto, and the test platform. The bank's end can be
 * told to hold its next answer past POSP's timeout, so the reversal path runs for real.
 */
import { afterAll, beforeAll } from 'vitest';
import { type Kysely, sql } from 'kysely';
import { asciiToBytes, toHex, xorBytes } from '../../../shared/bytes';
import { encipherCardData } from '../../../shared/crypto/cardData';
import { aesCmac, verifyAesCmac } from '../../../shared/crypto/cmac';
import { keyCheckValue } from '../../../shared/crypto/kcv';
import { encipherPinBlockIso4 } from '../../../shared/crypto/pinblock';
import { type HeaderMap, type MacKeyId, parseRequest, type ReceivedRequest, signRequest, verifyResponse } from '../../../shared/protocol/macEnvelope';
import { type PospTransactionRoute, pospTerminalPath } from '../../../shared/protocol/transactions';
import type { Database, Dialect } from '../../../host/db/database';
import type { Schema } from '../../../host/db/schema';
import type { Hsm } from '../../../host/hsm/hsm';
import { createKmsStore, type KmsStore } from '../../../host/kms/kmsStore';
import { type KmsService, openKmsService } from '../../../host/kms/kmsService';
import { ACQUIRER_LINK_FIELDS, connectAcquirerLink, createPackager, hsmMessageAuthenticator, type Iso8583Message, listenAcquirerLink, type MessageAuthenticator } from '../../../host/payments/iso8583/index';
import { createLedger, type Ledger } from '../../../host/payments/ledger/ledger';
import { createAuthorisationLedger } from '../../../host/posp/authorisationLedger';
import { type CardAuthoriser, createCardAuthoriser } from '../../../host/posp/cardAuthoriser';
import { createPospStore, type PospStore } from '../../../host/posp/pospStore';
import { openPospService, type PospService, type UpdateNoticeSource } from '../../../host/posp/pospService';
import type { MobilePaymentPlatform } from '../../../host/payments/mobile/platform';
import { BankSimulator } from '../../../host/simulators/bankSimulator';
import { bankSimulatorHandler } from '../../../host/simulators/bankSimulatorServer';
import { TEST_NETWORK } from '../../../host/simulators/testCards';
import { openTestHsm, rng, type TestHsm } from '../hsm/hsmTestKit';
import { type Reply, SimulatedTerminal } from '../kms/terminalSim';
import { useMigratedDatabase } from '../../store/helpers/testDatabase';
import { TestPlatform } from './testPlatform';

export const CUSTOMER = 'ACME';
export const MERCHANT_ID = '898440358120001';
export const NOW = new Date('2026-12-06T10:00:00Z');
/** How long POSP waits for a 0210 before it reverses: short, so the timeout test takes a moment. */
export const LINK_TIMEOUT_MS = 400;

export const POSP_TABLES = ['kms_terminals', 'posp_exchanges', 'posp_transactions', 'ledger_accounts', 'ledger_transfers', 'ledger_pending_status'] as const;

/** POSP and the parties around it, made on a KMS's HSM and store. */
export interface AcquiringSide<P extends MobilePaymentPlatform = TestPlatform> {
  readonly posp: PospService;
  /** POSP's own end of the link and its journal, for what a stopped POSP leaves behind. */
  readonly authoriser: CardAuthoriser;
  readonly store: PospStore;
  readonly platform: P;
  readonly provider: BankSimulator;
  readonly ledger: Ledger;
  /** Every message the bank's end received, as unpacked. */
  readonly bankReceived: Iso8583Message[];
  /** The clear ZPK and ZAK: the test plays the bank. */
  readonly zoneKeys: { readonly zpk: Uint8Array; readonly zak: Uint8Array };
  /** Makes the bank's end keep its answer to the next 0200 until after POSP's timeout. */
  holdNextAnswer(): void;
  close(): Promise<void>;
}

export interface PospUnderTest extends AcquiringSide {
  /** Every buffer of clear card data or PIN block POSP's HSM calls handed over or got back, to check they end wiped. */
  readonly sensitiveBuffers: Uint8Array[];
  readonly database: Database;
  readonly db: Kysely<Schema>;
  readonly hsm: TestHsm;
  readonly kms: KmsService;
}

let serials = 0;

/**
 * A key ceremony with the card network (a ZMK from two components, ZPK and ZAK made by POSP
 * under it), the simulated provider's server on loopback, the link to it, the ledger, the test
 * platform and POSP itself, on `hsm` (with its test oracle `open`) and the KMS's `kmsStore`.
 */
export async function startAcquiringSide<P extends MobilePaymentPlatform = TestPlatform>(deps: {
  database: Database;
  hsm: Hsm;
  open: TestHsm['open'];
  kmsStore: KmsStore;
  /** The platform POSP calls; the test platform by default. */
  platform?: (provider: BankSimulator) => P;
  /** B6: the TMS's update notices (none by default). */
  updateNotices?: UpdateNoticeSource;
}): Promise<AcquiringSide<P>> {
  const { hsm } = deps;
  const zmkKey = rng(16);
  const first = rng(16);
  const components = [first, xorBytes(zmkKey, first)].map((value) => ({ value, kcv: toHex(keyCheckValue(value)) }));
  const zmk = await hsm.importKeyComponents({ usage: 'K0', algorithm: 'A', modeOfUse: 'B', exportability: 'N' }, components, toHex(keyCheckValue(zmkKey)));
  const zpk = await hsm.generateZoneKey(zmk, { usage: 'P0', algorithm: 'A', modeOfUse: 'B', exportability: 'E', lengthBytes: 16 });
  const zak = await hsm.generateZoneKey(zmk, { usage: 'M6', algorithm: 'A', modeOfUse: 'C', exportability: 'E', lengthBytes: 16 });
  const zoneKeys = { zpk: (await deps.open(zpk.handle)).key, zak: (await deps.open(zak.handle)).key };

  const provider = await BankSimulator.create(TEST_NETWORK, { zonePinKey: zoneKeys.zpk, rng, now: () => NOW });
  const packager = createPackager(ACQUIRER_LINK_FIELDS);
  const bankAuthenticator: MessageAuthenticator = { mac: async (d) => aesCmac(zoneKeys.zak, d), verifyMac: async (d, m) => verifyAesCmac(zoneKeys.zak, d, m) };
  const answer = bankSimulatorHandler({ provider, packager, authenticator: bankAuthenticator, now: () => NOW });
  const bankReceived: Iso8583Message[] = [];
  let hold = false;
  const server = await listenAcquirerLink({
    packager,
    host: '127.0.0.1',
    port: 0,
    handler: async (message) => {
      bankReceived.push(message);
      // The bank acts on the 0200 at once; only its answer is late (the outcome POSP cannot know).
      const response = await answer(message);
      if (hold && message.mti === '0200') {
        hold = false;
        await new Promise((resolve) => setTimeout(resolve, LINK_TIMEOUT_MS * 2));
      }
      return response;
    },
  });
  const link = await connectAcquirerLink({ host: '127.0.0.1', port: server.port, packager });
  const authoriser = createCardAuthoriser({
    link,
    packager,
    authenticator: hsmMessageAuthenticator(hsm, zak.handle),
    clock: () => new Date(),
    utcOffsetMinutes: 480,
    requestTimeoutMs: LINK_TIMEOUT_MS,
    firstStan: 1,
  });
  const ledger = createLedger(deps.database, () => NOW);
  const platform = deps.platform ? deps.platform(provider) : (new TestPlatform(provider) as MobilePaymentPlatform as P);
  const store = createPospStore(deps.database.db);
  const posp = await openPospService({
    customerCode: CUSTOMER,
    hsm,
    kmsStore: deps.kmsStore,
    store,
    platform,
    authoriser,
    ledger: createAuthorisationLedger(ledger),
    zonePinKey: zpk.handle,
    merchantId: MERCHANT_ID,
    rng,
    clock: () => NOW,
    updateNotices: deps.updateNotices,
  });
  return {
    posp,
    authoriser,
    store,
    platform,
    provider,
    ledger,
    bankReceived,
    zoneKeys,
    holdNextAnswer: () => {
      hold = true;
    },
    async close() {
      link.close();
      await server.close();
    },
  };
}

export function usePosp(dialect: Dialect): () => PospUnderTest {
  const database = useMigratedDatabase(dialect);
  let under: PospUnderTest | undefined;
  beforeAll(async () => {
    const hsm = await openTestHsm();
    const kmsStore = createKmsStore(database().db);
    const kms = await openKmsService({ customerCode: CUSTOMER, hsm: hsm.hsm, store: kmsStore, clock: () => NOW });
    const sensitiveBuffers: Uint8Array[] = [];
    const watched: Hsm = {
      ...hsm.hsm,
      async decipherCardData(key, enciphered) {
        const track = await hsm.hsm.decipherCardData(key, enciphered);
        sensitiveBuffers.push(track);
        return track;
      },
      async translatePinBlock(source, destination, block, pan) {
        const translated = await hsm.hsm.translatePinBlock(source, destination, block, pan);
        sensitiveBuffers.push(block, translated);
        return translated;
      },
    };
    const side = await startAcquiringSide({ database: database(), hsm: watched, open: hsm.open, kmsStore });
    under = { ...side, sensitiveBuffers, database: database(), db: database().db, hsm, kms };
  });
  afterAll(async () => {
    await under?.close();
    await under?.hsm.hsm.close();
  });
  return () => {
    if (!under) throw new Error('POSP is made in beforeAll');
    return under;
  };
}

/** A terminal of the KMS beside POSP, signed on (A7, A11, A12), that speaks the transaction protocol. */
export class PayingTerminal extends SimulatedTerminal {
  /** A MAC'd transaction request with the next sequence number (or `seq`). */
  async transaction(route: PospTransactionRoute, message: object | Uint8Array, options: { seq?: number; keyId?: MacKeyId } = {}): Promise<{ parsed: ReceivedRequest; body: Uint8Array; headers: Record<string, string> }> {
    const seq = options.seq ?? ++this.seq;
    const body = message instanceof Uint8Array ? message : asciiToBytes(JSON.stringify(message));
    const path = pospTerminalPath(this.serial, route);
    const keyId = options.keyId ?? 'MAK';
    const key = this.macKey(keyId);
    const headers = await signRequest({ method: 'POST', path, serial: this.serial, seq, keyId }, body, (data) => aesCmac(key, data));
    return { parsed: parseRequest('POST', path, headers, body), body, headers };
  }

  /** The reply's JSON once its MAC verified under MAK for that request. */
  async answer(request: { parsed: ReceivedRequest }, reply: Reply): Promise<Record<string, unknown>> {
    await verifyResponse({ status: reply.status, serial: this.serial, seq: request.parsed.seq }, reply.headers as HeaderMap, reply.body, (data) => aesCmac(this.macKey('MAK'), data));
    return JSON.parse(new TextDecoder().decode(reply.body)) as Record<string, unknown>;
  }

  /** Track 2 of `pan` enciphered under this terminal's TDK, hex. */
  card(pan: string, track = `${pan}=30121011234`): string {
    return toHex(encipherCardData(this.key('TDK'), asciiToBytes(track), rng));
  }

  pinBlock(pin: string, pan: string): string {
    return toHex(encipherPinBlockIso4(this.key('PIK'), pin, pan, rng));
  }

  key(name: 'PIK' | 'TDK' | 'MAK'): Uint8Array {
    const key = this.workingKeys.get(name);
    if (!key) throw new Error(`the terminal has no ${name}`);
    return key;
  }
}

/** A new terminal taken through TK delivery, TMK download and sign-on at `kms`. */
export async function signedOnTerminal(kms: KmsService): Promise<PayingTerminal> {
  const serial = `PP-POSP-${String(++serials).padStart(4, '0')}`;
  const terminal = new PayingTerminal(serial);
  await kms.receiveTk(terminal.delivery(kms.intakePublicKey().publicKey, CUSTOMER, `d-${serial}`));
  const tmk = await terminal.sign('tmk');
  terminal.acceptTmk(await terminal.verified(tmk, await kms.downloadTmk(tmk.parsed)));
  const signOn = await terminal.sign('sign-on');
  terminal.acceptWorkingKeys(await terminal.verified(signOn, await kms.signOn(signOn.parsed), terminal.macKey('TK')));
  return terminal;
}

/** Every row of every table a payment touches, in a stable order (to prove a refusal changed nothing). */
export async function snapshot(db: Kysely<Schema>): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  for (const table of POSP_TABLES) {
    const { rows } = await sql<Record<string, unknown>>`select * from ${sql.table(table)}`.execute(db);
    out[table] = rows.map((row) => JSON.stringify(row)).sort();
  }
  return out;
}

