// The SHA-256 and SHA-1 compression functions, in plain TypeScript: one 64-byte block into a
// hash state. fast-hmac.ts runs them on short messages, where node:crypto's per-call setup costs
// more than the hashing; everything else hashes with node:crypto.

/** A compression function: the block b[o..o + 64) into the state h. */
export type Compress = (h: Int32Array, b: Uint8Array, o: number) => void;

/** Bytes in a block. */
export const BLOCK_BYTES = 64;

const K256 = new Int32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01,
  0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc,
  0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147,
  0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08,
  0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
  0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);

/** SHA-256's initial state (FIPS 180-4 §5.3.3). */
export const IV256: readonly number[] = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];
/** SHA-1's initial state (FIPS 180-4 §5.3.1). */
export const IV1: readonly number[] = [0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0];

/** SHA-1's round constants, one per 20 rounds (as signed 32-bit values). */
const K1_0 = 0x5a827999;
const K1_1 = 0x6ed9eba1;
const K1_2 = 0x8f1bbcdc | 0;
const K1_3 = 0xca62c1d6 | 0;

// The message schedule: working memory of one call (single-threaded, never re-entered).
const W = new Int32Array(80);

/** The block's 16 big-endian words into W. */
function loadBlock(b: Uint8Array, o: number): void {
  for (let t = 0; t < 16; t++) {
    const j = o + (t << 2);
    W[t] = (b[j] << 24) | (b[j + 1] << 16) | (b[j + 2] << 8) | b[j + 3];
  }
}

/** SHA-256's compression (FIPS 180-4 §6.2.2). */
export function compress256(h: Int32Array, b: Uint8Array, o: number): void {
  const w = W;
  loadBlock(b, o);
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
    const t1 = (hh + S1 + ((e & f) ^ (~e & g)) + K256[t] + w[t]) | 0;
    const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
    const t2 = (S0 + ((a & bb) ^ (a & c) ^ (bb & c))) | 0;
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

/**
 * SHA-1's compression (FIPS 180-4 §6.1.2). The rounds run as four loops, one per round function:
 * no per-round choice of function and constant.
 */
export function compress1(h: Int32Array, b: Uint8Array, o: number): void {
  const w = W;
  loadBlock(b, o);
  for (let t = 16; t < 80; t++) {
    const x = w[t - 3] ^ w[t - 8] ^ w[t - 14] ^ w[t - 16];
    w[t] = (x << 1) | (x >>> 31);
  }
  let a = h[0];
  let bb = h[1];
  let c = h[2];
  let d = h[3];
  let e = h[4];
  let x = 0;
  // Each round: x = rotl5(a) + f(b, c, d) + e + K + w[t], then (a, b, c, d, e) = (x, a, rotl30(b), c, d).
  for (let t = 0; t < 20; t++) {
    x = (((a << 5) | (a >>> 27)) + ((bb & c) | (~bb & d)) + e + K1_0 + w[t]) | 0;
    e = d; d = c; c = (bb << 30) | (bb >>> 2); bb = a; a = x;
  }
  for (let t = 20; t < 40; t++) {
    x = (((a << 5) | (a >>> 27)) + (bb ^ c ^ d) + e + K1_1 + w[t]) | 0;
    e = d; d = c; c = (bb << 30) | (bb >>> 2); bb = a; a = x;
  }
  for (let t = 40; t < 60; t++) {
    x = (((a << 5) | (a >>> 27)) + ((bb & c) | (bb & d) | (c & d)) + e + K1_2 + w[t]) | 0;
    e = d; d = c; c = (bb << 30) | (bb >>> 2); bb = a; a = x;
  }
  for (let t = 60; t < 80; t++) {
    x = (((a << 5) | (a >>> 27)) + (bb ^ c ^ d) + e + K1_3 + w[t]) | 0;
    e = d; d = c; c = (bb << 30) | (bb >>> 2); bb = a; a = x;
  }
  h[0] = (h[0] + a) | 0;
  h[1] = (h[1] + bb) | 0;
  h[2] = (h[2] + c) | 0;
  h[3] = (h[3] + d) | 0;
  h[4] = (h[4] + e) | 0;
}
