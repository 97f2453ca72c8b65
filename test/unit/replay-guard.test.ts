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
});
