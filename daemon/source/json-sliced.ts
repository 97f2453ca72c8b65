// JSON.parse in slices, so that a large document can be parsed while the event loop keeps
// answering. The document's bytes are scanned for its structure (objects and arrays are
// assembled here, down to where values are small), and every small value is handed to
// JSON.parse itself, so numbers, strings and escapes mean exactly what JSON.parse makes of them.
// The parse yields after every few hundred values or kilobytes scanned, at any depth;
// `runSliced` (daemon/slices.ts) drives it in slices of a few milliseconds. Any syntax error, anything unexpected,
// ends in the caller's fallback: a plain JSON.parse of the whole text, which gives the exact
// result and error message. A document nested deeper than its limit is refused (JsonDepthError)
// by the same scan, at no extra pass.
//
// The scan is linear in the document's size: whether a container is small enough for JSON.parse
// is decided by scanning at most DESCEND_BYTES of it, and when it is not, the scan's state is
// kept, so that its child still open where the scan stopped continues from there instead of
// scanning the same bytes again (nested large containers would otherwise be rescanned once per
// level).
//
// Assembly follows JSON.parse: duplicate keys keep the last value (at the first key's place), a
// "__proto__" key is an own property, key order is the order JSON.parse produces.
import { runSliced } from '../slices.js';
import { JsonDepthError } from '../../shared/json-depth.js';
import { MAX_DOCUMENT_DEPTH, checkDepth } from './document-limits.js';

export class ChunkedParseError extends Error {}

/** Values spanning more bytes than this are assembled here, not handed to JSON.parse. */
const DESCEND_BYTES = 256 * 1024;
/** Yield to the driver after this much work: one unit per value, and one per KB scanned. */
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
  private work = 0;
  /** Bytes the last containerEnd scanned. */
  private scanned = 0;
  // The state of the last container scan that stopped before the container ended (`chain`):
  // where it stopped, and the start of every container open there, outermost first. chain[0]
  // is at nesting level chainLevel; chain[chainBase] is the container being assembled, and
  // chain[chainBase + 1] (when chainTop > chainBase) its child that was open where the scan
  // stopped. Valid only while `chainLive`.
  private readonly chain: Float64Array;
  private chainLive = false;
  private chainLevel = 0;
  private chainBase = 0;
  private chainTop = 0;
  private chainPos = 0;

  constructor(
    readonly b: Buffer,
    readonly maxDepth: number,
  ) {
    this.chain = new Float64Array(maxDepth + 2);
  }

  /** Count `units` of work; true when it is time to yield. */
  tick(units: number): boolean {
    this.work += units;
    if (this.work < YIELD_EVERY) return false;
    this.work = 0;
    return true;
  }

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

  /** The end of the number or literal starting at i: up to the next structural character or whitespace. */
  scalarEnd(i: number): number {
    const b = this.b;
    while (i < b.length) {
      const d = b[i];
      if (d === C.Comma || d === C.RBrace || d === C.RBracket || d === C.Space || d === C.Lf || d === C.Cr || d === C.Tab) break;
      i++;
    }
    return i;
  }

  /**
   * The end of the container at `start` (at nesting level `level`) when it spans at most
   * DESCEND_BYTES, else -1 (it is to be assembled here). Sets `scanned`.
   */
  containerEnd(start: number, level: number): number {
    if (this.chainLive && start < this.chainPos) {
      // Inside the container being assembled, before where its scan stopped: either its child
      // that was open there (continue that scan), or a child that ended before (small).
      if (this.chainTop > this.chainBase && this.chain[this.chainBase + 1] === start) return this.probe(start, true);
      return this.closedEnd(start, level);
    }
    this.chain[0] = start;
    this.chainLevel = level;
    return this.probe(start, false);
  }

  /**
   * Scan the container chain[base] (the next level of the kept scan when `resume`, else a new
   * scan from chain[0]) up to DESCEND_BYTES past its start: its end, or -1 with the scan kept.
   */
  private probe(start: number, resume: boolean): number {
    const b = this.b;
    const chain = this.chain;
    const base = resume ? this.chainBase + 1 : 0;
    let top = resume ? this.chainTop : 0;
    let i = resume ? this.chainPos : start + 1;
    const from = i;
    const stop = Math.min(start + DESCEND_BYTES, b.length);
    const most = this.maxDepth - this.chainLevel;
    while (i < stop) {
      const c = b[i];
      if (c === C.Quote) {
        // A string may run past `stop`: it is scanned whole, once.
        i = this.stringEnd(i);
        continue;
      }
      if (c === C.LBrace || c === C.LBracket) {
        if (++top > most) throw new JsonDepthError(i, this.maxDepth);
        chain[top] = i;
      } else if ((c === C.RBrace || c === C.RBracket) && top-- === base) {
        this.chainLive = false;
        this.scanned = i + 1 - from;
        return i + 1;
      }
      i++;
    }
    if (i >= b.length) fail();
    this.chainLive = true;
    this.chainBase = base;
    this.chainTop = top;
    this.chainPos = i;
    this.scanned = i - from;
    return -1;
  }

  /** The end of the container at `start` (level `level`), known to end within the kept scan. */
  private closedEnd(start: number, level: number): number {
    const b = this.b;
    const most = this.maxDepth - level + 1;
    let depth = 0;
    for (let i = start; i < b.length; i++) {
      const d = b[i];
      if (d === C.Quote) {
        i = this.stringEnd(i) - 1;
      } else if (d === C.LBrace || d === C.LBracket) {
        if (++depth > most) throw new JsonDepthError(i, this.maxDepth);
      } else if (d === C.RBrace || d === C.RBracket) {
        if (--depth === 0) {
          this.scanned = i + 1 - start;
          return i + 1;
        }
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
    if (c === C.Quote) {
      const end = this.stringEnd(start);
      this.i = end;
      return this.leaf(start, end);
    }
    if (c !== C.LBrace && c !== C.LBracket) {
      const end = this.scalarEnd(start);
      this.i = end;
      return this.leaf(start, end);
    }
    if (depth >= this.maxDepth) throw new JsonDepthError(start, this.maxDepth);
    if (depth >= 2) {
      const end = this.containerEnd(start, depth + 1);
      const scanned = this.scanned;
      if (end >= 0) {
        this.i = end;
        const v = this.leaf(start, end);
        if (this.tick(1 + (scanned >>> 10))) yield;
        return v;
      }
      if (this.tick(1 + (scanned >>> 10))) yield;
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
        if (this.tick(1)) yield;
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
      if (this.tick(1)) yield;
      this.ws();
      const d = b[this.i++];
      if (d === C.Comma) continue;
      if (d === C.RBracket) return arr;
      fail();
    }
  }
}

/**
 * A generator parsing `bytes` (UTF-8 JSON); it throws ChunkedParseError where JSON.parse would
 * throw, and JsonDepthError where the document nests deeper than `maxDepth`.
 */
export function* parseJsonSteps(bytes: Buffer, maxDepth = MAX_DOCUMENT_DEPTH): Generator<void, unknown> {
  const s = new Scanner(bytes, maxDepth);
  const v = yield* s.value(0);
  s.ws();
  if (s.i !== bytes.length) fail();
  return v;
}

/**
 * JSON.parse(bytes.toString('utf8')) at once, without that string: a large document's text is
 * never held whole (the parse reads the bytes, and JSON.parse gets its small values), which keeps
 * a copy of the document out of memory. Same result and errors as JSON.parse; JsonDepthError for
 * a document nested deeper than `maxDepth`.
 */
export function parseJsonBytes(bytes: Buffer, maxDepth = MAX_DOCUMENT_DEPTH): unknown {
  try {
    const gen = parseJsonSteps(bytes, maxDepth);
    for (;;) {
      const r = gen.next();
      if (r.done) return r.value;
    }
  } catch (e) {
    if (!(e instanceof ChunkedParseError) && !(e instanceof RangeError)) throw e;
  }
  return parseWhole(bytes, maxDepth);
}

/**
 * JSON.parse(bytes.toString('utf8')), in slices. Whatever the sliced parse cannot take is given
 * to JSON.parse whole, so the result and any error are exactly JSON.parse's; JsonDepthError for a
 * document nested deeper than `maxDepth`.
 */
export async function parseJsonSliced(bytes: Buffer, sliceMs = 4, maxDepth = MAX_DOCUMENT_DEPTH): Promise<unknown> {
  try {
    return await runSliced(parseJsonSteps(bytes, maxDepth), sliceMs);
  } catch (e) {
    if (!(e instanceof ChunkedParseError) && !(e instanceof RangeError)) throw e;
  }
  return parseWhole(bytes, maxDepth);
}

/** The fallback: the depth limit (first: JSON.parse is slow on deep nesting), then JSON.parse of the whole text. */
function parseWhole(bytes: Buffer, maxDepth: number): unknown {
  checkDepth(bytes, maxDepth);
  return JSON.parse(bytes.toString('utf8'));
}
