// String salts (plj0's rsalt) hashed to 128 bits for the replay memory: MurmurHash3 x86_128 over
// UTF-16 code units, two per 32-bit block. Not a MAC: the salts it hashes are already authenticated.

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

/** MurmurHash3 x86_128 of the code units of `prefix ‖ s` (prefix -1: none), into `out` (four words). */
export function hash128(prefix: number, s: string, out: Int32Array): Int32Array {
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
  out[0] = h1;
  out[1] = h2;
  out[2] = h3;
  out[3] = h4;
  return out;
}
