// The incremental etcd document equals kvsToDocument over the same keys, after any sequence of
// puts, deletes and re-reads; and it reuses the subtrees a change did not touch.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MAX_DOCUMENT_DEPTH } from '../../daemon/source/document-limits.js';
import { EtcdTree } from '../../daemon/source/etcd-tree.js';
import { kvsToDocument } from '../../shared/etcd-mapping.js';

const P = '/p';
const keyArb = fc.constantFrom('/p/a', '/p/a/b', '/p/a/b/c', '/p/a/d', '/p/x', '/p/x~1y', '/p/x/y', '/p//bad', '/p/~2', '/q/out', '/p/__proto__', '/p/n/0');
const valueArb = fc.oneof(fc.constantFrom('1', '"s"', 'null', '[1,{"b":2,"a":1}]', '{"z":1,"y":{"b":1,"a":2}}', '{}', 'not json', '{"__proto__":1}'), fc.json());
type Op = { kind: 'put'; key: string; value: string } | { kind: 'del'; key: string } | { kind: 'reread'; kvs: Array<[string, string]> };
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('put' as const), key: keyArb, value: valueArb }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('del' as const), key: keyArb }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('reread' as const), kvs: fc.uniqueArray(fc.tuple(keyArb, valueArb), { selector: (t) => t[0] }) }) },
);

describe('EtcdTree', () => {
  it('always equals kvsToDocument of its keys', () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 40 }), (ops) => {
        const tree = new EtcdTree(P);
        const model = new Map<string, string>();
        for (const op of ops) {
          if (op.kind === 'put') {
            tree.put(op.key, op.value);
            model.set(op.key, op.value);
          } else if (op.kind === 'del') {
            tree.delete(op.key);
            model.delete(op.key);
          } else {
            tree.replaceAll(op.kvs);
            model.clear();
            for (const [k, v] of op.kvs) model.set(k, v);
          }
          const want = kvsToDocument(P, [...model].map(([key, value]) => ({ key, value })), MAX_DOCUMENT_DEPTH);
          expect(JSON.stringify(tree.document())).toBe(JSON.stringify(want.doc));
          expect(tree.document()).toEqual(want.doc);
          expect(tree.skipped()).toEqual(want.skipped);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('always equals kvsToDocument of its keys under a small depth limit', () => {
    const deepKeys = fc.constantFrom('/p/a', '/p/a/b', '/p/a/b/c', '/p/a/b/c/d', '/p/a/b/c/d/e', '/p/x/y/z/w', '/p/x', '/p/x/y');
    const deepValues = fc.oneof(fc.constantFrom('1', '[]', '[[1]]', '{"a":{"b":[1]}}', '[[[[[]]]]]', '"[[[["', '[[[', 'not json'), fc.json());
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.boolean(), deepKeys, deepValues), { maxLength: 30 }), (ops) => {
        const tree = new EtcdTree(P, 4);
        const model = new Map<string, string>();
        for (const [del, key, value] of ops) {
          if (del) {
            tree.delete(key);
            model.delete(key);
          } else {
            tree.put(key, value);
            model.set(key, value);
          }
          const want = kvsToDocument(P, [...model].map(([k, v]) => ({ key: k, value: v })), 4);
          expect(JSON.stringify(tree.document())).toBe(JSON.stringify(want.doc));
          expect(tree.skipped()).toEqual(want.skipped);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('skips a key of 10,000 segments (too_deep) and keeps building the others', () => {
    const t = new EtcdTree(P);
    const deep = '/p/' + Array.from({ length: 10_000 }, () => 'd').join('/');
    t.put('/p/good/a', '1');
    t.put(deep, '1');
    t.put('/p/good/b', '[[[]]]');
    // At the limit: 511 segments and a scalar, 510 and one array; past it: one more.
    const at = (n: number) => '/p/' + Array.from({ length: n }, () => 'e').join('/');
    t.put(at(511) + '/s', '"ok"');
    t.put(at(510) + '/t', '[]');
    t.put(at(511) + '/u', '[]');
    t.put(at(512) + '/v', '0');
    const doc = t.document();
    expect(doc.good).toEqual({ a: 1, b: [[[]]] });
    expect(t.skipped()).toEqual([
      { key: deep, reason: 'too_deep' },
      { key: at(511) + '/u', reason: 'too_deep' },
      { key: at(512) + '/v', reason: 'too_deep' },
    ].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)));
    let v: unknown = doc;
    for (let i = 0; i < 510; i++) v = (v as Record<string, unknown>).e;
    expect(v).toEqual({ e: { s: 'ok' }, t: [] });
    expect(t.delete(deep)).toBe(true);
    expect(t.skipped()).toHaveLength(2);
  });

  it('counts the bytes of the keys and values it holds', () => {
    const t = new EtcdTree(P);
    t.put('/p/a', '"é"');
    t.put('/p/b', 'not json');
    expect(t.sizeBytes).toBe(4 + 4 + 4 + 8);
    t.put('/p/a', '1');
    expect(t.sizeBytes).toBe(4 + 1 + 4 + 8);
    t.delete('/p/b');
    t.replaceAll([['/p/c', '22']]);
    expect(t.sizeBytes).toBe(4 + 2);
  });

  it('reports whether a change changed anything', () => {
    const t = new EtcdTree(P);
    expect(t.put('/p/a', '1')).toBe(true);
    expect(t.put('/p/a', '1')).toBe(false);
    expect(t.delete('/p/b')).toBe(false);
    expect(t.replaceAll([['/p/a', '1']])).toBe(false);
    expect(t.replaceAll([['/p/b', '1']])).toBe(true);
    expect(t.document()).toEqual({ b: 1 });
  });

  it('shares untouched subtrees between builds', () => {
    const t = new EtcdTree(P);
    for (let i = 0; i < 100; i++) t.put(`/p/nodes/n${i}/ip`, `"10.0.0.${i}"`);
    t.put('/p/cluster/master', '"n1"');
    const before = t.document();
    t.put('/p/cluster/master', '"n2"');
    const after = t.document();
    expect(after).not.toBe(before);
    expect(after.nodes).toBe(before.nodes);
    expect((after.cluster as { master: string }).master).toBe('n2');
    expect((before.cluster as { master: string }).master).toBe('n1');
  });
});
