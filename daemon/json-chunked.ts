// JSON.parse in slices, so that a large document can be parsed while the event loop keeps
// answering. The document's bytes are scanned for its structure (objects and arrays are
// assembled here, down to where values are small), and every small value is handed to
// JSON.parse itself, so numbers, strings and escapes mean exactly what JSON.parse makes of them.
// The parse yields every few hundred values; `runSliced` drives it in slices of a few
// milliseconds. Any syntax error, anything unexpected, ends in the caller's fallback: a plain
// JSON.parse of the whole text, which gives the exact result and error message.
//
// Assembly follows JSON.parse: duplicate keys keep the last value (at the first key's place), a
// "__proto__" key is an own property, key order is the order JSON.parse produces.
import { setImmediate as yieldToLoop } from 'node:timers/promises';

export class ChunkedParseError extends Error {}

/** Values spanning more bytes than this are assembled here, not handed to JSON.parse. */
const DESCEND_BYTES = 256 * 1024;
/** Yield to the driver after this many values. */
const YIELD_EVERY = 256;

const C = {
  Space: 0x20,
  Tab: 0x09,
  Lf: 0x0a,
  Cr: 0x0d,
  Quote: 0x22,
  Backslash: 0x5c,
  Comma: 0x2c,
  Colon: 0x3a,
  LBrace: 0x7b,
  RBrace: 0x7d,
  LBracket: 0x5b,
  RBracket: 0x5d,
} as const;

function fail(): never {
  throw new ChunkedParseError('json');
}

function put(o: Record<string, unknown>, k: string, v: unknown): void {
  if (k === '__proto__') Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
  else o[k] = v;
}

class Scanner {
  i = 0;
  count = 0;
  constructor(readonly b: Buffer) {}

  ws(): void {
    const b = this.b;
    let i = this.i;
    while (i < b.length) {
      const c = b[i];
      if (c !== C.Space && c !== C.Lf && c !== C.Cr && c !== C.Tab) break;
      i++;
    }
    this.i = i;
  }

  /** The end (exclusive) of the string starting at i (its opening quote). */
  stringEnd(i: number): number {
    const b = this.b;
    for (i++; i < b.length; i++) {
      const c = b[i];
      if (c === C.Quote) return i + 1;
      if (c === C.Backslash) i++;
    }
    return fail();
  }

  /** The end of the value starting at i, by structure only (JSON.parse checks the rest). */
  valueEnd(i: number): number {
    const b = this.b;
    const c = b[i];
    if (c === C.Quote) return this.stringEnd(i);
    if (c !== C.LBrace && c !== C.LBracket) {
      // A number or literal: up to the next structural character or whitespace.
      while (i < b.length) {
        const d = b[i];
        if (d === C.Comma || d === C.RBrace || d === C.RBracket || d === C.Space || d === C.Lf || d === C.Cr || d === C.Tab) break;
        i++;
      }
      return i;
    }
    let depth = 0;
    for (; i < b.length; i++) {
      const d = b[i];
      if (d === C.Quote) {
        i = this.stringEnd(i) - 1;
      } else if (d === C.LBrace || d === C.LBracket) {
        depth++;
      } else if (d === C.RBrace || d === C.RBracket) {
        if (--depth === 0) return i + 1;
      }
    }
    return fail();
  }

  /** JSON.parse of b[start..end). */
  leaf(start: number, end: number): unknown {
    try {
      return JSON.parse(this.b.toString('utf8', start, end));
    } catch {
      return fail();
    }
  }

  /** Parse the value at `i`: containers at depth < 2 or spanning many bytes are assembled here. */
  *value(depth: number): Generator<void, unknown> {
    this.ws();
    const b = this.b;
    const start = this.i;
    if (start >= b.length) fail();
    const c = b[start];
    if (c !== C.LBrace && c !== C.LBracket) {
      const end = this.valueEnd(start);
      this.i = end;
      return this.leaf(start, end);
    }
    if (depth >= 2) {
      const end = this.valueEnd(start);
      if (end - start <= DESCEND_BYTES) {
        this.i = end;
        if (++this.count % YIELD_EVERY === 0) yield;
        return this.leaf(start, end);
      }
    }
    this.i = start + 1;
    this.ws();
    if (c === C.LBrace) {
      const out: Record<string, unknown> = {};
      if (b[this.i] === C.RBrace) {
        this.i++;
        return out;
      }
      for (;;) {
        this.ws();
        if (b[this.i] !== C.Quote) fail();
        const ks = this.i;
        const ke = this.stringEnd(ks);
        const key = this.leaf(ks, ke) as string;
        this.i = ke;
        this.ws();
        if (b[this.i] !== C.Colon) fail();
        this.i++;
        const v = yield* this.value(depth + 1);
        put(out, key, v);
        if (++this.count % YIELD_EVERY === 0) yield;
        this.ws();
        const d = b[this.i++];
        if (d === C.Comma) continue;
        if (d === C.RBrace) return out;
        fail();
      }
    }
    const arr: unknown[] = [];
    if (b[this.i] === C.RBracket) {
      this.i++;
      return arr;
    }
    for (;;) {
      arr.push(yield* this.value(depth + 1));
      if (++this.count % YIELD_EVERY === 0) yield;
      this.ws();
      const d = b[this.i++];
      if (d === C.Comma) continue;
      if (d === C.RBracket) return arr;
      fail();
    }
  }
}

/** A generator parsing `bytes` (UTF-8 JSON); it throws ChunkedParseError where JSON.parse would throw. */
export function* parseJsonSteps(bytes: Buffer): Generator<void, unknown> {
  const s = new Scanner(bytes);
  const v = yield* s.value(0);
  s.ws();
  if (s.i !== bytes.length) fail();
  return v;
}

/**
 * Run a generator to completion in slices of about `sliceMs`, yielding to the event loop
 * between slices. `cancelled` is checked at every slice: when it says so, the run stops (and
 * resolves undefined).
 */
export async function runSliced<T>(gen: Generator<void, T>, sliceMs = 4, cancelled?: () => boolean): Promise<T | undefined> {
  for (;;) {
    const end = performance.now() + sliceMs;
    for (;;) {
      const r = gen.next();
      if (r.done) return r.value;
      if (performance.now() >= end) break;
    }
    await yieldToLoop();
    if (cancelled?.()) {
      gen.return(undefined as T);
      return undefined;
    }
  }
}

/**
 * JSON.parse(bytes.toString('utf8')) at once, without that string: a large document's text is
 * never held whole (the parse reads the bytes, and JSON.parse gets its small values), which keeps
 * a copy of the document out of memory. Same result and errors as JSON.parse.
 */
export function parseJsonBytes(bytes: Buffer): unknown {
  try {
    const gen = parseJsonSteps(bytes);
    for (;;) {
      const r = gen.next();
      if (r.done) return r.value;
    }
  } catch (e) {
    if (!(e instanceof ChunkedParseError) && !(e instanceof RangeError)) throw e;
  }
  return JSON.parse(bytes.toString('utf8'));
}

/**
 * JSON.parse(bytes.toString('utf8')), in slices. Whatever the sliced parse cannot take is given
 * to JSON.parse whole, so the result and any error are exactly JSON.parse's.
 */
export async function parseJsonSliced(bytes: Buffer, sliceMs = 4): Promise<unknown> {
  try {
    return await runSliced(parseJsonSteps(bytes), sliceMs);
  } catch (e) {
    if (!(e instanceof ChunkedParseError) && !(e instanceof RangeError)) throw e;
  }
  return JSON.parse(bytes.toString('utf8'));
}
