import { describe, expect, it } from 'vitest';
import { createAuditStore, MAX_DETAIL_BYTES, MAX_NAME_LENGTH, type AuditEntryInput } from '../../host/audit/auditStore';
import { DIALECTS, useMigratedDatabase } from './helpers/testDatabase';

describe.each(DIALECTS)('audit store on %s', (dialect) => {
  const database = useMigratedDatabase(dialect);
  let tick = Date.UTC(2025, 5, 1, 12, 0, 0, 0);
  const store = () => createAuditStore(database().db, () => new Date((tick += 1_000)));

  it('appends an entry with an id, the clock time and the detail as given', async () => {
    const entry = await store().append({ actor: 'operator:alice', action: 'terminal.onboarded', subject: 'terminal:PP0001', detail: { kcv: 'A1B2C3', model: 'ESP32-S3', note: 'café ☕', n: 3, ok: true, none: null, list: [1, 'two'] } });
    expect(entry).toEqual({
      id: expect.any(Number),
      at: new Date(tick).toISOString(),
      actor: 'operator:alice',
      action: 'terminal.onboarded',
      subject: 'terminal:PP0001',
      detail: { kcv: 'A1B2C3', model: 'ESP32-S3', note: 'café ☕', n: 3, ok: true, none: null, list: [1, 'two'] },
    });
    const [read] = await store().listBySubject('terminal:PP0001');
    expect(read).toEqual(entry);
  });

  it('lists one subject only, oldest first, in pages', async () => {
    const s = store();
    const appended = [];
    for (let i = 0; i < 5; i++) {
      appended.push(await s.append({ actor: 'system', action: 'key.loaded', subject: 'terminal:PAGE', detail: { i } }));
      await s.append({ actor: 'system', action: 'key.loaded', subject: 'terminal:OTHER', detail: { i } });
    }
    expect(await s.listBySubject('terminal:PAGE')).toEqual(appended);
    const first = await s.listBySubject('terminal:PAGE', { limit: 2 });
    expect(first).toEqual(appended.slice(0, 2));
    expect(await s.listBySubject('terminal:PAGE', { afterId: first[1].id, limit: 2 })).toEqual(appended.slice(2, 4));
    expect(await s.listBySubject('terminal:NONE')).toEqual([]);
    // ids grow with insertion order, and so does the ISO text timestamp.
    expect([...appended].sort((a, b) => (a.at < b.at ? -1 : 1))).toEqual(appended);
  });

  it('X1: refuses a detail that carries a secret field at any depth, in any spelling, and stores nothing', async () => {
    const s = store();
    const subject = 'terminal:SECRET';
    const attempts: AuditEntryInput['detail'][] = [
      { pan: '4111111111111111' },
      { request: { card: { Track2: '4111111111111111=2512' } } },
      { steps: [{ ok: true }, { PIN_BLOCK: '041234FFFFFFFFFF' }] },
      { a: { b: { c: { d: { e: { tmk: '00112233445566778899AABBCCDDEEFF' } } } } } },
      { headers: { Authorization: 'Bearer abc' } },
    ];
    for (const detail of attempts) {
      const error = await s.append({ actor: 'system', action: 'test.secret', subject, detail }).catch((e: unknown) => e);
      expect(error).toMatchObject({ code: 'BAD_ARGUMENT' });
      // The message may name the field, never its value.
      expect((error as Error).message).not.toMatch(/4111|0412|0011|Bearer/);
    }
    expect(await s.listBySubject(subject)).toEqual([]);
  });

  it('refuses empty, oversized or non-string actor, action and subject', async () => {
    const s = store();
    const good = { actor: 'system', action: 'test.names', subject: 'test:names' };
    for (const field of ['actor', 'action', 'subject'] as const) {
      for (const bad of ['', '   ', 'x'.repeat(MAX_NAME_LENGTH + 1), 42 as unknown as string]) {
        await expect(s.append({ ...good, [field]: bad })).rejects.toMatchObject({ code: 'BAD_ARGUMENT' });
      }
    }
    await expect(s.append({ ...good, actor: 'x'.repeat(MAX_NAME_LENGTH) })).resolves.toMatchObject({ actor: 'x'.repeat(MAX_NAME_LENGTH) });
  });

  it('refuses detail that is not a JSON object or would not read back as written', async () => {
    const s = store();
    const base = { actor: 'system', action: 'test.detail', subject: 'test:detail' };
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    const bad: unknown[] = [
      [1, 2],
      'text',
      { n: NaN },
      { n: Infinity },
      { big: 10n },
      { missing: undefined },
      { bytes: new Uint8Array(4) },
      { when: new Map() },
      circular,
    ];
    for (const detail of bad) {
      await expect(s.append({ ...base, detail: detail as AuditEntryInput['detail'] })).rejects.toMatchObject({ code: 'BAD_ARGUMENT' });
    }
    expect(await s.listBySubject('test:detail')).toEqual([]);
  });

  it(`refuses a detail over ${MAX_DETAIL_BYTES} bytes of JSON (counted in UTF-8) and accepts one just under`, async () => {
    const s = store();
    const base = { actor: 'system', action: 'test.size', subject: 'test:size' };
    const overhead = JSON.stringify({ s: '' }).length;
    await expect(s.append({ ...base, detail: { s: 'a'.repeat(MAX_DETAIL_BYTES - overhead) } })).resolves.toBeDefined();
    await expect(s.append({ ...base, detail: { s: 'a'.repeat(MAX_DETAIL_BYTES - overhead + 1) } })).rejects.toMatchObject({ code: 'BAD_ARGUMENT' });
    // 'é' is one character but two bytes.
    await expect(s.append({ ...base, detail: { s: 'é'.repeat((MAX_DETAIL_BYTES - overhead) / 2 + 1) } })).rejects.toMatchObject({ code: 'BAD_ARGUMENT' });
  });

  it('refuses a bad page', async () => {
    const s = store();
    for (const page of [{ limit: 0 }, { limit: 1001 }, { limit: 1.5 }, { afterId: -1 }, { afterId: 0.5 }]) {
      await expect(s.listBySubject('test:page', page)).rejects.toMatchObject({ code: 'BAD_ARGUMENT' });
    }
  });

  it('is append-only at the type level: audit_log columns cannot be updated', () => {
    // Compile-time proof (npm test runs tsc over test/): updating any audit_log column is a type error.
    // @ts-expect-error the columns are ColumnType<..., ..., never>
    const update = () => database().db.updateTable('audit_log').set({ actor: 'mallory' });
    expect(typeof update).toBe('function');
  });
});
