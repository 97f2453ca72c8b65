// The chaos checker on synthetic histories: a consistent history passes, and each rule catches
// the violation it is there for — and only that one, without flagging what faults may do.
import { describe, expect, it } from 'vitest';
import { check, majorityTimes, type CheckOptions, type Rule } from '../../bench/chaos/checker.js';
import { ABSENT, type History, type ReadRecord, type WatchRecord } from '../../bench/chaos/history.js';

/**
 * Three daemons a, b, c. Serial 1 (x = v1) from the start, serial 2 (x = v2) published at 1000
 * and held by a and b from 1100 and c from 1500, serial 3 (x = v3) published at 2000 and held
 * by a and b from 2300 and c from 2600. Every daemon reachable throughout.
 */
function base(): History {
  const hold = (at: number, daemon: string, serial: number) => ({ at, daemon, serial });
  return {
    phase: 'test',
    source: 'file',
    seed: 1,
    daemons: ['a', 'b', 'c'],
    endedAt: 10_000,
    publishes: [
      { serial: 1, invokedAt: 0, digest: 'd1', values: { '/x': 'v1', '/y': 'y1' } },
      { serial: 2, invokedAt: 1000, digest: 'd2', values: { '/x': 'v2', '/y': 'y1' } },
      { serial: 3, invokedAt: 2000, digest: 'd3', values: { '/x': 'v3', '/y': ABSENT } },
    ],
    reads: [],
    watches: [],
    holds: [hold(10, 'a', 1), hold(10, 'b', 1), hold(10, 'c', 1), hold(1100, 'a', 2), hold(1100, 'b', 2), hold(1500, 'c', 2), hold(2300, 'a', 3), hold(2300, 'b', 3), hold(2600, 'c', 3)],
    availability: ['a', 'b', 'c'].map((daemon) => ({ at: -10_000, daemon, available: true })),
    served: [],
    faults: [],
  };
}

let seq = 0;
function read(invokedAt: number, completedAt: number, serial: number, x: string, o: Partial<ReadRecord> = {}): ReadRecord {
  return { client: 'c1', seq: seq++, op: 'get', invokedAt, completedAt, timeoutMs: 3000, outcome: 'value', serial, values: { '/x': x }, ...o };
}

function rules(h: History, o?: CheckOptions): Rule[] {
  return check(h, o).violations.map((v) => v.rule);
}

describe('chaos checker: reads', () => {
  it('passes a consistent history', () => {
    const h = base();
    h.reads.push(read(50, 60, 1, 'v1'), read(1050, 1080, 1, 'v1'), read(1200, 1300, 2, 'v2'), read(2100, 2200, 2, 'v2'), read(2400, 2450, 3, 'v3'));
    h.reads.push(read(2500, 2600, 3, 'v3', { op: 'mget', values: { '/x': 'v3', '/y': ABSENT } }));
    const v = check(h);
    expect(v.violations).toEqual([]);
    expect(v).toMatchObject({ reads: 6, values: 6, stale: 0, wrong: 0, hung: 0, publishes: 3, publishesHeld: 3 });
  });

  it('flags a read older than what a majority held throughout it (stale)', () => {
    const h = base();
    h.reads.push(read(1200, 1300, 1, 'v1'));
    const v = check(h);
    expect(v.violations.map((x) => x.rule)).toEqual(['stale']);
    expect(v.stale).toBe(1);
    expect(v.violations[0].message).toContain('a majority held serial 2');
  });

  it('allows an older read when the majority lost the newer serial during the read', () => {
    const h = base();
    // b restarts with an empty replica during the read: only a holds serial 2 throughout it.
    h.holds.push({ at: 1250, daemon: 'b', serial: 0 });
    h.reads.push(read(1200, 1300, 1, 'v1'));
    expect(rules(h)).toEqual([]);
  });

  it('does not count a serial first held in the very millisecond a read began', () => {
    const h = base();
    h.reads.push(read(1100, 1150, 1, 'v1'));
    expect(rules(h)).toEqual([]);
  });

  it('flags a serial newer than any published before the read completed (wrong)', () => {
    const h = base();
    h.reads.push(read(800, 900, 2, 'v2'));
    const v = check(h);
    expect(v.violations.map((x) => x.rule)).toEqual(['future']);
    expect(v.wrong).toBe(1);
  });

  it('flags a serial that was never published, and a value that is not the published one', () => {
    const h = base();
    h.publishes.push({ serial: 5, invokedAt: 3000, digest: 'd5', values: { '/x': 'v5', '/y': 'y5' } });
    h.reads.push(read(4000, 4100, 4, 'v4'), read(1200, 1300, 2, 'v1', { client: 'c2' }));
    expect(rules(h).sort()).toEqual(['unpublished', 'wrong_value']);
  });

  it("flags a client's read that goes back in serial, in the order the client's calls ended", () => {
    const h = base();
    // Both within the bounds on their own; the second ended after the first and is older.
    h.reads.push(read(2400, 2500, 3, 'v3'), read(1050, 2550, 2, 'v2'));
    expect(rules(h)).toEqual(['went_back']);
    // Another client may see the older serial.
    h.reads[1].client = 'c2';
    expect(rules(h)).toEqual([]);
  });

  it('flags calls that outlive their timeout by more than the slack, or never end (hung)', () => {
    const h = base();
    h.reads.push(read(100, 100 + 3000 + 900, 1, 'v1'), read(100, 100 + 3000 + 1100, 3, 'v3'));
    h.reads.push({ client: 'c9', seq: seq++, op: 'get', invokedAt: 5000, completedAt: 9000, timeoutMs: 3000, outcome: 'unfinished' });
    const v = check(h);
    expect(v.violations.map((x) => x.rule)).toEqual(['hung', 'hung']);
    expect(v.hung).toBe(2);
  });

  it('flags a waitFor returned as met whose condition does not hold at its serial', () => {
    const h = base();
    const w = (condition: ReadRecord['condition'], serial: number, x: string) => read(1200, 2450, serial, x, { op: 'waitFor', met: true, timeoutMs: 5000, condition });
    h.reads.push(w({ kind: 'equals', path: '/x', value: 'v3' }, 3, 'v3'));
    h.reads.push(w({ kind: 'minSerial', path: '/x', minSerial: 3 }, 3, 'v3'));
    h.reads.push(w({ kind: 'changedFrom', path: '/x', from: 'v1' }, 3, 'v3'));
    h.reads.push(w({ kind: 'absent', path: '/y' }, 3, 'v3'));
    expect(rules(h)).toEqual([]);
    h.reads.push(w({ kind: 'equals', path: '/x', value: 'v1' }, 3, 'v3'));
    h.reads.push(w({ kind: 'changedFrom', path: '/x', from: 'v3' }, 3, 'v3'));
    h.reads.push(w({ kind: 'exists', path: '/y' }, 3, 'v3'));
    expect(rules(h)).toEqual(['not_met', 'not_met', 'not_met']);
  });

  it('flags error results other than transient ones, and calls that threw', () => {
    const h = base();
    h.reads.push(read(100, 200, 0, '', { outcome: 'error', detail: 'not_ready', values: undefined }));
    h.reads.push(read(100, 200, 0, '', { outcome: 'unavailable', values: undefined }));
    expect(rules(h)).toEqual([]);
    h.reads.push(read(300, 400, 0, '', { outcome: 'error', detail: 'internal', values: undefined }));
    h.reads.push(read(300, 400, 0, '', { outcome: 'threw', detail: 'boom', values: undefined }));
    expect(rules(h)).toEqual(['bad_error', 'bad_error']);
  });

  it('gives each publish the time a majority first held it', () => {
    const m = majorityTimes(base());
    expect([...m]).toEqual([
      [1, 10],
      [2, 1100],
      [3, 2300],
    ]);
  });
});

describe('chaos checker: daemons', () => {
  it("flags a daemon whose served serial goes down (file source), by ping or by log, across restarts", () => {
    const h = base();
    h.served.push({ at: 100, daemon: 'a', serial: 1, instance: 'i1' }, { at: 1200, daemon: 'a', serial: 2, instance: 'i1' }, { at: 1300, daemon: 'a', serial: 1, instance: 'i2' });
    expect(rules(h)).toEqual(['served_back']);
    expect(rules(h, { servedNeverDown: false })).toEqual([]);
    const g = base();
    // An empty replica (0) is no serial served; an older one after it is.
    g.holds.push({ at: 3000, daemon: 'c', serial: 0 }, { at: 3500, daemon: 'c', serial: 2 });
    expect(rules(g)).toEqual(['served_back']);
  });
});

describe('chaos checker: watches', () => {
  const watch = (events: [number, number, string][], o: Partial<WatchRecord> = {}): WatchRecord => ({
    id: 'w1',
    client: 'c1',
    path: '/x',
    startedAt: 0,
    stopAt: 9000,
    endedAt: 9100,
    events: events.map(([at, serial, value]) => ({ at, serial, value })),
    ...o,
  });

  it('passes a watch that saw every value', () => {
    const h = base();
    h.watches.push(watch([
      [100, 1, 'v1'],
      [1200, 2, 'v2'],
      [2400, 3, 'v3'],
    ]));
    expect(check(h).violations).toEqual([]);
  });

  it('flags a skipped value a reachable quorum held for longer than a second', () => {
    const h = base();
    h.watches.push(watch([
      [100, 1, 'v1'],
      [2400, 3, 'v3'],
    ]));
    const v = check(h);
    expect(v.violations.map((x) => x.rule)).toEqual(['watch_skip']);
    expect(v.violations[0].message).toContain('held for 1200 ms');
  });

  it('does not require a value held only while a holder was unreachable, or just after', () => {
    const h = base();
    h.watches.push(watch([
      [100, 1, 'v1'],
      [2400, 3, 'v3'],
    ]));
    // b paused from 1000 to 1900: a quorum (a, c) holds serial 2 from 1500 to 2300 only.
    h.availability.push({ at: 1000, daemon: 'b', available: false }, { at: 1900, daemon: 'b', available: true });
    expect(rules(h, { recoveryMs: 0 })).toEqual([]);
    // Without the pause, a and b held it for 1200 ms: skipped.
    const g = base();
    g.watches.push(watch([
      [100, 1, 'v1'],
      [2400, 3, 'v3'],
    ]));
    g.availability.push({ at: 5000, daemon: 'b', available: false });
    expect(rules(g, { recoveryMs: 0 })).toEqual(['watch_skip']);
  });

  it('flags serials that do not increase, values that were not published, and a watch that does not stop', () => {
    const h = base();
    h.watches.push(watch([
      [1200, 2, 'v2'],
      [1300, 2, 'v2'],
      [2400, 3, 'v1'],
    ], { startedAt: 1150, endedAt: 11_000 }));
    expect(rules(h)).toEqual(['watch_order', 'watch_value', 'watch_hung']);
  });

  it('does not require a value equal to the one the watch last yielded (A → B → A, B never held)', () => {
    const h = base();
    // Serial 4 brings x back to v2 while serial 3 (v3) is never held by anyone.
    h.publishes.push({ serial: 4, invokedAt: 2100, digest: 'd4', values: { '/x': 'v2', '/y': ABSENT } });
    h.holds = h.holds.filter((e) => e.serial !== 3);
    h.holds.push({ at: 2300, daemon: 'a', serial: 4 }, { at: 2300, daemon: 'b', serial: 4 }, { at: 2600, daemon: 'c', serial: 4 });
    h.watches.push(watch([
      [100, 1, 'v1'],
      [1200, 2, 'v2'],
    ]));
    expect(rules(h)).toEqual([]);
    // Had the watch not yielded v2 at serial 2, serial 4's v2 would be a skipped change.
    h.watches[0].events.pop();
    expect(rules(h).sort()).toEqual(['watch_skip', 'watch_skip']);
  });

  it('only holds a watch to the time it ran', () => {
    const h = base();
    h.watches.push(watch([[2400, 3, 'v3']], { startedAt: 2350 }));
    expect(rules(h)).toEqual([]);
  });
});
