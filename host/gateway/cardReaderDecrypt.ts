/**
 * Opening a secure card reader's read inside the gateway's HSM (E4, X1; docs/card-readers.md).
 *
 * The read carries a KSN; the HSM derives that transaction's working keys from the BDK it holds
 * (deriveDukptWorkingKey: handles only, exportability N) and:
 *   1. verifies the read's AES-CMAC under the MAC-generation key (M6 / V) before anything is
 *      deciphered, so neither a padding oracle nor a read made for another request is offered;
 *   2. deciphers track 2 under the data-encrypt key (D0 / D), in the HSM;
 *   3. when the read carries a PIN block, translates it from the reader's PIN-encryption key
 *      (P0 / D) to the acquirer zone PIN key (P0 that may encrypt): the PIN stays inside the HSM.
 *
 * The clear track 2 exists only in the object returned, in the payment flow's memory, for one
 * authorisation: it serialises to the last four digits only, and wipe() zeroes it.
 */
import { constantTimeEqual, wipe } from '../../shared/bytes';
import { parseDukptKsn } from '../../shared/crypto/dukpt';
import { PaypadError } from '../../shared/errors';
import { type EncryptedCardRead, cardReadMacInput } from '../../shared/protocol/cardReadMessages';
import { type Track2, readTrack2 } from '../../shared/track2';
import type { Hsm, KeyHandle } from '../hsm/hsm';

export interface CardReaderKeys {
  readonly hsm: Hsm;
  /** The readers' base derivation key (TR-31 B0, mode X), held in the HSM. */
  readonly bdk: KeyHandle;
  /** The acquirer zone PIN key (P0, mode B or E) PIN blocks are translated to; needed only for reads with a PIN. */
  readonly zonePinKey?: KeyHandle;
}

export interface DecryptCardReadOptions {
  /** The initial key ID (8 bytes) injected into the reader the checkout is paired with: a read under another reader's keys is refused. */
  readonly initialKeyId?: Uint8Array;
}

/** Track 2 in clear, for one authorisation: wipe() when done. */
export interface DecryptedCardRead extends Track2 {
  /** Track 2 between the sentinels, ASCII. */
  readonly track2: Uint8Array;
  /** The PIN block (ISO 9564-1 format 4) under the zone PIN key, when the reader took a PIN. */
  readonly pinBlock?: Uint8Array;
  wipe(): void;
  /** Never the track: a read that ends up in a log or a response shows the last four digits. */
  toJSON(): { panLast4: string };
}

/**
 * The track 2 (and zone PIN block) of `read`. MAC_MISMATCH when the MAC does not verify (altered,
 * another read id, another reader's key); CARD_DATA_INVALID when what deciphers is not track 2 or
 * does not end in the read's last four; DUKPT_KSN_INVALID for a KSN no reader uses or of another
 * reader; BAD_ARGUMENT for a PIN block without a zone PIN key. HSM errors as the HSM gives them.
 */
export async function decryptCardRead(keys: CardReaderKeys, read: EncryptedCardRead, options: DecryptCardReadOptions = {}): Promise<DecryptedCardRead> {
  const { initialKeyId } = parseDukptKsn(read.ksn);
  if (options.initialKeyId !== undefined && !constantTimeEqual(initialKeyId, options.initialKeyId)) {
    throw new PaypadError('DUKPT_KSN_INVALID', 'card read: the KSN is not of the reader paired with this checkout');
  }
  if (read.pinBlock !== undefined && keys.zonePinKey === undefined) throw new PaypadError('BAD_ARGUMENT', 'card read with a PIN block: no zone PIN key to translate it to');
  const macKey = await keys.hsm.deriveDukptWorkingKey(keys.bdk, read.ksn, 'mac-generation');
  const { mac, ...unsigned } = read;
  await keys.hsm.verifyMac(macKey, cardReadMacInput(unsigned), mac);
  const dataKey = await keys.hsm.deriveDukptWorkingKey(keys.bdk, read.ksn, 'data-encrypt');
  const track2 = await keys.hsm.decipherCardData(dataKey, read.track2);
  let fields: Track2;
  try {
    fields = readTrack2(track2);
    if (!fields.pan.endsWith(read.panLast4)) throw new PaypadError('CARD_DATA_INVALID', 'card read: the deciphered track does not end in the last four digits sent');
  } catch (e) {
    wipe(track2);
    throw e;
  }
  let pinBlock: Uint8Array | undefined;
  if (read.pinBlock !== undefined) {
    try {
      const pinKey = await keys.hsm.deriveDukptWorkingKey(keys.bdk, read.ksn, 'pin-encryption');
      pinBlock = await keys.hsm.translatePinBlock(pinKey, keys.zonePinKey as KeyHandle, read.pinBlock, fields.pan);
    } catch (e) {
      wipe(track2);
      throw e;
    }
  }
  const panLast4 = read.panLast4;
  return {
    ...fields,
    track2,
    ...(pinBlock === undefined ? {} : { pinBlock }),
    wipe: () => wipe(track2),
    toJSON: () => ({ panLast4 }),
  };
}
