/**
 * Where the browser keeps the payment client's state between visits (shared/client's
 * PhoneStateStore): one record in the element's IndexedDB store, sealed whole under the element
 * key. The state holds nothing in clear that matters (its keys and cards are sealed by the client
 * already); sealing it too keeps the phone's number and id out of the profile on disk.
 */
import { bytesToUtf8, utf8ToBytes, wipe } from '../../../../shared/bytes';
import type { PhoneState, PhoneStateStore } from '../../../../shared/client/phoneClient';
import { PaypadError } from '../../../../shared/errors';
import type { IndexedDbElement } from './indexedDbElement';

const RECORD = 'phone-state';

export class IndexedDbPhoneState implements PhoneStateStore {
  readonly #element: IndexedDbElement;

  constructor(element: IndexedDbElement) {
    this.#element = element;
  }

  async load(): Promise<PhoneState | undefined> {
    const bytes = await this.#element.get(RECORD);
    if (bytes === undefined) return undefined;
    try {
      return JSON.parse(bytesToUtf8(bytes)) as PhoneState;
    } catch {
      throw new PaypadError('PHONE_ELEMENT_INVALID', "the phone's state does not read");
    } finally {
      wipe(bytes);
    }
  }

  async save(state: PhoneState): Promise<void> {
    const bytes = utf8ToBytes(JSON.stringify(state));
    try {
      await this.#element.put(RECORD, bytes);
    } finally {
      wipe(bytes);
    }
  }
}
