// Sorting in steps: the order Array.prototype.sort gives, for any input, and a yield at most
// every so many comparisons, so that a large container's keys never hold the event loop long.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { byCodeUnit } from '../../shared/commitment.js';
import { drain } from '../../daemon/slices.js';
import { sortedIndices } from '../../daemon/sort-steps.js';

describe('sortedIndices', () => {
  it('orders any strings as a sort by code unit does, each index once', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ maxLength: 8 }), { maxLength: 300 }), fc.integer({ min: 1, max: 64 }), (xs, perStep) => {
        const idx = drain(sortedIndices(xs, byCodeUnit, perStep));
        expect(Array.from(idx, (i) => xs[i])).toEqual([...xs].sort(byCodeUnit));
        expect(new Set(idx).size).toBe(xs.length);
      }),
      { numRuns: 200 },
    );
  });

  it('yields at least once every perStep comparisons, and once a pass for keys already in order', () => {
    const keys = Array.from({ length: 10_000 }, (_, i) => `node${i}.example.com`);
    const comparisons = { n: 0 };
    const counting = (a: string, b: string) => (comparisons.n++, byCodeUnit(a, b));
    let steps = 0;
    const gen = sortedIndices(keys, counting, 256);
    for (let r = gen.next(); !r.done; r = gen.next()) steps++;
    expect(steps).toBeGreaterThanOrEqual(Math.floor(comparisons.n / 256));
    const inOrder = [...keys].sort(byCodeUnit);
    comparisons.n = 0;
    steps = 0;
    const again = sortedIndices(inOrder, counting, 256);
    for (let r = again.next(); !r.done; r = again.next()) steps++;
    expect(comparisons.n).toBe(inOrder.length - 1);
    expect(steps).toBe(Math.floor((inOrder.length - 1) / 256));
  });
});
