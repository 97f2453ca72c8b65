// MessagePack encoding of JSON values, bounded: the bytes msgpackr writes with the options QCF1
// was first specified with (maps always map16, everything else in its smallest form), with a limit on the
// output's size and on nesting that ends the encoding as soon as either is passed. The daemon
// encodes answers with a limit (a reply datagram's room), so an answer too large for a datagram
// costs no more than the datagram would, whatever the size of the value; the client encodes its
// small requests without one.
//
// A container found too large once is remembered (weakly, by identity: a snapshot's values never
// change) with how many bytes it needs at least, so asking for it again is answered at once.

/** Why an encoding stopped: more bytes than the limit, or nesting deeper than allowed. */
export type EncodeFailure = 'too_large' | 'too_deep';

/** Thrown inside the encoder only; never escapes `packBounded`. */
class Stop {
  constructor(readonly why: EncodeFailure) {}
}
const TOO_LARGE = new Stop('too_large');
const TOO_DEEP = new Stop('too_deep');

/** Already-encoded MessagePack bytes, written as they are (an answer encoded once, then framed). */
export class RawMsgpack {
  constructor(readonly bytes: Uint8Array) {}
}

/** Lower bounds of the encoded size of containers that did not fit, by identity. */
const atLeast = new WeakMap<object, number>();
/** Containers with fewer entries are cheap to try again, and are not remembered. */
const REMEMBER_ENTRIES = 256;

export class Writer {
  buf: Buffer;
  pos = 0;

  constructor(
    private readonly limit = Infinity,
    initial = 256,
  ) {
    this.buf = Buffer.allocUnsafe(Math.min(initial, limit === Infinity ? initial : limit + 1));
  }

  /** Make room for `n` more bytes (or stop: the limit would be passed). */
  room(n: number): void {
    const need = this.pos + n;
    if (need <= this.buf.length) return;
    if (need > this.limit) throw TOO_LARGE;
    const next = Buffer.allocUnsafe(Math.min(Math.max(this.buf.length * 2, need), this.limit === Infinity ? Infinity : this.limit));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  byte(b: number): void {
    this.room(1);
    this.buf[this.pos++] = b;
  }

  /** A type byte and a big-endian length of `size` bytes (1, 2 or 4). */
  head(type: number, size: 1 | 2 | 4, n: number): void {
    this.room(1 + size);
    this.buf[this.pos++] = type;
    this.pos = size === 1 ? this.buf.writeUInt8(n, this.pos) : size === 2 ? this.buf.writeUInt16BE(n, this.pos) : this.buf.writeUInt32BE(n, this.pos);
  }

  bytes(b: Uint8Array): void {
    this.room(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  result(): Buffer {
    return this.buf.subarray(0, this.pos);
  }
}

function packString(w: Writer, s: string): void {
  // Lone surrogates count and are written as U+FFFD, as msgpackr writes them. A string longer
  // than the room left fails before its UTF-8 is measured (each code unit is a byte at least).
  if (s.length > 0x7fff_ffff) throw TOO_LARGE;
  w.room(s.length > 0xffff ? s.length : 0);
  const n = Buffer.byteLength(s, 'utf8');
  if (n < 0x20) w.byte(0xa0 | n);
  else if (n < 0x100) w.head(0xd9, 1, n);
  else if (n < 0x10000) w.head(0xda, 2, n);
  else w.head(0xdb, 4, n);
  w.room(n);
  w.pos += w.buf.write(s, w.pos, n, 'utf8');
}

function packNumber(w: Writer, v: number): void {
  if (v >>> 0 === v) {
    if (v < 0x80) w.byte(v);
    else if (v < 0x100) w.head(0xcc, 1, v);
    else if (v < 0x10000) w.head(0xcd, 2, v);
    else w.head(0xce, 4, v);
  } else if (v >> 0 === v) {
    if (v >= -0x20) w.byte(0x100 + v);
    else if (v >= -0x80) w.head(0xd0, 1, v + 0x100);
    else if (v >= -0x8000) w.head(0xd1, 2, v + 0x10000);
    else w.head(0xd2, 4, v >>> 0);
  } else {
    w.room(9);
    w.buf[w.pos++] = 0xcb;
    w.pos = w.buf.writeDoubleBE(v, w.pos);
  }
}

function packBigInt(w: Writer, v: bigint): void {
  w.room(9);
  if (v < 0x8000000000000000n && v >= -0x8000000000000000n) {
    w.buf[w.pos++] = 0xd3;
    w.pos = w.buf.writeBigInt64BE(v, w.pos);
  } else if (v < 0x10000000000000000n && v > 0n) {
    w.buf[w.pos++] = 0xcf;
    w.pos = w.buf.writeBigUInt64BE(v, w.pos);
  } else {
    throw new RangeError(`${v} does not fit a MessagePack 64-bit integer`);
  }
}

/** Whether a container is known not to fit in what is left of the limit. */
function knownTooLarge(w: Writer, o: object, limit: number): boolean {
  const n = atLeast.get(o);
  return n !== undefined && w.pos + n > limit;
}

function packObject(w: Writer, o: object, depth: number, limit: number): void {
  if (depth <= 0) throw TOO_DEEP;
  if (o instanceof RawMsgpack) return w.bytes(o.bytes);
  if (knownTooLarge(w, o, limit)) throw TOO_LARGE;
  const start = w.pos;
  let entries = 0;
  try {
    if (Array.isArray(o)) {
      const n = (entries = o.length);
      if (n < 0x10) w.byte(0x90 | n);
      else if (n < 0x10000) w.head(0xdc, 2, n);
      else w.head(0xdd, 4, n);
      // Every element takes a byte at least.
      w.room(n);
      for (let i = 0; i < n; i++) packValue(w, o[i], depth - 1, limit);
      return;
    }
    if (o instanceof Date || o instanceof Map || o instanceof Set || o instanceof RegExp || o instanceof Error || ArrayBuffer.isView(o) || o instanceof ArrayBuffer) {
      // msgpackr gives these extension types of its own; a QCF1 body has no use for them.
      throw new TypeError(`a QCF1 body carries JSON values, not a ${o.constructor.name}`);
    }
    const toJSON = (o as { toJSON?: unknown }).toJSON;
    if (typeof toJSON === 'function') {
      const json: unknown = toJSON.call(o);
      if (json !== o) return packValue(w, json, depth - 1, limit);
    }
    // map16 with the own enumerable keys, in for-in order: msgpackr's bytes exactly. More than
    // 65,535 keys (which msgpackr refuses) is a map32, rewritten in place below.
    w.head(0xde, 2, 0);
    for (const key in o) {
      if (!Object.prototype.hasOwnProperty.call(o, key)) continue;
      packString(w, key);
      packValue(w, (o as Record<string, unknown>)[key], depth - 1, limit);
      entries++;
    }
    if (entries <= 0xffff) {
      w.buf.writeUInt16BE(entries, start + 1);
    } else {
      w.room(2);
      w.buf.copyWithin(start + 5, start + 3, w.pos);
      w.pos += 2;
      w.buf[start] = 0xdf;
      w.buf.writeUInt32BE(entries, start + 1);
    }
  } catch (e) {
    // Remember a large container that did not fit: the bytes it had written are a lower bound.
    if (e === TOO_LARGE && (entries >= REMEMBER_ENTRIES || (Array.isArray(o) && o.length >= REMEMBER_ENTRIES) || w.pos - start >= 4096)) {
      const written = Math.max(limit - start + 1, w.pos - start);
      if ((atLeast.get(o) ?? 0) < written) atLeast.set(o, written);
    }
    throw e;
  }
}

function packValue(w: Writer, v: unknown, depth: number, limit: number): void {
  switch (typeof v) {
    case 'string':
      return packString(w, v);
    case 'number':
      return packNumber(w, v);
    case 'boolean':
      return w.byte(v ? 0xc3 : 0xc2);
    case 'bigint':
      return packBigInt(w, v);
    case 'undefined':
    case 'function':
      // fixext 1 of type 0: msgpackr's (and notepack's) undefined.
      w.room(3);
      w.buf[w.pos++] = 0xd4;
      w.buf[w.pos++] = 0;
      w.buf[w.pos++] = 0;
      return;
    case 'object':
      if (v === null) return w.byte(0xc0);
      if (v instanceof Uint8Array) {
        const n = v.length;
        if (n < 0x100) w.head(0xc4, 1, n);
        else if (n < 0x10000) w.head(0xc5, 2, n);
        else w.head(0xc6, 4, n);
        return w.bytes(v);
      }
      return packObject(w, v, depth, limit);
    default:
      throw new TypeError(`a QCF1 body cannot carry a ${typeof v}`);
  }
}

/** Nesting the encoder follows at most (the daemon refuses documents nested deeper). */
export const MAX_ENCODE_DEPTH = 1024;

/** A body's MessagePack bytes, without a size limit (requests; tests). */
export function packBody(body: object): Buffer {
  const w = new Writer();
  try {
    packValue(w, body, MAX_ENCODE_DEPTH, Infinity);
  } catch (e) {
    if (e instanceof Stop) throw new RangeError(e.why === 'too_deep' ? 'a value nested too deeply to encode' : 'a value too large to encode');
    throw e;
  }
  return w.result();
}

/**
 * `value`'s MessagePack bytes if they take at most `maxBytes`, else why not. The work done is
 * bounded by `maxBytes` (and by the key count of each object visited, remembered for the large
 * ones). Buffers are written as MessagePack bin; RawMsgpack as it is.
 */
export function packBounded(value: unknown, maxBytes: number, maxDepth = MAX_ENCODE_DEPTH): Buffer | EncodeFailure {
  const w = new Writer(maxBytes, Math.min(maxBytes, 1024));
  try {
    packValue(w, value, maxDepth, maxBytes);
  } catch (e) {
    if (e instanceof Stop) return e.why;
    throw e;
  }
  return w.result();
}
