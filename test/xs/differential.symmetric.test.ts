import { describe, expect, it } from 'vitest';
import { ops } from '../support/ops';
import { describeDifferential } from './differential';
import { randomSpecs } from './randomInputs';

describe('XS differential coverage (issue X3)', () => {
  it('every op in the operations table has a random input spec, in one of the two groups', () => {
    expect(Object.keys(randomSpecs).sort()).toEqual(Object.keys(ops).sort());
  });
});

describeDifferential('symmetric');
