/**
 * A terminal's key vault on in-memory storage, and a software "back office" built from
 * shared/crypto that plays MTMS (opens the TK envelope) and the KMS (makes TMK and working keys
 * and wraps them as TR-31 blocks), so tests can run key loading end to end (A1, A10-A12).
 */
import { type Rng, fromHex } from '../../shared/bytes';
import { keyCheckValue } from '../../shared/crypto/kcv';
import { type P256KeyPair, decodeKeyEnvelope, generateP256KeyPair, unwrapKeyAsRecipient } from '../../shared/crypto/keyTransport';
import { type Tr31HeaderInit, wrapKeyBlock } from '../../shared/crypto/tr31';
import { KeyVault, type WorkingKeyDelivery } from '../../firmware/core/keyVault';
import { tkTransportContext } from '../../shared/protocol/tkTransport';
import type { WorkingKeySlotName } from '../../firmware/core/keySlots';
import { MemoryStorage } from './memoryStorage';
import { seededRng } from './opsRng';

export const SERIAL = 'PP-0001-0042';
export const ROOT_KEY = fromHex('000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F');

/** The TR-31 headers the KMS uses for each key (docs/key-loading.md "Keys"). */
export const KMS_HEADERS: Readonly<Record<'TMK' | WorkingKeySlotName, Tr31HeaderInit>> = {
  TMK: { keyUsage: 'K1', algorithm: 'A', modeOfUse: 'B', keyVersionNumber: '01', exportability: 'N' },
  PIK: { keyUsage: 'P0', algorithm: 'A', modeOfUse: 'E', exportability: 'N' },
  MAK: { keyUsage: 'M6', algorithm: 'A', modeOfUse: 'C', exportability: 'N' },
  TDK: { keyUsage: 'D0', algorithm: 'A', modeOfUse: 'B', exportability: 'N' },
  DMK: { keyUsage: 'K0', algorithm: 'A', modeOfUse: 'B', exportability: 'N' },
};

export interface VaultUnderTest {
  readonly vault: KeyVault;
  readonly storage: MemoryStorage;
  readonly rng: Rng;
}

export function makeVault(seed = 'vault', storage = new MemoryStorage(), rootKey = ROOT_KEY): VaultUnderTest {
  const rng = seededRng(new TextEncoder().encode(seed));
  return { vault: new KeyVault({ storage, rng, rootKey, serial: SERIAL }), storage, rng };
}

/** The back office's side of key loading, with every key in clear for the test to compare against. */
/**
 * MTMS's side of A10 in tests, the one place tests open a terminal's TK envelope: with the intake
 * private key and the serial's context (shared/protocol/tkTransport), as MTMS does.
 */
export function openTkEnvelope(mtms: P256KeyPair, envelope: Uint8Array, serial: string): Uint8Array {
  return unwrapKeyAsRecipient(mtms.privateKey, decodeKeyEnvelope(envelope), tkTransportContext(serial));
}

export class SoftwareBackOffice {
  readonly rng: Rng;
  readonly mtms: P256KeyPair;
  tk: Uint8Array | undefined;
  tmk: Uint8Array | undefined;
  readonly workingKeys = new Map<WorkingKeySlotName, Uint8Array>();

  constructor(seed = 'back office') {
    this.rng = seededRng(new TextEncoder().encode(seed));
    this.mtms = generateP256KeyPair(this.rng);
  }

  /** MTMS opens the terminal's envelope (A5, A10); the KMS ends up with the same TK (A7). */
  receiveTransportKey(envelope: Uint8Array, serial = SERIAL): Uint8Array {
    this.tk = openTkEnvelope(this.mtms, envelope, serial);
    return this.tk;
  }

  /** A11: a new TMK as a TR-31 block under TK, and its CMAC KCV. */
  issueTerminalMasterKey(header: Tr31HeaderInit = KMS_HEADERS.TMK): { block: string; kcv: Uint8Array } {
    if (!this.tk) throw new Error('back office has no TK');
    this.tmk = this.rng(16);
    return { block: wrapKeyBlock(this.tk, header, this.tmk, this.rng), kcv: keyCheckValue(this.tmk, 'cmac') };
  }

  /** A12: new working keys as TR-31 blocks under TMK, each with its CMAC KCV. */
  signOn(names: readonly WorkingKeySlotName[] = ['PIK', 'MAK', 'TDK', 'DMK']): WorkingKeyDelivery[] {
    if (!this.tmk) throw new Error('back office has no TMK');
    return names.map((name) => {
      const key = this.rng(16);
      this.workingKeys.set(name, key);
      return { name, block: wrapKeyBlock(this.tmk as Uint8Array, KMS_HEADERS[name], key, this.rng), kcv: keyCheckValue(key, 'cmac') };
    });
  }

  /** Wraps `key` under `kbpk` with any header: for deliveries the vault must refuse. */
  wrap(kbpk: Uint8Array, header: Tr31HeaderInit, key: Uint8Array): string {
    return wrapKeyBlock(kbpk, header, key, this.rng);
  }
}

/** A vault taken through A1, A10, A11 and A12 with a back office that knows every key. */
export function loadedVault(seed = 'vault'): VaultUnderTest & { office: SoftwareBackOffice } {
  const under = makeVault(seed);
  const office = new SoftwareBackOffice(`${seed} office`);
  under.vault.generateTransportKey();
  office.receiveTransportKey(under.vault.exportTransportKey(office.mtms.publicKey));
  const tmk = office.issueTerminalMasterKey();
  under.vault.importTerminalMasterKey(tmk.block, tmk.kcv);
  under.vault.importWorkingKeys(office.signOn());
  return { ...under, office };
}
