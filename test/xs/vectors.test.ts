import { readFileSync, readdirSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ops } from '../support/ops';
import { type Outcome, runBatch } from '../support/opsRunner';
import { HOST_ONLY_VECTORS, type VectorCase, vectorAdapters } from './vectorCases';
import { XsOps } from './xsOps';

const VECTOR_DIR = new URL('../vectors/', import.meta.url);
const files = readdirSync(VECTOR_DIR).filter((f) => f.endsWith('.json') && !(f in HOST_ONLY_VECTORS)).sort();

let xs: XsOps;
beforeAll(async () => {
  xs = await XsOps.start();
});
afterAll(async () => {
  await xs?.close();
});

describe('XS: published vectors (issue X3: shared/ runs unchanged in the XS engine)', () => {
  it('every vector file in test/vectors has an XS adapter (test/xs/vectorCases.ts)', () => {
    expect(files.length).toBeGreaterThan(0);
    expect(files.filter((f) => !(f in vectorAdapters))).toEqual([]);
  });

  describe.each(files.filter((f) => f in vectorAdapters))('%s', (file) => {
    const cases: VectorCase[] = vectorAdapters[file](JSON.parse(readFileSync(new URL(file, VECTOR_DIR), 'utf8')) as never);

    it(`XS: ${file} vectors give the published results, identical to Node (issue 2 / X3)`, async () => {
      expect(cases.length).toBeGreaterThan(0);
      // One command per op keeps the XS side batched; the order of cases is kept.
      const byOp = new Map<string, VectorCase[]>();
      for (const c of cases) byOp.set(c.op, [...(byOp.get(c.op) ?? []), c]);
      for (const [op, group] of byOp) {
        const inputs = group.map((c) => c.args);
        const [inXs, inNode] = await Promise.all([xs.batch(op, inputs), runBatch(ops, op, inputs)]);
        group.forEach((c, i) => {
          const context = `${file}: ${c.name} (${op})`;
          expect(inXs[i], context).toMatchObject(c.expected as Outcome);
          expect(inXs[i], `${context}: XS and Node differ`).toEqual(inNode[i]);
        });
      }
    });
  });
});
