// QCF1 framing (protocol.md, "Datagram layout"): a 68-byte header and HMAC-SHA256 over
// everything but the MAC field. The MAC is verified in constant time before any byte of the
// body reaches a decoder. Nothing here reads or writes a body (shared/qcf1.ts does).
import { hmacKey, hmacTwoEquals, hmacTwoInto } from './fast-hmac.js';
import type { Key, Keyring } from './keyring.js';

export const QCF1_MAGIC = Buffer.from('QCF1', 'ascii');
export const KIND_REQUEST = 1;
export const KIND_REPLY = 2;
/** A request or reply whose body is sealed (shared/seal.ts; protocol.md, "Sealed traffic"). */
export const KIND_SEALED_REQUEST = 3;
export const KIND_SEALED_REPLY = 4;
export const HEADER_LEN = 68;
export const SALT_LEN = 16;
/** Where the salt lies in a datagram (after magic, kind, reserved bytes, keyId and time). */
export const SALT_OFFSET = 20;
export const MAC_OFFSET = 36;
export const MAC_LEN = 32;
export const MAX_REQUEST_BYTES = 8192;
export const MAX_REPLY_BYTES = 61440;
export const MAX_DATAGRAM_BYTES = 65535;

/** Why a datagram was not accepted; every reason is a counter in `stats`. */
export type DropReason =
  | 'too_short'
  | 'too_long'
  | 'bad_magic'
  | 'bad_kind'
  | 'bad_reserved'
  | 'unknown_key'
  | 'bad_mac'
  | 'skew'
  | 'replay'
  | 'replay_overflow'
  | 'bad_body'
  /** A sealed body under an authentic MAC that does not open. */
  | 'bad_box'
  | 'wrong_destination';

export interface Header {
  kind: number;
  keyId: number;
  timeMs: number;
  /** A view into the datagram (not a copy). */
  salt: Buffer;
}

export type Verified = { ok: true; header: Header; key: Key } | { ok: false; reason: DropReason };

export function isQcf1(buf: Buffer): boolean {
  return buf.length >= 4 && buf[0] === 0x51 && buf[1] === 0x43 && buf[2] === 0x46 && buf[3] === 0x31;
}

/** Compute the MAC of a framed datagram: read in place, nothing copied. */
export function computeMac(key: Buffer, datagram: Buffer): Buffer {
  const out = Buffer.allocUnsafe(MAC_LEN);
  hmacTwoInto(hmacKey('sha256', key), datagram, 0, MAC_OFFSET, datagram, HEADER_LEN, datagram.length, out, 0);
  return out;
}

/**
 * Check framing and MAC without allocating: the key that verified the datagram, or why it is
 * dropped. The MAC is computed over the datagram in place and compared in constant time.
 */
export function verifyKey(buf: Buffer, keyring: Keyring, expectKind: number): Key | DropReason {
  if (buf.length < HEADER_LEN + 1) return 'too_short';
  if (!isQcf1(buf)) return 'bad_magic';
  if (buf[4] !== expectKind) return 'bad_kind';
  if (buf[5] !== 0 || buf[6] !== 0 || buf[7] !== 0) return 'bad_reserved';
  const key = keyring.byId(buf.readUInt32BE(8));
  if (!key) return 'unknown_key';
  if (!hmacTwoEquals(hmacKey('sha256', key.bytes), buf, 0, MAC_OFFSET, buf, HEADER_LEN, buf.length, buf, MAC_OFFSET)) return 'bad_mac';
  return key;
}

/** The sender's time field (ms). */
export function timeOf(buf: Buffer): number {
  return buf.readUInt32BE(12) * 0x1_0000_0000 + buf.readUInt32BE(16);
}

/**
 * Check framing and MAC. `expectKind` is the kind this side accepts. Nothing of the body is
 * looked at; the caller applies freshness rules and then decodes the body.
 */
export function verifyDatagram(buf: Buffer, keyring: Keyring, expectKind: number): Verified {
  const key = verifyKey(buf, keyring, expectKind);
  if (typeof key === 'string') return { ok: false, reason: key };
  return { ok: true, key, header: { kind: buf[4], keyId: key.id, timeMs: timeOf(buf), salt: buf.subarray(SALT_OFFSET, SALT_OFFSET + SALT_LEN) } };
}

/**
 * Frame and sign a datagram whose salt is read from `saltSrc` at `saltOff` (a reply takes it
 * straight from its request datagram) and whose body is already encoded. One allocation: the
 * datagram; the MAC is computed in place.
 */
export function frame(kind: number, key: Key, timeMs: number, saltSrc: Uint8Array, saltOff: number, body: Uint8Array): Buffer {
  const buf = Buffer.allocUnsafe(HEADER_LEN + body.length);
  buf.set(body, HEADER_LEN);
  return frameInPlace(buf, kind, key, timeMs, saltSrc, saltOff);
}

/**
 * Write the header of a datagram whose body is already in buf[HEADER_LEN..] and sign it (a
 * sealed body is sealed straight into its datagram). Returns `buf`.
 */
export function frameInPlace(buf: Buffer, kind: number, key: Key, timeMs: number, saltSrc: Uint8Array, saltOff: number): Buffer {
  const n = buf.length;
  buf[0] = 0x51;
  buf[1] = 0x43;
  buf[2] = 0x46;
  buf[3] = 0x31;
  buf[4] = kind;
  buf[5] = 0;
  buf[6] = 0;
  buf[7] = 0;
  const id = key.id;
  buf[8] = id >>> 24;
  buf[9] = id >>> 16;
  buf[10] = id >>> 8;
  buf[11] = id;
  const hi = Math.floor(timeMs / 0x1_0000_0000);
  buf[12] = hi >>> 24;
  buf[13] = hi >>> 16;
  buf[14] = hi >>> 8;
  buf[15] = hi;
  buf[16] = timeMs >>> 24;
  buf[17] = timeMs >>> 16;
  buf[18] = timeMs >>> 8;
  buf[19] = timeMs;
  for (let i = 0; i < SALT_LEN; i++) buf[SALT_OFFSET + i] = saltSrc[saltOff + i];
  // The MAC over the datagram as built, written into its own MAC field.
  hmacTwoInto(hmacKey('sha256', key.bytes), buf, 0, MAC_OFFSET, buf, HEADER_LEN, n, buf, MAC_OFFSET);
  return buf;
}
