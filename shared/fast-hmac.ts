// HMAC-SHA256 (QCF1) and HMAC-SHA1 (plj0) of short messages without allocation: each key's
// inner and outer pad states are hashed once, and a message is read straight out of the
// caller's buffers (or the char codes of ASCII strings). For datagrams of a few hundred bytes
// this costs less than node:crypto's createHmac, whose per-call setup (a new Hmac object, the
// key's pads, a digest Buffer) dominates at that size; longer messages go to node:crypto, which
// is faster per byte. Results are bit-identical to createHmac's (tested).
import { createHash, createHmac } from 'node:crypto';
import { BLOCK_BYTES, IV1, IV256, compress1, compress256, type Compress } from './sha.js';

/**
 * HMAC-SHA1 messages longer than this (bytes) are handed to node:crypto: past it, node:crypto's
 * speed per byte outweighs its setup per call. The largest message a key takes here.
 */
export const FAST_HMAC_MAX = 768;
/** The same for HMAC-SHA256, whose blocks take longer here (the two cost alike at about 550 bytes). */
const FAST_HMAC_SHA256_MAX = 512;

export type HmacAlgorithm = 'sha256' | 'sha1';

/** Room after a message for its padding: 0x80, zeros, the 8-byte length (at most a block). */
const PADDING_ROOM = 2 * BLOCK_BYTES;
/** The bytes of the message length at the end of the last block. */
const LENGTH_BYTES = 8;
const IPAD = 0x36;
const OPAD = 0x5c;

/** A key prepared for HMAC: its inner and outer states (after the padded key block). */
export class HmacKey {
  readonly inner: Int32Array;
  readonly outer: Int32Array;
  /** Digest length in 32-bit words (8 or 5). */
  readonly words: number;
  readonly compress: Compress;
  /** Longer messages are MACed by node:crypto. */
  readonly fastMax: number;

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
    // Buffers, like the messages: the compression functions see one kind of array only.
    const ipad = Buffer.alloc(BLOCK_BYTES, IPAD);
    const opad = Buffer.alloc(BLOCK_BYTES, OPAD);
    for (let i = 0; i < k.length; i++) {
      ipad[i] ^= k[i];
      opad[i] ^= k[i];
    }
    this.inner = new Int32Array(is256 ? IV256 : IV1);
    this.outer = new Int32Array(is256 ? IV256 : IV1);
    this.compress(this.inner, ipad, 0);
    this.compress(this.outer, opad, 0);
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
  /** The message, from offset 0 (up to `capacity` bytes), then room for its padding. */
  readonly msg: Buffer;
  /** The MAC macInto computed last, as big-endian words (8 for SHA-256, 5 for SHA-1). */
  readonly mac = new Int32Array(8);
  /** The outer hash's one block for SHA-256 and for SHA-1: the inner digest, then its padding (written once). */
  readonly outer256 = outerBlock(32);
  readonly outer1 = outerBlock(20);

  constructor(readonly capacity = FAST_HMAC_MAX) {
    // A Buffer, so that native copies can fill it.
    this.msg = Buffer.allocUnsafeSlow(capacity + PADDING_ROOM);
  }
}

/** A block for the outer hash of a `digestBytes`-byte inner digest, its padding written. */
function outerBlock(digestBytes: number): Buffer {
  const b = Buffer.alloc(BLOCK_BYTES);
  b[digestBytes] = 0x80;
  const bits = (BLOCK_BYTES + digestBytes) * 8;
  b[BLOCK_BYTES - 2] = bits >>> 8;
  b[BLOCK_BYTES - 1] = bits;
  return b;
}

/** HMAC of s.msg[0..len) (len ≤ s.capacity) into s.mac; msg's bytes past len are overwritten. */
export function macInto(key: HmacKey, s: MacScratch, len: number): void {
  startInner(key, s);
  const whole = len & -BLOCK_BYTES;
  for (let o = 0; o < whole; o += BLOCK_BYTES) key.compress(s.mac, s.msg, o);
  finish(key, s, whole, len - whole, len);
}

/** s.mac := the key's inner state, ready for the message. */
function startInner(key: HmacKey, s: MacScratch): void {
  const h = s.mac;
  for (let i = 0; i < key.words; i++) h[i] = key.inner[i];
}

/**
 * The message's last bytes, s.msg[at..at + tail) (tail < a block), padded and hashed, then the
 * outer hash: s.mac is the MAC. `len` is the whole message's length.
 */
function finish(key: HmacKey, s: MacScratch, at: number, tail: number, len: number): void {
  const h = s.mac;
  const m = s.msg;
  const n = key.words;
  const compress = key.compress;
  // Padding: 0x80, zeros to 56 mod 64, the bit length (the key block included) big-endian.
  let p = at + tail;
  m[p++] = 0x80;
  const z = at + ((tail + 1 + LENGTH_BYTES + BLOCK_BYTES - 1) & -BLOCK_BYTES) - LENGTH_BYTES; // where the length goes
  while (p < z) m[p++] = 0;
  const bits = (len + BLOCK_BYTES) * 8;
  m[p] = 0;
  m[p + 1] = 0;
  m[p + 2] = 0;
  m[p + 3] = bits < 0x1_0000_0000 ? 0 : bits / 0x1_0000_0000;
  m[p + 4] = bits >>> 24;
  m[p + 5] = bits >>> 16;
  m[p + 6] = bits >>> 8;
  m[p + 7] = bits;
  p += LENGTH_BYTES;
  for (let o = at; o < p; o += BLOCK_BYTES) compress(h, m, o);
  // Outer: the inner digest, padded, after the outer key block.
  const ob = n === 8 ? s.outer256 : s.outer1;
  writeWords(h, n, ob, 0);
  for (let i = 0; i < n; i++) h[i] = key.outer[i];
  compress(h, ob, 0);
}

/**
 * src[start..end) into the inner hash, after `fill` bytes already waiting in s.msg: whole blocks
 * are hashed straight from src (no copy), what is left of a block waits in s.msg. The new fill.
 */
function feed(key: HmacKey, s: MacScratch, fill: number, src: Uint8Array, start: number, end: number): number {
  const m = s.msg;
  if (fill > 0) {
    const stop = Math.min(end, start + BLOCK_BYTES - fill);
    while (start < stop) m[fill++] = src[start++];
    if (fill < BLOCK_BYTES) return fill;
    key.compress(s.mac, m, 0);
    fill = 0;
  }
  for (; end - start >= BLOCK_BYTES; start += BLOCK_BYTES) key.compress(s.mac, src, start);
  while (start < end) m[fill++] = src[start++];
  return fill;
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
const MAC_BYTES = new Uint8Array(32);

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
  const len = aEnd - aStart + (bEnd - bStart);
  if (len > key.fastMax) {
    const d = createHmac(key.algorithm, key.bytes).update(a.subarray(aStart, aEnd)).update(b.subarray(bStart, bEnd)).digest();
    for (let i = 0; i < d.length; i++) out[outOff + i] = d[i];
    return;
  }
  startInner(key, WORK);
  const fill = feed(key, WORK, feed(key, WORK, 0, a, aStart, aEnd), b, bStart, bEnd);
  finish(key, WORK, 0, fill, len);
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
  hmacTwoInto(key, a, aStart, aEnd, b, bStart, bEnd, MAC_BYTES, 0);
  let diff = 0;
  const n = key.words * 4;
  for (let i = 0; i < n; i++) diff |= MAC_BYTES[i] ^ mac[macOff + i];
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
  const len = s.length + (endAt - start);
  // The salt (shorter than a block) goes first, as a partial block.
  const at = len > key.fastMax || s.length >= BLOCK_BYTES ? -1 : copyAscii(WORK, s, 0);
  if (at >= 0) {
    startInner(key, WORK);
    finish(key, WORK, 0, feed(key, WORK, at, bytes, start, endAt), len);
    writeMacHex(key, WORK, out, off);
    return;
  }
  const d = createHmac(key.algorithm, key.bytes).update(s, 'latin1').update(bytes.subarray(start, endAt)).digest();
  for (let i = 0; i < d.length; i++) {
    out[off + 2 * i] = HEX_CODES[d[i] >>> 4];
    out[off + 2 * i + 1] = HEX_CODES[d[i] & 15];
  }
}
