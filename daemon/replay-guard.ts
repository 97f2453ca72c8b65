// Replay memory: remembers each accepted salt until its request's timestamp leaves the skew
// window, after which the freshness check rejects a replay on its own. Salts are kept in
// buckets by request time, so checking, inserting and expiring are O(1) per request.
// The memory is bounded: when full, the oldest bucket is forgotten and requests stamped before
// its end are refused from then on (`replay_overflow`), so no replay can slip through.

export interface ReplayGuardOptions {
  windowMs: number;
  capacity: number;
  /** Width of a bucket; smaller buckets make eviction finer. */
  bucketMs?: number;
}

export type ReplayVerdict = 'fresh' | 'replay' | 'overflow';

export class ReplayGuard {
  private readonly windowMs: number;
  private readonly capacity: number;
  private readonly bucketMs: number;
  private readonly buckets = new Map<number, Set<string>>();
  private size = 0;
  /** Requests stamped before this time can no longer be proven fresh. */
  private floorMs = -Infinity;
  evicted = 0;

  constructor(opts: ReplayGuardOptions) {
    this.windowMs = opts.windowMs;
    this.capacity = Math.max(1, opts.capacity);
    this.bucketMs = opts.bucketMs ?? Math.max(250, Math.ceil(opts.windowMs / 60));
  }

  get entries(): number {
    return this.size;
  }

  /** Check a salt and remember it if fresh. `saltKey` is any string unique per salt. */
  admit(saltKey: string, requestTimeMs: number, nowMs: number): ReplayVerdict {
    this.expire(nowMs);
    if (requestTimeMs < this.floorMs) return 'overflow';
    const b = Math.floor(requestTimeMs / this.bucketMs);
    let set = this.buckets.get(b);
    if (set === undefined) {
      set = new Set();
      this.buckets.set(b, set);
    } else if (set.has(saltKey)) {
      return 'replay';
    }
    set.add(saltKey);
    this.size++;
    if (this.size > this.capacity) this.evictOldest();
    return 'fresh';
  }

  private lastExpiry = -Infinity;

  private expire(nowMs: number): void {
    // Buckets only expire at bucket granularity; skip the scan until one can have.
    if (nowMs - this.lastExpiry < this.bucketMs) return;
    this.lastExpiry = nowMs;
    const oldestLive = Math.floor((nowMs - this.windowMs) / this.bucketMs) - 1;
    for (const [b, set] of this.buckets) {
      if (b < oldestLive) {
        this.size -= set.size;
        this.buckets.delete(b);
      }
    }
  }

  private evictOldest(): void {
    let oldest = Infinity;
    for (const b of this.buckets.keys()) if (b < oldest) oldest = b;
    const set = this.buckets.get(oldest);
    if (set === undefined) return;
    this.size -= set.size;
    this.evicted += set.size;
    this.buckets.delete(oldest);
    this.floorMs = Math.max(this.floorMs, (oldest + 1) * this.bucketMs);
  }
}
