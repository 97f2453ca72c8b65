// Replay memory: remembers each accepted salt until its request's timestamp leaves the skew
// window, after which the freshness check rejects a replay on its own. Salts are kept in
// buckets by request time (a replayed datagram carries the same, MAC-covered time, so it is
// looked up in one bucket only); checking, inserting and expiring are O(1) per request.
// The memory is bounded: when full, the oldest bucket is forgotten and requests stamped before
// its end are refused from then on (`replay_overflow`), so no replay can slip through.
//
// A salt is 128 bits. QCF1 salts are used as they are (four 32-bit words read from the
// datagram); other salts (plj0's rsalt strings) are hashed to 128 bits (MurmurHash3 x86_128).
// Each bucket is an open-addressing hash set in typed arrays (load ≤ 1/2), so the hot path
// allocates nothing and the garbage collector never walks millions of salts; the arrays of
// expired buckets are pooled and reused. A growing bucket moves its salts to the larger table a
// few per insert, so no request waits for a whole table to be rehashed.

export interface ReplayGuardOptions {
  windowMs: number;
  capacity: number;
  /** Width of a bucket; smaller buckets make eviction finer. */
  bucketMs?: number;
}

export type ReplayVerdict = 'fresh' | 'replay' | 'overflow';

const INITIAL_SLOTS = 1024;

interface MovingTable {
  keys: Int32Array;
  used: Uint8Array;
  slots: number;
  mask: number;
  /** Slots below this have moved. */
  next: number;
}

class Bucket {
  slots: number;
  mask: number;
  size = 0;
  keys: Int32Array;
  used: Uint8Array;
  /**
   * The table before the last growth, while its entries move over to `keys` a few slots per
   * insert, in slot order (a moved slot reads as empty): a salt is in one of the two.
   */
  old: MovingTable | undefined;
  constructor(
    readonly id: number,
    slots: number,
    keys: Int32Array,
    used: Uint8Array,
  ) {
    this.slots = slots;
    this.mask = slots - 1;
    this.keys = keys;
    this.used = used;
  }
}

/**
 * Slots of the previous table moved per insert while a bucket grows. The move ends after
 * old slots / MOVE_PER_INSERT inserts, long before the new table (twice as large) is half full.
 */
const MOVE_PER_INSERT = 8;

// A per-process random seed for slot placement, so that nobody can aim salts at one probe chain.
const SEED = (Math.random() * 0x1_0000_0000) | 0;

function slotOf(w0: number, w1: number, w2: number, w3: number): number {
  let h = Math.imul(w0 ^ SEED, 0x9e3779b1);
  h = Math.imul(h ^ w1 ^ (h >>> 15), 0x85ebca6b);
  h = Math.imul(h ^ w2 ^ (h >>> 13), 0xc2b2ae35);
  h ^= w3;
  return (h ^ (h >>> 16)) >>> 0;
}

// MurmurHash3 x86_128 over UTF-16 code units (two per 32-bit block), for string salts.
const HASH = new Int32Array(4);
function rotl(x: number, r: number): number {
  return (x << r) | (x >>> (32 - r));
}
function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}
/** Code unit i of the string `prefix ‖ s` (prefix: one code unit, or -1 for none). */
function unitAt(prefix: number, s: string, n: number, i: number): number {
  if (prefix < 0) return i < n ? s.charCodeAt(i) : 0;
  if (i === 0) return prefix;
  return i <= n ? s.charCodeAt(i - 1) : 0;
}

/** Two code units of `prefix ‖ s` from i, as one 32-bit block (zero past the end). */
function blockAt(prefix: number, s: string, n: number, len: number, i: number): number {
  return (i < len ? unitAt(prefix, s, n, i) : 0) | (i + 1 < len ? unitAt(prefix, s, n, i + 1) << 16 : 0);
}

/** MurmurHash3 x86_128 of the code units of `prefix ‖ s`, into HASH. */
function hash128(prefix: number, s: string): Int32Array {
  const c1 = 0x239b961b;
  const c2 = 0xab0e9789;
  const c3 = 0x38b34ae5;
  const c4 = 0xa1e38b93;
  let h1 = 0x5172_5a9b;
  let h2 = 0x2b37_1f0d;
  let h3 = 0x7c1d_4e31;
  let h4 = 0x1f83_d9ab;
  const n = s.length;
  const len = prefix < 0 ? n : n + 1;
  let i = 0;
  for (; i + 8 <= len; i += 8) {
    let k1 = blockAt(prefix, s, n, len, i);
    let k2 = blockAt(prefix, s, n, len, i + 2);
    let k3 = blockAt(prefix, s, n, len, i + 4);
    let k4 = blockAt(prefix, s, n, len, i + 6);
    k1 = Math.imul(rotl(Math.imul(k1, c1), 15), c2);
    h1 ^= k1;
    h1 = (Math.imul(rotl(h1, 19) + h2, 5) + 0x561ccd1b) | 0;
    k2 = Math.imul(rotl(Math.imul(k2, c2), 16), c3);
    h2 ^= k2;
    h2 = (Math.imul(rotl(h2, 17) + h3, 5) + 0x0bcaa747) | 0;
    k3 = Math.imul(rotl(Math.imul(k3, c3), 17), c4);
    h3 ^= k3;
    h3 = (Math.imul(rotl(h3, 15) + h4, 5) + 0x96cd1c35) | 0;
    k4 = Math.imul(rotl(Math.imul(k4, c4), 18), c1);
    h4 ^= k4;
    h4 = (Math.imul(rotl(h4, 13) + h1, 5) + 0x32ac3b17) | 0;
  }
  if (i < len) {
    // The tail (fewer than 8 code units), zero-padded.
    h1 ^= Math.imul(rotl(Math.imul(blockAt(prefix, s, n, len, i), c1), 15), c2);
    h2 ^= Math.imul(rotl(Math.imul(blockAt(prefix, s, n, len, i + 2), c2), 16), c3);
    h3 ^= Math.imul(rotl(Math.imul(blockAt(prefix, s, n, len, i + 4), c3), 17), c4);
    h4 ^= Math.imul(rotl(Math.imul(blockAt(prefix, s, n, len, i + 6), c4), 18), c1);
  }
  h1 ^= len;
  h2 ^= len;
  h3 ^= len;
  h4 ^= len;
  h1 = (h1 + h2 + h3 + h4) | 0;
  h2 = (h2 + h1) | 0;
  h3 = (h3 + h1) | 0;
  h4 = (h4 + h1) | 0;
  h1 = fmix(h1);
  h2 = fmix(h2);
  h3 = fmix(h3);
  h4 = fmix(h4);
  h1 = (h1 + h2 + h3 + h4) | 0;
  h2 = (h2 + h1) | 0;
  h3 = (h3 + h1) | 0;
  h4 = (h4 + h1) | 0;
  HASH[0] = h1;
  HASH[1] = h2;
  HASH[2] = h3;
  HASH[3] = h4;
  return HASH;
}

function word(b: Uint8Array, o: number): number {
  return (b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3];
}

/**
 * Whether a growing bucket's previous table still holds the salt whose slot hash is h. Slots
 * below `next` have moved (they read as empty): an entry still here lies at `next` or after,
 * on its probe chain with the moved part left out, so the probe skips that part.
 */
function stillHas(old: MovingTable, h: number, w0: number, w1: number, w2: number, w3: number): boolean {
  const { keys, used, next, slots } = old;
  let i = h & old.mask;
  if (i < next) i = next;
  for (let n = slots - next; n > 0; n--) {
    if (used[i] === 0) return false;
    const k = i << 2;
    if (keys[k] === w0 && keys[k + 1] === w1 && keys[k + 2] === w2 && keys[k + 3] === w3) return true;
    if (++i === slots) i = next;
  }
  return false;
}

export class ReplayGuard {
  readonly windowMs: number;
  readonly capacity: number;
  private readonly bucketMs: number;
  private readonly buckets = new Map<number, Bucket>();
  /** The bucket used last (most requests fall in the current one). */
  private last: Bucket | undefined;
  /** Arrays of expired buckets, by slot count, for reuse. */
  private readonly pool = new Map<number, Array<{ keys: Int32Array; used: Uint8Array }>>();
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
    const h = hash128(-1, saltKey);
    return this.admitWords(h[0], h[1], h[2], h[3], requestTimeMs, nowMs);
  }

  /** admit(String.fromCharCode(prefix) + saltKey, ...) without building that string. */
  admitPrefixed(prefix: number, saltKey: string, requestTimeMs: number, nowMs: number): ReplayVerdict {
    const h = hash128(prefix, saltKey);
    return this.admitWords(h[0], h[1], h[2], h[3], requestTimeMs, nowMs);
  }

  /** A 16-byte salt read from `buf` at `offset` (QCF1: the datagram's salt field). */
  admitBytes(buf: Uint8Array, offset: number, requestTimeMs: number, nowMs: number): ReplayVerdict {
    return this.admitWords(word(buf, offset), word(buf, offset + 4), word(buf, offset + 8), word(buf, offset + 12), requestTimeMs, nowMs);
  }

  /** A 128-bit salt given as four 32-bit words. */
  admitWords(w0: number, w1: number, w2: number, w3: number, requestTimeMs: number, nowMs: number): ReplayVerdict {
    if (nowMs - this.lastExpiry >= this.bucketMs) this.expire(nowMs);
    if (requestTimeMs < this.floorMs) return 'overflow';
    const b = Math.floor(requestTimeMs / this.bucketMs);
    let bucket = this.last;
    if (bucket === undefined || bucket.id !== b) {
      bucket = this.buckets.get(b);
      if (bucket === undefined) {
        bucket = this.newBucket(b, INITIAL_SLOTS);
        this.buckets.set(b, bucket);
      }
      this.last = bucket;
    }
    const h = slotOf(w0, w1, w2, w3);
    const old = bucket.old;
    if (old !== undefined && stillHas(old, h, w0, w1, w2, w3)) return 'replay';
    let i = h & bucket.mask;
    const keys = bucket.keys;
    const used = bucket.used;
    while (used[i] !== 0) {
      const k = i << 2;
      if (keys[k] === w0 && keys[k + 1] === w1 && keys[k + 2] === w2 && keys[k + 3] === w3) return 'replay';
      i = (i + 1) & bucket.mask;
    }
    used[i] = 1;
    const k = i << 2;
    keys[k] = w0;
    keys[k + 1] = w1;
    keys[k + 2] = w2;
    keys[k + 3] = w3;
    bucket.size++;
    this.size++;
    if (old !== undefined) this.move(bucket, MOVE_PER_INSERT);
    if (bucket.size * 2 > bucket.slots) this.grow(bucket);
    if (this.size > this.capacity) this.evictOldest();
    return 'fresh';
  }

  private newBucket(id: number, slots: number): Bucket {
    const t = this.table(slots);
    return new Bucket(id, slots, t.keys, t.used);
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

  private lastExpiry = -Infinity;

  private expire(nowMs: number): void {
    // Buckets only expire at bucket granularity (at most one scan per bucket width).
    this.lastExpiry = nowMs;
    const oldestLive = Math.floor((nowMs - this.windowMs) / this.bucketMs) - 1;
    for (const [id, b] of this.buckets) {
      if (id < oldestLive) this.forget(b);
    }
  }

  private forget(b: Bucket): void {
    this.size -= b.size;
    this.buckets.delete(b.id);
    if (this.last === b) this.last = undefined;
    this.release(b.keys, b.used, b.slots);
    if (b.old !== undefined) this.release(b.old.keys, b.old.used, b.old.slots);
  }

  private evictOldest(): void {
    let oldest = Infinity;
    for (const id of this.buckets.keys()) if (id < oldest) oldest = id;
    const b = this.buckets.get(oldest);
    if (b === undefined) return;
    this.evicted += b.size;
    this.forget(b);
    this.floorMs = Math.max(this.floorMs, (oldest + 1) * this.bucketMs);
  }
}
