// Sealed QCF1 bodies (docs/protocol.md, "Sealed traffic"): a body encrypted with NaCl's
// secretbox (XSalsa20-Poly1305, tweetnacl) under a key derived from the HMAC key with HKDF, one
// key per direction. A sealed body is `nonce ‖ secretbox`: 24 random bytes, then the 16-byte
// Poly1305 tag and the ciphertext. The frame around it is unchanged, MAC and all
// (encrypt-then-MAC): a receiver checks the MAC before it opens a box.
//
// The nonce is random, never derived from the request: every daemon asked answers the same salt
// with a different plaintext under the same key, so a nonce made from the salt would repeat.
// 192 random bits make a repeat negligible however many messages one key seals.
import { hkdfSync, randomFillSync } from 'node:crypto';
import { createRequire } from 'node:module';
import type { Key } from './keyring.js';

export const NONCE_BYTES = 24;
export const TAG_BYTES = 16;
/** What sealing adds to a body: the nonce and the tag. */
export const SEAL_OVERHEAD = NONCE_BYTES + TAG_BYTES;
/** HKDF's `info` for each direction (salt: none, hash SHA-256, 32 bytes out). */
export const SEAL_LABEL_REQUEST = 'qconf seal v1 request';
export const SEAL_LABEL_REPLY = 'qconf seal v1 reply';

/** secretbox's zero padding: 32 bytes before a plaintext, 16 before a box (NaCl's C API). */
const ZERO_BYTES = 32;
const BOX_ZERO_BYTES = 16;
/** The largest body sealed or opened here (a datagram's payload at most). */
const MAX_BODY = 65535;

/**
 * tweetnacl's secretbox as NaCl's C API has it (`nacl.lowlevel`, which its typings leave out):
 * it works in buffers given to it, where `nacl.secretbox` allocates three per call.
 */
interface SecretboxApi {
  crypto_secretbox(c: Uint8Array, m: Uint8Array, d: number, n: Uint8Array, k: Uint8Array): number;
  crypto_stream_xor(c: Uint8Array, cpos: number, m: Uint8Array, mpos: number, d: number, n: Uint8Array, k: Uint8Array): number;
  crypto_onetimeauth_verify(h: Uint8Array, hpos: number, m: Uint8Array, mpos: number, n: number, k: Uint8Array): number;
}

/** tweetnacl, loaded on first use: a client that seals nothing does not pay for compiling it. */
let secretbox: SecretboxApi | undefined;
function lowlevel(): SecretboxApi {
  return (secretbox ??= (createRequire(import.meta.url)('tweetnacl') as { lowlevel: SecretboxApi }).lowlevel);
}

/** The two secretbox keys of one HMAC key. */
export interface SealKeys {
  readonly request: Uint8Array;
  readonly reply: Uint8Array;
}

/** HKDF-SHA256(ikm = the HMAC key's bytes, no salt, info = label), 32 bytes. */
export function deriveSealKey(keyBytes: Uint8Array, label: string): Uint8Array {
  return new Uint8Array(hkdfSync('sha256', keyBytes, new Uint8Array(0), label, 32));
}

const derived = new WeakMap<Key, SealKeys>();

/** The seal keys of `key`, derived once per key (keys are long-lived; a reloaded keyring makes new ones). */
export function sealKeys(key: Key): SealKeys {
  let k = derived.get(key);
  if (k === undefined) {
    k = { request: deriveSealKey(key.bytes, SEAL_LABEL_REQUEST), reply: deriveSealKey(key.bytes, SEAL_LABEL_REPLY) };
    derived.set(key, k);
  }
  return k;
}

/**
 * Random bytes for nonces, drawn 4 KB at a time: one call into the CSPRNG per 170 nonces rather
 * than one per datagram. Each nonce is taken once and the pool refilled when it runs out.
 */
const noncePool = Buffer.allocUnsafeSlow(4096);
let noncesAt = noncePool.length;

/** A fresh random nonce into out[at..at + 24). */
export function writeNonce(out: Uint8Array, at: number): void {
  if (noncesAt + NONCE_BYTES > noncePool.length) {
    randomFillSync(noncePool);
    noncesAt = 0;
  }
  for (let i = 0; i < NONCE_BYTES; i++) out[at + i] = noncePool[noncesAt + i];
  noncesAt += NONCE_BYTES;
}

// secretbox's working memory, reused by every call (single-threaded, never re-entered).
const padded = new Uint8Array(ZERO_BYTES + MAX_BODY);
const boxed = new Uint8Array(ZERO_BYTES + MAX_BODY);
const nonceWork = new Uint8Array(NONCE_BYTES);

/**
 * Seal plain[start..end) under `sealKey` with `nonce` (24 bytes; fresh random ones unless a test
 * vector needs a fixed one): the sealed body `nonce ‖ tag ‖ ciphertext`, written into a new
 * Buffer after `headroom` bytes left for the caller (a datagram's header).
 */
export function sealBody(sealKey: Uint8Array, plain: Uint8Array, start: number, end: number, headroom = 0, nonce?: Uint8Array): Buffer {
  const n = end - start;
  if (n < 0 || n > MAX_BODY - SEAL_OVERHEAD) throw new RangeError(`a sealed body holds at most ${MAX_BODY - SEAL_OVERHEAD} bytes`);
  if (nonce === undefined) writeNonce(nonceWork, 0);
  else nonceWork.set(nonce.subarray(0, NONCE_BYTES));
  padded.fill(0, 0, ZERO_BYTES);
  padded.set(plain.subarray(start, end), ZERO_BYTES);
  lowlevel().crypto_secretbox(boxed, padded, ZERO_BYTES + n, nonceWork, sealKey);
  const out = Buffer.allocUnsafe(headroom + SEAL_OVERHEAD + n);
  out.set(nonceWork, headroom);
  out.set(boxed.subarray(BOX_ZERO_BYTES, ZERO_BYTES + n), headroom + NONCE_BYTES);
  return out;
}

const polyKey = new Uint8Array(32);

/**
 * crypto_secretbox_open as NaCl defines it (tweetnacl's own pieces, in its C API's buffers): the
 * XSalsa20 stream is made once over the whole box, its first 32 bytes being the Poly1305 key,
 * where tweetnacl's crypto_secretbox_open derives the subkey and the first block twice. The tag
 * is checked (in constant time, by tweetnacl) before anything is returned; on failure the output
 * is wiped. 0: opened into m[32..d); -1: forged.
 */
function secretboxOpen(m: Uint8Array, c: Uint8Array, d: number, n: Uint8Array, k: Uint8Array): number {
  if (d < ZERO_BYTES) return -1;
  const nacl = lowlevel();
  nacl.crypto_stream_xor(m, 0, c, 0, d, n, k);
  // The stream's first 32 bytes: m xor c there (c[0..16) is zero, c[16..32) the tag).
  for (let i = 0; i < ZERO_BYTES; i++) polyKey[i] = m[i] ^ c[i];
  const ok = nacl.crypto_onetimeauth_verify(c, BOX_ZERO_BYTES, c, ZERO_BYTES, d - ZERO_BYTES, polyKey) === 0;
  polyKey.fill(0);
  if (!ok) {
    m.fill(0, 0, d);
    return -1;
  }
  m.fill(0, 0, ZERO_BYTES);
  return 0;
}

/**
 * Open the sealed body sealed[start..end): its plaintext in a new Buffer after `headroom` bytes
 * left for the caller, or undefined when it is too short or does not open (a wrong key, any
 * byte changed). Nothing of a box that does not open is returned.
 */
export function openBody(sealKey: Uint8Array, sealed: Uint8Array, start: number, end: number, headroom = 0): Buffer | undefined {
  const len = end - start;
  if (len < SEAL_OVERHEAD || len > MAX_BODY) return undefined;
  const n = len - SEAL_OVERHEAD;
  for (let i = 0; i < NONCE_BYTES; i++) nonceWork[i] = sealed[start + i];
  if (headroom < ZERO_BYTES) {
    // No room before the plaintext for the stream's first 32 bytes: through the working buffers.
    boxed.fill(0, 0, BOX_ZERO_BYTES);
    boxed.set(sealed.subarray(start + NONCE_BYTES, end), BOX_ZERO_BYTES);
    if (secretboxOpen(padded, boxed, BOX_ZERO_BYTES + TAG_BYTES + n, nonceWork, sealKey) !== 0) return undefined;
    const out = Buffer.allocUnsafe(headroom + n);
    out.set(padded.subarray(ZERO_BYTES, ZERO_BYTES + n), headroom);
    return out;
  }
  // Straight from the datagram into the result: the stream runs over the 16 bytes before the tag,
  // the tag and the ciphertext, so its first 32 bytes (Poly1305's key: output xor input, whatever
  // those 16 bytes are) land in the headroom and the plaintext after it.
  const out = Buffer.allocUnsafe(headroom + n);
  const at = headroom - ZERO_BYTES;
  const from = start + NONCE_BYTES - BOX_ZERO_BYTES;
  const nacl = lowlevel();
  nacl.crypto_stream_xor(out, at, sealed, from, ZERO_BYTES + n, nonceWork, sealKey);
  for (let i = 0; i < ZERO_BYTES; i++) polyKey[i] = out[at + i] ^ sealed[from + i];
  out.fill(0, at, headroom);
  const ok = nacl.crypto_onetimeauth_verify(sealed, start + NONCE_BYTES, sealed, start + NONCE_BYTES + TAG_BYTES, n, polyKey) === 0;
  polyKey.fill(0);
  if (ok) return out;
  out.fill(0);
  return undefined;
}
