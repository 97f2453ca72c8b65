// QCF1 framing (protocol.md): a 68-byte header, HMAC-SHA256 over everything but the MAC field,
// and one MessagePack map as the body. The MAC is verified in constant time before any byte of
// the body reaches the decoder.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { Packr } from 'msgpackr';
import type { Key, Keyring } from './keyring.js';

export const QCF1_MAGIC = Buffer.from('QCF1', 'ascii');
export const KIND_REQUEST = 1;
export const KIND_REPLY = 2;
export const HEADER_LEN = 68;
export const SALT_LEN = 16;
export const MAC_OFFSET = 36;
export const MAC_LEN = 32;
export const MAX_REQUEST_BYTES = 8192;
export const MAX_REPLY_BYTES = 61440;
export const MAX_DATAGRAM_BYTES = 65535;

// Plain maps in, plain objects out; no records or extensions that a peer would have to know.
const packr = new Packr({ useRecords: false, mapsAsObjects: true, moreTypes: false, int64AsType: 'number' });

export function packBody(body: object): Buffer {
  return packr.pack(body);
}

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
  | 'bad_body';

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

/** Compute the MAC of a framed datagram without copying it. */
export function computeMac(key: Buffer, datagram: Buffer): Buffer {
  return createHmac('sha256', key)
    .update(datagram.subarray(0, MAC_OFFSET))
    .update(datagram.subarray(HEADER_LEN))
    .digest();
}

/**
 * Check framing and MAC. `expectKind` is the kind this side accepts. Nothing of the body is
 * looked at; the caller applies freshness rules and then calls `decodeBody`.
 */
export function verifyDatagram(buf: Buffer, keyring: Keyring, expectKind: number): Verified {
  if (buf.length < HEADER_LEN + 1) return { ok: false, reason: 'too_short' };
  if (!isQcf1(buf)) return { ok: false, reason: 'bad_magic' };
  if (buf[4] !== expectKind) return { ok: false, reason: 'bad_kind' };
  if (buf[5] !== 0 || buf[6] !== 0 || buf[7] !== 0) return { ok: false, reason: 'bad_reserved' };
  const keyId = buf.readUInt32BE(8);
  const key = keyring.byId(keyId);
  if (!key) return { ok: false, reason: 'unknown_key' };
  const mac = computeMac(key.bytes, buf);
  if (!timingSafeEqual(mac, buf.subarray(MAC_OFFSET, HEADER_LEN))) return { ok: false, reason: 'bad_mac' };
  const timeMs = buf.readUInt32BE(12) * 0x1_0000_0000 + buf.readUInt32BE(16);
  return { ok: true, key, header: { kind: buf[4], keyId, timeMs, salt: buf.subarray(20, 36) } };
}

/** Decode an authenticated body: exactly one MessagePack map, nothing after it. */
export function decodeBody(buf: Buffer): Record<string, unknown> | undefined {
  let value: unknown;
  try {
    value = packr.unpack(buf.subarray(HEADER_LEN));
  } catch {
    return undefined;
  }
  // Only a plain map: no arrays, buffers, dates or the decoder's special values (e.g. 0xc1).
  if (value === null || typeof value !== 'object') return undefined;
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return undefined;
  return value as Record<string, unknown>;
}

/** Frame and sign a datagram. `body` may be pre-encoded MessagePack bytes. */
export function encodeDatagram(
  kind: number,
  key: Key,
  timeMs: number,
  salt: Buffer,
  body: object | Buffer,
): Buffer {
  const bodyBytes = Buffer.isBuffer(body) ? body : packr.pack(body);
  const buf = Buffer.allocUnsafe(HEADER_LEN + bodyBytes.length);
  QCF1_MAGIC.copy(buf, 0);
  buf[4] = kind;
  buf[5] = 0;
  buf[6] = 0;
  buf[7] = 0;
  buf.writeUInt32BE(key.id, 8);
  buf.writeUInt32BE(Math.floor(timeMs / 0x1_0000_0000), 12);
  buf.writeUInt32BE(timeMs >>> 0, 16);
  salt.copy(buf, 20, 0, SALT_LEN);
  bodyBytes.copy(buf, HEADER_LEN);
  computeMac(key.bytes, buf).copy(buf, MAC_OFFSET);
  return buf;
}
