/**
 * Table-driven and property-based tests for shared/etcd-mapping.ts (pure, no etcd needed).
 */
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import {
  canonicalize,
  documentToKvs,
  escapeSegment,
  etcdKeyPrefix,
  isEncodableSegment,
  kvsToDocument,
  pathForKey,
  pointerForPath,
  serialFromRevision,
  unescapeSegment,
  type SkippedKey,
} from '../../shared/etcd-mapping.js';

const P = '/qconf/app';
const kv = (key: string, value: string): { key: string; value: string } => ({ key, value });
const kvsOf = (o: Record<string, string>): Array<{ key: string; value: string }> => Object.entries(o).map(([k, v]) => kv(k, v));

describe('kvsToDocument: table', () => {
  const cases: Array<{
    name: string;
    kvs: Record<string, string>;
    doc: Record<string, unknown>;
    skipped?: SkippedKey[];
  }> = [
    { name: 'empty', kvs: {}, doc: {} },
    {
      name: 'nested objects are split into keys; other values are leaves',
      kvs: {
        '/qconf/app/db/host': '"db1"',
        '/qconf/app/db/port': '5432',
        '/qconf/app/flags': '[1,"two",{"three":3}]',
        '/qconf/app/on': 'true',
        '/qconf/app/none': 'null',
        '/qconf/app/pi': ' 3.14 ',
      },
      doc: { db: { host: 'db1', port: 5432 }, flags: [1, 'two', { three: 3 }], on: true, none: null, pi: 3.14 },
    },
    {
      name: 'RFC 6901 escapes in segments',
      kvs: { '/qconf/app/a~1b': '1', '/qconf/app/t~0': '2', '/qconf/app/x~01': '3', '/qconf/app/y~10': '4', '/qconf/app/sp ace': '5' },
      doc: { 'a/b': 1, 't~': 2, 'x~1': 3, 'y/0': 4, 'sp ace': 5 },
    },
    {
      name: 'bad keys: outside the prefix, empty segments, bad escapes',
      kvs: {
        '/qconf/app': '1',
        '/qconf/app/': '1',
        '/qconf/app//x': '1',
        '/qconf/app/a/': '1',
        '/qconf/app/a~2': '1',
        '/qconf/app/b~': '1',
        '/qconf/app2/x': '1',
        '/other/x': '1',
        '/qconf/app/ok': '1',
      },
      doc: { ok: 1 },
      skipped: [
        { key: '/other/x', reason: 'bad_key' },
        { key: '/qconf/app', reason: 'bad_key' },
        { key: '/qconf/app/', reason: 'bad_key' },
        { key: '/qconf/app//x', reason: 'bad_key' },
        { key: '/qconf/app/a/', reason: 'bad_key' },
        { key: '/qconf/app/a~2', reason: 'bad_key' },
        { key: '/qconf/app/b~', reason: 'bad_key' },
        { key: '/qconf/app2/x', reason: 'bad_key' },
      ],
    },
    {
      name: 'values that are not JSON',
      kvs: { '/qconf/app/a': 'hello', '/qconf/app/b': '', '/qconf/app/c': '{', '/qconf/app/d': 'NaN', '/qconf/app/e': "'x'", '/qconf/app/f': '"ok"' },
      doc: { f: 'ok' },
      skipped: ['a', 'b', 'c', 'd', 'e'].map((k) => ({ key: `/qconf/app/${k}`, reason: 'not_json' as const })),
    },
    {
      name: 'leaf/parent conflict: the subtree wins, the leaf is skipped',
      kvs: { '/qconf/app/a': '1', '/qconf/app/a/b': '2', '/qconf/app/c': '3' },
      doc: { a: { b: 2 }, c: 3 },
      skipped: [{ key: '/qconf/app/a', reason: 'leaf_parent_conflict' }],
    },
    {
      name: 'conflicts cascade over several levels',
      kvs: { '/qconf/app/a': '1', '/qconf/app/a/b': '2', '/qconf/app/a/b/c': '3', '/qconf/app/a/d': '4' },
      doc: { a: { b: { c: 3 }, d: 4 } },
      skipped: [
        { key: '/qconf/app/a', reason: 'leaf_parent_conflict' },
        { key: '/qconf/app/a/b', reason: 'leaf_parent_conflict' },
      ],
    },
    {
      name: 'an object leaf is kept whole (keys sorted) when nothing is below it',
      kvs: { '/qconf/app/a': '{"z":1,"y":{"b":2,"a":1},"":0}' },
      doc: { a: { '': 0, y: { a: 1, b: 2 }, z: 1 } },
    },
    {
      name: 'an object leaf is not merged with keys below it: it loses like any leaf',
      kvs: { '/qconf/app/a': '{"x":1}', '/qconf/app/a/y': '2' },
      doc: { a: { y: 2 } },
      skipped: [{ key: '/qconf/app/a', reason: 'leaf_parent_conflict' }],
    },
    {
      name: 'invalid keys below a leaf do not make it a conflict',
      kvs: { '/qconf/app/a': '1', '/qconf/app/a/b': 'oops', '/qconf/app/a//c': '2' },
      doc: { a: 1 },
      skipped: [
        { key: '/qconf/app/a//c', reason: 'bad_key' },
        { key: '/qconf/app/a/b', reason: 'not_json' },
      ],
    },
    {
      name: 'a leaf whose key only shares a string prefix is no conflict',
      kvs: { '/qconf/app/a': '1', '/qconf/app/ab/c': '2' },
      doc: { a: 1, ab: { c: 2 } },
    },
  ];

  for (const c of cases) {
    test(c.name, () => {
      const r = kvsToDocument(P, kvsOf(c.kvs));
      expect(r.doc).toEqual(c.doc);
      expect(r.skipped).toEqual(c.skipped ?? []);
      // Same result for the reversed input order.
      const rev = kvsToDocument(P, kvsOf(c.kvs).reverse());
      expect(JSON.stringify(rev)).toBe(JSON.stringify(r));
    });
  }

  test('prefix: trailing slashes are ignored; the empty prefix maps /a to a', () => {
    const kvs = [kv('/qconf/app/a', '1')];
    expect(kvsToDocument('/qconf/app/', kvs)).toEqual(kvsToDocument('/qconf/app', kvs));
    expect(etcdKeyPrefix('/qconf/app///')).toBe('/qconf/app/');
    expect(kvsToDocument('', [kv('/a/b', '1')]).doc).toEqual({ a: { b: 1 } });
  });

  test('with a depth limit: keys too deep, or holding values nested too deep, are skipped (too_deep)', () => {
    const deepKey = `${P}/` + Array.from({ length: 10_000 }, (_, i) => `s${i}`).join('/');
    const nest = (n: number) => '['.repeat(n) + ']'.repeat(n);
    const kvs = [
      kv(deepKey, '1'),
      kv(`${P}/ok`, '1'),
      // 3 segments and a value of 2 levels: 5 levels in all.
      kv(`${P}/a/b/c`, nest(2)),
      kv(`${P}/a/b/d`, nest(3)),
      kv(`${P}/x/y/z/w`, '"w"'),
      kv(`${P}/x/y/z/v/u`, '2'),
      // Not JSON, and too deep: too deep (decided before the value is parsed).
      kv(`${P}/bad`, nest(6).slice(0, -1)),
      // Brackets in strings do not count.
      kv(`${P}/s`, JSON.stringify('[[[[[[[[')),
      // A key too deep does not win over the leaf above it.
      kv(`${P}/x/y/z/w/t/r`, '3'),
    ];
    const r = kvsToDocument(P, kvs, 5);
    expect(r.doc).toEqual({ a: { b: { c: [[]] } }, ok: 1, s: '[[[[[[[[', x: { y: { z: { v: { u: 2 }, w: 'w' } } } });
    expect(r.skipped).toEqual([
      { key: `${P}/a/b/d`, reason: 'too_deep' },
      { key: `${P}/bad`, reason: 'too_deep' },
      { key: deepKey, reason: 'too_deep' },
      { key: `${P}/x/y/z/w/t/r`, reason: 'too_deep' },
    ]);
    expect(JSON.stringify(kvsToDocument(P, [...kvs].reverse(), 5))).toBe(JSON.stringify(r));
    // Without a limit nothing is too deep (the 10,000-segment key is dropped here only to keep the stack short).
    expect(kvsToDocument(P, kvs.slice(1)).skipped).toEqual([
      { key: `${P}/bad`, reason: 'not_json' },
      { key: `${P}/x/y/z/w`, reason: 'leaf_parent_conflict' },
    ]);
  });

  test('duplicate keys: identical ones collapse, conflicting ones are bad keys (in any order)', () => {
    expect(kvsToDocument(P, [kv(`${P}/a`, '1'), kv(`${P}/a`, '1')])).toEqual({ doc: { a: 1 }, skipped: [] });
    const a = kvsToDocument(P, [kv(`${P}/a`, '1'), kv(`${P}/a`, '2'), kv(`${P}/a`, '1')]);
    const b = kvsToDocument(P, [kv(`${P}/a`, '1'), kv(`${P}/a`, '1'), kv(`${P}/a`, '2')]);
    expect(a).toEqual({ doc: {}, skipped: [{ key: `${P}/a`, reason: 'bad_key' }] });
    expect(b).toEqual(a);
  });

  test('__proto__ and other special names are ordinary own properties', () => {
    const r = kvsToDocument(P, [kv(`${P}/__proto__/x`, '1'), kv(`${P}/constructor`, '2'), kv(`${P}/o`, '{"__proto__":{"p":1}}')]);
    expect(Object.getPrototypeOf(r.doc)).toBe(Object.prototype);
    expect(Object.keys(r.doc)).toEqual(['__proto__', 'constructor', 'o']);
    expect(JSON.stringify(r.doc)).toBe('{"__proto__":{"x":1},"constructor":2,"o":{"__proto__":{"p":1}}}');
    expect(({} as Record<string, unknown>).x).toBeUndefined(); // no prototype pollution
  });

  test('output is canonical: byte-identical JSON regardless of input order and leaf key order', () => {
    const a = kvsToDocument(P, [kv(`${P}/b`, '{"y":1,"x":[{"d":1,"c":2}]}'), kv(`${P}/a`, '1'), kv(`${P}/10`, '1'), kv(`${P}/9`, '1')]);
    const b = kvsToDocument(P, [kv(`${P}/9`, '1'), kv(`${P}/10`, '1'), kv(`${P}/a`, '1'), kv(`${P}/b`, '{"x":[{"c":2,"d":1}],"y":1}')]);
    // integer-like keys come first in numeric order (JS semantics), then code-unit order.
    expect(JSON.stringify(a.doc)).toBe('{"9":1,"10":1,"a":1,"b":{"x":[{"c":2,"d":1}],"y":1}}');
    expect(JSON.stringify(b.doc)).toBe(JSON.stringify(a.doc));
  });
});

describe('documentToKvs: table', () => {
  test('objects are split, leaves are compact JSON, keys sorted', () => {
    const m = documentToKvs(P, { db: { port: 5432, host: 'db1' }, list: [1, { b: 2, a: 1 }], n: null, t: true, s: 'x' });
    expect([...m]).toEqual([
      ['/qconf/app/db/host', '"db1"'],
      ['/qconf/app/db/port', '5432'],
      ['/qconf/app/list', '[1,{"a":1,"b":2}]'],
      ['/qconf/app/n', 'null'],
      ['/qconf/app/s', '"x"'],
      ['/qconf/app/t', 'true'],
    ]);
  });

  test('an empty object is one key holding {}', () => {
    expect([...documentToKvs(P, { e: {}, o: { e: {} } })]).toEqual([
      ['/qconf/app/e', '{}'],
      ['/qconf/app/o/e', '{}'],
    ]);
  });

  test('names are RFC 6901-escaped; objects with unencodable names are stored whole', () => {
    expect([...documentToKvs(`${P}/`, { 'a/b': { '~': 1 }, o: { '': 1, x: 2 }, s: { '\uD800': 1 } })]).toEqual([
      ['/qconf/app/a~1b/~0', '1'],
      ['/qconf/app/o', '{"":1,"x":2}'],
      ['/qconf/app/s', '{"\\ud800":1}'],
    ]);
  });

  test('the top level cannot have unencodable names or be a non-object', () => {
    expect(() => documentToKvs(P, { '': 1 })).toThrow(RangeError);
    expect(() => documentToKvs(P, { '\uDC00x': 1 })).toThrow(RangeError);
    expect(() => documentToKvs(P, [] as unknown as Record<string, unknown>)).toThrow(RangeError);
  });

  test('the empty document has no keys', () => {
    expect(documentToKvs(P, {}).size).toBe(0);
  });
});

describe('segments, pointers, serials', () => {
  test.each([
    ['a', 'a'],
    ['a/b', 'a~1b'],
    ['~', '~0'],
    ['~1', '~01'],
    ['/~', '~1~0'],
  ])('escapeSegment(%j) = %j', (raw, escaped) => {
    expect(escapeSegment(raw)).toBe(escaped);
    expect(unescapeSegment(escaped)).toBe(raw);
  });

  test('pathForKey / pointerForPath', () => {
    expect(pathForKey(P, '/qconf/app/a~1b/c')).toEqual(['a/b', 'c']);
    expect(pointerForPath(['a/b', 'c'])).toBe('/a~1b/c');
    expect(pathForKey(P, '/qconf/apple')).toBeNull();
    expect(isEncodableSegment('')).toBe(false);
    expect(isEncodableSegment('\uD83D\uDE00')).toBe(true);
    expect(isEncodableSegment('\uD83D')).toBe(false);
  });

  test.each([
    ['0', 0],
    ['42', 42],
    [42n, 42],
    [7, 7],
    [String(Number.MAX_SAFE_INTEGER), Number.MAX_SAFE_INTEGER],
  ] as const)('serialFromRevision(%s) = %s', (rev, serial) => {
    expect(serialFromRevision(rev)).toBe(serial);
  });

  test.each(['-1', '1.5', 'abc', '', ' 1', -1, 1.5, Number.NaN, 2 ** 53, '9007199254740993', -1n, 2n ** 63n])(
    'serialFromRevision(%s) throws',
    (rev) => {
      expect(() => serialFromRevision(rev)).toThrow(RangeError);
    },
  );
});

// ---------------------------------------------------------------------------------------------
// properties

/** Units that stress escaping, empty segments, surrogates and special property names. */
const unit = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom('a', 'b', '/', '~', '0', '1', '~0', '~1', ' ', '.', 'é', '\uD83D\uDE00', '\uD800', '\uDC00', '__proto__', 'constructor') },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }) },
);
const name = fc.string({ unit, maxLength: 4 });

/** JSON.stringify turns -0 into 0; generate what a JSON round trip can preserve. */
function noNegZero(v: unknown): unknown {
  if (Object.is(v, -0)) return 0;
  if (Array.isArray(v)) return v.map(noNegZero);
  if (typeof v === 'object' && v !== null) {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, noNegZero(x)]));
  }
  return v;
}

const jsonValue = fc.jsonValue({ maxDepth: 3, stringUnit: unit }).map(noNegZero);
const { tree } = fc.letrec((tie) => ({
  tree: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    jsonValue,
    fc.dictionary(name, tie('tree'), { maxKeys: 5 }),
  ),
}));
const doc = fc
  .dictionary(name.filter(isEncodableSegment), tree, { maxKeys: 6 })
  .map((d) => noNegZero(d) as Record<string, unknown>);

describe('properties', () => {
  test('round trip: kvsToDocument(documentToKvs(doc)) deep-equals doc, nothing skipped', () => {
    fc.assert(
      fc.property(doc, fc.constantFrom('/qconf/app', '/qconf/app/', '', '/x~y'), (d, prefix) => {
        const kvs = documentToKvs(prefix, d);
        const back = kvsToDocument(prefix, [...kvs].map(([key, value]) => ({ key, value })));
        expect(back.skipped).toEqual([]);
        expect(back.doc).toEqual(d);
        expect(JSON.stringify(back.doc)).toBe(JSON.stringify(canonicalize(d)));
        // Every written value is compact JSON text and every key is under the prefix.
        for (const [key, value] of kvs) {
          expect(pathForKey(prefix, key)).not.toBeNull();
          expect(JSON.stringify(JSON.parse(value))).toBe(value);
        }
      }),
      { numRuns: 500 },
    );
  });

  test('escaping round-trips for any string', () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.oneof(unit, fc.string({ unit: 'binary', minLength: 1, maxLength: 1 })) }), (s) => {
        expect(unescapeSegment(escapeSegment(s))).toBe(s);
        expect(escapeSegment(s)).not.toContain('/');
      }),
      { numRuns: 500 },
    );
  });

  // Small alphabets so that conflicts, duplicates and bad keys are frequent.
  const rawSeg = fc.constantFrom('a', 'b', 'c', '~0', '~1', '~', '', 'a~1b', '__proto__');
  const key = fc.oneof(
    { weight: 9, arbitrary: fc.array(rawSeg, { minLength: 1, maxLength: 4 }).map((segs) => `${P}/${segs.join('/')}`) },
    { weight: 1, arbitrary: fc.constantFrom('/qconf/app', '/qconf/app/', '/qconf/apple/x', '/z') },
  );
  const value = fc.oneof(
    fc.constantFrom('1', '"s"', '{}', '{"x":1}', '{"b":2,"a":1}', '[1,2]', 'null', 'true', 'oops', '', '{"__proto__":1}'),
    jsonValue.map((v) => JSON.stringify(v)),
  );
  const kvList = fc.array(fc.record({ key, value }), { maxLength: 25 });

  test('order independence: any permutation gives the same doc and skipped, byte for byte', () => {
    fc.assert(
      fc.property(
        kvList.chain((kvs) => fc.tuple(fc.constant(kvs), fc.shuffledSubarray(kvs, { minLength: kvs.length, maxLength: kvs.length }))),
        ([kvs, shuffled]) => {
          const a = kvsToDocument(P, kvs);
          const b = kvsToDocument(P, shuffled);
          expect(JSON.stringify(b.doc)).toBe(JSON.stringify(a.doc));
          expect(b.skipped).toEqual(a.skipped);
        },
      ),
      { numRuns: 1000 },
    );
  });

  test('matches a naive reference model of the skip rule ("the subtree wins")', () => {
    fc.assert(
      fc.property(kvList, (kvs) => {
        const r = kvsToDocument(P, kvs);

        // Reference: unique keys; conflicting duplicates are bad keys.
        const values = new Map<string, Set<string>>();
        for (const { key: k, value: v } of kvs) values.set(k, (values.get(k) ?? new Set()).add(v));
        const expectedSkipped: SkippedKey[] = [];
        const valid: Array<{ key: string; path: string[]; value: unknown }> = [];
        for (const [k, vs] of values) {
          const path = pathForKey(P, k);
          if (vs.size > 1 || path === null) {
            expectedSkipped.push({ key: k, reason: 'bad_key' });
            continue;
          }
          try {
            valid.push({ key: k, path, value: JSON.parse([...vs][0]) });
          } catch {
            expectedSkipped.push({ key: k, reason: 'not_json' });
          }
        }
        const isProperPrefix = (a: string[], b: string[]): boolean => a.length < b.length && a.every((s, i) => s === b[i]);
        const kept = valid.filter((x) => {
          const conflict = valid.some((y) => isProperPrefix(x.path, y.path));
          if (conflict) expectedSkipped.push({ key: x.key, reason: 'leaf_parent_conflict' });
          return !conflict;
        });
        expect(new Set(r.skipped.map((s) => `${s.reason} ${s.key}`))).toEqual(new Set(expectedSkipped.map((s) => `${s.reason} ${s.key}`)));
        expect(r.skipped).toHaveLength(expectedSkipped.length);

        // Every kept key's value is found at its pointer; nothing else is in the doc.
        let leaves = 0;
        const countLeaves = (v: unknown, depth: number): void => {
          if (depth > 0 && (typeof v !== 'object' || v === null || Array.isArray(v))) leaves++;
          else if (typeof v === 'object' && v !== null && !Array.isArray(v)) {
            for (const x of Object.values(v)) countLeaves(x, depth + 1);
          }
        };
        for (const k of kept) {
          let cur: unknown = r.doc;
          for (const s of k.path) {
            expect(Object.prototype.hasOwnProperty.call(cur, s)).toBe(true);
            cur = (cur as Record<string, unknown>)[s];
          }
          expect(cur).toEqual(canonicalize(k.value));
        }
        // Object-valued leaves make a leaf count ambiguous; compare only when all leaves are scalars/arrays.
        if (kept.every((k) => typeof k.value !== 'object' || k.value === null || Array.isArray(k.value))) {
          countLeaves(r.doc, 0);
          expect(leaves).toBe(kept.length);
        }
      }),
      { numRuns: 1000 },
    );
  });
});
