/**
 * POSP in the host process (`paypad serve`) on the simulated card network (X5; docs/payments.md,
 * docs/simulators.md): the provider's end of the acquirer link served on loopback, a simulated key
 * ceremony that gives each customer's KMS HSM the network's zone keys, and one POSP per KMS,
 * mounted on its listener (startKms's `posp` option).
 *
 * The ceremony, as a real one would go but with the network's side simulated in this process: a
 * ZMK is made here and entered into each KMS's HSM as two XOR components with their check values;
 * the network's zone PIN key (the one its banks verify PINs under) and a zone MAC key go to the
 * HSM as TR-31 blocks under that ZMK (key context 2, exchange). The clear keys exist only on the
 * simulator's side, as a bank's would; POSP holds them as HSM handles.
 *
 * Each POSP's merchant (ISO 8583 field 42) is its customer code's letters and digits padded with
 * zeros to 15 characters.
 */
import { type Rng, toHex, xorBytes } from '../../shared/bytes';
import { aesCmac, verifyAesCmac } from '../../shared/crypto/cmac';
import { keyCheckValue } from '../../shared/crypto/kcv';
import { wrapKeyBlock } from '../../shared/crypto/tr31';
import type { Database } from '../db/database';
import type { Hsm, KeyHandle } from '../hsm/hsm';
import { systemRng } from '../hsm/index';
import type { KmsInstanceOptions } from '../kms/kmsInstance';
import type { Logger } from '../log';
import { ACQUIRER_LINK_FIELDS, type AcquirerLinkClient, connectAcquirerLink, createPackager, hsmMessageAuthenticator, type MessageAuthenticator } from '../payments/iso8583/index';
import { createLedger } from '../payments/ledger/ledger';
import type { MobilePaymentPlatform } from '../payments/mobile/platform';
import { listenBankSimulator } from '../simulators/bankSimulatorServer';
import type { TestPaymentNetwork } from '../simulators/testCards';
import { createAuthorisationLedger } from './authorisationLedger';
import { reverseUnfinishedAuthorisations } from './unfinishedAuthorisations';
import { type CardAuthoriser, createCardAuthoriser } from './cardAuthoriser';
import { createPospStore } from './pospStore';
import { openPospService, type UpdateNoticeSource } from './pospService';

/** China Standard Time, for ISO 8583 fields 12 and 13 at the card acceptors. */
const UTC_OFFSET_MINUTES = 480;
const ZONE_KEY_BYTES = 16;
const MERCHANT_ID_LENGTH = 15;

/** How often each POSP looks for authorisations a stopped POSP left unfinished (host/posp/unfinishedAuthorisations). */
const UNFINISHED_SWEEP_INTERVAL_MS = 15_000;

export interface SimulatedAcquirerOptions {
  readonly database: Database;
  /** The simulated card network the mobile payment platform uses too, so reconciliation meets the same provider. */
  readonly network: TestPaymentNetwork;
  readonly platform: MobilePaymentPlatform;
  readonly logger: Logger;
  /** How long a 0200 waits for its 0210 before POSP reverses it (the link client's default otherwise). */
  readonly requestTimeoutMs?: number;
  readonly clock?: () => Date;
  readonly rng?: Rng;
  /** B6: the TMS's update notices, handed to each POSP. */
  readonly updateNotices?: UpdateNoticeSource;
}

/** A card authoriser on the acquirer link, its zone keys in `hsm`: what another acquiring role (the bill platform) debits through. */
export interface AcquirerLinkForHsm {
  readonly authoriser: CardAuthoriser;
  /** The zone PIN key the authoriser's PIN blocks must be under (field 52). */
  readonly zonePinKey: KeyHandle;
}

export interface SimulatedAcquirer {
  /** startKms's `posp` option: a POSP for each customer's KMS, on its HSM and store. */
  readonly pospFor: NonNullable<KmsInstanceOptions['posp']>;
  /** The simulated ceremony for `hsm`, then its own connection to the acquirer link. */
  authoriserFor(hsm: Hsm): Promise<AcquirerLinkForHsm>;
  /** The loopback port of the provider's end of the acquirer link. */
  readonly linkPort: number;
  close(): Promise<void>;
}

export async function startSimulatedAcquirer(options: SimulatedAcquirerOptions): Promise<SimulatedAcquirer> {
  const rng = options.rng ?? systemRng;
  const clock = options.clock ?? (() => new Date());
  const packager = createPackager(ACQUIRER_LINK_FIELDS);
  const zmk = rng(ZONE_KEY_BYTES);
  const zak = rng(ZONE_KEY_BYTES);
  const first = rng(ZONE_KEY_BYTES);
  const components = [first, xorBytes(zmk, first)].map((value) => ({ value, kcv: toHex(keyCheckValue(value, 'cmac')) }));
  const networkMac: MessageAuthenticator = { mac: async (data) => aesCmac(zak, data), verifyMac: async (data, mac) => verifyAesCmac(zak, data, mac) };
  const server = await listenBankSimulator({
    provider: options.network.provider,
    packager,
    authenticator: networkMac,
    now: clock,
    host: '127.0.0.1',
    port: 0,
    onError: (err) => options.logger.warn({ err }, 'simulated card network: a request went unanswered'),
  });
  const links: AcquirerLinkClient[] = [];
  const timers: NodeJS.Timeout[] = [];

  /** The simulated ceremony for one HSM: the ZMK from its components, then ZPK and ZAK under it. */
  const zoneKeys = async (hsm: Hsm): Promise<{ zpk: KeyHandle; zak: KeyHandle }> => {
    const zmkHandle = await hsm.importKeyComponents({ usage: 'K0', algorithm: 'A', modeOfUse: 'B', exportability: 'N' }, components, toHex(keyCheckValue(zmk, 'cmac')));
    const exchange = { algorithm: 'A', exportability: 'N', keyContext: '2' } as const;
    return {
      zpk: await hsm.importKeyBlock(zmkHandle, wrapKeyBlock(zmk, { ...exchange, keyUsage: 'P0', modeOfUse: 'B' }, options.network.zonePinKey, rng), 'P0'),
      zak: await hsm.importKeyBlock(zmkHandle, wrapKeyBlock(zmk, { ...exchange, keyUsage: 'M6', modeOfUse: 'C' }, zak, rng), 'M6'),
    };
  };

  const authoriserFor = async (hsm: Hsm): Promise<AcquirerLinkForHsm> => {
    const keys = await zoneKeys(hsm);
    const link = await connectAcquirerLink({ host: '127.0.0.1', port: server.port, packager, requestTimeoutMs: options.requestTimeoutMs });
    links.push(link);
    const authoriser = createCardAuthoriser({
      link,
      packager,
      authenticator: hsmMessageAuthenticator(hsm, keys.zak),
      clock,
      utcOffsetMinutes: UTC_OFFSET_MINUTES,
      requestTimeoutMs: options.requestTimeoutMs,
      firstStan: 1 + (rng(3).reduce((n, b) => n * 256 + b, 0) % 999_999),
    });
    return { authoriser, zonePinKey: keys.zpk };
  };

  return {
    linkPort: server.port,
    authoriserFor,
    async pospFor({ customerCode, hsm, store }) {
      const { authoriser, zonePinKey } = await authoriserFor(hsm);
      const pospStore = createPospStore(options.database.db);
      const ledger = createAuthorisationLedger(createLedger(options.database, clock));
      const merchantId = customerCode.replace(/[^A-Z0-9]/g, '').padEnd(MERCHANT_ID_LENGTH, '0').slice(0, MERCHANT_ID_LENGTH);
      // What a POSP stopped mid-authorisation left (docs/payments.md "After a stop"): now, then every sweep interval.
      const sweep = () =>
        reverseUnfinishedAuthorisations({ customerCode, store: pospStore, authoriser, ledger, merchantId, clock }).catch((err: unknown) =>
          options.logger.warn({ err, customerCode }, 'POSP: reversing unfinished authorisations failed; the next sweep tries again'),
        );
      void sweep();
      const timer = setInterval(() => void sweep(), UNFINISHED_SWEEP_INTERVAL_MS);
      timer.unref();
      timers.push(timer);
      return openPospService({
        customerCode,
        hsm,
        kmsStore: store,
        store: pospStore,
        platform: options.platform,
        authoriser,
        ledger,
        zonePinKey,
        merchantId,
        rng,
        clock,
        updateNotices: options.updateNotices,
      });
    },
    async close() {
      for (const timer of timers) clearInterval(timer);
      for (const link of links) link.close();
      await server.close();
    },
  };
}
