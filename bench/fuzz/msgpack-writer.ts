// A MessagePack writer for hostile bodies: it writes what it is given as it is — any number, a
// string of any length, keys in the order given (duplicates and "__proto__" included) — and splices
// in `Raw` bytes, for values no encoder would produce (nesting thousands deep, lengths that lie,
// extension types). Independent of the project's encoder, which it is used to test.

/** Bytes written as they are, where a value goes. */
export class Raw {
  constructor(readonly bytes: Buffer) {}
}

/** A map written with its entries in this order (keys may repeat). */
export class Entries {
  constructor(readonly entries: readonly [unknown, unknown][]) {}
}

function head(small: number, smallMax: number, codes: [number, number, number], n: number): Buffer {
  if (n <= smallMax) return Buffer.from([small + n]);
  if (n < 0x10000) return Buffer.from([codes[1], n >> 8, n & 0xff]);
  const b = Buffer.alloc(5);
  b[0] = codes[2];
  b.writeUInt32BE(n, 1);
  return b;
}

function int(n: number): Buffer {
  if (n >= 0 && n < 128) return Buffer.from([n]);
  if (n < 0 && n >= -32) return Buffer.from([0x100 + n]);
  if (n >= 0 && n <= 0xffffffff) {
    const b = Buffer.alloc(5);
    b[0] = 0xce;
    b.writeUInt32BE(n, 1);
    return b;
  }
  if (n >= -0x80000000 && n < 0) {
    const b = Buffer.alloc(5);
    b[0] = 0xd2;
    b.writeInt32BE(n, 1);
    return b;
  }
  const b = Buffer.alloc(9);
  if (n > 0) {
    b[0] = 0xcf;
    b.writeBigUInt64BE(BigInt(n), 1);
  } else {
    b[0] = 0xd3;
    b.writeBigInt64BE(BigInt(n), 1);
  }
  return b;
}

function write(v: unknown, out: Buffer[]): void {
  if (v instanceof Raw) return void out.push(v.bytes);
  if (v === null || v === undefined) return void out.push(Buffer.from([0xc0]));
  if (v === false) return void out.push(Buffer.from([0xc2]));
  if (v === true) return void out.push(Buffer.from([0xc3]));
  if (typeof v === 'number') {
    if (Number.isSafeInteger(v)) return void out.push(int(v));
    const b = Buffer.alloc(9);
    b[0] = 0xcb;
    b.writeDoubleBE(v, 1);
    return void out.push(b);
  }
  if (typeof v === 'bigint') {
    const b = Buffer.alloc(9);
    b[0] = 0xcf;
    b.writeBigUInt64BE(BigInt.asUintN(64, v), 1);
    return void out.push(b);
  }
  if (typeof v === 'string') {
    const s = Buffer.from(v, 'utf8');
    out.push(s.length < 32 ? Buffer.from([0xa0 + s.length]) : s.length < 256 ? Buffer.from([0xd9, s.length]) : head(0xa0, 31, [0, 0xda, 0xdb], s.length), s);
    return;
  }
  if (Buffer.isBuffer(v)) {
    out.push(v.length < 256 ? Buffer.from([0xc4, v.length]) : v.length < 0x10000 ? Buffer.from([0xc5, v.length >> 8, v.length & 0xff]) : Buffer.from([0xc6, 0, 0, 0, 0]), v);
    return;
  }
  if (Array.isArray(v)) {
    out.push(head(0x90, 15, [0, 0xdc, 0xdd], v.length));
    for (const x of v) write(x, out);
    return;
  }
  const entries = v instanceof Entries ? v.entries : Object.entries(v as object);
  out.push(head(0x80, 15, [0, 0xde, 0xdf], entries.length));
  for (const [k, x] of entries) {
    write(k, out);
    write(x, out);
  }
}

export function pack(v: unknown): Buffer {
  const out: Buffer[] = [];
  write(v, out);
  return Buffer.concat(out);
}
