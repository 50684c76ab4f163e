/**
 * The vendors' keys and the signed program packages (tms_vendor_keys, tms_packages; the images in
 * imageFiles.ts). A package is taken only when one of the stored vendor keys signed its manifest
 * (shared/protocol/updateManifest: the same check the terminal makes) and the image is exactly
 * the manifest's size and SHA-256, so the TMS never offers what a terminal would refuse.
 *
 * Invariants kept here:
 * - A package (name, version) is stored once; the same signed bytes again are the same package,
 *   other bytes under the same name and version are TMS_PACKAGE_EXISTS.
 * - A program's metadata version only grows (TUF §4.4): a package whose manifest does not raise
 *   it above every stored package of that name is refused (TMS_PACKAGE_INVALID).
 */
import type { Kysely, Selectable } from 'kysely';
import { sha256 } from '@noble/hashes/sha2.js';
import { fromHex, toHex } from '../../shared/bytes';
import { PaypadError, isPaypadError } from '../../shared/errors';
import { type Manifest, type SignedManifest, openSignedManifest, vendorKeyId } from '../../shared/protocol/updateManifest';
import { assertPublicKey } from '../../shared/crypto/keyTransport';
import { isoTimestamp, type Schema } from '../db/schema';
import type { ImageFiles } from './imageFiles';
import type { TmsTables } from './tmsTables';

export interface VendorKey {
  readonly keyId: string;
  readonly name: string;
  readonly publicKey: Uint8Array;
}

export interface StoredPackage {
  readonly id: number;
  readonly manifest: Manifest;
  /** As the vendor signed it: what the terminal is sent. */
  readonly signed: SignedManifest;
  /** SHA-256 of the manifest bytes (updateAuth's package digest), uppercase hex. */
  readonly packageDigest: string;
  readonly createdAt: Date;
}

export interface PackageStore {
  /** Trusts `publicKey` (SEC 1, uncompressed P-256) for packages; the same key again is a no-op. */
  addVendorKey(name: string, publicKey: Uint8Array, at: Date): Promise<VendorKey>;
  vendorKeys(): Promise<VendorKey[]>;
  /**
   * Checks and stores a package. TMS_PACKAGE_INVALID (bad signature, unknown key, image not the
   * manifest's, metadata version not raised), TMS_PACKAGE_EXISTS.
   */
  addPackage(signed: SignedManifest, image: Uint8Array, at: Date): Promise<StoredPackage>;
  get(id: number): Promise<StoredPackage>;
  list(): Promise<StoredPackage[]>;
  /** The next metadata version for a program: one above every stored package of that name. */
  nextMetadataVersion(name: string): Promise<number>;
  image(pkg: StoredPackage): Promise<Uint8Array>;
}

function toPackage(r: Selectable<TmsTables['tms_packages']>): StoredPackage {
  const signed: SignedManifest = { manifest: r.manifest, keyId: r.vendor_key_id, signature: r.signature };
  const manifest = JSON.parse(new TextDecoder().decode(fromHex(r.manifest))) as Manifest;
  return { id: Number(r.id), manifest, signed, packageDigest: toHex(sha256(fromHex(r.manifest))), createdAt: new Date(r.created_at) };
}

export function createPackageStore(schemaDb: Kysely<Schema>, images: ImageFiles): PackageStore {
  const db = schemaDb.withTables<TmsTables>();

  const vendorKeys = async (): Promise<VendorKey[]> =>
    (await db.selectFrom('tms_vendor_keys').selectAll().orderBy('created_at').execute()).map((r) => ({ keyId: r.key_id, name: r.name, publicKey: fromHex(r.public_key) }));

  const get = async (id: number): Promise<StoredPackage> => {
    const row = await db.selectFrom('tms_packages').selectAll().where('id', '=', id).executeTakeFirst();
    if (row === undefined) throw new PaypadError('TMS_PACKAGE_UNKNOWN', `no package ${id}`);
    return toPackage(row);
  };

  const highestMetadataVersion = async (name: string): Promise<number> => {
    const row = await db.selectFrom('tms_packages').select((eb) => eb.fn.max('metadata_version').as('v')).where('name', '=', name).executeTakeFirst();
    return row?.v === null || row?.v === undefined ? 0 : Number(row.v);
  };

  return {
    async addVendorKey(name, publicKey, at) {
      if (!/^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$/.test(name)) throw new PaypadError('BAD_ARGUMENT', 'vendor name: 1 to 64 of A-Z a-z 0-9 space . _ -');
      assertPublicKey(publicKey, 'vendor public key');
      const keyId = vendorKeyId(publicKey);
      await db
        .insertInto('tms_vendor_keys')
        .values({ key_id: keyId, name, public_key: toHex(publicKey), created_at: isoTimestamp(at) })
        .onConflict((oc) => oc.column('key_id').doNothing())
        .execute();
      const stored = (await vendorKeys()).find((k) => k.keyId === keyId);
      if (stored === undefined) throw new PaypadError('INTERNAL', `vendor key ${keyId} was not stored`);
      return stored;
    },

    vendorKeys,

    async addPackage(signed, image, at) {
      let opened;
      try {
        opened = openSignedManifest(signed, (await vendorKeys()).map((k) => k.publicKey));
      } catch (e) {
        if (!isPaypadError(e)) throw e;
        throw Object.assign(new PaypadError('TMS_PACKAGE_INVALID', `package refused: ${e.message}`), { cause: e });
      }
      const { manifest } = opened;
      if (image.length !== manifest.size || toHex(sha256(image)) !== manifest.sha256.toUpperCase()) {
        throw new PaypadError('TMS_PACKAGE_INVALID', `package refused: the image is not the one the manifest describes (${manifest.size} bytes, SHA-256 ${manifest.sha256})`);
      }
      const existing = await db.selectFrom('tms_packages').selectAll().where('name', '=', manifest.name).where('version', '=', manifest.version).executeTakeFirst();
      if (existing !== undefined) {
        if (existing.manifest === signed.manifest.toUpperCase() && existing.signature === signed.signature.toUpperCase()) return toPackage(existing);
        throw new PaypadError('TMS_PACKAGE_EXISTS', `${manifest.name} ${manifest.version} is stored already with another manifest`);
      }
      if (manifest.metadataVersion <= (await highestMetadataVersion(manifest.name))) {
        throw new PaypadError('TMS_PACKAGE_INVALID', `package refused: metadata version ${manifest.metadataVersion} does not raise ${manifest.name}'s (a terminal would take it for a replayed answer)`);
      }
      await images.put(image);
      const row = await db
        .insertInto('tms_packages')
        .values({
          name: manifest.name,
          version: manifest.version,
          models: JSON.stringify(manifest.models),
          image_size: manifest.size,
          image_sha256: manifest.sha256.toUpperCase(),
          min_version: manifest.minimumVersion,
          security_counter: manifest.securityCounter,
          metadata_version: manifest.metadataVersion,
          expires: manifest.expires,
          manifest: signed.manifest.toUpperCase(),
          signature: signed.signature.toUpperCase(),
          vendor_key_id: signed.keyId.toUpperCase(),
          created_at: isoTimestamp(at),
        })
        .returning('id')
        .executeTakeFirstOrThrow();
      return get(Number(row.id));
    },

    get,

    async list() {
      return (await db.selectFrom('tms_packages').selectAll().orderBy('id').execute()).map(toPackage);
    },

    async nextMetadataVersion(name) {
      return (await highestMetadataVersion(name)) + 1;
    },

    image: (pkg) => images.get(pkg.manifest.sha256),
  };
}
