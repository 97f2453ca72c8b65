// The chaos checker: a recorded history in, verdicts out. Pure (no clock, no I/O), so it is
// tested with synthetic histories as well as real runs. The rules (docs/robustness.md):
//
//  reads      a read's serial is at least the newest serial a majority of daemons held
//             throughout the read, at most the newest published before it completed, a serial
//             that was published, and its values are that publish's; a met waitFor's condition
//             holds for what it returned; each client's reads never go back in serial
//  daemons    (file source) each daemon's served serial never goes down, across restarts too
//  calls      none outlives its timeout by more than a second; none is left unfinished
//  watches    serials increase, values are the published ones, and no value of the path is
//             skipped that a reachable quorum held for longer than a second (a value equal to
//             the one the watch last yielded is no change, whatever came between)
import { ABSENT, type History, type ReadRecord, type WaitConditionRecord, type WatchRecord } from './history.js';
import { HeldSerial, coveredBy, intersect, longestWithin, majorityOf, reachable, type Interval } from './timeline.js';

export interface CheckOptions {
  /** How long after its timeout a call may still end (default 1000 ms). */
  hangSlackMs?: number;
  /** A watch must yield every value a reachable quorum held for longer than this (default 1000 ms). */
  watchSkipMs?: number;
  /**
   * How long clients get to find a daemon again once it is reachable (restarted, resumed, its
   * link healed): their next retransmission may be this far off (default 2000 ms: a watch held
   * for 1 s retransmits at least every 1.2 s, and a restarted daemon first asks for its cookie).
   */
  recoveryMs?: number;
  /** Whether a daemon's served serial may never go down (the file source; default true). */
  servedNeverDown?: boolean;
  /** Error codes a quorum may answer a valid read with (default: not_ready, busy). */
  transientErrors?: readonly string[];
}

export type Category = 'stale' | 'wrong' | 'hung';

export type Rule =
  | 'stale'
  | 'future'
  | 'unpublished'
  | 'wrong_value'
  | 'not_met'
  | 'bad_error'
  | 'went_back'
  | 'served_back'
  | 'hung'
  | 'watch_order'
  | 'watch_value'
  | 'watch_skip'
  | 'watch_hung';

const CATEGORY: Record<Rule, Category> = {
  stale: 'stale',
  went_back: 'stale',
  served_back: 'stale',
  watch_order: 'stale',
  watch_skip: 'stale',
  future: 'wrong',
  unpublished: 'wrong',
  wrong_value: 'wrong',
  not_met: 'wrong',
  bad_error: 'wrong',
  watch_value: 'wrong',
  hung: 'hung',
  watch_hung: 'hung',
};

export interface Violation {
  rule: Rule;
  category: Category;
  /** When it happened (a read's completion, a watch's event). */
  at: number;
  message: string;
  client?: string;
  daemon?: string;
}

export interface Verdict {
  phase: string;
  seed: number;
  /** Calls made (get, mget, waitFor). */
  reads: number;
  /** Calls that returned a quorum's value. */
  values: number;
  /** Calls that found no quorum, or a wait not met in time. */
  unavailable: number;
  watchEvents: number;
  /** Values a watch had to yield (a reachable quorum held them long enough while it ran). */
  watchObligations: number;
  publishes: number;
  /** Publishes a majority was seen holding. */
  publishesHeld: number;
  faults: number;
  faultCounts: Record<string, number>;
  stale: number;
  wrong: number;
  hung: number;
  /** Every violation, earliest first. */
  violations: Violation[];
}

/** When a majority of daemons was first seen holding each serial (or a newer one). */
export function majorityTimes(h: Pick<History, 'daemons' | 'holds' | 'publishes'>): Map<number, number> {
  const held = heldByDaemon(h);
  const need = majorityOf(h.daemons.length);
  const out = new Map<number, number>();
  // Every change of any daemon's serial, in time order: the count for a serial can only reach
  // a majority at one of them.
  const times = [...new Set(h.holds.map((e) => e.at))].sort((a, b) => a - b);
  const pending = [...h.publishes].sort((a, b) => a.serial - b.serial);
  for (const t of times) {
    const now = h.daemons.map((d) => held.get(d)?.before(t + 1) ?? 0).sort((a, b) => b - a);
    const top = now[need - 1] ?? 0;
    while (pending.length > 0 && pending[0].serial <= top) out.set((pending.shift() as { serial: number }).serial, t);
  }
  return out;
}

function heldByDaemon(h: Pick<History, 'daemons' | 'holds'>): Map<string, HeldSerial> {
  const out = new Map<string, HeldSerial>();
  for (const d of h.daemons) out.set(d, new HeldSerial(h.holds.filter((e) => e.daemon === d)));
  return out;
}

export function check(h: History, o: CheckOptions = {}): Verdict {
  const slack = o.hangSlackMs ?? 1000;
  const skipMs = o.watchSkipMs ?? 1000;
  const recovery = o.recoveryMs ?? 2000;
  const transient = new Set(o.transientErrors ?? ['not_ready', 'busy']);
  const t0 = Math.min(...h.publishes.map((p) => p.invokedAt), h.endedAt);
  const when = (t: number) => `+${((t - t0) / 1000).toFixed(3)}s`;
  const violations: Violation[] = [];
  const flag = (rule: Rule, at: number, message: string, extra: { client?: string; daemon?: string } = {}) =>
    violations.push({ rule, category: CATEGORY[rule], at, message: `${h.phase} phase, ${when(at)}: ${message}`, ...extra });

  const bySerial = new Map(h.publishes.map((p) => [p.serial, p]));
  const published = [...h.publishes].sort((a, b) => a.invokedAt - b.invokedAt);
  /** The newest serial whose publish began by `t`. */
  const newestPublishedBy = (t: number): number => {
    let m = 0;
    for (const p of published) {
      if (p.invokedAt > t) break;
      if (p.serial > m) m = p.serial;
    }
    return m;
  };
  const held = heldByDaemon(h);
  const need = majorityOf(h.daemons.length);
  /** The newest serial a majority held throughout [from, to]. */
  const heldThroughout = (from: number, to: number): number => {
    const mins = h.daemons.map((d) => held.get(d)?.minOver(from, to) ?? 0).sort((a, b) => b - a);
    return mins[need - 1] ?? 0;
  };

  const describe = (r: ReadRecord) => `${r.op}${r.condition ? ` ${conditionText(r.condition)}` : ''} by ${r.client} (${when(r.invokedAt)} → ${when(r.completedAt)})`;

  let values = 0;
  let unavailable = 0;
  for (const r of h.reads) {
    if (r.outcome === 'unfinished') {
      flag('hung', r.completedAt, `${describe(r)} never ended (timeout ${r.timeoutMs} ms)`, { client: r.client });
      continue;
    }
    const took = r.completedAt - r.invokedAt;
    if (took > r.timeoutMs + slack) flag('hung', r.completedAt, `${describe(r)} took ${took} ms, its timeout was ${r.timeoutMs} ms`, { client: r.client });
    if (r.outcome === 'unavailable' || r.outcome === 'timeout') unavailable++;
    if (r.outcome === 'error' && !transient.has(r.detail ?? '')) flag('bad_error', r.completedAt, `${describe(r)} ended with the error ${r.detail}`, { client: r.client });
    if (r.outcome === 'threw') flag('bad_error', r.completedAt, `${describe(r)} threw: ${r.detail}`, { client: r.client });
    if (r.outcome !== 'value') continue;
    values++;
    const serial = r.serial ?? 0;
    const upper = newestPublishedBy(r.completedAt);
    if (serial > upper) {
      flag('future', r.completedAt, `${describe(r)} returned serial ${serial}, newer than any published by then (${upper})`, { client: r.client });
      continue;
    }
    const p = bySerial.get(serial);
    if (p === undefined) {
      flag('unpublished', r.completedAt, `${describe(r)} returned serial ${serial}, which was never published`, { client: r.client });
      continue;
    }
    for (const [path, got] of Object.entries(r.values ?? {})) {
      const want = p.values[path];
      if (want === undefined) throw new Error(`the history has no digest of ${path} for serial ${serial}`);
      if (got !== want) flag('wrong_value', r.completedAt, `${describe(r)} returned ${path} = ${got} with serial ${serial}, which published ${want}`, { client: r.client });
    }
    const lower = heldThroughout(r.invokedAt, r.completedAt);
    if (serial < lower) flag('stale', r.completedAt, `${describe(r)} returned serial ${serial}; a majority held serial ${lower} or newer throughout the read`, { client: r.client });
    if (r.op === 'waitFor' && r.condition) {
      const why = unmet(r.condition, serial, p.values[r.condition.path]);
      if (why !== undefined) flag('not_met', r.completedAt, `${describe(r)} returned as met with serial ${serial}, where ${why}`, { client: r.client });
    }
  }

  // Each client's reads, in the order they ended, never go back.
  const byClient = new Map<string, ReadRecord[]>();
  for (const r of h.reads) if (r.outcome === 'value') (byClient.get(r.client) ?? byClient.set(r.client, []).get(r.client))?.push(r);
  for (const [client, rs] of byClient) {
    rs.sort((a, b) => a.seq - b.seq);
    let newest: ReadRecord | undefined;
    for (const r of rs) {
      if (newest && (r.serial ?? 0) < (newest.serial ?? 0)) {
        flag('went_back', r.completedAt, `${describe(r)} returned serial ${r.serial} after the same client's ${describe(newest)} had returned ${newest.serial}`, { client });
      }
      if (!newest || (r.serial ?? 0) > (newest.serial ?? 0)) newest = r;
    }
  }

  // A daemon's served serial never goes down (file source: a restart reloads the same file).
  if (o.servedNeverDown !== false) {
    for (const d of h.daemons) {
      // Pings and log lines are checked apart: their times come from different clocks' readings
      // of one order (a ping's reply is made before its completion is recorded).
      const seen = h.served.filter((s) => s.daemon === d && s.serial > 0).map((s) => ({ at: s.at, serial: s.serial, how: 'answered a ping with' }));
      const logged = h.holds.filter((e) => e.daemon === d && e.serial > 0).map((e) => ({ at: e.at, serial: e.serial, how: 'logged serving' }));
      for (const list of [seen, logged]) {
        let top = 0;
        for (const s of list) {
          if (s.serial < top) flag('served_back', s.at, `daemon ${d} ${s.how} serial ${s.serial} after serving ${top}`, { daemon: d });
          top = Math.max(top, s.serial);
        }
      }
    }
  }

  const reach = new Map(h.daemons.map((d) => [d, reachable(h.availability.filter((e) => e.daemon === d), recovery, h.endedAt)]));
  let watchEvents = 0;
  let watchObligations = 0;
  for (const w of h.watches) {
    watchEvents += w.events.length;
    checkWatch(w);
  }

  function checkWatch(w: WatchRecord): void {
    const who = `watch ${w.id} of ${w.path} by ${w.client}`;
    let last = -1;
    for (const e of w.events) {
      if (e.serial <= last) flag('watch_order', e.at, `${who} yielded serial ${e.serial} after ${last}`, { client: w.client });
      last = Math.max(last, e.serial);
      const upper = newestPublishedBy(e.at);
      const p = bySerial.get(e.serial);
      if (e.serial > upper) flag('watch_value', e.at, `${who} yielded serial ${e.serial}, newer than any published by then (${upper})`, { client: w.client });
      else if (p === undefined) flag('watch_value', e.at, `${who} yielded serial ${e.serial}, which was never published`, { client: w.client });
      else if (p.values[w.path] !== e.value) flag('watch_value', e.at, `${who} yielded ${e.value} with serial ${e.serial}, which published ${p.values[w.path]}`, { client: w.client });
    }
    if (w.stopAt !== undefined && (w.endedAt === undefined || w.endedAt - w.stopAt > slack)) {
      flag('watch_hung', w.endedAt ?? h.endedAt, `${who} ${w.endedAt === undefined ? 'never ended' : `ended ${w.endedAt - w.stopAt} ms`} after it was stopped`, { client: w.client });
    }
    const end = w.stopAt ?? w.endedAt ?? h.endedAt;
    for (const v of versionsOf(w.path)) {
      const held = longestWithin(quorumHeld(v.from, v.to), w.startedAt, end);
      if (!held || held.to - held.from <= skipMs) continue;
      // A value the watch already reports is no change to yield: it went A → B → A with B
      // never reaching it, and the watch rightly stayed at A.
      const before = w.events.filter((e) => e.serial < v.from).at(-1);
      if (before?.value === v.value) continue;
      watchObligations++;
      if (!w.events.some((e) => e.serial >= v.from && e.serial < v.to)) {
        const range = v.to === Infinity ? `serial ${v.from} on` : `serials ${v.from}–${v.to - 1}`;
        flag('watch_skip', held.to, `${who} skipped ${w.path} = ${v.value} (${range}), which a reachable quorum held for ${held.to - held.from} ms from ${when(held.from)}`, { client: w.client });
      }
    }
  }

  /** The values a path took, as serial ranges [from, to) of equal value, oldest first. */
  function versionsOf(path: string): { from: number; to: number; value: string }[] {
    const ps = [...h.publishes].sort((a, b) => a.serial - b.serial);
    const out: { from: number; to: number; value: string }[] = [];
    for (const p of ps) {
      const v = p.values[path] ?? ABSENT;
      const cur = out[out.length - 1];
      if (cur && cur.value === v) continue;
      if (cur) cur.to = p.serial;
      out.push({ from: p.serial, to: Infinity, value: v });
    }
    return out;
  }

  /** When a majority of reachable daemons held a serial in [lo, hi). */
  function quorumHeld(lo: number, hi: number): Interval[] {
    const lists = h.daemons.map((d) => intersect(held.get(d)?.within(lo, hi, h.endedAt) ?? [], reach.get(d) ?? []));
    return coveredBy(lists, need);
  }

  const majority = majorityTimes(h);
  const faultCounts: Record<string, number> = {};
  for (const f of h.faults) faultCounts[f.kind] = (faultCounts[f.kind] ?? 0) + 1;
  violations.sort((a, b) => a.at - b.at);
  const count = (c: Category) => violations.filter((v) => v.category === c).length;
  return {
    phase: h.phase,
    seed: h.seed,
    reads: h.reads.length,
    values,
    unavailable,
    watchEvents,
    watchObligations,
    publishes: h.publishes.length,
    publishesHeld: h.publishes.filter((p) => majority.has(p.serial)).length,
    faults: h.faults.length,
    faultCounts,
    stale: count('stale'),
    wrong: count('wrong'),
    hung: count('hung'),
    violations,
  };
}

/** Why `c` does not hold of the value `v` at serial `serial` (undefined: it holds). */
function unmet(c: WaitConditionRecord, serial: number, v: string | undefined): string | undefined {
  switch (c.kind) {
    case 'minSerial':
      return serial >= c.minSerial ? undefined : `serial ${serial} is below ${c.minSerial}`;
    case 'changedFrom':
      return v !== c.from ? undefined : `${c.path} was still ${v}`;
    case 'equals':
      return v === c.value ? undefined : `${c.path} was ${v}, not ${c.value}`;
    case 'exists':
      return v !== ABSENT ? undefined : `${c.path} was absent`;
    case 'absent':
      return v === ABSENT ? undefined : `${c.path} was ${v}`;
  }
}

function conditionText(c: WaitConditionRecord): string {
  switch (c.kind) {
    case 'minSerial':
      return `{serial ≥ ${c.minSerial} at ${c.path}}`;
    case 'changedFrom':
      return `{${c.path} changed from ${c.from}}`;
    case 'equals':
      return `{${c.path} = ${c.value}}`;
    case 'exists':
      return `{${c.path} exists}`;
    case 'absent':
      return `{${c.path} absent}`;
  }
}
