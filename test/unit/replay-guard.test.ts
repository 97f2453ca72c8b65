import fc from 'fast-check';
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
    // Wall and monotonic time move together (a wall clock moving alone is a step).
    let mono = 0;
    const g = new ReplayGuard({ windowMs: 1000, capacity: 1000, monotonic: () => mono });
    g.admit('a', 10_000, 10_000);
    expect(g.entries).toBe(1);
    mono += 10_000;
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

/** A wall clock and a monotonic clock that tests move: advance() moves both, step() the wall only. */
class Clock {
  wall = 1_700_000_000_000;
  mono = 10_000;
  advance(ms: number): void {
    this.wall += ms;
    this.mono += ms;
  }
  step(ms: number): void {
    this.wall += ms;
  }
}

/** A guard on `clock`, and admit() as the daemon calls it: the skew check first (undefined: dropped). */
function guarded(clock: Clock, opts: { windowMs: number; capacity: number; bucketMs?: number; nearMs?: number }) {
  const steps: number[] = [];
  const g = new ReplayGuard({ ...opts, monotonic: () => clock.mono, onClockStep: (s) => steps.push(s) });
  const admit = (salt: number, t: number) => (Math.abs(t - clock.wall) > opts.windowMs ? undefined : g.admitWords(salt, salt ^ 0x5bd1e995, ~salt, 7, t, clock.wall));
  return { g, admit, steps };
}

describe('ReplayGuard under pressure: far-stamped floods never lock out current clients', () => {
  it('1,100 salts stamped now + 59 s in a memory of 1,024: current requests stay fresh, before and after the flood comes due', () => {
    const clock = new Clock();
    const { g, admit } = guarded(clock, { windowMs: 60_000, capacity: 1024 });
    let salt = 1;
    const t = clock.wall + 59_000;
    const verdicts = new Map<string, number>();
    for (let i = 0; i < 1100; i++) {
      const v = admit(salt++, t) ?? 'skew';
      verdicts.set(v, (verdicts.get(v) ?? 0) + 1);
    }
    // Far-ahead salts may take half the memory; the rest of the flood is refused.
    expect(verdicts.get('fresh')).toBe(512);
    expect(verdicts.get('overflow')).toBe(588);
    // Current clients, 10 a second for three minutes: the flood comes due and leaves the window.
    for (let ms = 0; ms < 180_000; ms += 100) {
      clock.advance(100);
      expect(admit(salt++, clock.wall), `at +${ms} ms`).toBe('fresh');
      // ... while the flood goes on.
      if (ms % 1000 === 0) for (let k = 0; k < 50; k++) admit(salt++, clock.wall + 59_000);
      expect(g.entries).toBeLessThanOrEqual(1024);
    }
  });

  it('the whole memory filled in one far-past bucket: current requests push it out, and its replays are refused', () => {
    const clock = new Clock();
    const { g, admit } = guarded(clock, { windowMs: 60_000, capacity: 1000 });
    const t = clock.wall - 30_000;
    for (let s = 0; s < 1200; s++) admit(s, t);
    expect(g.entries).toBe(1000);
    expect(admit(5000, clock.wall)).toBe('fresh');
    // The past bucket was forgotten to make room: its range is refused from now on.
    for (let s = 0; s < 1200; s++) expect(admit(s, t)).toBe('overflow');
  });

  it('a memory full of near-now salts refuses more, then makes room the moment the oldest fall behind the near zone', () => {
    const clock = new Clock();
    // Half a bucket into a bucket, so that the guard's ticks (a bucket width apart) fall in between.
    clock.advance(500);
    const { g, admit } = guarded(clock, { windowMs: 60_000, capacity: 100, bucketMs: 1000, nearMs: 5000 });
    // Near-now traffic beyond the capacity: the memory may not forget any of it.
    const first = clock.wall;
    for (let s = 0; s < 100; s++) expect(admit(s, first)).toBe('fresh');
    let s = 100;
    let servedAt: number | undefined;
    while (servedAt === undefined && clock.wall < first + 10_000) {
      clock.advance(50);
      if (admit(s++, clock.wall) === 'fresh') servedAt = clock.wall;
    }
    // The first bucket ends at first + 500 and is behind the near zone 5 s later: from that
    // moment current requests are served again (its salts forgotten, their range refused).
    expect(servedAt).toBe(first + 500 + 5000);
    expect(g.evicted).toBe(100);
    for (let k = 0; k < 100; k++) expect(admit(k, first)).toBe('overflow');
  });

  it('arbitrary floods stamped away from now, past and future, never refuse near-now requests (property)', () => {
    const W = 60_000;
    const NEAR = 5_000;
    const CAP = 400;
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            advanceMs: fc.integer({ min: 0, max: 4000 }),
            // Where the flood's batch is stamped: anywhere in the window but near now.
            offsetMs: fc.oneof(fc.integer({ min: -W, max: -NEAR - 1001 }), fc.integer({ min: NEAR + 1, max: W })),
            count: fc.oneof(fc.integer({ min: 0, max: 20 }), fc.integer({ min: 100, max: 2 * CAP })),
            // A batch at one instant (one bucket) or spread over many.
            spreadMs: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 2000 })),
            nearOffsetMs: fc.integer({ min: -NEAR, max: NEAR }),
          }),
          { maxLength: 120 },
        ),
        (ops) => {
          const clock = new Clock();
          const { g, admit } = guarded(clock, { windowMs: W, capacity: CAP, bucketMs: 1000, nearMs: NEAR });
          let salt = 1;
          let lastNear = -Infinity;
          for (const op of ops) {
            clock.advance(op.advanceMs);
            for (let k = 0; k < op.count; k++) {
              const off = op.offsetMs + (op.spreadMs === 0 ? 0 : Math.floor((k * op.spreadMs) / Math.max(1, op.count)) * Math.sign(op.offsetMs));
              admit(salt++, clock.wall + off);
            }
            // Near-now traffic at most 10 a second (about 120 salts near now at once: within half
            // the capacity): every one is accepted.
            if (clock.wall - lastNear >= 100) {
              lastNear = clock.wall;
              expect(admit(salt++, clock.wall + op.nearOffsetMs)).toBe('fresh');
            }
            expect(g.entries).toBeLessThanOrEqual(CAP);
          }
        },
      ),
      { numRuns: 150 },
    );
  });
});

describe('ReplayGuard and clock steps (injected wall and monotonic clocks)', () => {
  it('after a step back larger than the window, salts already forgotten are refused, for a bounded time', () => {
    const clock = new Clock();
    const W = 60_000;
    const { g, admit, steps } = guarded(clock, { windowMs: W, capacity: 10_000 });
    const t0 = clock.wall;
    for (let s = 0; s < 100; s++) expect(admit(s, t0)).toBe('fresh');
    // Two windows pass with traffic: the first salts are forgotten.
    let salt = 1000;
    for (let ms = 0; ms < 2 * W; ms += 500) {
      clock.advance(500);
      admit(salt++, clock.wall);
    }
    const entriesBefore = g.entries;
    expect(entriesBefore).toBeLessThan(salt - 1000);
    // The wall clock steps back two windows: t0 passes the skew check again.
    const D = 2 * W;
    clock.step(-D);
    const stepped = clock.wall;
    for (let s = 0; s < 100; s++) expect(admit(s, t0)).toBe('overflow');
    expect(steps).toHaveLength(1);
    expect(steps[0]).toBeCloseTo(-D, -2);
    expect(g.clockSteps).toBe(1);
    // Requests stamped with the stepped clock are refused while it re-treads time it had shown
    // (here, no memory pressure: D − W − a bucket), then served again; never beyond D + W + a bucket.
    let servedAt: number | undefined;
    for (let ms = 0; ms <= D + W + 1000; ms += 100) {
      const v = admit(salt++, clock.wall);
      if (v === 'fresh' && servedAt === undefined) servedAt = clock.wall;
      if (servedAt !== undefined) expect(v).toBe('fresh');
      // And no replay of the salts of the first timeline ever passes.
      for (let s = 0; s < 100; s += 7) expect(admit(s, t0)).not.toBe('fresh');
      clock.advance(100);
    }
    expect(servedAt).toBeDefined();
    expect((servedAt as number) - stepped).toBeLessThanOrEqual(D - W);
    expect((servedAt as number) - stepped).toBeGreaterThan(D - W - 3000);
  });

  it('a step back within the window refuses nothing current: replays are refused, remembered', () => {
    const clock = new Clock();
    const { admit } = guarded(clock, { windowMs: 60_000, capacity: 10_000 });
    const t0 = clock.wall;
    expect(admit(1, t0)).toBe('fresh');
    clock.advance(30_000);
    expect(admit(2, clock.wall)).toBe('fresh');
    clock.step(-40_000);
    expect(admit(1, t0)).toBe('replay');
    expect(admit(2, t0 + 30_000)).toBe('replay');
    for (let s = 3; s < 200; s++) {
      clock.advance(300);
      expect(admit(s, clock.wall)).toBe('fresh');
    }
  });

  it('after a step back, a memory full of salts taken under the later clock makes room for current requests', () => {
    const clock = new Clock();
    const { g, admit } = guarded(clock, { windowMs: 60_000, capacity: 1000 });
    // Near-now traffic fills the memory over 10 s.
    const first: Array<[number, number]> = [];
    for (let s = 0; s < 1000; s++) {
      if (s % 100 === 99) clock.advance(1000);
      expect(admit(s, clock.wall)).toBe('fresh');
      first.push([s, clock.wall]);
    }
    expect(g.entries).toBe(1000);
    // 30 s back: those salts now lie 20–30 s ahead of the clock. Current requests are served
    // (the salts of the later clock go, their ranges refused), and no replay passes.
    clock.step(-30_000);
    for (let s = 2000; s < 2300; s++) {
      clock.advance(20);
      expect(admit(s, clock.wall)).toBe('fresh');
    }
    expect(first.filter(([s, t]) => admit(s, t) === 'fresh')).toEqual([]);
    expect(g.entries).toBeLessThanOrEqual(1000);
  });

  it('a step forward and back (beyond the window) neither forgets salts early nor locks anyone out', () => {
    const clock = new Clock();
    const W = 60_000;
    const { g, admit } = guarded(clock, { windowMs: W, capacity: 10_000 });
    const t0 = clock.wall;
    for (let s = 0; s < 50; s++) expect(admit(s, t0)).toBe('fresh');
    clock.advance(1000);
    clock.step(3 * W);
    // Traffic at the new time: the wall clock says t0's bucket has left the window.
    for (let s = 100; s < 150; s++) {
      clock.advance(200);
      expect(admit(s, clock.wall)).toBe('fresh');
    }
    clock.step(-3 * W);
    for (let s = 0; s < 50; s++) expect(admit(s, t0)).toBe('replay');
    expect(g.entries).toBe(100);
    for (let s = 200; s < 300; s++) {
      clock.advance(100);
      expect(admit(s, clock.wall)).toBe('fresh');
    }
    expect(g.clockSteps).toBe(2);
  });

  it('never accepts a replay, under any interleaving of requests, replays, memory pressure, expiry and clock steps (property)', () => {
    const W = 10_000;
    type Op =
      | { kind: 'advance'; ms: number }
      | { kind: 'step'; ms: number }
      | { kind: 'fresh'; offsetMs: number; count: number; spreadMs: number }
      | { kind: 'replay'; pick: number };
    const op: fc.Arbitrary<Op> = fc.oneof(
      { weight: 3, arbitrary: fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 8000 }) }) },
      { weight: 2, arbitrary: fc.record({ kind: fc.constant('step' as const), ms: fc.oneof(fc.integer({ min: -40_000, max: 40_000 }), fc.integer({ min: -1500, max: 1500 })) }) },
      {
        weight: 4,
        arbitrary: fc.record({
          kind: fc.constant('fresh' as const),
          offsetMs: fc.integer({ min: -W, max: W }),
          count: fc.oneof(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 20, max: 80 })),
          // All in one moment, or one salt every spreadMs (many buckets, sparse or dense).
          spreadMs: fc.oneof(fc.constant(0), fc.integer({ min: -700, max: 700 })),
        }),
      },
      { weight: 4, arbitrary: fc.record({ kind: fc.constant('replay' as const), pick: fc.nat() }) },
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 300 }), fc.integer({ min: 8, max: 120 }), fc.constantFrom(250, 1000), (ops, capacity, bucketMs) => {
        const clock = new Clock();
        const { g, admit } = guarded(clock, { windowMs: W, capacity, bucketMs, nearMs: 2000 });
        const accepted: Array<[number, number]> = [];
        let salt = 1;
        let minWall = clock.wall;
        let maxWall = clock.wall;
        for (const o of ops) {
          if (o.kind === 'advance') clock.advance(o.ms);
          else if (o.kind === 'step') clock.step(o.ms);
          else if (o.kind === 'fresh') {
            for (let k = 0; k < o.count; k++) {
              const t = clock.wall + o.offsetMs + k * o.spreadMs;
              const s = salt++;
              if (admit(s, t) === 'fresh') accepted.push([s, t]);
            }
          } else if (accepted.length > 0) {
            const [s, t] = accepted[o.pick % accepted.length];
            expect(admit(s, t)).not.toBe('fresh');
          }
          expect(g.entries).toBeLessThanOrEqual(capacity);
          minWall = Math.min(minWall, clock.wall);
          maxWall = Math.max(maxWall, clock.wall);
        }
        // Then the wall clock goes back before everything it has shown and sweeps over it all
        // (a window at a time): every salt accepted is replayed wherever it passes the skew check.
        clock.step(minWall - W - clock.wall);
        for (; clock.wall <= maxWall + 2 * W; clock.advance(W)) {
          const passed = accepted.filter(([s, t]) => Math.abs(t - clock.wall) <= W && admit(s, t) === 'fresh');
          expect(passed, `replays accepted at ${clock.wall}`).toEqual([]);
        }
      }),
      { numRuns: 400 },
    );
  });
});
