// Writes shared/sha.wat, the WebAssembly text of the HMAC-SHA256 and HMAC-SHA1 module. The
// hand-written parts (header, memory layout, $bswap, padding, the HMAC drivers, exports) are the
// template text below; the fully unrolled compression rounds and SIMD message-schedule steps are
// emitted by loops. `npm run build:wasm` runs this, then scripts/build-wasm.mjs, which assembles
// sha.wat into shared/sha-wasm.ts. Edit this file, never sha.wat: a unit test checks that the
// checked-in sha.wat is what shaWat() returns.
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const WAT_FILE = fileURLToPath(new URL('../shared/sha.wat', import.meta.url));

/** The lines of a template literal, without the newline that follows its opening backtick. */
const text = (s) => s.replace(/^\n/, '').split('\n');

const get = (name) => `(local.get $${name})`;
const ZERO = '(v128.const i32x4 0 0 0 0)';
/** The shuffle that reverses the bytes of each 32-bit lane. */
const BSWAP = '3 2 1 0 7 6 5 4 11 10 9 8 15 14 13 12';
/** The i8x16.shuffle indices of the 32-bit words `ws` (0-3 the first operand, 4-7 the second). */
const words = (...ws) => ws.flatMap((w) => [0, 1, 2, 3].map((i) => 4 * w + i)).join(' ');
const hex = (k) => '0x' + k.toString(16).padStart(8, '0');
/** The schedule registers in group `g`'s order: the first holds W[4g..4g+3], the others the next
 * twelve words; the group's schedule step overwrites the first with W[4g+16..4g+19]. */
const regs = (g) => [0, 1, 2, 3].map((i) => `x${(g + i) % 4}`);
/** The name of state word `k` (0 for a) in round `r`: the names shift by one each round. */
const role = (names, r) => (k) => names[(((k - r) % names.length) + names.length) % names.length];

/** Loads the 64-byte block at $p into x0..x3 as W[0..15], native order. */
function loadBlock() {
  return [
    '    ;; W[0..15], the block\'s big-endian words in native order.',
    ...[0, 1, 2, 3].map((i) => {
      const block = `(v128.load offset=${16 * i} (local.get $p))`;
      return `    (local.set $x${i} (i8x16.shuffle ${BSWAP} ${block} ${ZERO}))`;
    }),
  ];
}

const loadState = (names) =>
  names.map((n, i) => `    (local.set $${n} (i32.load offset=${4 * i} (local.get $s)))`);

/** Adds the working variables into the state at $s; closes the function. */
function storeState(names) {
  const lines = names.map((n, i) => {
    const at = `offset=${4 * i} (local.get $s)`;
    return `    (i32.store ${at} (i32.add (i32.load ${at}) ${get(n)}))`;
  });
  lines[lines.length - 1] += ')';
  return lines;
}

/** A group's comment: its rounds, and the schedule words it computes (if any) into register `x`. */
function groupComment(g, x) {
  const r = 4 * g;
  const ahead = x === undefined ? '' : `; W[${r + 16}..${r + 19}] into $${x}`;
  return `    ;; Rounds ${r}-${r + 3}: W[${r}..${r + 3}] + K in $wk${ahead}.`;
}

// ---------------------------------------------------------------------------------------------
// SHA-256

const K256 = [
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
];
const NAMES256 = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'];

/** The lines of σ(y) = rotr(y, r1) ^ rotr(y, r2) ^ (y >>> s) on four lanes, then `close`. */
function sigmaV(r1, r2, s, close) {
  const rotr = (n) =>
    `(v128.or (i32x4.shr_u (local.get $y) (i32.const ${n})) (i32x4.shl (local.get $y) (i32.const ${32 - n})))`;
  return [
    '      (v128.xor (v128.xor',
    `        ${rotr(r1)}`,
    `        ${rotr(r2)})`,
    `        (i32x4.shr_u (local.get $y) (i32.const ${s})))${close}`,
  ];
}

/** W[t..t+3] into the first register, from the four registers' W[t-16..t-1]. */
function schedule256([x0, x1, x2, x3]) {
  return [
    // W[t-16] + W[t-7] + σ0(W[t-15])
    `    (local.set $y (i8x16.shuffle ${words(1, 2, 3, 4)} ${get(x0)} ${get(x1)}))`,
    `    (local.set $t (i32x4.add (i32x4.add ${get(x0)} (i8x16.shuffle ${words(1, 2, 3, 4)} ${get(x2)} ${get(x3)}))`,
    ...sigmaV(7, 18, 3, '))'),
    // + σ1 of (W[t-2], W[t-1], 0, 0)
    `    (local.set $y (i8x16.shuffle ${words(2, 3, 4, 4)} ${get(x3)} ${ZERO}))`,
    '    (local.set $t (i32x4.add (local.get $t)',
    ...sigmaV(17, 19, 10, '))'),
    // + σ1 of (0, 0, W[t], W[t+1])
    `    (local.set $y (i8x16.shuffle ${words(4, 4, 0, 1)} (local.get $t) ${ZERO}))`,
    `    (local.set $${x0} (i32x4.add (local.get $t)`,
    ...sigmaV(17, 19, 10, '))'),
  ];
}

/** Round `r`, its W[r] + K[r] in lane r % 4 of $wk. */
function round256(r) {
  const [a, b, , d, e, f, g, h] = [0, 1, 2, 3, 4, 5, 6, 7].map(role(NAMES256, r));
  const sigma = (x, r1, r2, r3) =>
    `(i32.xor (i32.xor (i32.rotr ${get(x)} (i32.const ${r1})) (i32.rotr ${get(x)} (i32.const ${r2}))) (i32.rotr ${get(x)} (i32.const ${r3})))`;
  return [
    `    (local.set $t1 (i32.add (i32.add (i32.add ${get(h)} (i32x4.extract_lane ${r % 4} (local.get $wk)))`,
    `      (i32.xor ${get(g)} (i32.and ${get(e)} (i32.xor ${get(f)} ${get(g)}))))`,
    `      ${sigma(e, 6, 11, 25)}))`,
    `    (local.set $${d} (i32.add ${get(d)} (local.get $t1)))`,
    `    (local.set $ab (i32.xor ${get(a)} ${get(b)}))`,
    `    (local.set $${h} (i32.add (i32.add (local.get $t1)`,
    `      ${sigma(a, 2, 13, 22)})`,
    `      (i32.xor ${get(b)} (i32.and (local.get $ab) (local.get $bc)))))`,
    '    (local.set $bc (local.get $ab))',
  ];
}

/** The 64 rounds, four to a group, each group also scheduling sixteen rounds ahead while it can. */
function rounds256() {
  const lines = [];
  for (let g = 0; g < 16; g++) {
    const x = regs(g);
    const ahead = g < 12;
    if (g > 0) lines.push('');
    lines.push(groupComment(g, ahead ? x[0] : undefined));
    const k = K256.slice(4 * g, 4 * g + 4).map(hex).join(' ');
    lines.push(`    (local.set $wk (i32x4.add ${get(x[0])} (v128.const i32x4 ${k})))`);
    if (ahead) lines.push(...schedule256(x));
    for (let r = 4 * g; r < 4 * g + 4; r++) lines.push(...round256(r));
  }
  return lines;
}

// ---------------------------------------------------------------------------------------------
// SHA-1

const K1 = [0x5a827999, 0x6ed9eba1, 0x8f1bbcdc, 0xca62c1d6];
const NAMES1 = ['a', 'b', 'c', 'd', 'e'];

/** W[t..t+3] into the first register, from the four registers' W[t-16..t-1]. */
function schedule1([x0, x1, x2, x3]) {
  const rotl1 = (v) =>
    `(v128.or (i32x4.shl ${get(v)} (i32.const 1)) (i32x4.shr_u ${get(v)} (i32.const 31)))`;
  return [
    // W[t-16] ^ W[t-14] ^ W[t-8] ^ (W[t-3], W[t-2], W[t-1], 0), rotated
    `    (local.set $t (v128.xor (v128.xor (v128.xor ${get(x0)}`,
    `      (i8x16.shuffle ${words(2, 3, 4, 5)} ${get(x0)} ${get(x1)})) ${get(x2)})`,
    `      (i8x16.shuffle ${words(1, 2, 3, 4)} ${get(x3)} ${ZERO})))`,
    `    (local.set $t ${rotl1('t')})`,
    // W[t+3] ^= rotl1(W[t])
    `    (local.set $y (i8x16.shuffle ${words(4, 4, 4, 0)} (local.get $t) ${ZERO}))`,
    `    (local.set $${x0} (v128.xor (local.get $t) ${rotl1('y')}))`,
  ];
}

/** Round `r`, its W[r] + K[r] in lane r % 4 of $wk. */
function round1(r) {
  const [a, b, c, d, e] = [0, 1, 2, 3, 4].map(role(NAMES1, r));
  const f =
    r < 20
      ? `(i32.xor ${get(d)} (i32.and ${get(b)} (i32.xor ${get(c)} ${get(d)})))`
      : r >= 40 && r < 60
        ? `(i32.or (i32.and ${get(b)} ${get(c)}) (i32.and ${get(d)} (i32.or ${get(b)} ${get(c)})))`
        : `(i32.xor (i32.xor ${get(b)} ${get(c)}) ${get(d)})`;
  const wk = `(i32x4.extract_lane ${r % 4} (local.get $wk))`;
  return [
    `    (local.set $${e} (i32.add (i32.add (i32.add ${get(e)} ${wk}) ${f}) (i32.rotl ${get(a)} (i32.const 5))))`,
    `    (local.set $${b} (i32.rotl ${get(b)} (i32.const 30)))`,
  ];
}

/** The 80 rounds, four to a group, each group also scheduling sixteen rounds ahead while it can. */
function rounds1() {
  const lines = [];
  for (let g = 0; g < 20; g++) {
    const x = regs(g);
    const ahead = g < 16;
    const k = hex(K1[Math.floor(g / 5)]);
    if (g > 0) lines.push('');
    lines.push(groupComment(g, ahead ? x[0] : undefined));
    lines.push(`    (local.set $wk (i32x4.add ${get(x[0])} (v128.const i32x4 ${k} ${k} ${k} ${k})))`);
    if (ahead) lines.push(...schedule1(x));
    for (let r = 4 * g; r < 4 * g + 4; r++) lines.push(...round1(r));
  }
  return lines;
}

// ---------------------------------------------------------------------------------------------
// The module

/** The text of shared/sha.wat. */
export function shaWat() {
  return [
    ...text(`
;; HMAC-SHA256 and HMAC-SHA1 of a short message, for shared/fast-hmac.ts.
;; Generated by scripts/gen-sha-wat.mjs: do not edit by hand. Edit the generator, then run
;; \`npm run build:wasm\` (which writes this file, then assembles it into shared/sha-wasm.ts).
;;
;; One call does a whole HMAC (the inner blocks, then the outer block), so that the JS side
;; crosses into wasm once per MAC. The key's inner and outer states (the hash states after its
;; padded key block) are computed by the JS side, once per key, and written here before a call.
;;
;; Memory, one page, never grown:
;;      0 .. 1023  MSG     the message (at most 768 bytes), then its padding (written by $pad)
;;   1024 .. 1055  INNER   the key's inner state: 8 (SHA-256) or 5 (SHA-1) words, native order
;;   1056 .. 1087  OUTER   the key's outer state
;;   1088 .. 1119  H       the running state; after a call, the MAC's words, native order
;;   1152 .. 1215  OBLOCK  the outer block: the inner digest, padded
;;
;; The compression functions are unrolled: every round written out, the state in locals whose
;; names rotate from round to round (so there are no moves), the round constants immediates.
;; The message schedule runs four words at a time in SIMD registers, sixteen rounds ahead of
;; its use: cheaper than the scalar schedule, and it leaves the scalar registers to the rounds
;; (a block takes about a fifth less time than with the scalar schedule). Sums are ordered so
;; that the longest dependency (Σ1(e) in SHA-256, rotl5(a) in SHA-1) is added last. Where
;; SIMD is missing the module does not compile, and fast-hmac.ts keeps to its JS path.
(module
  ;; Made by the JS side, which keeps views on it (the message scratch is one).
  (import "env" "memory" (memory 1 1))

  (func $bswap (param $x i32) (result i32)
    (i32.or
      (i32.and (i32.rotl (local.get $x) (i32.const 8)) (i32.const 0x00ff00ff))
      (i32.and (i32.rotr (local.get $x) (i32.const 8)) (i32.const 0xff00ff00))))

  ;; SHA-256: the state at $s (8 words) updated with the 64-byte block at $p. Each round:
  ;;   t1 = h + (W[t] + K[t]) + Ch(e, f, g) + Σ1(e); d += t1; h = t1 + Σ0(a) + Maj(a, b, c)
  ;; with Ch(e, f, g) = g ^ (e & (f ^ g)) and Maj(a, b, c) = b ^ ((a ^ b) & (b ^ c)), where a
  ;; round's a ^ b ($ab) is the next round's b ^ c ($bc); then the names shift by one.
  ;; The schedule, W[t..t+3] from x0..x3 = W[t-16..t-1], sixteen rounds ahead of its use:
  ;;   W[t] = σ1(W[t-2]) + W[t-7] + σ0(W[t-15]) + W[t-16]
  ;; W[t+2] and W[t+3] take their W[t-2] from W[t] and W[t+1], so σ1 is added in two halves:
  ;; that of (W[t-2], W[t-1], 0, 0), then that of (0, 0, W[t], W[t+1]) (σ1(0) = 0).
  (func $sha256_block (param $s i32) (param $p i32)
    (local $a i32) (local $b i32) (local $c i32) (local $d i32)
    (local $e i32) (local $f i32) (local $g i32) (local $h i32)
    (local $t1 i32) (local $ab i32) (local $bc i32)
    (local $x0 v128) (local $x1 v128) (local $x2 v128) (local $x3 v128) (local $wk v128) (local $t v128) (local $y v128)`),
    ...loadBlock(),
    ...loadState(NAMES256),
    '    (local.set $bc (i32.xor (local.get $b) (local.get $c)))',
    ...rounds256(),
    ...storeState(NAMES256),
    ...text(`

  ;; SHA-1: the state at $s (5 words) updated with the 64-byte block at $p. Each round:
  ;;   e += (W[t] + K[t]) + f(b, c, d) + rotl5(a); b = rotl30(b)
  ;; then the names shift by one. f is Ch(b, c, d) = d ^ (b & (c ^ d)) in rounds 0-19,
  ;; b ^ c ^ d in 20-39 and 60-79, Maj(b, c, d) = (b & c) | (d & (b | c)) in 40-59.
  ;; The schedule, W[t..t+3] from x0..x3 = W[t-16..t-1], sixteen rounds ahead of its use:
  ;;   W[t] = rotl1(W[t-3] ^ W[t-8] ^ W[t-14] ^ W[t-16])
  ;; W[t+3] takes its W[t-3] from W[t]: computed with 0 there, then (rotl being linear over xor)
  ;; corrected by xoring in rotl1(W[t]).
  (func $sha1_block (param $s i32) (param $p i32)
    (local $a i32) (local $b i32) (local $c i32) (local $d i32) (local $e i32)
    (local $x0 v128) (local $x1 v128) (local $x2 v128) (local $x3 v128) (local $wk v128) (local $t v128) (local $y v128)`),
    ...loadBlock(),
    ...loadState(NAMES1),
    ...rounds1(),
    ...storeState(NAMES1),
    ...text(`

  ;; Pads MSG[0..len) for the inner hash: 0x80, zeros to 56 mod 64, then the bit length of key
  ;; block and message, big-endian. Starts H at INNER. Returns the padded length. (Stores, not
  ;; memory.fill and memory.copy: those are calls out of the compiled code, dearer at this size.)
  (func $pad (param $len i32) (result i32)
    (local $z i32) (local $p i32)
    (i32.store8 (local.get $len) (i32.const 0x80))
    ;; Where the length goes: the last 8 bytes of the block that holds len + 9 bytes.
    (local.set $z (i32.sub (i32.and (i32.add (local.get $len) (i32.const 72)) (i32.const -64)) (i32.const 8)))
    ;; Zeros up to it, 8 bytes at a time (the last store may run into the length: written next).
    (local.set $p (i32.add (local.get $len) (i32.const 1)))
    (block $done
      (loop $zeros
        (br_if $done (i32.ge_u (local.get $p) (local.get $z)))
        (i64.store (local.get $p) (i64.const 0))
        (local.set $p (i32.add (local.get $p) (i32.const 8)))
        (br $zeros)))
    ;; The length's high 32 bits are 0; its low 32 bits big-endian in the upper half.
    (i64.store (local.get $z)
      (i64.shl (i64.extend_i32_u (call $bswap (i32.shl (i32.add (local.get $len) (i32.const 64)) (i32.const 3))))
        (i64.const 32)))
    (v128.store offset=1088 (i32.const 0) (v128.load offset=1024 (i32.const 0)))
    (v128.store offset=1104 (i32.const 0) (v128.load offset=1040 (i32.const 0)))
    (i32.add (local.get $z) (i32.const 8)))

  ;; Writes the inner digest (H) big-endian at the start of OBLOCK (32 bytes; SHA-1's padding
  ;; then overwrites the last 12) and starts H at OUTER.
  (func $outer
    (v128.store offset=1152 (i32.const 0)
      (i8x16.shuffle ${BSWAP} (v128.load offset=1088 (i32.const 0)) ${ZERO}))
    (v128.store offset=1168 (i32.const 0)
      (i8x16.shuffle ${BSWAP} (v128.load offset=1104 (i32.const 0)) ${ZERO}))
    (v128.store offset=1088 (i32.const 0) (v128.load offset=1056 (i32.const 0)))
    (v128.store offset=1104 (i32.const 0) (v128.load offset=1072 (i32.const 0))))

  ;; HMAC-SHA256 of MSG[0..len) (len ≤ 768) with the key in INNER and OUTER; the MAC in H.
  (func (export "hmac256") (param $len i32)
    (local $end i32) (local $o i32)
    (local.set $end (call $pad (local.get $len)))
    (loop $blocks
      (call $sha256_block (i32.const 1088) (local.get $o))
      (local.set $o (i32.add (local.get $o) (i32.const 64)))
      (br_if $blocks (i32.lt_u (local.get $o) (local.get $end))))
    (call $outer)
    ;; The outer block's padding: 0x80, zeros, 768 (bits: 64 + 32 bytes) big-endian.
    (v128.store offset=1184 (i32.const 0) (v128.const i8x16 0x80 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0))
    (v128.store offset=1200 (i32.const 0) (v128.const i8x16 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0x03 0x00))
    (call $sha256_block (i32.const 1088) (i32.const 1152)))

  ;; HMAC-SHA1 of MSG[0..len) (len ≤ 768) with the key in INNER and OUTER; the MAC in H.
  (func (export "hmac1") (param $len i32)
    (local $end i32) (local $o i32)
    (local.set $end (call $pad (local.get $len)))
    (loop $blocks
      (call $sha1_block (i32.const 1088) (local.get $o))
      (local.set $o (i32.add (local.get $o) (i32.const 64)))
      (br_if $blocks (i32.lt_u (local.get $o) (local.get $end))))
    (call $outer)
    ;; The outer block's padding: 0x80, zeros, 672 (bits: 64 + 20 bytes) big-endian.
    (v128.store offset=1172 (i32.const 0) (v128.const i8x16 0x80 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0))
    (v128.store offset=1188 (i32.const 0) ${ZERO})
    (v128.store offset=1200 (i32.const 0) (v128.const i8x16 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0x02 0xa0))
    (call $sha1_block (i32.const 1088) (i32.const 1152)))
)
`),
  ].join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  writeFileSync(WAT_FILE, shaWat());
}
