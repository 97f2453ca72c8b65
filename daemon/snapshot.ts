// An immutable replica snapshot: the document, its serial, and what handlers derive from it.
// Derived values are kept per snapshot (the document never changes underneath them), in tables
// bounded in entries and in bytes.
import { QconfError } from '../shared/errors.js';
import { ReplyTable } from './reply-table.js';

export type ReplicaSource = 'file' | 'etcd';

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
 * Per-snapshot memory for cached replies. QCF1 gets more: its documents are whatever users
 * publish, and a point lookup over 100,000 entries needs about 60 MB to stay cached; plj0 serves
 * Ganeti configs, whose own size (a 10,000-node config is some 200 MB of objects with its view)
 * leaves less room. plj0's caches whose names share the part before a "/" share one budget.
 */
export const QCF1_REPLY_BYTES = 64 * 1024 * 1024;
export const REPLY_CACHE_BYTES = 64 * 1024 * 1024;
export const REPLY_CACHE_BYTES_BY_GROUP: Record<string, number> = { plj0: 32 * 1024 * 1024, qcf1: 16 * 1024 * 1024 };
export const REPLY_CACHE_ENTRIES = 262_144;

export interface SnapshotInit {
  doc: unknown;
  serial: number;
  source: ReplicaSource;
  loadedAt?: number;
  /** Where it came from, for logs (a path, an etcd revision). */
  origin?: string;
}

export class Snapshot {
  readonly doc: unknown;
  readonly serial: number;
  readonly source: ReplicaSource;
  readonly loadedAt: number;
  readonly origin: string;
  /** Views built over the document by protocol front ends (e.g. the Ganeti indexes). */
  private readonly views = new Map<string, unknown>();
  /** QCF1's replies by request bytes, created on first use. */
  private qcf1: ReplyTable | undefined;
  /** Reply caches of the protocol front ends, by name, created on first use, and their budgets. */
  private readonly caches = new Map<string, ReplyCache<{ bytes: number }>>();
  private readonly budgets = new Map<string, CacheBudget>();

  constructor(init: SnapshotInit) {
    this.doc = init.doc;
    this.serial = init.serial;
    this.source = init.source;
    this.loadedAt = init.loadedAt ?? Date.now();
    this.origin = init.origin ?? '';
  }

  /** The reply cache `name` of this snapshot (dropped with it). */
  replyCache<V extends { bytes: number }>(name: string): ReplyCache<V> {
    let c = this.caches.get(name);
    if (c === undefined) {
      const group = name.split('/')[0];
      let budget = this.budgets.get(group);
      if (budget === undefined) this.budgets.set(group, (budget = { held: 0, max: REPLY_CACHE_BYTES_BY_GROUP[group] ?? REPLY_CACHE_BYTES, caches: [] }));
      this.caches.set(name, (c = new ReplyCache(budget, REPLY_CACHE_ENTRIES)));
    }
    return c as ReplyCache<V>;
  }

  /** QCF1's replies by request bytes (dropped with the snapshot). */
  qcf1Replies(): ReplyTable {
    return (this.qcf1 ??= new ReplyTable({ maxBytes: QCF1_REPLY_BYTES, maxEntries: REPLY_CACHE_ENTRIES }));
  }

  /** Whether view `name` has been built (or is being built). */
  hasView(name: string): boolean {
    return this.views.has(name);
  }

  /** Install a view built elsewhere (e.g. incrementally, before the snapshot is served). */
  setView(name: string, v: unknown): void {
    this.views.set(name, v);
  }

  /** A view derived from the document once, on first use, then shared by every request. */
  view<T>(name: string, build: (doc: unknown) => T): T {
    if (this.views.has(name)) return this.views.get(name) as T;
    const v = build(this.doc);
    this.views.set(name, v);
    return v;
  }
}

export function isSerial(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/** Validate a parsed document for the file source: an object with a top-level `serial_no`. */
export function documentSerial(doc: unknown, origin: string): number {
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) {
    throw new QconfError('document', `${origin}: the document is not a JSON object`);
  }
  const serial = (doc as Record<string, unknown>).serial_no;
  if (serial === undefined) throw new QconfError('document', `${origin}: no top-level serial_no`);
  if (!isSerial(serial)) throw new QconfError('document', `${origin}: serial_no is not a non-negative integer`);
  return serial;
}
