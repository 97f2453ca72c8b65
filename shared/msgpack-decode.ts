// MessagePack decoding of QCF1 bodies: exactly one map, read as msgpackr reads it with the
// options QCF1 was first specified with (tested against msgpackr), down to its rules for odd
// input: a number, boolean or nil key becomes its string, fixext type 0 is undefined. One
// deliberate difference: a "__proto__" key is an own property, as JSON.parse makes it (msgpackr
// renames it "__proto_"), so a document holding one is answered, and proven, as it is. Extensions other than that, records and
// bundled strings are no JSON value: a body holding one is not decoded. The daemon decodes
// requests with it, the client replies; so neither loads a MessagePack library.

class Reader {
  constructor(
    readonly b: Buffer,
    public pos: number,
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

function readArray(r: Reader, n: number): unknown[] {
  // Every element takes a byte at least: a longer claim is truncated input, not an allocation.
  if (n > r.b.length - r.pos) throw new RangeError('MessagePack array runs past the end');
  const a = new Array<unknown>(n);
  for (let i = 0; i < n; i++) a[i] = read(r);
  return a;
}

function readMap(r: Reader, n: number): Record<string, unknown> {
  if (n > (r.b.length - r.pos) / 2) throw new RangeError('MessagePack map runs past the end');
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
  return o;
}

function readExt(r: Reader, n: number): undefined {
  const type = r.u8();
  r.take(n);
  if (type === 0) return undefined;
  throw new TypeError(`MessagePack extension type ${type} is no JSON value`);
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
 * undefined for anything else (arrays, scalars, truncated or malformed input).
 */
export function unpackBody(bytes: Buffer, start = 0): Record<string, unknown> | undefined {
  const r = new Reader(bytes, start);
  let v: unknown;
  try {
    v = read(r);
  } catch {
    // Malformed input, or nesting deep enough to exhaust the stack.
    return undefined;
  }
  if (r.pos !== bytes.length || v === null || typeof v !== 'object' || Object.getPrototypeOf(v) !== Object.prototype) return undefined;
  return v as Record<string, unknown>;
}
