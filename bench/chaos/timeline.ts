// Per-daemon step functions over time (the serial each daemon held, whether clients could reach
// it) and the interval arithmetic the checker's rules are made of. Pure.
import type { AvailabilityEvent, HoldEvent } from './history.js';

/** A half-open interval of time [from, to). */
export interface Interval {
  from: number;
  to: number;
}

/** A quorum of n daemons: more than half of them (what a read's replies must overlap). */
export function majorityOf(n: number): number {
  return Math.floor(n / 2) + 1;
}

/** One daemon's held serial as a step function: `serial` from `at` on, sorted by time. */
export class HeldSerial {
  private readonly steps: { at: number; serial: number }[];

  constructor(events: readonly HoldEvent[]) {
    // Stable: events recorded in one millisecond keep their order.
    this.steps = events.map((e, i) => ({ at: e.at, serial: e.serial, i })).sort((a, b) => a.at - b.at || a.i - b.i);
  }

  /** The serial held just before `t` (0 before the first event). */
  before(t: number): number {
    let lo = 0;
    let hi = this.steps.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.steps[mid].at < t) lo = mid + 1;
      else hi = mid;
    }
    return lo === 0 ? 0 : this.steps[lo - 1].serial;
  }

  /**
   * The lowest serial held at any time in [from, to]: what a reply made during that time can be
   * no older than. A step at exactly `from` does not count as held before it (a millisecond's
   * clock cannot order the two).
   */
  minOver(from: number, to: number): number {
    let m = this.before(from);
    for (const s of this.steps) {
      if (s.at < from) continue;
      if (s.at > to) break;
      if (s.serial < m) m = s.serial;
    }
    return m;
  }

  /** Intervals during which the held serial lies in [lo, hi), up to `end`. */
  within(lo: number, hi: number, end: number): Interval[] {
    const out: Interval[] = [];
    let start: number | undefined;
    for (let k = 0; k < this.steps.length; k++) {
      const s = this.steps[k];
      const inside = s.serial >= lo && s.serial < hi;
      if (inside && start === undefined) start = s.at;
      if (!inside && start !== undefined) {
        if (s.at > start) out.push({ from: start, to: s.at });
        start = undefined;
      }
    }
    if (start !== undefined && end > start) out.push({ from: start, to: end });
    return out;
  }

  /** The first time the held serial is `serial` or more (undefined: never). */
  firstAtLeast(serial: number): number | undefined {
    return this.steps.find((s) => s.serial >= serial)?.at;
  }

  get events(): readonly { at: number; serial: number }[] {
    return this.steps;
  }
}

/**
 * Intervals during which clients could reach a daemon and had had `graceMs` to find it again:
 * after a restart, a resume or a healed link a client only learns at its next retransmission
 * that the daemon answers again.
 */
export function reachable(events: readonly AvailabilityEvent[], graceMs: number, end: number): Interval[] {
  const sorted = events.map((e, i) => ({ ...e, i })).sort((a, b) => a.at - b.at || a.i - b.i);
  const out: Interval[] = [];
  let since: number | undefined;
  for (const e of sorted) {
    if (e.available && since === undefined) since = e.at;
    if (!e.available && since !== undefined) {
      if (e.at > since + graceMs) out.push({ from: since + graceMs, to: e.at });
      since = undefined;
    }
  }
  if (since !== undefined && end > since + graceMs) out.push({ from: since + graceMs, to: end });
  return out;
}

/** The intersection of two sorted lists of disjoint intervals. */
export function intersect(a: readonly Interval[], b: readonly Interval[]): Interval[] {
  const out: Interval[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const from = Math.max(a[i].from, b[j].from);
    const to = Math.min(a[i].to, b[j].to);
    if (to > from) out.push({ from, to });
    if (a[i].to < b[j].to) i++;
    else j++;
  }
  return out;
}

/** Intervals covered by at least `k` of the given lists (each a sorted list of disjoint intervals). */
export function coveredBy(lists: readonly (readonly Interval[])[], k: number): Interval[] {
  const edges: { at: number; d: number }[] = [];
  for (const l of lists) for (const iv of l) edges.push({ at: iv.from, d: 1 }, { at: iv.to, d: -1 });
  // Ends before starts at one instant: touching intervals do not overlap.
  edges.sort((x, y) => x.at - y.at || x.d - y.d);
  const out: Interval[] = [];
  let n = 0;
  let start = 0;
  for (const e of edges) {
    const was = n;
    n += e.d;
    if (was < k && n >= k) start = e.at;
    if (was >= k && n < k && e.at > start) out.push({ from: start, to: e.at });
  }
  return out;
}

/** The longest interval of `ivs` clipped to [from, to] (undefined when none). */
export function longestWithin(ivs: readonly Interval[], from: number, to: number): Interval | undefined {
  let best: Interval | undefined;
  for (const iv of ivs) {
    const f = Math.max(iv.from, from);
    const t = Math.min(iv.to, to);
    if (t > f && (best === undefined || t - f > best.to - best.from)) best = { from: f, to: t };
  }
  return best;
}
