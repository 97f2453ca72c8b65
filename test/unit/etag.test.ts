// Etags made two ways must agree: a small value's at once (one canonical text, one hash), any
// value's in steps (etagSteps, which writes large nested containers as their own tags). Values
// near the thresholds, with undefined members, escapes, lone surrogates and tags already known.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { drain } from '../../daemon/slices.js';
import { etagOf, etagSteps } from '../../shared/etag.js';

const text = fc.array(fc.constantFrom('\\', 'u', 'd', '8', 'a', '"', '\n', '\ud800', '\udc00', '\ud83d\ude00', 'é'), { maxLength: 6 }).map((a) => a.join(''));
const scalar = fc.oneof(text, fc.integer(), fc.double(), fc.boolean(), fc.constant(null), fc.constant(undefined));
const { value } = fc.letrec((tie) => ({
  value: fc.oneof({ depthSize: 'small', withCrossShrink: true }, scalar, fc.array(tie('value'), { maxLength: 40 }), fc.dictionary(fc.oneof(text, fc.string()), tie('value'), { maxKeys: 40 })),
}));

describe('etags', () => {
  it('at once and in steps agree, for any value', () => {
    fc.assert(
      fc.property(value, (v) => {
        expect(etagOf(v)).toBe(drain(etagSteps(v, 7)));
      }),
      { numRuns: 3000 },
    );
  });

  it('agree around the thresholds: 63 and 64 values, texts of 4,095 and 4,096 characters, a nested tag known', () => {
    const values = (n: number) => Array.from({ length: n - 1 }, (_, i) => i);
    const long = (len: number) => ({ s: 'x'.repeat(len - 8) });
    for (const v of [values(63), values(64), { a: values(62) }, { a: values(63) }, long(4095), long(4096), [long(4095)], [long(4096)]]) {
      expect(etagOf(v), JSON.stringify(v).slice(0, 40)).toBe(drain(etagSteps(v, 5)));
    }
    const big = { n: values(100) };
    const before = etagOf({ big, x: 1 });
    etagOf(big.n); // now known by identity
    expect(etagOf({ big, x: 1 })).toBe(before);
  });
});
