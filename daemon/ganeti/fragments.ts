// The JSON texts of config objects that answers are lists of (types 8 and 9: instances, an
// instance's disks), made once per view and kept, so that such an answer is put together by
// copying them instead of serializing objects per request.
//
// Why: at 10,000 nodes there are tens of thousands of distinct such answers, some 100 MB of
// replies, which no reply cache of a sensible size holds; every miss then serialized a few cold
// objects (about 100 µs for a node's instances, quoting and copies included), and every cached
// reply pushed out another, old-generation garbage that had the collector mark the whole 400 MB
// heap about once a second. The objects are shared between answers (an instance is in its
// primary's and its secondary's list), so their texts take less memory than the replies, and
// they are never evicted: nothing is left behind per request.
//
// The texts are strings on the heap, one per object, each written into a reply with one native
// copy; the reply is quoted on its way into the datagram (quoted copies kept as well cost 35 MB
// at 10,000 nodes and were no faster: twice the memory to read per reply). Not off-heap buffers:
// V8 counts off-heap bytes towards its next full collection, and tens of megabytes of them made
// at once with the view set one off right after the load, which left the next limit so close
// that large replies (off-heap too) then set off another every half second.
import { asciiJson } from '../../shared/plj0/ascii-json.js';
import { innerReplyHead, innerReplyTail } from './reply.js';

/**
 * Characters of texts one view keeps (10,000 nodes: 31 M for the instances, 40 M for the disk
 * lists of all 50,000 instances); beyond it, answers take the general path.
 */
export const FRAGMENT_CHARS = 80 * 1024 * 1024;

/** What the tables of one view hold, against FRAGMENT_CHARS. */
export interface FragmentBudget {
  held: number;
  readonly max: number;
}

const NOT_MADE = -1;
/** Not to be composed: over the budget, or a control character (never in asciiJson's texts). */
const NOT_COMPOSED = -2;

/**
 * The JSON texts (asciiJson) of a fixed list of objects as `render` shows them (their
 * re-serialization), by slot, made when first prepared. Each text is pure ASCII without control
 * characters, so that quoting it as a JSON string escapes its '"' and '\' only, whose number is
 * kept with it.
 */
export class FragmentTable {
  private readonly texts: Array<string | undefined>;
  /** The text's '"' and '\' (its quoted form is that much longer), or NOT_MADE / NOT_COMPOSED. */
  private readonly escapes: Int32Array;

  constructor(
    /** The objects by slot (undefined: never asked for). */
    readonly objs: readonly unknown[],
    private readonly budget: FragmentBudget,
    /** What an answer shows of an object (made again for each text: nothing of it is kept). */
    readonly render: (obj: unknown) => unknown = (o) => o,
  ) {
    const n = objs.length;
    this.texts = new Array<string | undefined>(n).fill(undefined);
    this.escapes = new Int32Array(n).fill(NOT_MADE);
  }

  /** The text's length, making it first if needed; -1 when it is not to be composed. */
  prepare(slot: number): number {
    const t = this.texts[slot];
    if (t !== undefined) return t.length;
    const obj = this.objs[slot];
    if (this.escapes[slot] === NOT_COMPOSED || obj === undefined) return -1;
    const text = asciiJson(this.render(obj)); // ASCII: one byte a character
    const n = text.length;
    if (this.budget.held + n > this.budget.max) return this.notComposed(slot);
    if (textScratch.length < n) textScratch = Buffer.allocUnsafeSlow(Math.max(n, 2 * textScratch.length));
    textScratch.write(text, 0, n, 'latin1');
    let escapes = 0;
    for (let i = 0; i < n; i++) {
      const c = textScratch[i];
      if (c === 0x22 || c === 0x5c) escapes++;
      else if (c < 0x20) return this.notComposed(slot);
    }
    this.budget.held += n;
    this.escapes[slot] = escapes;
    // Kept as a string made from these bytes: one piece, where JSON.stringify's long texts are
    // made of parts, which each copy would have to walk (or flatten, leaving them as garbage).
    this.texts[slot] = textScratch.toString('latin1', 0, n);
    return n;
  }

  /** Whether the text of `slot` is made. */
  isMade(slot: number): boolean {
    return this.texts[slot] !== undefined;
  }

  /** Whether the view's budget leaves room for more texts. */
  hasRoom(): boolean {
    return this.budget.held < this.budget.max;
  }

  private notComposed(slot: number): number {
    this.escapes[slot] = NOT_COMPOSED;
    return -1;
  }

  /** Write a prepared text into dst at `at`; returns the end. */
  copy(slot: number, dst: Buffer, at: number): number {
    const t = this.texts[slot] as string;
    return at + dst.write(t, at, t.length, 'latin1');
  }

  escapesOf(slot: number): number {
    return this.escapes[slot];
  }
}

let textScratch = Buffer.allocUnsafeSlow(16 * 1024);

/** A JSON value made of a table's texts: a slot, or an array of such values. */
export type FragmentTree = number | readonly FragmentTree[];

/**
 * An answer whose value is a tree of table objects. JSON.stringify sees the objects themselves
 * (toJSON), so the general path encodes it exactly as before; composeInner writes the same text
 * from the kept ones.
 */
export class ComposedAnswer {
  constructor(
    readonly table: FragmentTable,
    readonly tree: FragmentTree,
  ) {}

  toJSON(): unknown {
    const expand = (t: FragmentTree): unknown => (typeof t === 'number' ? this.table.render(this.table.objs[t]) : t.map(expand));
    return expand(this.tree);
  }
}

/** Where the first composed text is written; it grows to fit. */
const INITIAL_COMPOSED_BYTES = 64 * 1024;

/**
 * A caller's buffer for composed inner texts: composeInner writes the text into bytes[0..length),
 * `escapes` of them '"' or '\'; the next call overwrites it.
 */
export class ComposedText {
  bytes = Buffer.allocUnsafeSlow(INITIAL_COMPOSED_BYTES);
  length = 0;
  escapes = 0;

  /** Room for `need` bytes, keeping the first `used`. */
  room(need: number, used: number): Buffer {
    let b = this.bytes;
    if (b.length < need) {
      const grown = Buffer.allocUnsafeSlow(Math.max(need, 2 * b.length));
      b.copy(grown, 0, 0, used);
      this.bytes = b = grown;
    }
    return b;
  }
}

/**
 * Write a tree's text into `out` at `at` (in one pass: each text is read once), adding its
 * escapes up; the end, or -1 when a text is not to be composed.
 */
function write(table: FragmentTable, t: FragmentTree, out: ComposedText, at: number): number {
  if (typeof t === 'number') {
    const n = table.prepare(t);
    if (n < 0) return -1;
    out.escapes += table.escapesOf(t);
    return table.copy(t, out.room(at + n, at), at);
  }
  let b = out.room(at + 1, at);
  b[at++] = 0x5b; // [
  for (let i = 0; i < t.length; i++) {
    if (i > 0) {
      b = out.room(at + 1, at);
      b[at++] = 0x2c; // ,
    }
    at = write(table, t[i], out, at);
    if (at < 0) return -1;
  }
  b = out.room(at + 1, at);
  b[at++] = 0x5d; // ]
  return at;
}

/** '"' and '\' in an ASCII string. */
function countEscapes(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x22 || c === 0x5c) n++;
  }
  return n;
}

/**
 * The inner reply text {"protocol":1,"status":S,"answer":A,"serial":N} (innerReplyText of the
 * same answer, byte for byte) written from the kept texts into `out`; false when a text is not to
 * be composed (the caller takes the general path).
 */
export function composeInner(status: number, answer: ComposedAnswer, serial: number, out: ComposedText): boolean {
  const head = innerReplyHead(status);
  const tail = innerReplyTail(serial);
  out.escapes = countEscapes(head) + countEscapes(tail);
  let at = out.room(head.length, 0).write(head, 0, head.length, 'latin1');
  at = write(answer.table, answer.tree, out, at);
  if (at < 0) return false;
  at += out.room(at + tail.length, at).write(tail, at, tail.length, 'latin1');
  out.length = at;
  return true;
}
