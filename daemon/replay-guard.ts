// Replay memory: remembers each accepted salt for as long as its request could pass the skew
// check, and refuses what it can no longer remember, so that no replay is ever accepted. Salts
// are kept in buckets by request time (a replayed datagram carries the same, MAC-covered time,
// so it is looked up in one bucket only); checking, inserting and expiring are O(1) per request.
//
// Forgetting. A bucket is forgotten once its time has left the window twice over: by the wall
// clock, and by the wall clock as it would read had it not stepped since the bucket's salts were
// taken (the monotonic clock plus the wall − monotonic offset of those moments). A wall clock
// stepped forward, then back, does not make salts forgotten early. Every bucket forgotten, for
// whatever reason, joins the refused ranges: a request stamped in it is refused (`overflow`,
// counted as replay_overflow) from then on. Those ranges normally lie behind the window and
// cost nothing; they matter when the wall clock steps back onto times it had already shown.
//
// Pressure. At most `capacity` salts are kept. "Near now" is within `nearMs` (5 s by default)
// of the daemon's wall clock. To make room, the guard forgets whole buckets whose time lies
// more than nearMs behind now, oldest first: the ranges refused after that hold only requests
// stamped that far in the past. A bucket near now or ahead of it is never forgotten to make room
// (a refused future range would become the present); a request that would need it is refused
// instead. Salts stamped more than nearMs ahead of their arrival ("ahead" salts: they will be
// near now later) may fill at most half the capacity while their bucket is not yet behind the
// near zone; more are refused. So requests stamped far from now, in any pattern, never take the
// room of near-now ones: a request stamped within nearMs of now is refused only when the salts
// of requests stamped near now (at most nearMs ahead of their arrival, at most nearMs and one
// bucket behind the present) fill the other half.
//
// Clock steps. The guard reads a monotonic clock (performance.now()) once per bucket width of
// wall time and whenever the wall clock goes back; a change of the wall − monotonic offset by
// more than a second is a step (counted in `clockSteps`, passed to `onClockStep`). After the
// wall clock steps back by D, a replayed datagram is either still remembered (`replay`) or
// stamped in a forgotten range (`overflow`). Requests stamped with the stepped-back clock are
// refused the same way while they fall in forgotten ranges, i.e. while the clock re-treads time
// it had already shown: for about D − window − one bucket if the memory was not full (nothing
// for a step back within the window), up to D − nearMs if it had been making room, and in any
// case for at most D + window + one bucket after the step (nothing forgotten lies later than
// the latest time shown + the window + a bucket). That is the price of never accepting a
// replay. A forward step refuses nothing.
//
// A salt is 128 bits. QCF1 salts are used as they are (four 32-bit words read from the
// datagram); other salts (plj0's rsalt strings) are hashed to 128 bits (MurmurHash3 x86_128).
// Each bucket is an open-addressing hash set in typed arrays (load ≤ 1/2), so the hot path
// allocates nothing and the garbage collector never walks millions of salts; the arrays of
// expired buckets are pooled and reused. A growing bucket moves its salts to the larger table a
// few per insert, so no request waits for a whole table to be rehashed.

import { hash128 } from './salt-hash.js';
import { Bucket, MOVE_PER_INSERT, slotOf, stillHas, word, type MovingTable } from './salt-table.js';

export interface ReplayGuardOptions {
  windowMs: number;
  capacity: number;
  /** Width of a bucket; smaller buckets make eviction finer. */
  bucketMs?: number;
  /**
   * Requests stamped within this of the wall clock are near now: their buckets are never
   * forgotten to make room, and their salts do not count as "ahead". Default: 5 s, at least two
   * buckets, at most the window.
   */
  nearMs?: number;
  /** Monotonic milliseconds (default: performance.now()); tests give their own clock. */
  monotonic?: () => number;
  /** Called with the size of a wall-clock step the guard noticed (ms; negative: backwards). */
  onClockStep?: (stepMs: number) => void;
}

export type ReplayVerdict = 'fresh' | 'replay' | 'overflow';

const INITIAL_SLOTS = 1024;

/** A change of the wall − monotonic offset beyond this (plus 1 ms per s between reads) is a step. */
const STEP_TOLERANCE_MS = 1000;

/** Refused ranges kept apart; beyond, the two closest (preferably behind now) are merged. */
const MAX_RUNS = 16;

export class ReplayGuard {
  readonly windowMs: number;
  readonly capacity: number;
  readonly nearMs: number;
  private readonly bucketMs: number;
  /** A string salt's hash (scratch, this guard's own). */
  private readonly hash = new Int32Array(4);
  private readonly buckets = new Map<number, Bucket>();
  /** The same buckets, for scans without an iterator. */
  private readonly live: Bucket[] = [];
  /** The bucket used last (most requests fall in the current one). */
  private last: Bucket | undefined;
  /** Arrays of expired buckets, by slot count, for reuse. */
  private readonly pool = new Map<number, Array<{ keys: Int32Array; used: Uint8Array }>>();
  private size = 0;
  /** Refused bucket ids: sorted, disjoint, non-adjacent runs [runLo[k], runHi[k]]. */
  private readonly runLo = new Float64Array(MAX_RUNS + 1);
  private readonly runHi = new Float64Array(MAX_RUNS + 1);
  private runs = 0;
  /** The highest refused bucket id (requests in later buckets skip the runs). */
  private refusedTop = -Infinity;
  /** What makeRoom may forget (see scan), valid while the wall clock is before scanUntil. */
  private oldestBehind: Bucket | undefined;
  private latestEarlier: Bucket | undefined;
  private scanUntil = -Infinity;
  /** "Ahead" salts in buckets not behind the near zone (counted at each tick, and since). */
  private preLive = 0;
  private readonly preQuota: number;
  private readonly monotonic: () => number;
  private readonly onClockStep: ((stepMs: number) => void) | undefined;
  /** Wall and monotonic time at the last tick, and the wall − monotonic offset then. */
  private lastTick = -Infinity;
  private lastTickMono = NaN;
  private off = 0;
  /** Salts forgotten to make room. */
  evicted = 0;
  /** Wall-clock steps noticed. */
  clockSteps = 0;

  constructor(opts: ReplayGuardOptions) {
    this.windowMs = opts.windowMs;
    this.capacity = Math.max(1, opts.capacity);
    this.bucketMs = opts.bucketMs ?? Math.max(250, Math.ceil(opts.windowMs / 60));
    this.nearMs = opts.nearMs ?? Math.min(opts.windowMs, Math.max(5000, 2 * this.bucketMs));
    this.preQuota = Math.floor(this.capacity / 2);
    this.monotonic = opts.monotonic ?? (() => performance.now());
    this.onClockStep = opts.onClockStep;
  }

  get entries(): number {
    return this.size;
  }

  /** Check a salt and remember it if fresh. `saltKey` is any string unique per salt. */
  admit(saltKey: string, requestTimeMs: number, nowMs: number): ReplayVerdict {
    const h = hash128(-1, saltKey, this.hash);
    return this.admitWords(h[0], h[1], h[2], h[3], requestTimeMs, nowMs);
  }

  /** admit(String.fromCharCode(prefix) + saltKey, ...) without building that string. */
  admitPrefixed(prefix: number, saltKey: string, requestTimeMs: number, nowMs: number): ReplayVerdict {
    const h = hash128(prefix, saltKey, this.hash);
    return this.admitWords(h[0], h[1], h[2], h[3], requestTimeMs, nowMs);
  }

  /** A 16-byte salt read from `buf` at `offset` (QCF1: the datagram's salt field). */
  admitBytes(buf: Uint8Array, offset: number, requestTimeMs: number, nowMs: number): ReplayVerdict {
    return this.admitWords(word(buf, offset), word(buf, offset + 4), word(buf, offset + 8), word(buf, offset + 12), requestTimeMs, nowMs);
  }

  /**
   * A 128-bit salt given as four 32-bit words. `nowMs` is the wall clock (the caller has
   * checked |requestTimeMs − nowMs| against the window).
   */
  admitWords(w0: number, w1: number, w2: number, w3: number, requestTimeMs: number, nowMs: number): ReplayVerdict {
    if (nowMs - this.lastTick >= this.bucketMs || nowMs < this.lastTick) this.tick(nowMs);
    const b = Math.floor(requestTimeMs / this.bucketMs);
    if (b <= this.refusedTop && this.isRefused(b)) return 'overflow';
    let bucket = this.last;
    if (bucket === undefined || bucket.id !== b) {
      bucket = this.buckets.get(b);
      if (bucket !== undefined) this.last = bucket;
    }
    const h = slotOf(w0, w1, w2, w3);
    let i = 0;
    if (bucket !== undefined) {
      const old = bucket.old;
      if (old !== undefined && stillHas(old, h, w0, w1, w2, w3)) return 'replay';
      i = h & bucket.mask;
      const keys = bucket.keys;
      const used = bucket.used;
      while (used[i] !== 0) {
        const k = i << 2;
        if (keys[k] === w0 && keys[k + 1] === w1 && keys[k + 2] === w2 && keys[k + 3] === w3) return 'replay';
        i = (i + 1) & bucket.mask;
      }
    }
    // A new salt: refused rather than kept when keeping it would cost near-now room.
    const ahead = requestTimeMs - nowMs > this.nearMs;
    if (ahead && this.preLive >= this.preQuota) return 'overflow';
    if (this.size >= this.capacity && !this.makeRoom(b, nowMs)) return 'overflow';
    if (bucket === undefined) {
      bucket = this.newBucket(b);
      this.last = bucket;
      i = h & bucket.mask;
    }
    const used = bucket.used;
    const keys = bucket.keys;
    used[i] = 1;
    const k = i << 2;
    keys[k] = w0;
    keys[k + 1] = w1;
    keys[k + 2] = w2;
    keys[k + 3] = w3;
    bucket.size++;
    this.size++;
    if (ahead) {
      bucket.pre++;
      this.preLive++;
      if (!bucket.counted) {
        bucket.counted = true;
        this.preLive += bucket.pre - 1;
      }
    }
    const off = this.off;
    if (off < bucket.minOff) bucket.minOff = off;
    else if (off > bucket.maxOff) bucket.maxOff = off;
    if (bucket.old !== undefined) this.move(bucket, MOVE_PER_INSERT);
    if (bucket.size * 2 > bucket.slots) this.grow(bucket);
    return 'fresh';
  }

  /** Whether bucket id `b` lies in a refused run. */
  private isRefused(b: number): boolean {
    for (let k = this.runs - 1; k >= 0; k--) {
      if (b > this.runHi[k]) return false;
      if (b >= this.runLo[k]) return true;
    }
    return false;
  }

  /**
   * Forget one bucket other than `b` (the request's) to make room: the oldest of those behind
   * the near zone (older than `b` when `b` is behind it too), else the latest of those ahead of
   * the near zone that were filled while the wall clock read later than now (it stepped back
   * since). False: none may go, and the request is refused.
   */
  private makeRoom(b: number, nowMs: number): boolean {
    if (nowMs >= this.scanUntil) this.scan(nowMs);
    let victim = this.oldestBehind;
    // A request behind the near zone itself makes room only by forgetting older salts.
    if (victim !== undefined && (b + 1) * this.bucketMs <= nowMs - this.nearMs && victim.id >= b) victim = undefined;
    if (victim === undefined) {
      victim = this.latestEarlier;
      if (victim !== undefined && victim.id === b) victim = undefined;
    }
    if (victim === undefined) return false;
    this.evicted += victim.size;
    this.forget(victim, nowMs);
    return true;
  }

  /**
   * Find the buckets makeRoom may forget. The result holds until a bucket is made or forgotten,
   * the next tick, or the first moment a bucket moves behind the near zone or a bucket filled
   * under a later clock comes near (scanUntil): a memory that stays full of near-now salts
   * refuses each further request in O(1), not with a scan.
   */
  private scan(nowMs: number): void {
    const bw = this.bucketMs;
    const edge = nowMs - this.nearMs;
    const front = nowMs + this.nearMs;
    const stepped = this.off + STEP_TOLERANCE_MS;
    let behind: Bucket | undefined;
    let earlier: Bucket | undefined;
    let until = Infinity;
    const live = this.live;
    for (let k = 0; k < live.length; k++) {
      const x = live[k];
      const id = x.id;
      if ((id + 1) * bw <= edge) {
        if (behind === undefined || id < behind.id) behind = x;
        continue;
      }
      // When this bucket will be behind the near zone.
      until = Math.min(until, (id + 1) * bw + this.nearMs);
      if (id * bw > front && x.maxOff > stepped) {
        if (earlier === undefined || id > earlier.id) earlier = x;
        // When it will be near now.
        until = Math.min(until, id * bw - this.nearMs);
      }
    }
    this.oldestBehind = behind;
    this.latestEarlier = earlier;
    this.scanUntil = until;
  }

  /**
   * Once per bucket width of wall time, and whenever the wall clock goes back: read the
   * monotonic clock (noting a step), forget the buckets whose time has left the window by both
   * clocks, and count the ahead salts not yet behind the near zone.
   */
  private tick(nowMs: number): void {
    const mono = this.monotonic();
    const off = nowMs - mono;
    if (!Number.isNaN(this.lastTickMono)) {
      const step = off - this.off;
      if (Math.abs(step) > STEP_TOLERANCE_MS + (mono - this.lastTickMono) / 1000) {
        this.clockSteps++;
        this.onClockStep?.(step);
      }
    }
    this.off = off;
    this.lastTick = nowMs;
    this.lastTickMono = mono;
    this.scanUntil = -Infinity;
    const bw = this.bucketMs;
    const edge = nowMs - this.nearMs;
    let pre = 0;
    const live = this.live;
    // Backwards: forget() moves the last bucket into the freed place, which was seen already.
    for (let k = live.length - 1; k >= 0; k--) {
      const x = live[k];
      // One bucket of slack: a request in it is at least a bucket width beyond the window.
      const gone = (x.id + 2) * bw + this.windowMs;
      if (gone <= nowMs && gone <= mono + x.minOff) {
        this.forget(x, nowMs);
        continue;
      }
      x.counted = (x.id + 1) * bw > edge;
      if (x.counted) pre += x.pre;
    }
    this.preLive = pre;
  }

  private newBucket(id: number): Bucket {
    const t = this.table(INITIAL_SLOTS);
    const b = new Bucket(id, INITIAL_SLOTS, t.keys, t.used, this.off);
    this.buckets.set(id, b);
    b.index = this.live.length;
    this.live.push(b);
    this.scanUntil = -Infinity;
    return b;
  }

  /** Arrays for a table of `slots` (empty), from the pool when it has some. */
  private table(slots: number): { keys: Int32Array; used: Uint8Array } {
    return this.pool.get(slots)?.pop() ?? { keys: new Int32Array(slots * 4), used: new Uint8Array(slots) };
  }

  private release(keys: Int32Array, used: Uint8Array, slots: number): void {
    // A few spare arrays per size: in a steady state one bucket expires as another begins.
    let list = this.pool.get(slots);
    if (!list) this.pool.set(slots, (list = []));
    if (list.length >= 4) return;
    used.fill(0);
    list.push({ keys, used });
  }

  /**
   * Double a bucket's table. Its entries move over a few slots per insert (move) rather than
   * all at once: a bucket can hold hundreds of thousands of salts (requests stamped alike), and
   * moving them in one go held the event loop for tens of milliseconds.
   */
  private grow(b: Bucket): void {
    if (b.old !== undefined) this.move(b, Infinity);
    const next = this.table(b.slots * 2);
    b.old = { keys: b.keys, used: b.used, slots: b.slots, mask: b.mask, next: 0 };
    b.slots *= 2;
    b.mask = b.slots - 1;
    b.keys = next.keys;
    b.used = next.used;
  }

  /** Move up to `n` slots of a growing bucket's previous table into its table. */
  private move(b: Bucket, n: number): void {
    const old = b.old as MovingTable;
    const end = Math.min(old.slots, old.next + n);
    const mask = b.mask;
    for (let i = old.next; i < end; i++) {
      if (old.used[i] === 0) continue;
      old.used[i] = 0;
      const k = i << 2;
      const w0 = old.keys[k];
      const w1 = old.keys[k + 1];
      const w2 = old.keys[k + 2];
      const w3 = old.keys[k + 3];
      let j = slotOf(w0, w1, w2, w3) & mask;
      while (b.used[j] !== 0) j = (j + 1) & mask;
      b.used[j] = 1;
      const m = j << 2;
      b.keys[m] = w0;
      b.keys[m + 1] = w1;
      b.keys[m + 2] = w2;
      b.keys[m + 3] = w3;
    }
    old.next = end;
    if (end === old.slots) {
      b.old = undefined;
      this.release(old.keys, old.used, old.slots);
    }
  }

  /** Drop a bucket's salts and refuse its time range from now on. */
  private forget(b: Bucket, nowMs: number): void {
    this.size -= b.size;
    if (b.counted) this.preLive -= b.pre;
    this.buckets.delete(b.id);
    const live = this.live;
    const moved = live[live.length - 1];
    live[b.index] = moved;
    moved.index = b.index;
    live.pop();
    if (this.last === b) this.last = undefined;
    this.scanUntil = -Infinity;
    this.release(b.keys, b.used, b.slots);
    if (b.old !== undefined) this.release(b.old.keys, b.old.used, b.old.slots);
    this.refuse(b.id, nowMs);
  }

  /** Add bucket id `id` to the refused runs. */
  private refuse(id: number, nowMs: number): void {
    const lo = this.runLo;
    const hi = this.runHi;
    let n = this.runs;
    let k = 0;
    while (k < n && lo[k] <= id) k++;
    // Run k − 1 starts at or before id; run k after it.
    if (k > 0 && hi[k - 1] >= id) return;
    const below = k > 0 && hi[k - 1] === id - 1;
    const above = k < n && lo[k] === id + 1;
    if (below && above) {
      hi[k - 1] = hi[k];
      this.removeRun(k);
    } else if (below) {
      hi[k - 1] = id;
    } else if (above) {
      lo[k] = id;
    } else {
      for (let j = n; j > k; j--) {
        lo[j] = lo[j - 1];
        hi[j] = hi[j - 1];
      }
      lo[k] = id;
      hi[k] = id;
      this.runs = ++n;
      if (n > MAX_RUNS) this.mergeClosest(nowMs);
    }
    this.refusedTop = hi[this.runs - 1];
  }

  private removeRun(k: number): void {
    const n = --this.runs;
    for (let j = k; j < n; j++) {
      this.runLo[j] = this.runLo[j + 1];
      this.runHi[j] = this.runHi[j + 1];
    }
  }

  /**
   * Too many runs: merge two neighbours, refusing the ids between them too (refusing more is
   * always safe). The gap chosen is the smallest lying wholly behind the near zone; failing
   * that, the smallest not holding the near zone; failing that, the smallest.
   */
  private mergeClosest(nowMs: number): void {
    const lo = this.runLo;
    const hi = this.runHi;
    const bw = this.bucketMs;
    const nearLo = Math.floor((nowMs - this.nearMs) / bw) - 1;
    const nearHi = Math.floor((nowMs + this.nearMs) / bw) + 1;
    let best = 0;
    let bestCost = Infinity;
    for (let k = 0; k + 1 < this.runs; k++) {
      // The gap is the ids hi[k] + 1 … lo[k + 1] − 1.
      const gap = lo[k + 1] - hi[k];
      const behind = lo[k + 1] <= nearLo;
      const holdsNear = hi[k] < nearHi && lo[k + 1] > nearLo;
      const cost = behind ? gap : holdsNear ? gap + 2e15 : gap + 1e15;
      if (cost < bestCost) {
        bestCost = cost;
        best = k;
      }
    }
    hi[best] = hi[best + 1];
    this.removeRun(best + 1);
  }
}
