// Encoded replies keyed by request bytes, for the QCF1 hot path: a request whose body was
// answered before on this snapshot is looked up by its bytes and answered from the kept reply.
//
// Why not a Map of strings to Buffers: at 100,000 document entries the cache holds hundreds of
// thousands of replies, and as JS objects each is a key string, a record, a Buffer and a malloc'd
// backing store. Every lookup first made a string of the request bytes, then chased those
// objects through memory that no CPU cache holds; the allocator, fragmented by the live backing
// stores, slowed every other allocation; and the collector had them all to trace. Here a
// request's bytes are hashed in place, the index is two typed arrays, and key and reply lie side
// by side in large chunks: one probe, one compare, one copy. Eviction is first in, first out by
// whole chunks, which a snapshot's reply cache (filled as requests come) is content with.

/** Bytes of each record's header: hash u32, key length u16, value length u32, two meta bytes. */
const RECORD_HEAD = 12;
/** Longest probe an insert accepts; a key that would need more is not kept. */
const MAX_PROBE = 64;
const EMPTY = 0;

/** Per process, so that which requests collide is not known in advance. */
const SEED = (Math.random() * 0x1_0000_0000) >>> 0;

/** A 32-bit hash of bytes[start..end) (FNV-1a, seeded, with a final mix). Never 0. */
export function hashBytes(bytes: Uint8Array, start: number, end: number): number {
  let h = 0x811c9dc5 ^ SEED;
  for (let i = start; i < end; i++) h = Math.imul(h ^ bytes[i], 0x01000193);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  return h >>> 0 || 1;
}

export interface ReplyTableOptions {
  /** Bytes of records kept at most (whole chunks). */
  maxBytes: number;
  /** Entries kept at most. */
  maxEntries: number;
  /** Size of one chunk of records, a power of two (a record never spans two chunks). */
  chunkBytes?: number;
}

export class ReplyTable {
  /**
   * What the last successful get() found: the reply is valueBuf[valueStart..valueEnd), with the
   * two meta bytes stored with it. Read at once: the next call overwrites them.
   */
  valueBuf: Buffer = Buffer.alloc(0);
  valueStart = 0;
  valueEnd = 0;
  meta0 = 0;
  meta1 = 0;
  /**
   * The last get()'s record: its reference, unique among the records kept, and the generation of
   * its chunk (counted up each time the chunk is emptied for reuse). The two name the record for
   * as long as it lives, so a caller can key what it derives from one (a sealed copy) on them.
   */
  valueRef = -1;
  valueGen = 0;

  private readonly chunkBytes: number;
  private readonly chunkShift: number;
  private readonly maxChunks: number;
  private readonly maxEntries: number;
  private readonly chunks: Buffer[] = [];
  /** Bytes written in each chunk. */
  private readonly used: number[] = [];
  /** Each chunk's generation (see valueGen). */
  private readonly gens: number[] = [];
  /** The chunk being written, and the oldest one (evicted next). */
  private head = -1;
  private tail = 0;
  /** Open addressing, linear probing: each slot's record reference + 1 (0: empty), and its hash. */
  private refs: Int32Array;
  private hashes: Uint32Array;
  private mask: number;
  private count = 0;

  constructor(o: ReplyTableOptions) {
    this.chunkBytes = o.chunkBytes ?? 1 << 20;
    this.chunkShift = Math.log2(this.chunkBytes);
    if (!Number.isInteger(this.chunkShift)) throw new RangeError('ReplyTable: chunkBytes must be a power of two');
    this.maxChunks = Math.max(1, Math.floor(o.maxBytes / this.chunkBytes));
    // A reference is chunk * chunkBytes + offset: it must fit an int32.
    if (this.maxChunks * this.chunkBytes >= 0x7fff_ffff) throw new RangeError('ReplyTable: maxBytes too large');
    this.maxEntries = o.maxEntries;
    this.refs = new Int32Array(1024);
    this.hashes = new Uint32Array(1024);
    this.mask = 1023;
  }

  get size(): number {
    return this.count;
  }

  /** Bytes of chunk memory held. */
  get bytes(): number {
    return this.chunks.length * this.chunkBytes;
  }

  /** Look up key[start..end); on a hit, valueBuf/valueStart/valueEnd/meta0/meta1 describe it. */
  get(key: Uint8Array, start: number, end: number): boolean {
    const ref = this.find(hashBytes(key, start, end), key, start, end);
    if (ref < 0) return false;
    const c = this.chunks[ref >>> this.chunkShift];
    const at = ref & (this.chunkBytes - 1);
    this.valueRef = ref;
    this.valueGen = this.gens[ref >>> this.chunkShift];
    this.valueBuf = c;
    this.valueStart = at + RECORD_HEAD + (end - start);
    this.valueEnd = this.valueStart + c.readUInt32LE(at + 6);
    this.meta0 = c[at + 10];
    this.meta1 = c[at + 11];
    return true;
  }

  /** The reference of the record keyed by key[start..end) (hash h), or -1. */
  private find(h: number, key: Uint8Array, start: number, end: number): number {
    const len = end - start;
    const refs = this.refs;
    const hashes = this.hashes;
    const mask = this.mask;
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const r = refs[i];
      if (r === EMPTY) return -1;
      if (hashes[i] !== h) continue;
      const ref = r - 1;
      const c = this.chunks[ref >>> this.chunkShift];
      const at = ref & (this.chunkBytes - 1);
      if (c.readUInt16LE(at + 4) !== len) continue;
      const k = at + RECORD_HEAD;
      let j = 0;
      while (j < len && c[k + j] === key[start + j]) j++;
      if (j === len) return ref;
    }
  }

  /**
   * Keep value under key[start..end), with two meta bytes; false when it is not kept (already
   * there, larger than a chunk, or a probe too long). Older records make room.
   */
  set(key: Uint8Array, start: number, end: number, value: Uint8Array, meta0: number, meta1: number): boolean {
    const len = end - start;
    const need = RECORD_HEAD + len + value.length;
    if (len > 0xffff || need > this.chunkBytes) return false;
    const h = hashBytes(key, start, end);
    if (this.find(h, key, start, end) >= 0) return false;
    for (let n = 0; this.count >= this.maxEntries && n < this.chunks.length; n++) this.evictOldest();
    if (this.head < 0 || this.used[this.head] + need > this.chunkBytes) this.nextChunk();
    if (2 * (this.count + 1) > this.refs.length) this.grow();
    let slot = h & this.mask;
    for (let n = 0; this.refs[slot] !== EMPTY; n++) {
      if (n >= MAX_PROBE) return false;
      slot = (slot + 1) & this.mask;
    }
    const c = this.chunks[this.head];
    const at = this.used[this.head];
    c.writeUInt32LE(h, at);
    c.writeUInt16LE(len, at + 4);
    c.writeUInt32LE(value.length, at + 6);
    c[at + 10] = meta0;
    c[at + 11] = meta1;
    c.set(key.subarray(start, end), at + RECORD_HEAD);
    c.set(value, at + RECORD_HEAD + len);
    this.used[this.head] = at + need;
    this.refs[slot] = this.head * this.chunkBytes + at + 1;
    this.hashes[slot] = h;
    this.count++;
    return true;
  }

  /** Move writing to the next chunk: a new one while there is room, else the oldest, emptied. */
  private nextChunk(): void {
    if (this.chunks.length < this.maxChunks) {
      this.chunks.push(Buffer.allocUnsafeSlow(this.chunkBytes));
      this.used.push(0);
      this.gens.push(0);
      this.head = this.chunks.length - 1;
      return;
    }
    this.head = this.tail;
    this.evictOldest();
  }

  /** Drop every record of the oldest chunk (it is then written next). */
  private evictOldest(): void {
    const t = this.tail;
    const c = this.chunks[t];
    if (c === undefined) return;
    const end = this.used[t];
    for (let at = 0; at < end; ) {
      const len = c.readUInt16LE(at + 4);
      this.remove(c.readUInt32LE(at), t * this.chunkBytes + at + 1);
      at += RECORD_HEAD + len + c.readUInt32LE(at + 6);
    }
    this.used[t] = 0;
    this.gens[t]++;
    this.tail = (t + 1) % this.chunks.length;
  }

  /** Remove the slot holding `r` (a record reference + 1), shifting its cluster back. */
  private remove(h: number, r: number): void {
    const refs = this.refs;
    const hashes = this.hashes;
    const mask = this.mask;
    let i = h & mask;
    while (refs[i] !== r) {
      if (refs[i] === EMPTY) return; // never indexed (its insert gave up)
      i = (i + 1) & mask;
    }
    this.count--;
    // Backward shift: move each later member of the cluster that may live at i into it.
    for (let j = (i + 1) & mask; refs[j] !== EMPTY; j = (j + 1) & mask) {
      const home = hashes[j] & mask;
      // j's entry may move to i when its home is not within (i, j] (cyclically).
      if ((j > i && (home <= i || home > j)) || (j < i && home <= i && home > j)) {
        refs[i] = refs[j];
        hashes[i] = hashes[j];
        i = j;
      }
    }
    refs[i] = EMPTY;
    hashes[i] = 0;
  }

  private grow(): void {
    const oldRefs = this.refs;
    const oldHashes = this.hashes;
    const size = oldRefs.length * 2;
    this.refs = new Int32Array(size);
    this.hashes = new Uint32Array(size);
    this.mask = size - 1;
    for (let i = 0; i < oldRefs.length; i++) {
      const r = oldRefs[i];
      if (r === EMPTY) continue;
      let s = oldHashes[i] & this.mask;
      while (this.refs[s] !== EMPTY) s = (s + 1) & this.mask;
      this.refs[s] = r;
      this.hashes[s] = oldHashes[i];
    }
  }
}
