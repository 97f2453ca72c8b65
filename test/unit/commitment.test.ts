// The document commitment and its proofs: the daemon's tree gives the root the client computes
// from the value alone; every value, every absence and every listing of random documents is
// proven, and nothing else is (a changed value, a changed proof byte, a claim of absence for a
// value that is there).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CommitmentTree } from '../../daemon/commitment-tree.js';
import { listedHash, listProofFromWire, listProofToWire, pathProofFromWire, pathProofToWire, verifyPath, type PathProof } from '../../shared/commitment-proof.js';
import { leafHash, nodeHash, rootFromPath, sha256, treeRoot, valueHash } from '../../shared/commitment.js';
import { escapeSegment } from '../../shared/json-pointer.js';
import { packBody } from '../../shared/msgpack-encode.js';
import { unpackBody } from '../../shared/msgpack-decode.js';

/** Through the wire and back, as a reply carries it. */
function wire(p: PathProof): PathProof {
  return pathProofFromWire(unpackBody(packBody({ p: pathProofToWire(p) }))?.p) as PathProof;
}

/** Every path in a value, with its value. */
function paths(v: unknown, at: string[] = [], out: Array<[string[], unknown]> = []): Array<[string[], unknown]> {
  out.push([at, v]);
  if (v !== null && typeof v === 'object') {
    for (const [k, c] of Object.entries(v)) paths(c, [...at, k], out);
  }
  return out;
}

/** Documents with large containers (many keys, long arrays) next to small ones. */
const doc = fc.oneof(
  fc.jsonValue({ maxDepth: 4 }),
  fc.record({
    big: fc.dictionary(fc.string({ maxLength: 6 }), fc.jsonValue({ maxDepth: 2 }), { minKeys: 100, maxKeys: 400 }),
    list: fc.array(fc.oneof(fc.integer(), fc.string(), fc.dictionary(fc.string({ maxLength: 3 }), fc.integer(), { maxKeys: 3 })), { minLength: 130, maxLength: 300 }),
    small: fc.jsonValue({ maxDepth: 2 }),
  }),
);

describe('the tree hash', () => {
  it('kept level by level is RFC 9162’s, and every audit path leads to its root', () => {
    for (let n = 0; n <= 70; n++) {
      const leaves = Array.from({ length: n }, (_, i) => leafHash(Buffer.from([i])));
      const tree = CommitmentTree.of(Array.from({ length: n }, (_, i) => i));
      expect(tree.root.length).toBe(32);
      const root = treeRoot(leaves);
      // The level construction: pair, carry an odd last one up.
      let level = leaves;
      while (level.length > 1) {
        const next = [];
        for (let i = 0; i + 1 < level.length; i += 2) next.push(nodeHash(level[i], level[i + 1]));
        if (level.length % 2) next.push(level[level.length - 1]);
        level = next;
      }
      expect(Buffer.compare(level[0] ?? sha256(new Uint8Array(0)), root)).toBe(0);
    }
  });

  it('rejects an audit path for the wrong index, size or leaf', () => {
    const leaves = Array.from({ length: 13 }, (_, i) => leafHash(Buffer.from([i])));
    const root = treeRoot(leaves);
    const arr = Array.from({ length: 200 }, (_, i) => ({ i, pad: 'x'.repeat(30) }));
    const t = CommitmentTree.of(arr);
    const p = t.provePath(arr, ['57']);
    expect(verifyPath(t.root, ['57'], p, { found: true, value: arr[57] })).toBe(true);
    expect(verifyPath(t.root, ['57'], p, { found: true, value: arr[58] })).toBe(false);
    expect(verifyPath(t.root, ['58'], p, { found: true, value: arr[57] })).toBe(false);
    expect(rootFromPath(leaves[3], 3, 13, [])).not.toEqual(root);
  });
});

describe('proofs', () => {
  it('the daemon’s root is the one the client computes from the value', () => {
    fc.assert(
      fc.property(doc, (d) => {
        expect(Buffer.compare(CommitmentTree.of(d).root, valueHash(d).hash)).toBe(0);
      }),
      { numRuns: 60 },
    );
  });

  it('the daemon and the client split whole from tree at the same counts (128 values, 4,096 code units)', () => {
    // Containers just under, at and just over each limit, nested one level down too.
    const byValues = (n: number) => Array.from({ length: n - 1 }, (_, i) => i);
    const byUnits = (u: number) => ({ [`k`]: 'x'.repeat(u - 1) });
    const cases: unknown[] = [];
    for (const n of [127, 128, 129, 130]) cases.push(byValues(n), { inner: byValues(n - 1) }, [byValues(n - 1)]);
    for (const u of [4095, 4096, 4097]) cases.push(byUnits(u), { a: byUnits(u - 1) }, ['y'.repeat(u)]);
    for (const d of cases) expect(Buffer.compare(CommitmentTree.of(d).root, valueHash(d).hash), JSON.stringify(d).slice(0, 60)).toBe(0);
  });

  it('prove every value at every path, and nothing else', () => {
    fc.assert(
      fc.property(doc, fc.jsonValue({ maxDepth: 1 }), (d, other) => {
        const t = CommitmentTree.of(d);
        for (const [segs, v] of paths(d).slice(0, 60)) {
          const p = wire(t.provePath(d, segs));
          expect(verifyPath(t.root, segs, p, { found: true, value: v }), segs.join('/')).toBe(true);
          expect(verifyPath(t.root, segs, p, { found: false })).toBe(false);
          if (JSON.stringify(other) !== JSON.stringify(v)) expect(verifyPath(t.root, segs, p, { found: true, value: other })).toBe(false);
        }
      }),
      { numRuns: 40 },
    );
  });

  it('prove the absence of absent keys and indices, and not of present ones', () => {
    fc.assert(
      fc.property(doc, fc.string({ maxLength: 6 }), (d, k) => {
        const t = CommitmentTree.of(d);
        for (const [segs, v] of paths(d).slice(0, 40)) {
          if (v === null || typeof v !== 'object') continue;
          for (const seg of [k, '9999', '-', '']) {
            const present = Object.prototype.hasOwnProperty.call(v, seg) && !(Array.isArray(v) && !/^(0|[1-9][0-9]*)$/.test(seg));
            const at = [...segs, seg];
            const p = wire(t.provePath(d, at));
            const claim = present ? { found: true as const, value: (v as Record<string, unknown>)[seg] } : { found: false as const };
            expect(verifyPath(t.root, at, p, claim), at.join('/')).toBe(true);
            if (!present) expect(verifyPath(t.root, at, p, { found: true, value: 1 })).toBe(false);
          }
        }
      }),
      { numRuns: 40 },
    );
  });

  it('a proof with any byte changed proves nothing', () => {
    const d = { big: Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`k${i}`, { v: i, s: 'y'.repeat(20) }])) };
    const t = CommitmentTree.of(d);
    const segs = ['big', 'k123', 'v'];
    const bytes = packBody(pathProofToWire(t.provePath(d, segs)));
    for (let i = 0; i < bytes.length; i++) {
      const bad = Buffer.from(bytes);
      bad[i] ^= 1;
      const p = pathProofFromWire(unpackBody(bad));
      if (p === undefined) continue;
      expect(verifyPath(t.root, segs, p, { found: true, value: 123 }), `byte ${i}`).toBe(false);
    }
  });

  it('a listing proves a container’s names exactly, at any depth', () => {
    fc.assert(
      fc.property(doc, fc.integer({ min: 1, max: 3 }), (d, depth) => {
        const t = CommitmentTree.of(d);
        for (const [segs, v] of paths(d).slice(0, 30)) {
          if (v === null || typeof v !== 'object') continue;
          const names = listing(v, depth);
          const lp = listProofFromWire(unpackBody(packBody({ l: listProofToWire(t.proveList(v, depth)) }))?.l);
          expect(lp).toBeDefined();
          const h = listedHash(Array.isArray(v), names, lp as NonNullable<typeof lp>, depth);
          expect(h && Buffer.compare(h, t.hashFor(v)), segs.join('/')).toBe(0);
          expect(verifyPath(t.root, segs, wire(t.provePath(d, segs)), { found: true, hash: h as Uint8Array })).toBe(true);
          if (names.length > 0) expect(listedHash(Array.isArray(v), names.slice(1), lp as NonNullable<typeof lp>, depth)).toBeUndefined();
        }
      }),
      { numRuns: 40 },
    );
  });

  it('a point lookup in a 100,000-entry document takes under 2 KB of proof', () => {
    const nodes: Record<string, unknown> = {};
    for (let i = 0; i < 100_000; i++) nodes[`node${i}.example.com`] = { ip: `10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`, drained: false, tags: ['a'], n: i };
    const d = { serial_no: 1, nodes };
    const t = CommitmentTree.of(d);
    for (const segs of [['nodes', 'node77777.example.com', 'ip'], ['nodes', 'node5.example.com'], ['nodes', 'absent.example.com']]) {
      const p = t.provePath(d, segs);
      const size = packBody(pathProofToWire(p)).length;
      expect(size, segs.join('/')).toBeLessThan(2048);
    }
  });
});

/** The daemon's listing of `v` (daemon/qcf1/ops.ts): names, or sorted relative pointers. */
function listing(v: unknown, depth: number): string[] {
  const out: string[] = [];
  const walk = (x: unknown, d: number, prefix: string | undefined) => {
    if (x === null || typeof x !== 'object') return;
    const keys = Array.isArray(x) ? x.map((_, i) => String(i)) : Object.keys(x).sort();
    for (const k of keys) {
      const rel = prefix === undefined ? escapeSegment(k) : `${prefix}/${escapeSegment(k)}`;
      out.push(rel);
      if (d > 1) walk((x as Record<string, unknown>)[k], d - 1, rel);
    }
  };
  walk(v, depth, undefined);
  if (depth > 1) out.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return out;
}
