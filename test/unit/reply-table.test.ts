// The QCF1 reply table (daemon/qcf1/reply-table.ts) against a plain Map: a hit is always the value
// kept for exactly those bytes, the newest entries are kept, the bounds hold, and the index stays
// consistent through evictions, collisions and growth.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ReplyTable, hashBytes } from '../../daemon/qcf1/reply-table.js';

const bytes = (s: string) => Buffer.from(s, 'latin1');

/** Every key the model holds: a miss or exactly its value; returns the hits. */
function check(t: ReplyTable, model: Map<string, { value: Buffer; m0: number; m1: number }>): number {
  let hits = 0;
  for (const [k, want] of model) {
    const kb = bytes(k);
    if (!t.get(kb, 0, kb.length)) continue;
    hits++;
    expect(t.valueBuf.subarray(t.valueStart, t.valueEnd)).toEqual(want.value);
    expect([t.meta0, t.meta1]).toEqual([want.m0, want.m1]);
  }
  return hits;
}

describe('ReplyTable', () => {
  it('finds what it keeps, by exact bytes, inside a larger buffer too', () => {
    const t = new ReplyTable({ maxBytes: 1 << 20, maxEntries: 1000, chunkBytes: 1 << 16 });
    const frame = Buffer.concat([Buffer.from('HEADER--'), bytes('/nodes/a'), Buffer.from('tail')]);
    expect(t.get(frame, 8, 16)).toBe(false);
    expect(t.set(frame, 8, 16, Buffer.from('reply-a'), 1, 6)).toBe(true);
    expect(t.set(frame, 8, 16, Buffer.from('other'), 1, 6)).toBe(false); // kept once
    expect(t.get(bytes('/nodes/a'), 0, 8)).toBe(true);
    expect(t.valueBuf.toString('latin1', t.valueStart, t.valueEnd)).toBe('reply-a');
    expect([t.meta0, t.meta1]).toEqual([1, 6]);
    expect(t.get(bytes('/nodes/b'), 0, 8)).toBe(false);
    expect(t.get(bytes('/nodes/'), 0, 7)).toBe(false);
    expect(t.get(bytes('/nodes/aa'), 0, 9)).toBe(false);
    expect(t.set(Buffer.alloc(0), 0, 0, Buffer.alloc(0), 0, 0)).toBe(true); // the empty key and value
    expect(t.get(Buffer.alloc(0), 0, 0)).toBe(true);
    expect(t.valueEnd - t.valueStart).toBe(0);
    expect(t.size).toBe(2);
  });

  it('refuses what cannot fit a chunk, and bad sizes', () => {
    const t = new ReplyTable({ maxBytes: 1 << 16, maxEntries: 10, chunkBytes: 1 << 12 });
    expect(t.set(bytes('k'), 0, 1, Buffer.alloc(5000), 0, 0)).toBe(false);
    expect(t.size).toBe(0);
    expect(() => new ReplyTable({ maxBytes: 1 << 20, maxEntries: 10, chunkBytes: 1000 })).toThrow(RangeError);
  });

  it('matches a Map model through evictions: hits are exact, the newest are kept, bounds hold', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.string({ maxLength: 40 }), fc.nat(300), fc.nat(255), fc.nat(255)), { minLength: 1, maxLength: 1500 }),
        fc.constantFrom(1 << 10, 1 << 12, 1 << 14),
        fc.integer({ min: 1, max: 8 }),
        fc.integer({ min: 1, max: 400 }),
        (ops, chunkBytes, chunks, maxEntries) => {
          const t = new ReplyTable({ maxBytes: chunks * chunkBytes, maxEntries, chunkBytes });
          const model = new Map<string, { value: Buffer; m0: number; m1: number }>();
          const order: string[] = [];
          for (const [k, n, m0, m1] of ops) {
            const kb = bytes(k);
            const value = Buffer.alloc(n, k.length + n);
            const fits = 12 + kb.length + n <= chunkBytes;
            const had = t.get(kb, 0, kb.length);
            const kept = t.set(kb, 0, kb.length, value, m0, m1);
            expect(kept).toBe(fits && !had);
            if (kept) {
              model.set(k, { value, m0, m1 });
              order.push(k);
              // What was just kept is found.
              expect(t.get(kb, 0, kb.length)).toBe(true);
            }
            expect(t.size).toBeLessThanOrEqual(maxEntries);
            expect(t.bytes).toBeLessThanOrEqual(chunks * chunkBytes);
          }
          const hits = check(t, model);
          expect(hits).toBe(t.size);
          // First in, first out: the last key kept is still there.
          if (order.length > 0) {
            const last = bytes(order[order.length - 1]);
            expect(t.get(last, 0, last.length)).toBe(true);
          }
        },
      ),
      { numRuns: 150 },
    );
  });

  it('keeps everything while it fits, through index growth and hash collisions', () => {
    const t = new ReplyTable({ maxBytes: 1 << 24, maxEntries: 100_000, chunkBytes: 1 << 20 });
    const model = new Map<string, { value: Buffer; m0: number; m1: number }>();
    for (let i = 0; i < 50_000; i++) {
      const k = `/nodes/node${i}.example.com/primary_ip`;
      const value = Buffer.from(`10.0.${i >> 8}.${i & 255}`);
      expect(t.set(bytes(k), 0, k.length, value, i & 7, i & 255)).toBe(true);
      model.set(k, { value, m0: i & 7, m1: i & 255 });
    }
    expect(check(t, model)).toBe(50_000);
    expect(t.size).toBe(50_000);
    // Within one 32-bit hash, some keys collide in the low bits: all still found (above), and
    // a key never kept is a miss even when its slot is taken.
    const seen = new Set<number>();
    let collisions = 0;
    for (const k of model.keys()) {
      const h = hashBytes(bytes(k), 0, k.length) & 0xffff;
      if (seen.has(h)) collisions++;
      seen.add(h);
    }
    expect(collisions).toBeGreaterThan(0);
    expect(t.get(bytes('/nodes/absent'), 0, 13)).toBe(false);
  });

  it('evicts whole oldest chunks first, and reuses them', () => {
    const t = new ReplyTable({ maxBytes: 4 << 10, maxEntries: 10_000, chunkBytes: 1 << 10 });
    const key = (i: number) => bytes(`k${String(i).padStart(5, '0')}`);
    // Records of 12 + 6 + 82 = 100 bytes: 10 a chunk, 40 in the table.
    for (let i = 0; i < 200; i++) expect(t.set(key(i), 0, 6, Buffer.alloc(82, i), 0, 0)).toBe(true);
    const present = Array.from({ length: 200 }, (_, i) => t.get(key(i), 0, 6));
    const first = present.indexOf(true);
    // A contiguous run of the newest keys, at most 40 and more than the last three chunks.
    expect(present.slice(first).every(Boolean)).toBe(true);
    expect(200 - first).toBeGreaterThan(30);
    expect(200 - first).toBeLessThanOrEqual(40);
    expect(t.size).toBe(200 - first);
    expect(t.bytes).toBe(4 << 10);
  });

  it('keeps a cluster that wraps around the end of the index findable when its first member goes', () => {
    // One record a chunk, so chunks go in insertion order; the index has 1024 slots.
    const t = new ReplyTable({ maxBytes: 4 * 64, maxEntries: 100, chunkBytes: 64 });
    const withHome = (home: number, not: string[] = []): Buffer => {
      for (let i = 0; ; i++) {
        const k = bytes(`key${String(i).padStart(5, '0')}`);
        if ((hashBytes(k, 0, k.length) & 1023) === home && !not.includes(k.toString('latin1'))) return k;
      }
    };
    const b = withHome(1023);
    const c = withHome(0);
    const d = withHome(0, [c.toString('latin1')]);
    const e = withHome(5);
    for (const k of [b, c, d, e]) expect(t.set(k, 0, k.length, Buffer.alloc(40, k[7]), 0, 0)).toBe(true);
    // b at 1023, c wrapped to 0 (its home), d at 1; a fifth record evicts b's chunk.
    const f = withHome(9);
    expect(t.set(f, 0, f.length, Buffer.alloc(40, 1), 0, 0)).toBe(true);
    expect(t.get(b, 0, b.length)).toBe(false);
    for (const k of [c, d, e, f]) expect(t.get(k, 0, k.length), k.toString('latin1')).toBe(true);
    expect(t.size).toBe(4);
  });
});
