// MessagePack decoding of QCF1 bodies: exactly one map, read as msgpackr reads it with the
// options QCF1 was first specified with (tested against msgpackr), down to its rules for odd
// input: a number, boolean or nil key becomes its string, fixext type 0 is undefined. One
// deliberate difference: a "__proto__" key is an own property, as JSON.parse makes it (msgpackr
// renames it "__proto_"), so a document holding one is answered, and proven, as it is. Extensions other than that, records and
// bundled strings are no JSON value: a body holding one is not decoded. The daemon decodes
// requests with it, the client replies; so neither loads a MessagePack library.
//
// Containers are read recursively down to MAX_NESTING levels; anything deeper is stepped over
// without recursion (its bytes checked as they would be read) and then either fails the whole
// body or, for a request, stands as TOO_DEEP: a body nested thousands deep (8 KB allow that) must
// not depend on how much stack the engine has at the moment.

/**
 * Containers within containers decoded, at most. A reply's answer may be a whole document, which
 * is at most 512 levels deep (daemon/source/document-limits.ts), in a few levels of reply.
 */
export const MAX_NESTING = 1024;
/** Stands for a value nested deeper than MAX_NESTING in a body decoded with `deep: 'skip'`. */
export const TOO_DEEP: unique symbol = Symbol('nested too deeply');

class Reader {
  /** Containers open around the value being read. */
  depth = 0;

  constructor(
    readonly b: Buffer,
    public pos: number,
    /** Values nested too deeply are stepped over (TOO_DEEP), not refused. */
    readonly skipDeep: boolean,
  ) {}

  /** Position of the next `n` bytes, which must all be there. */
  take(n: number): number {
    const at = this.pos;
    if (n > this.b.length - at) throw new RangeError('MessagePack value runs past the end');
    this.pos = at + n;
    return at;
  }

  u8(): number {
    return this.b[this.take(1)];
  }

  u16(): number {
    return this.b.readUInt16BE(this.take(2));
  }

  u32(): number {
    return this.b.readUInt32BE(this.take(4));
  }

  str(n: number): string {
    const at = this.take(n);
    return this.b.toString('utf8', at, at + n);
  }
}

function readArray(r: Reader, n: number): unknown[] | typeof TOO_DEEP {
  // Every element takes a byte at least: a longer claim is truncated input, not an allocation.
  if (n > r.b.length - r.pos) throw new RangeError('MessagePack array runs past the end');
  if (r.depth >= MAX_NESTING) return tooDeep(r, n, false);
  r.depth++;
  const a = new Array<unknown>(n);
  for (let i = 0; i < n; i++) a[i] = read(r);
  r.depth--;
  return a;
}

function readMap(r: Reader, n: number): Record<string, unknown> | typeof TOO_DEEP {
  if (n > (r.b.length - r.pos) / 2) throw new RangeError('MessagePack map runs past the end');
  if (r.depth >= MAX_NESTING) return tooDeep(r, 2 * n, true);
  r.depth++;
  const o: Record<string, unknown> = {};
  for (let i = 0; i < n; i++) {
    const k = read(r);
    let key: string;
    if (typeof k === 'string') key = k;
    else if (typeof k === 'number' || typeof k === 'boolean' || k === null || k === undefined) key = String(k);
    else throw new TypeError('a MessagePack map key that is neither a string nor a number');
    const value = read(r);
    if (key === '__proto__') Object.defineProperty(o, key, { value, enumerable: true, writable: true, configurable: true });
    else o[key] = value;
  }
  r.depth--;
  return o;
}

function readExt(r: Reader, n: number): undefined {
  const type = r.u8();
  r.take(n);
  if (type === 0) return undefined;
  throw new TypeError(`MessagePack extension type ${type} is no JSON value`);
}

/** A container too deep to build: stepped over (TOO_DEEP), or the body refused. */
function tooDeep(r: Reader, items: number, map: boolean): typeof TOO_DEEP {
  if (!r.skipDeep) throw new RangeError('MessagePack value nested too deeply');
  skipItems(r, items, map);
  return TOO_DEEP;
}

/** The length of the string or bin at type byte `t` (after its length bytes), or -1. */
function bytesLength(r: Reader, t: number): number {
  if (t >= 0xa0 && t < 0xc0) return t - 0xa0;
  if (t === 0xc4 || t === 0xd9) return r.u8();
  if (t === 0xc5 || t === 0xda) return r.u16();
  if (t === 0xc6 || t === 0xdb) return r.u32();
  return -1;
}

/** Fixed sizes of the scalars after their type byte (nil, booleans, numbers). */
const SCALAR_BYTES: Record<number, number> = { 0xc0: 0, 0xc2: 0, 0xc3: 0, 0xca: 4, 0xcb: 8, 0xcc: 1, 0xcd: 2, 0xce: 4, 0xcf: 8, 0xd0: 1, 0xd1: 2, 0xd2: 4, 0xd3: 8 };
/** Payload sizes of the fixed-size extensions (after their type byte). */
const FIXEXT_BYTES: Record<number, number> = { 0xd4: 1, 0xd5: 2, 0xd6: 4, 0xd7: 8, 0xd8: 16 };

/**
 * Step over `count` values (in a map: keys and values alternating, a key first), at any depth,
 * without recursion and building nothing; throws where read() would (truncated input, a value
 * that is no JSON value, a map key that is a container or bytes).
 */
function skipItems(r: Reader, count: number, map: boolean): void {
  const open: { left: number; map: boolean }[] = [{ left: count, map }];
  while (open.length > 0) {
    const top = open[open.length - 1];
    if (top.left === 0) {
      open.pop();
      continue;
    }
    const isKey = top.map && top.left % 2 === 0;
    top.left--;
    const t = r.u8();
    if (t < 0x80 || t >= 0xe0) continue;
    let n: number;
    let inner = false;
    if (t < 0x90) {
      n = t - 0x80;
      inner = true;
    } else if (t < 0xa0) n = t - 0x90;
    else if (t === 0xdc) n = r.u16();
    else if (t === 0xdd) n = r.u32();
    else if (t === 0xde || t === 0xdf) {
      n = t === 0xde ? r.u16() : r.u32();
      inner = true;
    } else {
      const len = bytesLength(r, t);
      if (len >= 0) {
        if (isKey && (t === 0xc4 || t === 0xc5 || t === 0xc6)) throw new TypeError('a MessagePack map key that is neither a string nor a number');
        r.take(len);
        continue;
      }
      const size = SCALAR_BYTES[t];
      if (size !== undefined) {
        r.take(size);
        continue;
      }
      const ext = FIXEXT_BYTES[t] ?? (t === 0xc7 ? r.u8() : t === 0xc8 ? r.u16() : t === 0xc9 ? r.u32() : -1);
      if (ext < 0) throw new TypeError(`MessagePack byte 0x${t.toString(16)} is no JSON value`);
      readExt(r, ext);
      continue;
    }
    if (isKey) throw new TypeError('a MessagePack map key that is neither a string nor a number');
    if (n > (r.b.length - r.pos) / (inner ? 2 : 1)) throw new RangeError('MessagePack container runs past the end');
    open.push({ left: inner ? 2 * n : n, map: inner });
  }
}

function read(r: Reader): unknown {
  const t = r.u8();
  if (t < 0x80) return t;
  if (t < 0x90) return readMap(r, t - 0x80);
  if (t < 0xa0) return readArray(r, t - 0x90);
  if (t < 0xc0) return r.str(t - 0xa0);
  if (t >= 0xe0) return t - 0x100;
  const b = r.b;
  switch (t) {
    case 0xc0:
      return null;
    case 0xc2:
      return false;
    case 0xc3:
      return true;
    case 0xc4:
    case 0xc5:
    case 0xc6: {
      const n = t === 0xc4 ? r.u8() : t === 0xc5 ? r.u16() : r.u32();
      const at = r.take(n);
      return b.subarray(at, at + n);
    }
    case 0xc7:
      return readExt(r, r.u8());
    case 0xc8:
      return readExt(r, r.u16());
    case 0xc9:
      return readExt(r, r.u32());
    case 0xca:
      return b.readFloatBE(r.take(4));
    case 0xcb:
      return b.readDoubleBE(r.take(8));
    case 0xcc:
      return r.u8();
    case 0xcd:
      return r.u16();
    case 0xce:
      return r.u32();
    case 0xcf: {
      const at = r.take(8);
      return b.readUInt32BE(at) * 0x1_0000_0000 + b.readUInt32BE(at + 4);
    }
    case 0xd0:
      return b.readInt8(r.take(1));
    case 0xd1:
      return b.readInt16BE(r.take(2));
    case 0xd2:
      return b.readInt32BE(r.take(4));
    case 0xd3: {
      const at = r.take(8);
      return b.readInt32BE(at) * 0x1_0000_0000 + b.readUInt32BE(at + 4);
    }
    case 0xd4:
      return readExt(r, 1);
    case 0xd5:
      return readExt(r, 2);
    case 0xd6:
      return readExt(r, 4);
    case 0xd7:
      return readExt(r, 8);
    case 0xd8:
      return readExt(r, 16);
    case 0xd9:
      return r.str(r.u8());
    case 0xda:
      return r.str(r.u16());
    case 0xdb:
      return r.str(r.u32());
    case 0xdc:
      return readArray(r, r.u16());
    case 0xdd:
      return readArray(r, r.u32());
    case 0xde:
      return readMap(r, r.u16());
    case 0xdf:
      return readMap(r, r.u32());
  }
  // 0xc1, "never used" (msgpackr's bundled strings).
  throw new TypeError(`MessagePack byte 0x${t.toString(16)} is no JSON value`);
}

/**
 * Decode a body: exactly one MessagePack map from `start` to the end, nothing after it; or
 * undefined for anything else (arrays, scalars, truncated or malformed input). A value nested
 * deeper than MAX_NESTING makes the body undefined, or with `deep: 'skip'` is TOO_DEEP.
 */
export function unpackBody(bytes: Buffer, start = 0, deep: 'fail' | 'skip' = 'fail'): Record<string, unknown> | undefined {
  const r = new Reader(bytes, start, deep === 'skip');
  let v: unknown;
  try {
    v = read(r);
  } catch {
    // Malformed input, or (deep: 'fail') a value nested too deeply.
    return undefined;
  }
  if (r.pos !== bytes.length || v === null || typeof v !== 'object' || Object.getPrototypeOf(v) !== Object.prototype) return undefined;
  return v as Record<string, unknown>;
}
