/**
 * The portable terminal core on in-memory HAL storage: manufacture (identity pinned once), the
 * persisted key-loading state, status when a record fails, and the order of operations.
 */
import { describe, expect, it } from 'vitest';
import { fromHex, utf8ToBytes } from '../../../shared/bytes';
import { isPaypadError } from '../../../shared/errors';
import { decodeLinkFrame } from '../../../shared/protocol/localLink';
import type { Http } from '../../../firmware/hal/http';
import { VAULT_NAMESPACE } from '../../../firmware/core/keySlots';
import { Terminal, type TerminalDevice } from '../../../firmware/core/terminal';
import { TERMINAL_NAMESPACE, loadTerminalIdentity, provisionTerminal } from '../../../firmware/core/terminalIdentity';
import { publicKeyCheckValue } from '../../../shared/protocol/publicKeyCheck';
import { FRESH_STATE, readTerminalState, reserveSequence, writeTerminalState } from '../../../firmware/core/terminalState';
import { MemoryStorage } from '../../support/memoryStorage';
import { SERIAL, makeMtmsKey, rng } from './support';

const mtms = makeMtmsKey();
/** Any DER SEQUENCE: the core stores the anchor, TLS checks it (nodeHal.test.ts). */
const CA_DER = fromHex('3003020101');
const noHttp: Http = {
  request: () => Promise.reject(new Error('this test sends nothing')),
};
const identity = { serial: SERIAL, mtmsPublicKey: mtms.publicKey, kmsUrl: 'https://kms.example:8443', trustAnchor: CA_DER };

function device(storage = new MemoryStorage()): TerminalDevice & { storage: MemoryStorage } {
  return { storage, rng, http: noHttp, rootKey: rng(32) };
}

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    return isPaypadError(e) ? e.code : `not a PaypadError: ${String(e)}`;
  }
  return 'no error';
}

describe('manufacture: the identity is pinned once (A2, A8, A10)', () => {
  it('stores and reads back serial, MTMS key, KMS URL and CA', () => {
    const storage = new MemoryStorage();
    provisionTerminal(storage, identity);
    expect(loadTerminalIdentity(storage)).toEqual(identity);
    expect(publicKeyCheckValue(mtms.publicKey)).toMatch(/^[0-9A-F]{10}$/);
  });

  it('A10 refuses a second manufacture with TERMINAL_ALREADY_INITIALIZED: the pinned MTMS key cannot be swapped', () => {
    const storage = new MemoryStorage();
    provisionTerminal(storage, identity);
    expect(codeOf(() => provisionTerminal(storage, { ...identity, mtmsPublicKey: makeMtmsKey().publicKey }))).toBe('TERMINAL_ALREADY_INITIALIZED');
    expect(loadTerminalIdentity(storage).mtmsPublicKey).toEqual(mtms.publicKey);
  });

  it('refuses bad input and stores nothing', () => {
    const bad = [
      [{ serial: 'pp-1' }, 'BAD_ARGUMENT'],
      [{ kmsUrl: 'http://kms.example' }, 'BAD_ARGUMENT'],
      [{ kmsUrl: 'https://kms.example/prefix' }, 'BAD_ARGUMENT'],
      [{ kmsUrl: 'https://kms.example:70000' }, 'BAD_ARGUMENT'],
      [{ mtmsPublicKey: mtms.publicKey.subarray(1) }, 'PUBLIC_KEY_INVALID'],
      [{ mtmsPublicKey: Uint8Array.of(4, ...new Uint8Array(64)) }, 'PUBLIC_KEY_INVALID'],
      [{ trustAnchor: new Uint8Array(0) }, 'BAD_ARGUMENT'],
      [{ trustAnchor: utf8ToBytes('-----BEGIN CERTIFICATE-----') }, 'BAD_ARGUMENT'],
    ] as const;
    for (const [change, code] of bad) {
      const storage = new MemoryStorage();
      expect(codeOf(() => provisionTerminal(storage, { ...identity, ...change })), JSON.stringify(Object.keys(change))).toBe(code);
      expect(storage.allValues()).toEqual([]);
    }
  });

  it('a terminal never manufactured is TERMINAL_NOT_INITIALIZED; a damaged identity is STORAGE_CORRUPT', () => {
    const storage = new MemoryStorage();
    expect(codeOf(() => Terminal.open(device(storage)))).toBe('TERMINAL_NOT_INITIALIZED');
    provisionTerminal(storage, identity);
    storage.set(TERMINAL_NAMESPACE, 'identity', utf8ToBytes('{"v":1}'));
    expect(codeOf(() => Terminal.open(device(storage)))).toBe('STORAGE_CORRUPT');
    storage.set(TERMINAL_NAMESPACE, 'identity', utf8ToBytes(JSON.stringify({ v: 1, serial: SERIAL, mtmsKey: '04'.padEnd(130, '0'), kmsUrl: identity.kmsUrl })));
    expect(codeOf(() => Terminal.open(device(storage)))).toBe('STORAGE_CORRUPT');
  });
});

describe('key-loading state (X2)', () => {
  it('X2 reserveSequence persists each number before returning it, strictly increasing', () => {
    const storage = new MemoryStorage();
    expect(readTerminalState(storage)).toEqual(FRESH_STATE);
    expect([reserveSequence(storage), reserveSequence(storage), reserveSequence(storage)]).toEqual([1, 2, 3]);
    expect(readTerminalState(storage).lastSeq).toBe(3);
  });

  it('X2 a sequence that cannot be persisted is not handed out', () => {
    const storage = new MemoryStorage();
    reserveSequence(storage);
    storage.beforeWrite = () => {
      throw new Error('flash full');
    };
    expect(() => reserveSequence(storage)).toThrow('flash full');
    storage.beforeWrite = undefined;
    expect(reserveSequence(storage)).toBe(2);
  });

  it('a damaged state is STORAGE_CORRUPT (no guessing a sequence number); repair (A13) starts it over', async () => {
    const d = device();
    provisionTerminal(d.storage, identity);
    const terminal = Terminal.open(d);
    await terminal.handleLinkRequest({ v: 1, id: 1, op: 'tk' });
    writeTerminalState(d.storage, { lastSeq: 5, signedOnTmk: null });
    d.storage.set(TERMINAL_NAMESPACE, 'state', utf8ToBytes('{"v":1,"lastSeq":-1}'));
    expect(codeOf(() => readTerminalState(d.storage))).toBe('STORAGE_CORRUPT');
    await expect(terminal.status()).rejects.toMatchObject({ code: 'STORAGE_CORRUPT' });
    await terminal.handleLinkRequest({ v: 1, id: 2, op: 'repair', serial: SERIAL });
    expect(readTerminalState(d.storage)).toEqual(FRESH_STATE);
  });
});

describe('terminal core', () => {
  it('status reports a slot whose record fails by its error code, and still shows the others', async () => {
    const d = device();
    provisionTerminal(d.storage, identity);
    const terminal = Terminal.open(d);
    await terminal.handleLinkRequest({ v: 1, id: 1, op: 'tk' });
    const record = d.storage.get(VAULT_NAMESPACE, 'TK') as Uint8Array;
    d.storage.set(VAULT_NAMESPACE, 'TMK', record); // TK's record copied into TMK's slot
    const status = await terminal.status();
    expect(status.slots).toEqual([expect.objectContaining({ slot: 'TK', keyUsage: 'K1' }), { slot: 'TMK', error: 'VAULT_RECORD_INVALID' }]);
    expect(status.stage).toBe('tk');
  });

  it('A1 a terminal with a different root key cannot open the vault it finds (VAULT_RECORD_INVALID), and says so on the link', async () => {
    const d = device();
    provisionTerminal(d.storage, identity);
    await Terminal.open(d).handleLinkRequest({ v: 1, id: 1, op: 'tk' });
    const other = Terminal.open({ ...d, rootKey: rng(32) });
    const answer = decodeLinkFrame((await other.handleLinkFrame(utf8ToBytes('{"v":1,"id":2,"op":"tk"}'))).subarray(2));
    expect(answer).toMatchObject({ id: 2, ok: false, error: { code: 'VAULT_RECORD_INVALID' } });
  });

  it('runs operations one at a time in call order, a failed one included', async () => {
    const d = device();
    provisionTerminal(d.storage, identity);
    const terminal = Terminal.open(d);
    const order: string[] = [];
    const calls = [
      terminal.handleLinkRequest({ v: 1, id: 1, op: 'tk' }).then(() => order.push('tk')),
      terminal.downloadTmk().catch(() => order.push('tmk failed')),
      terminal.handleLinkRequest({ v: 1, id: 2, op: 'repair', serial: SERIAL }).then(() => order.push('repair')),
      terminal.status().then((s) => order.push(`status ${s.stage} ${s.lastSequence}`)),
    ];
    await Promise.all(calls);
    // downloadTmk spent sequence 1 before its (refused) send; the repair then started the sequence over.
    expect(order).toEqual(['tk', 'tmk failed', 'repair', 'status tk 0']);
  });
});
