// HMAC-SHA256 (QCF1) and HMAC-SHA1 (plj0) of datagrams without node:crypto's per-call setup:
// each key's inner and outer pad states are hashed once. A short message is read straight out
// of the caller's buffers, four bytes to a word, into the block the compression function takes;
// a longer one has its inner hash taken by node:crypto in one call (over the key's inner block
// and the message, copied end to end), faster per byte, and its outer hash here, from the
// key's outer state: one block. createHmac would cost a new Hmac object and the key's pads per
// call on top. Results are bit-identical to createHmac's (tested). ShortSha256 is the same
// engine without a key, for short plain hashes.
import { createHash, hash } from 'node:crypto';
import { BLOCK_BYTES, IV1, IV256, compress1, compress256, type Compress } from './sha.js';

/**
 * HMAC-SHA1 messages longer than this (bytes) have their inner hash taken by node:crypto: past
 * it, node:crypto's speed per byte outweighs the cost of a call. The largest message a key takes
 * word by word here.
 */
export const FAST_HMAC_MAX = 768;
/** The same for HMAC-SHA256, whose blocks take longer here (the two cost alike at about 330 bytes). */
const FAST_HMAC_SHA256_MAX = 320;
/** The longest message whose inner hash node:crypto takes from LONG (a datagram at most). */
const LONG_MAX = 65_536;

export type HmacAlgorithm = 'sha256' | 'sha1';

/** Words in a block. */
const BLOCK_WORDS = BLOCK_BYTES / 4;
/** HMAC's pads, a byte repeated over a word. */
const IPAD = 0x36363636;
const OPAD = 0x5c5c5c5c;

/** Where a hash of a message starts: the state after what comes before the message, and its length. */
interface HashStart {
  /** The state the message's first block is hashed into. */
  readonly inner: Int32Array;
  /** Bytes hashed before the message (they count in the padded length). */
  readonly prefixBytes: number;
  /** Digest length in 32-bit words. */
  readonly words: number;
  readonly compress: Compress;
}

/** A key prepared for HMAC: its inner and outer states (after the padded key block). */
export class HmacKey implements HashStart {
  readonly prefixBytes = BLOCK_BYTES;
  readonly inner: Int32Array;
  readonly outer: Int32Array;
  /** Digest length in 32-bit words (8 or 5). */
  readonly words: number;
  readonly compress: Compress;
  /** Longer messages have their inner hash taken by node:crypto. */
  readonly fastMax: number;
  /** The key block xored with the inner pad, as bytes: what node:crypto hashes before a long message. */
  readonly innerBlock: Buffer;

  constructor(
    readonly algorithm: HmacAlgorithm,
    readonly bytes: Buffer,
  ) {
    const is256 = algorithm === 'sha256';
    this.words = is256 ? 8 : 5;
    this.compress = is256 ? compress256 : compress1;
    this.fastMax = is256 ? FAST_HMAC_SHA256_MAX : FAST_HMAC_MAX;
    let k: Uint8Array = bytes;
    // HMAC's rule for keys longer than a block: hash them first (as node:crypto does).
    if (k.length > BLOCK_BYTES) k = createHash(algorithm).update(bytes).digest();
    // The key, zero-padded to a block, as words; xored with each pad.
    const kw = new Int32Array(BLOCK_WORDS);
    for (let i = 0; i < k.length; i++) kw[i >> 2] |= k[i] << (24 - 8 * (i & 3));
    this.inner = new Int32Array(is256 ? IV256 : IV1);
    this.outer = new Int32Array(is256 ? IV256 : IV1);
    const innerWords = kw.map((w) => w ^ IPAD);
    this.compress(this.inner, innerWords);
    this.compress(this.outer, kw.map((w) => w ^ OPAD));
    this.innerBlock = Buffer.alloc(BLOCK_BYTES);
    for (let i = 0; i < BLOCK_WORDS; i++) this.innerBlock.writeInt32BE(innerWords[i], 4 * i);
  }
}

const keyCache = new WeakMap<Buffer, { sha256?: HmacKey; sha1?: HmacKey }>();
let lastBytes: Buffer | undefined;
let lastKey: HmacKey | undefined;

/** The prepared key for `bytes` (cached per Buffer object: keys are long-lived). */
export function hmacKey(algorithm: HmacAlgorithm, bytes: Buffer): HmacKey {
  if (bytes === lastBytes && lastKey !== undefined && lastKey.algorithm === algorithm) return lastKey;
  let e = keyCache.get(bytes);
  if (!e) keyCache.set(bytes, (e = {}));
  let k = e[algorithm];
  if (!k) e[algorithm] = k = new HmacKey(algorithm, bytes);
  lastBytes = bytes;
  lastKey = k;
  return k;
}

/**
 * A caller's memory for MACs of messages it writes itself (say, unescaped from a datagram): the
 * message goes into `msg`, macInto leaves the MAC in `mac`, read it with macEqualsHex or
 * writeMacHex. Nothing is shared between scratches.
 */
export class MacScratch {
  /** The message, from offset 0 (up to `capacity` bytes). */
  readonly msg: Buffer;
  /** The hash state; once a MAC is done, the MAC as big-endian words (8 for SHA-256, 5 for SHA-1). */
  readonly mac = new Int32Array(8);
  /** The block being filled, as words. */
  readonly block = new Int32Array(BLOCK_WORDS);
  /** Whole words in `block`. */
  words = 0;
  /** The bytes of the word being filled, in its low end (message length mod 4 of them). */
  partial = 0;
  /** Message bytes so far. */
  length = 0;

  constructor(readonly capacity = FAST_HMAC_MAX) {
    // A Buffer, so that native copies can fill it.
    this.msg = Buffer.allocUnsafeSlow(capacity);
  }
}

/** HMAC of s.msg[0..len) (len ≤ s.capacity) into s.mac. */
export function macInto(key: HmacKey, s: MacScratch, len: number): void {
  begin(key, s);
  feed(key, s, s.msg, 0, len);
  end(key, s);
}

/** A new message in s: the key's inner state, nothing fed. */
function begin(key: HashStart, s: MacScratch): void {
  const h = s.mac;
  for (let i = 0; i < key.words; i++) h[i] = key.inner[i];
  s.words = 0;
  s.partial = 0;
  s.length = 0;
}

/**
 * src[start..end) into the message: whole words are read straight from src into the block
 * (a word may start anywhere in src), a full block is hashed at once.
 */
function feed(key: HashStart, s: MacScratch, src: Uint8Array, start: number, end: number): void {
  const w = s.block;
  const h = s.mac;
  let wi = s.words;
  let cur = s.partial;
  let pos = s.length;
  s.length = pos + (end - start);
  // The word a previous range left unfinished.
  while ((pos & 3) !== 0 && start < end) {
    cur = (cur << 8) | src[start++];
    if ((++pos & 3) === 0) {
      w[wi] = cur;
      cur = 0;
      if (++wi === BLOCK_WORDS) {
        key.compress(h, w);
        wi = 0;
      }
    }
  }
  for (; end - start >= 4; start += 4) {
    w[wi] = (src[start] << 24) | (src[start + 1] << 16) | (src[start + 2] << 8) | src[start + 3];
    if (++wi === BLOCK_WORDS) {
      key.compress(h, w);
      wi = 0;
    }
  }
  while (start < end) cur = (cur << 8) | src[start++];
  s.words = wi;
  s.partial = cur;
}

/**
 * The message padded (0x80, zeros to 56 mod 64, its bit length with its prefix's, big-endian)
 * and hashed: s.mac is its hash.
 */
function finishInner(key: HashStart, s: MacScratch): void {
  const w = s.block;
  const h = s.mac;
  const compress = key.compress;
  const r = s.length & 3;
  let wi = s.words;
  w[wi] = ((s.partial << 8) | 0x80) << ((3 - r) << 3);
  if (++wi > BLOCK_WORDS - 2) {
    // No room left for the length: it goes in a block of its own.
    while (wi < BLOCK_WORDS) w[wi++] = 0;
    compress(h, w);
    wi = 0;
  }
  while (wi < BLOCK_WORDS - 2) w[wi++] = 0;
  const bits = (s.length + key.prefixBytes) * 8;
  w[BLOCK_WORDS - 2] = bits < 0x1_0000_0000 ? 0 : bits / 0x1_0000_0000;
  w[BLOCK_WORDS - 1] = bits;
  compress(h, w);
}

/** The inner hash finished, then the outer one: s.mac is the MAC. */
function end(key: HmacKey, s: MacScratch): void {
  finishInner(key, s);
  outer(key, s);
}

/** The outer hash of the inner digest in s.mac: s.mac is the MAC. */
function outer(key: HmacKey, s: MacScratch): void {
  const w = s.block;
  const h = s.mac;
  const n = key.words;
  // Outer: the inner digest, padded, after the outer key block.
  for (let i = 0; i < n; i++) w[i] = h[i];
  w[n] = 0x8000_0000 | 0;
  for (let i = n + 1; i < BLOCK_WORDS - 1; i++) w[i] = 0;
  w[BLOCK_WORDS - 1] = (BLOCK_BYTES + 4 * n) * 8;
  for (let i = 0; i < n; i++) h[i] = key.outer[i];
  key.compress(h, w);
}

const PLAIN_SHA256: HashStart = { inner: new Int32Array(IV256), prefixBytes: 0, words: 8, compress: compress256 };

/**
 * SHA-256 of a short message fed in parts, in plain TypeScript: for hashes of a few dozen bytes
 * (the commitment's tree nodes and leaves), where a node:crypto call costs several times the
 * hashing. Bit-identical to node:crypto's (tested). Each instance has its own memory.
 */
export class ShortSha256 {
  private readonly s = new MacScratch(0);

  begin(): this {
    begin(PLAIN_SHA256, this.s);
    return this;
  }

  update(src: Uint8Array, start = 0, end = src.length): this {
    feed(PLAIN_SHA256, this.s, src, start, end);
    return this;
  }

  /** The digest, in a new Buffer. */
  digest(): Buffer {
    finishInner(PLAIN_SHA256, this.s);
    const out = Buffer.allocUnsafe(32);
    writeWords(this.s.mac, 8, out, 0);
    return out;
  }
}

/** n big-endian words of h into out[off..). */
function writeWords(h: Int32Array, n: number, out: Uint8Array, off: number): void {
  for (let i = 0; i < n; i++) {
    const v = h[i];
    const j = off + (i << 2);
    out[j] = v >>> 24;
    out[j + 1] = v >>> 16;
    out[j + 2] = v >>> 8;
    out[j + 3] = v;
  }
}

const HEX = '0123456789abcdef';
const HEX_CODES = new Uint8Array(16);
for (let i = 0; i < 16; i++) HEX_CODES[i] = HEX.charCodeAt(i);

/** A hex digit's code, lowercased (a no-op on '0'–'9' and anything not 'A'–'F'). */
function lowerHex(c: number): number {
  return c >= 0x41 && c <= 0x46 ? c | 0x20 : c;
}

/**
 * Constant-time, case-insensitive comparison of s.mac with the hex digits in
 * hex[off..off + 2 × digest length).
 */
export function macEqualsHex(key: HmacKey, s: MacScratch, hex: Uint8Array, off: number): boolean {
  const h = s.mac;
  let diff = 0;
  for (let i = 0; i < key.words; i++) {
    const v = h[i];
    for (let sh = 28, j = off + i * 8; sh >= 0; sh -= 4, j++) diff |= lowerHex(hex[j]) ^ HEX_CODES[(v >>> sh) & 15];
  }
  return diff === 0;
}

/** s.mac as lowercase hex digits into out[off..). */
export function writeMacHex(key: HmacKey, s: MacScratch, out: Uint8Array, off: number): void {
  const h = s.mac;
  for (let i = 0; i < key.words; i++) {
    const v = h[i];
    for (let sh = 28, j = off + i * 8; sh >= 0; sh -= 4, j++) out[j] = HEX_CODES[(v >>> sh) & 15];
  }
}

// The functions below take their whole message as arguments and give their whole result back:
// they share this memory within one call only (single-threaded, never re-entered).
const WORK = new MacScratch();

/** An ASCII string's codes into s.msg at `at`; the end, or -1 if it has a code ≥ 0x80. */
function copyAscii(s: MacScratch, str: string, at: number): number {
  const m = s.msg;
  let bad = 0;
  for (let i = 0; i < str.length; i++) {
    const c = str.charCodeAt(i);
    bad |= c;
    m[at++] = c;
  }
  return bad >= 0x80 ? -1 : at;
}

/** The key's inner block, then a long message: node:crypto's input for an inner hash. */
const LONG = Buffer.allocUnsafeSlow(BLOCK_BYTES + LONG_MAX);

/** The key whose inner block LONG holds. */
let longKey: HmacKey | undefined;

/** Copy src[start..end) into LONG at `at`; returns where it ends. */
function toLong(src: Uint8Array, start: number, end: number, at: number): number {
  // A short range byte by byte: a native copy costs more than a few dozen bytes' loop.
  if (end - start < 64) {
    for (let i = start; i < end; i++) LONG[at++] = src[i];
    return at;
  }
  LONG.set(src.subarray(start, end), at);
  return at + (end - start);
}

/**
 * LONG[BLOCK_BYTES..len) is a message (after the key's inner block): its MAC into WORK.mac, the
 * inner hash by node:crypto, the outer one here.
 */
function macLong(key: HmacKey, len: number): void {
  // The block stays in LONG between messages: copied again only for another key.
  if (longKey !== key) {
    LONG.set(key.innerBlock, 0);
    longKey = key;
  }
  const d = hash(key.algorithm, LONG.subarray(0, len), 'buffer');
  const h = WORK.mac;
  for (let i = 0, j = 0; i < key.words; i++, j += 4) h[i] = (d[j] << 24) | (d[j + 1] << 16) | (d[j + 2] << 8) | d[j + 3];
  outer(key, WORK);
}

/** HMAC of a[aStart..aEnd) ‖ b[bStart..bEnd) (a datagram at most) into WORK.mac. */
function macTwo(key: HmacKey, a: Uint8Array, aStart: number, aEnd: number, b: Uint8Array, bStart: number, bEnd: number): void {
  if (aEnd - aStart + (bEnd - bStart) > key.fastMax) {
    macLong(key, toLong(b, bStart, bEnd, toLong(a, aStart, aEnd, BLOCK_BYTES)));
    return;
  }
  begin(key, WORK);
  feed(key, WORK, a, aStart, aEnd);
  feed(key, WORK, b, bStart, bEnd);
  end(key, WORK);
}

/**
 * HMAC over a[aStart..aEnd) ‖ b[bStart..bEnd), written to out[outOff..). The two ranges may
 * be parts of one buffer (QCF1: the datagram without its MAC field), and `out` may be that
 * buffer too (the MAC field).
 */
export function hmacTwoInto(
  key: HmacKey,
  a: Uint8Array,
  aStart: number,
  aEnd: number,
  b: Uint8Array,
  bStart: number,
  bEnd: number,
  out: Uint8Array,
  outOff: number,
): void {
  macTwo(key, a, aStart, aEnd, b, bStart, bEnd);
  writeWords(WORK.mac, key.words, out, outOff);
}

/**
 * Constant-time check that HMAC over a[aStart..aEnd) ‖ b[bStart..bEnd) equals
 * mac[macOff..macOff + digest length).
 */
export function hmacTwoEquals(
  key: HmacKey,
  a: Uint8Array,
  aStart: number,
  aEnd: number,
  b: Uint8Array,
  bStart: number,
  bEnd: number,
  mac: Uint8Array,
  macOff: number,
): boolean {
  macTwo(key, a, aStart, aEnd, b, bStart, bEnd);
  // Word against word, every word looked at.
  const h = WORK.mac;
  let diff = 0;
  for (let i = 0, j = macOff; i < key.words; i++, j += 4) diff |= h[i] ^ ((mac[j] << 24) | (mac[j + 1] << 16) | (mac[j + 2] << 8) | mac[j + 3]);
  return diff === 0;
}

/**
 * Constant-time, case-insensitive comparison of HMAC(s1 ‖ s2) with the hex text `received`.
 * Undefined when either string is not ASCII or they are too long (the caller uses node:crypto).
 */
export function hmacAsciiHexEquals(key: HmacKey, s1: string, s2: string, received: string): boolean | undefined {
  if (s1.length + s2.length > key.fastMax) return undefined;
  const at = copyAscii(WORK, s1, 0);
  const len = at < 0 ? -1 : copyAscii(WORK, s2, at);
  if (len < 0) return undefined;
  macInto(key, WORK, len);
  if (received.length !== key.words * 8) return false;
  const h = WORK.mac;
  let diff = 0;
  for (let i = 0; i < key.words; i++) {
    const v = h[i];
    for (let sh = 28, j = i * 8; sh >= 0; sh -= 4, j++) diff |= lowerHex(received.charCodeAt(j)) ^ HEX_CODES[(v >>> sh) & 15];
  }
  return diff === 0;
}

/**
 * HMAC(ascii string ‖ bytes[start..end)) written as lowercase hex digits into out[off..). The
 * string must be ASCII (the caller checks).
 */
export function hmacStringBytesHexInto(key: HmacKey, s: string, bytes: Uint8Array, start: number, endAt: number, out: Uint8Array, off: number): void {
  const at = s.length + (endAt - start) > key.fastMax ? -1 : copyAscii(WORK, s, 0);
  if (at >= 0) {
    begin(key, WORK);
    feed(key, WORK, WORK.msg, 0, at);
    feed(key, WORK, bytes, start, endAt);
    end(key, WORK);
  } else {
    macLong(key, toLong(bytes, start, endAt, BLOCK_BYTES + LONG.write(s, BLOCK_BYTES, 'latin1')));
  }
  writeMacHex(key, WORK, out, off);
}
