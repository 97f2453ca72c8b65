import { describe, expect, it } from 'vitest';
import { ReplayGuard } from '../../daemon/replay-guard.js';

describe('ReplayGuard', () => {
  it('admits a salt once within the window', () => {
    const g = new ReplayGuard({ windowMs: 60_000, capacity: 1000 });
    expect(g.admit('a', 1_000_000, 1_000_000)).toBe('fresh');
    expect(g.admit('a', 1_000_000, 1_000_500)).toBe('replay');
    expect(g.admit('b', 1_000_000, 1_000_500)).toBe('fresh');
  });
  it('forgets salts once their time has left the window (the skew check covers them then)', () => {
    const g = new ReplayGuard({ windowMs: 1000, capacity: 1000 });
    g.admit('a', 10_000, 10_000);
    expect(g.entries).toBe(1);
    g.admit('b', 20_000, 20_000);
    expect(g.entries).toBe(1);
  });
  it('stays within its capacity and refuses what it can no longer prove fresh', () => {
    const g = new ReplayGuard({ windowMs: 60_000, capacity: 100, bucketMs: 1000 });
    const now = 1_000_000;
    for (let i = 0; i < 1000; i++) expect(g.admit('s' + i, now - 50_000 + i * 50, now)).not.toBe('replay');
    expect(g.entries).toBeLessThanOrEqual(100);
    expect(g.evicted).toBeGreaterThan(0);
    // The earliest salts were forgotten; their replays must not pass as fresh.
    expect(g.admit('s0', now - 50_000, now)).toBe('overflow');
    expect(g.admit('s999', now - 50_000 + 999 * 50, now)).toBe('replay');
  });

  it('one bucket growing through many sizes: every replay is caught, before, during and after its salts move', () => {
    // Pre-signed load stamps every request alike: one bucket takes them all and grows, its
    // salts moving to each larger table a few per insert. Checked against a Set, with salts
    // both random and structured (a counter in one word: long probe chains in linear probing).
    const g = new ReplayGuard({ windowMs: 60_000, capacity: 1_000_000 });
    const now = 5_000_000;
    const seen: Array<[number, number, number, number]> = [];
    let x = 0x2545f491;
    const rand = () => {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      return x | 0;
    };
    const n = 60_000;
    for (let i = 0; i < n; i++) {
      const salt: [number, number, number, number] = i % 3 === 0 ? [i, 7, 7, 7] : [rand(), rand(), rand(), rand()];
      expect(g.admitWords(...salt, now, now)).toBe('fresh');
      seen.push(salt);
      // Replays of every salt so far, at many stages of the moves (counted, not expect()ed one
      // by one: that is too slow for millions of checks).
      if (i % 1500 === 0) {
        let missed = 0;
        for (const s of seen) if (g.admitWords(...s, now, now) !== 'replay') missed++;
        expect(missed, `after ${i + 1} salts`).toBe(0);
      }
    }
    expect(g.entries).toBe(n);
    for (const s of seen) expect(g.admitWords(...s, now, now)).toBe('replay');
    expect(g.admitWords(-1, -2, -3, -4, now, now)).toBe('fresh');
  });
});
