// The incremental etcd document equals kvsToDocument over the same keys, after any sequence of
// puts, deletes and re-reads; and it reuses the subtrees a change did not touch.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EtcdTree } from '../../daemon/etcd-tree.js';
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
          const want = kvsToDocument(P, [...model].map(([key, value]) => ({ key, value })));
          expect(JSON.stringify(tree.document())).toBe(JSON.stringify(want.doc));
          expect(tree.document()).toEqual(want.doc);
          expect(tree.skipped()).toEqual(want.skipped);
        }
      }),
      { numRuns: 300 },
    );
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
