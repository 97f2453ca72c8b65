// Ganeti's name lookup (view.ts lookupByName): exact key, exact name, then the unique name that
// starts with the query and a '.'. Checked against the plain rule: every '.'-prefix of every name
// in a map, null where two names share it.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { drain } from '../../daemon/slices.js';
import { sortBytesSteps } from '../../daemon/ganeti/byte-order.js';
import { lookupByName, type NameIndex } from '../../daemon/ganeti/view.js';

function reference(names: Map<string, string>, query: string): string | 'not found' | 'has multiple matches' {
  if (names.has(query)) return names.get(query) as string;
  const partial = new Map<string, string | null>();
  for (const [name, rec] of names) {
    for (let j = name.indexOf('.'); j >= 0; j = name.indexOf('.', j + 1)) {
      const p = name.slice(0, j);
      partial.set(p, partial.has(p) ? null : rec);
    }
  }
  const p = partial.get(query);
  return p === undefined ? 'not found' : p === null ? 'has multiple matches' : p;
}

describe('lookupByName', () => {
  it('finds exactly what the prefix-map rule finds', () => {
    const part = fc.constantFrom('a', 'b', 'node1', 'node10', 'x', '', '\ud83d\ude00', '\uffff', 'é', '\ud800');
    const name = fc.array(part, { minLength: 1, maxLength: 4 }).map((ps) => ps.join('.'));
    fc.assert(
      fc.property(fc.uniqueArray(name, { maxLength: 30 }), fc.array(fc.oneof(name, part), { maxLength: 20 }), (names, queries) => {
        const exact = new Map(names.map((n, i) => [n, `rec${i}`]));
        const idx: NameIndex<string> = { exact, sorted: drain(sortBytesSteps([...exact.keys()])) };
        const keys = new Map<string, string>([['uuid-1', 'byKey']]);
        for (const q of [...queries, ...names, 'uuid-1']) {
          const got = lookupByName(keys, idx, q);
          const want = q === 'uuid-1' ? 'byKey' : reference(exact, q);
          expect(got.ok ? got.rec : got.why, JSON.stringify({ names, q })).toBe(want);
        }
      }),
      { numRuns: 400 },
    );
  });
});
