// HMAC-SHA256 and HMAC-SHA1 for short messages, without allocation: the key's inner and outer
// hash states are computed once per key, and a message is read straight out of the caller's
// buffers (or the char codes of Latin-1 strings). For the datagrams qconfd handles (a few
// hundred bytes) this costs less than node:crypto's createHmac, whose per-call setup (a new
// Hmac object, the key schedule, a digest Buffer) dominates at that size; long messages go to
// node:crypto, which is faster per byte. Results are bit-identical to createHmac's (tested).
//
// The MACs are computed by WebAssembly (sha.wat, through sha-wasm-hmac.ts), about 1.6× as fast
// as the best JS here. It is compiled when a key is first warm: until then (a short-lived
// process that MACs a message or two never pays for compiling), and where wasm is unavailable,
// by JS: plain compression functions at first, unrolled ones once a key is warm.
import { createHash, createHmac } from 'node:crypto';
import { createWasmHmacMemory, instantiateWasmHmac, type WasmHmac } from './sha-wasm-hmac.js';

/** Messages longer than this (bytes) are handed to node:crypto. */
export const FAST_HMAC_MAX = 768;

const K256 = new Int32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01,
  0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc,
  0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147,
  0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08,
  0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
  0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);
const IV256 = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];
const IV1 = [0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0];

// Scratch, shared by every call (single-threaded, never re-entered): W, BLOCK, H below.

// The compression functions are generated once, at load, as straight-line code: every round
// unrolled, the message schedule in 16 local variables. V8 compiles that to register code about
// 1.5x faster than the rolled loops (compress256Reference / compress1Reference below, which the
// tests check them against). Each reads one 64-byte block of `b` at offset `o`.
export type Compress = (h: Int32Array, b: Uint8Array, o: number) => void;

function loadWords(): string {
  let src = '';
  for (let t = 0; t < 16; t++) {
    const j = t * 4;
    src += `let w${t} = (b[o + ${j}] << 24) | (b[o + ${j + 1}] << 16) | (b[o + ${j + 2}] << 8) | b[o + ${j + 3}];\n`;
  }
  return src;
}

function generate256(): Compress {
  let src = loadWords();
  src += 'let a = h[0], b1 = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], k = h[7], t1 = 0, t2 = 0, x = 0, y = 0;\n';
  let r = ['a', 'b1', 'c', 'd', 'e', 'f', 'g', 'k'];
  for (let t = 0; t < 64; t++) {
    const [A, B, C, D, E, F, G, H] = r;
    const w = `w${t % 16}`;
    if (t >= 16) {
      src += `x = w${(t - 15) % 16}; y = w${(t - 2) % 16};\n`;
      src += `${w} = (${w} + (((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3)) + w${(t - 7) % 16} + (((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10))) | 0;\n`;
    }
    src += `t1 = (${H} + (((${E} >>> 6) | (${E} << 26)) ^ ((${E} >>> 11) | (${E} << 21)) ^ ((${E} >>> 25) | (${E} << 7))) + ((${E} & ${F}) ^ (~${E} & ${G})) + ${K256[t]} + ${w}) | 0;\n`;
    src += `t2 = ((((${A} >>> 2) | (${A} << 30)) ^ ((${A} >>> 13) | (${A} << 19)) ^ ((${A} >>> 22) | (${A} << 10))) + ((${A} & ${B}) ^ (${A} & ${C}) ^ (${B} & ${C}))) | 0;\n`;
    src += `${D} = (${D} + t1) | 0; ${H} = (t1 + t2) | 0;\n`;
    r = [H, A, B, C, D, E, F, G];
  }
  r.forEach((v, i) => (src += `h[${i}] = (h[${i}] + ${v}) | 0;\n`));
  return new Function('h', 'b', 'o', src) as Compress;
}

function generate1(): Compress {
  let src = loadWords();
  src += 'let a = h[0], b1 = h[1], c = h[2], d = h[3], e = h[4], x = 0;\n';
  let r = ['a', 'b1', 'c', 'd', 'e'];
  for (let t = 0; t < 80; t++) {
    const [A, B, C, D, E] = r;
    const w = `w${t % 16}`;
    if (t >= 16) src += `x = w${(t - 3) % 16} ^ w${(t - 8) % 16} ^ w${(t - 14) % 16} ^ ${w}; ${w} = (x << 1) | (x >>> 31);\n`;
    const f = t < 20 ? `((${B} & ${C}) | (~${B} & ${D}))` : t < 40 || t >= 60 ? `(${B} ^ ${C} ^ ${D})` : `((${B} & ${C}) | (${B} & ${D}) | (${C} & ${D}))`;
    const k = t < 20 ? 0x5a827999 : t < 40 ? 0x6ed9eba1 : t < 60 ? 0x8f1bbcdc | 0 : 0xca62c1d6 | 0;
    src += `${E} = (((${A} << 5) | (${A} >>> 27)) + ${f} + ${E} + ${k} + ${w}) | 0; ${B} = (${B} << 30) | (${B} >>> 2);\n`;
    r = [E, A, B, C, D];
  }
  r.forEach((v, i) => (src += `h[${i}] = (h[${i}] + ${v}) | 0;\n`));
  return new Function('h', 'b', 'o', src) as Compress;
}

// Generated on first need: a short-lived process (the qconf CLI signs a request or two) keeps
// the rolled reference functions and never pays for generating and compiling the unrolled ones.
let fast256: Compress | undefined;
let fast1: Compress | undefined;

/** The unrolled compression function for `algorithm` (generated on first call). */
export function unrolled(algorithm: 'sha256' | 'sha1'): Compress {
  if (algorithm === 'sha256') return (fast256 ??= generate256());
  return (fast1 ??= generate1());
}

/** A key switches to wasm (or the unrolled functions) after this many MACs. */
const WARM_USES = 64;

const W = new Int32Array(80);

/** The plain SHA-256 compression (the generated one must agree with it; see the tests). */
export function compress256Reference(h: Int32Array, b: Uint8Array, o: number): void {

  const w = W;
  for (let t = 0; t < 16; t++) {
    const j = t << 2;
    w[t] = (b[o + j] << 24) | (b[o + j + 1] << 16) | (b[o + j + 2] << 8) | b[o + j + 3];
  }
  for (let t = 16; t < 64; t++) {
    const x = w[t - 15];
    const y = w[t - 2];
    const s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
    const s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
    w[t] = (w[t - 16] + s0 + w[t - 7] + s1) | 0;
  }
  let a = h[0];
  let bb = h[1];
  let c = h[2];
  let d = h[3];
  let e = h[4];
  let f = h[5];
  let g = h[6];
  let hh = h[7];
  for (let t = 0; t < 64; t++) {
    const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
    const ch = (e & f) ^ (~e & g);
    const t1 = (hh + S1 + ch + K256[t] + w[t]) | 0;
    const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
    const maj = (a & bb) ^ (a & c) ^ (bb & c);
    const t2 = (S0 + maj) | 0;
    hh = g;
    g = f;
    f = e;
    e = (d + t1) | 0;
    d = c;
    c = bb;
    bb = a;
    a = (t1 + t2) | 0;
  }
  h[0] = (h[0] + a) | 0;
  h[1] = (h[1] + bb) | 0;
  h[2] = (h[2] + c) | 0;
  h[3] = (h[3] + d) | 0;
  h[4] = (h[4] + e) | 0;
  h[5] = (h[5] + f) | 0;
  h[6] = (h[6] + g) | 0;
  h[7] = (h[7] + hh) | 0;
}

/** The plain SHA-1 compression. */
export function compress1Reference(h: Int32Array, b: Uint8Array, o: number): void {
  const w = W;
  for (let t = 0; t < 16; t++) {
    const j = t << 2;
    w[t] = (b[o + j] << 24) | (b[o + j + 1] << 16) | (b[o + j + 2] << 8) | b[o + j + 3];
  }
  for (let t = 16; t < 80; t++) {
    const x = w[t - 3] ^ w[t - 8] ^ w[t - 14] ^ w[t - 16];
    w[t] = (x << 1) | (x >>> 31);
  }
  let a = h[0];
  let bb = h[1];
  let c = h[2];
  let d = h[3];
  let e = h[4];
  for (let t = 0; t < 80; t++) {
    let f: number;
    let k: number;
    if (t < 20) {
      f = (bb & c) | (~bb & d);
      k = 0x5a827999;
    } else if (t < 40) {
      f = bb ^ c ^ d;
      k = 0x6ed9eba1;
    } else if (t < 60) {
      f = (bb & c) | (bb & d) | (c & d);
      k = 0x8f1bbcdc;
    } else {
      f = bb ^ c ^ d;
      k = 0xca62c1d6;
    }
    const tmp = (((a << 5) | (a >>> 27)) + f + e + k + w[t]) | 0;
    e = d;
    d = c;
    c = (bb << 30) | (bb >>> 2);
    bb = a;
    a = tmp;
  }
  h[0] = (h[0] + a) | 0;
  h[1] = (h[1] + bb) | 0;
  h[2] = (h[2] + c) | 0;
  h[3] = (h[3] + d) | 0;
  h[4] = (h[4] + e) | 0;
}


/** A key prepared for HMAC: its inner and outer states (after the padded key block). */
export class HmacKey {
  readonly inner: Int32Array;
  readonly outer: Int32Array;
  /** Digest length in 32-bit words (8 or 5). */
  readonly words: number;
  /** The JS path's compression function: the reference one at first, the unrolled one once warm. */
  compress: Compress;
  /** MACs computed with this key, up to WARM_USES. */
  uses = 0;

  constructor(
    readonly algorithm: 'sha256' | 'sha1',
    readonly bytes: Buffer,
  ) {
    const is256 = algorithm === 'sha256';
    this.words = is256 ? 8 : 5;
    this.compress = is256 ? compress256Reference : compress1Reference;
    let k: Uint8Array = bytes;
    // HMAC's rule for keys longer than a block: hash them first (as node:crypto does).
    if (k.length > 64) k = createHash(algorithm).update(bytes).digest();
    // Buffers, like the scratch: the compression functions see one kind of array only.
    const ipad = Buffer.alloc(64, 0x36);
    const opad = Buffer.alloc(64, 0x5c);
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
export function hmacKey(algorithm: 'sha256' | 'sha1', bytes: Buffer): HmacKey {
  if (bytes === lastBytes && lastKey !== undefined && lastKey.algorithm === algorithm) return lastKey;
  let e = keyCache.get(bytes);
  if (!e) keyCache.set(bytes, (e = {}));
  let k = e[algorithm];
  if (!k) e[algorithm] = k = new HmacKey(algorithm, bytes);
  lastBytes = bytes;
  lastKey = k;
  return k;
}

// Scratch, shared by every call (single-threaded, never re-entered): the message with its
// padding, the outer block, the state. MSG is a Buffer so that native copies can fill it.
// Where wasm can be used, MSG and STATE are views on its memory: callers that fill the scratch
// themselves fill the module's input, and the JS path and the wasm one leave the MAC in one H.
const WASM_MEMORY = createWasmHmacMemory();
const MSG: Buffer = WASM_MEMORY?.msg.subarray(0, FAST_HMAC_MAX + 128) ?? Buffer.allocUnsafeSlow(FAST_HMAC_MAX + 128);
const OUTER: Buffer = Buffer.alloc(64);
/** The wasm key's inner state at 0..7, its outer state at 8..15; H at 16..23. */
const STATE: Int32Array = WASM_MEMORY?.state ?? new Int32Array(24);
const H = STATE.subarray(16, 24);

/** Which code computes the MACs (see useHmacEngine). */
export type HmacEngine = 'auto' | 'wasm' | 'js';
let engine: HmacEngine = 'auto';
/** Compiled on first need; null where it cannot be. */
let wasm: WasmHmac | null | undefined;
/** The key whose states are in STATE[0..16). */
let wasmKey: HmacKey | undefined;

function loadWasm(): WasmHmac | undefined {
  if (wasm === undefined) wasm = (WASM_MEMORY && instantiateWasmHmac(WASM_MEMORY)) ?? null;
  return wasm ?? undefined;
}

/**
 * Chooses the code that computes the MACs, for tests and benchmarks. 'auto', the default: wasm,
 * compiled once a key is warm (until then, and where wasm is unavailable, JS); 'wasm': wasm for
 * every MAC, compiled now; 'js': never wasm. False when wasm is asked for and unavailable (the
 * JS path is used then).
 */
export function useHmacEngine(e: HmacEngine): boolean {
  engine = e;
  return e === 'js' || loadWasm() !== undefined;
}

/** HMAC of MSG[0..len); the MAC's words are left in H. */
function run(key: HmacKey, len: number): void {
  if (key.uses < WARM_USES) key.uses++;
  const warm = key.uses === WARM_USES;
  // A cold key takes wasm only if it is compiled already (for another key, or by 'wasm').
  const w = engine === 'js' ? undefined : warm || engine === 'wasm' ? loadWasm() : (wasm ?? undefined);
  if (w !== undefined) {
    if (wasmKey !== key) {
      // A daemon has a key or two: the states are rewritten only when the key changes.
      for (let i = 0; i < key.words; i++) {
        STATE[i] = key.inner[i];
        STATE[8 + i] = key.outer[i];
      }
      wasmKey = key;
    }
    if (key.words === 8) w.hmac256(len);
    else w.hmac1(len);
    return;
  }
  if (warm) key.compress = unrolled(key.algorithm);
  runJs(key, len);
}

/** run's JS path. */
function runJs(key: HmacKey, len: number): void {
  const h = H;
  const n = key.words;
  const compress = key.compress;
  for (let i = 0; i < n; i++) h[i] = key.inner[i];
  // Padding: 0x80, zeros to 56 mod 64, the bit length (the key block included) big-endian.
  let p = len;
  MSG[p++] = 0x80;
  const z = ((p + 8 + 63) & ~63) - 8; // where the length goes
  while (p < z) MSG[p++] = 0;
  const bits = (len + 64) * 8;
  MSG[p] = 0;
  MSG[p + 1] = 0;
  MSG[p + 2] = 0;
  MSG[p + 3] = bits / 0x1_0000_0000;
  MSG[p + 4] = bits >>> 24;
  MSG[p + 5] = bits >>> 16;
  MSG[p + 6] = bits >>> 8;
  MSG[p + 7] = bits;
  p += 8;
  for (let o = 0; o < p; o += 64) compress(h, MSG, o);
  // Outer: the inner digest, padded, after the outer key block.
  const dl = n * 4;
  for (let i = 0; i < n; i++) {
    const v = h[i];
    const j = i << 2;
    OUTER[j] = v >>> 24;
    OUTER[j + 1] = v >>> 16;
    OUTER[j + 2] = v >>> 8;
    OUTER[j + 3] = v;
  }
  OUTER[dl] = 0x80;
  for (let i = dl + 1; i < 62; i++) OUTER[i] = 0;
  const obits = (64 + dl) * 8;
  OUTER[62] = obits >>> 8;
  OUTER[63] = obits;
  for (let i = 0; i < n; i++) h[i] = key.outer[i];
  compress(h, OUTER, 0);
}

function copyIn(src: Uint8Array, start: number, end: number, at: number): number {
  // Short ranges by a loop: cheaper than a native copy's call overhead (and its view's
  // allocation), which costs about as much as copying 128 bytes this way.
  if (end - start > 128) {
    MSG.set(src.subarray(start, end), at);
    return at + (end - start);
  }
  for (let i = start; i < end; i++) MSG[at++] = src[i];
  return at;
}

/**
 * For callers that assemble a message themselves: the scratch to write it into (its first
 * `FAST_HMAC_MAX` bytes), then `macScratch(key, len)`, then `writeMac`.
 */
export const HMAC_SCRATCH: Buffer = MSG;

/** HMAC of HMAC_SCRATCH[0..len) (len ≤ FAST_HMAC_MAX); read it with writeMac. */
export function macScratch(key: HmacKey, len: number): void {
  run(key, len);
}

/**
 * Constant-time, case-insensitive comparison of the MAC computed last (by macScratch) with the
 * hex digits in hex[off..off + 2×digest length).
 */
export function macEqualsHex(key: HmacKey, hex: Uint8Array, off: number): boolean {
  let diff = 0;
  for (let i = 0; i < key.words; i++) {
    const v = H[i];
    for (let s = 28, j = off + i * 8; s >= 0; s -= 4, j++) {
      const c = hex[j];
      const lower = c >= 0x41 && c <= 0x46 ? c | 0x20 : c;
      diff |= lower ^ HEX_CODES[(v >>> s) & 15];
    }
  }
  return diff === 0;
}

/** The MAC computed last (by macScratch), as lowercase hex digits into out[off..). */
export function writeMacHex(key: HmacKey, out: Uint8Array, off: number): void {
  for (let i = 0; i < key.words; i++) {
    const v = H[i];
    for (let sh = 28, j = off + i * 8; sh >= 0; sh -= 4, j++) out[j] = HEX_CODES[(v >>> sh) & 15];
  }
}

/** The MAC computed last (by macScratch), written to out[off..). */
export function writeMac(key: HmacKey, out: Uint8Array, off: number): void {
  writeWords(key.words, out, off);
}

function writeWords(n: number, out: Uint8Array, off: number): void {
  for (let i = 0; i < n; i++) {
    const v = H[i];
    const j = off + (i << 2);
    out[j] = v >>> 24;
    out[j + 1] = v >>> 16;
    out[j + 2] = v >>> 8;
    out[j + 3] = v;
  }
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
  if (len > FAST_HMAC_MAX) {
    const d = createHmac(key.algorithm, key.bytes).update(a.subarray(aStart, aEnd)).update(b.subarray(bStart, bEnd)).digest();
    for (let i = 0; i < d.length; i++) out[outOff + i] = d[i];
    return;
  }
  copyIn(b, bStart, bEnd, copyIn(a, aStart, aEnd, 0));
  run(key, len);
  writeWords(key.words, out, outOff);
}

const SCRATCH = new Uint8Array(32);

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
  hmacTwoInto(key, a, aStart, aEnd, b, bStart, bEnd, SCRATCH, 0);
  let diff = 0;
  const n = key.words * 4;
  for (let i = 0; i < n; i++) diff |= SCRATCH[i] ^ mac[macOff + i];
  return diff === 0;
}

/** Copy an ASCII string's codes into MSG at `at`; -1 if it has a code ≥ 0x80. */
function copyAscii(s: string, at: number): number {
  let bad = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    bad |= c;
    MSG[at++] = c;
  }
  return bad >= 0x80 ? -1 : at;
}

const HEX = '0123456789abcdef';
const HEX_CODES = new Uint8Array(16);
for (let i = 0; i < 16; i++) HEX_CODES[i] = HEX.charCodeAt(i);

/** HMAC over the ASCII strings s1 ‖ s2 into H; false when either is not ASCII or too long. */
function hmacAscii(key: HmacKey, s1: string, s2: string): boolean {
  if (s1.length + s2.length > FAST_HMAC_MAX) return false;
  const at = copyAscii(s1, 0);
  if (at < 0) return false;
  const len = copyAscii(s2, at);
  if (len < 0) return false;
  run(key, len);
  return true;
}

/** HMAC(s1 ‖ s2) as lowercase hex, for ASCII strings; undefined when either is not ASCII or too long. */
export function hmacAsciiHex(key: HmacKey, s1: string, s2: string): string | undefined {
  if (!hmacAscii(key, s1, s2)) return undefined;
  let out = '';
  for (let i = 0; i < key.words; i++) {
    const v = H[i];
    for (let s = 28; s >= 0; s -= 4) out += HEX[(v >>> s) & 15];
  }
  return out;
}

/**
 * Constant-time, case-insensitive comparison of HMAC(s1 ‖ s2) with the hex text `received`.
 * Undefined when the fast path does not apply (non-ASCII or long input).
 */
export function hmacAsciiHexEquals(key: HmacKey, s1: string, s2: string, received: string): boolean | undefined {
  if (!hmacAscii(key, s1, s2)) return undefined;
  if (received.length !== key.words * 8) return false;
  let diff = 0;
  for (let i = 0; i < key.words; i++) {
    const v = H[i];
    for (let s = 28, j = i * 8; s >= 0; s -= 4, j++) {
      // Lowercase the received digit (a no-op on '0'–'9'), compare with the expected one.
      const c = received.charCodeAt(j);
      const lower = c >= 0x41 && c <= 0x46 ? c | 0x20 : c;
      diff |= lower ^ HEX_CODES[(v >>> s) & 15];
    }
  }
  return diff === 0;
}

/**
 * HMAC(ascii string ‖ bytes[start..end)) written as lowercase hex digits into out[off..). The
 * string must be ASCII (the caller checks).
 */
export function hmacStringBytesHexInto(key: HmacKey, s: string, bytes: Uint8Array, start: number, endAt: number, out: Uint8Array, off: number): void {
  const len = s.length + (endAt - start);
  let at = len > FAST_HMAC_MAX ? -1 : copyAscii(s, 0);
  if (at >= 0) {
    at = copyIn(bytes, start, endAt, at);
    run(key, len);
    for (let i = 0; i < key.words; i++) {
      const v = H[i];
      for (let sh = 28, j = off + i * 8; sh >= 0; sh -= 4, j++) out[j] = HEX_CODES[(v >>> sh) & 15];
    }
    return;
  }
  const d = createHmac(key.algorithm, key.bytes).update(s, 'latin1').update(bytes.subarray(start, endAt)).digest();
  for (let i = 0; i < d.length; i++) {
    out[off + 2 * i] = HEX_CODES[d[i] >>> 4];
    out[off + 2 * i + 1] = HEX_CODES[d[i] & 15];
  }
}
