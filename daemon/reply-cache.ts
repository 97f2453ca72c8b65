// Encoded replies kept per snapshot by the protocol services (a snapshot's answers never change):
// caches bounded in entries and in bytes, several of them sharing one budget, and the set of a
// service's caches for each snapshot, held weakly so that they go with it.
import type { Snapshot } from './snapshot.js';

/** Entries per cache at most. */
export const REPLY_CACHE_ENTRIES = 262_144;

/** Memory shared by several reply caches: an estimate of the bytes they hold, and the limit. */
export interface CacheBudget {
  held: number;
  readonly max: number;
  /** The caches drawing on it. */
  readonly caches: Array<ReplyCache<{ bytes: number }>>;
}

const ENTRY_OVERHEAD = 96;

/**
 * Encoded replies of one snapshot, keyed by what makes requests answer alike (e.g. a request's
 * exact body bytes), bounded by a number of entries and by an estimate of the memory held,
 * shared with the other caches of the same budget. When the budget is full, the cache holding
 * the most gives up its oldest entries (insertion order, O(1) each).
 */
export class ReplyCache<V extends { bytes: number }> {
  private readonly map = new Map<string, V>();
  /** Estimated bytes this cache holds. */
  held = 0;
  constructor(
    readonly budget: CacheBudget,
    readonly maxEntries: number,
  ) {
    budget.caches.push(this as unknown as ReplyCache<{ bytes: number }>);
  }
  get(key: string): V | undefined {
    return this.map.get(key);
  }
  set(key: string, v: V): void {
    const cost = v.bytes + key.length + ENTRY_OVERHEAD;
    const b = this.budget;
    if (cost > b.max / 16 || this.map.has(key)) return;
    if (this.map.size >= this.maxEntries) this.evictOldest();
    while (b.held + cost > b.max) {
      let largest: ReplyCache<{ bytes: number }> | undefined;
      for (const c of b.caches) if (c.held > 0 && (largest === undefined || c.held > largest.held)) largest = c;
      if (largest === undefined || !largest.evictOldest()) return;
    }
    this.map.set(key, v);
    this.held += cost;
    b.held += cost;
  }
  /**
   * Whether set(key, v) with v.bytes = `bytes` would keep it without pushing anything out: for
   * replies cheap to make again, which are not worth another entry's place.
   */
  hasRoom(key: string, bytes: number): boolean {
    const cost = bytes + key.length + ENTRY_OVERHEAD;
    return cost <= this.budget.max / 16 && this.map.size < this.maxEntries && this.budget.held + cost <= this.budget.max && !this.map.has(key);
  }

  /** Forget the oldest entry; false when empty. */
  evictOldest(): boolean {
    const first = this.map.entries().next();
    if (first.done) return false;
    const [k, old] = first.value;
    this.map.delete(k);
    const cost = old.bytes + k.length + ENTRY_OVERHEAD;
    this.held -= cost;
    this.budget.held -= cost;
    return true;
  }
  get size(): number {
    return this.map.size;
  }
}

/**
 * One service's caches of one snapshot, by name, all drawing on one budget of `maxBytes`. Made
 * on first use for each snapshot, held weakly: they are dropped with the snapshot.
 */
export class SnapshotCaches<V extends { bytes: number }> {
  private readonly bySnapshot = new WeakMap<Snapshot, { budget: CacheBudget; caches: Map<string, ReplyCache<V>> }>();

  constructor(private readonly maxBytes: number) {}

  of(snapshot: Snapshot, name: string): ReplyCache<V> {
    let set = this.bySnapshot.get(snapshot);
    if (set === undefined) this.bySnapshot.set(snapshot, (set = { budget: { held: 0, max: this.maxBytes, caches: [] }, caches: new Map() }));
    let c = set.caches.get(name);
    if (c === undefined) set.caches.set(name, (c = new ReplyCache<V>(set.budget, REPLY_CACHE_ENTRIES)));
    return c;
  }
}
