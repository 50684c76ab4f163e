/**
 * An emulated terminal for update tests: a signed-on key vault (SoftwareBackOffice as KMS), its
 * storage kept across restarts, the two-slot Updater in a temporary directory, and the update
 * client; `boot()` is a power-on (everything in memory is lost, storage and slots stay).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type P256KeyPair, generateP256KeyPair } from '../../../shared/crypto/keyTransport';
import type { SignedManifest } from '../../../shared/protocol/updateManifest';
import { KeyVault } from '../../../firmware/core/keyVault';
import { UpdateClient } from '../../../firmware/core/updateClient';
import type { Clock } from '../../../firmware/hal/clock';
import type { Updater } from '../../../firmware/hal/updater';
import { openSlotUpdater } from '../../../firmware/hal/node/slotUpdater';
import { ROOT_KEY, SERIAL, SoftwareBackOffice, makeVault } from '../../support/keyVaultFixture';
import type { MemoryStorage } from '../../support/memoryStorage';
import { seededRng } from '../../support/opsRng';
import { FakeTms, MODEL, PROGRAM, makePackage } from './fakeTms';

export const FACTORY_VERSION = '1.0.0';
export const CHUNK = 512;

const clock: Clock = { now: () => Date.now(), monotonic: () => performance.now(), set: () => undefined, isSet: () => true };

export interface Booted {
  readonly updater: Updater;
  readonly client: UpdateClient;
  restarts: number;
}

/** A test image of `chunks` chunks of CHUNK bytes, with a last partial one. */
export function testImage(chunks: number, seed = 'image'): Uint8Array {
  return seededRng(new TextEncoder().encode(seed))(chunks * CHUNK - 100);
}

export class UpdateRig {
  readonly dir = mkdtempSync(join(tmpdir(), 'paypad-update-'));
  readonly office = new SoftwareBackOffice('office');
  readonly vendor: P256KeyPair;
  readonly storage: MemoryStorage;
  readonly image: Uint8Array;
  readonly signed: SignedManifest;
  readonly tms: FakeTms;
  readonly rng = seededRng(new TextEncoder().encode('terminal rng'));

  constructor(options: { chunks?: number; wrongDmk?: boolean; vendor?: P256KeyPair } = {}) {
    const { vault, storage } = makeVault('terminal');
    this.storage = storage;
    vault.generateTransportKey();
    this.office.receiveTransportKey(vault.exportTransportKey(this.office.mtms.publicKey));
    const tmk = this.office.issueTerminalMasterKey();
    vault.importTerminalMasterKey(tmk.block, tmk.kcv);
    vault.importWorkingKeys(this.office.signOn());
    this.vendor = options.vendor ?? generateP256KeyPair(this.office.rng);
    this.image = testImage(options.chunks ?? 4);
    this.signed = makePackage(this.image, this.vendor);
    const dmk = options.wrongDmk ? this.office.rng(16) : (this.office.workingKeys.get('DMK') as Uint8Array);
    this.tms = new FakeTms({
      serial: SERIAL,
      mak: this.office.workingKeys.get('MAK') as Uint8Array,
      dmk,
      image: this.image,
      signed: this.signed,
      chunkBytes: CHUNK,
      rng: this.office.rng,
    });
  }

  /** Power on: a new vault over the same storage, the bootloader's decision, the client. start() is the caller's. */
  boot(): Booted {
    const vault = new KeyVault({ storage: this.storage, rng: this.rng, rootKey: ROOT_KEY, serial: SERIAL });
    const booted: Booted = { restarts: 0 } as Booted;
    const updater = openSlotUpdater(this.dir, { factoryVersion: FACTORY_VERSION, restart: () => void booted.restarts++ });
    const client = new UpdateClient({
      identity: { serial: SERIAL, mtmsPublicKey: this.office.mtms.publicKey, kmsUrl: 'https://kms.test:8790', trustAnchor: new Uint8Array([0x30]) },
      vault,
      storage: this.storage,
      http: this.tms,
      rng: this.rng,
      clock,
      updater,
      model: MODEL,
      programName: PROGRAM,
      vendorKeys: [this.vendor.publicKey],
      signedOn: () => true,
    });
    return Object.assign(booted, { updater, client });
  }

  dispose(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Resolves once `condition` holds (the fake TMS hung: the terminal's power is "cut" there). */
export async function until(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !condition(); i++) await new Promise((resolve) => setTimeout(resolve, 2));
  if (!condition()) throw new Error('condition never held');
}
