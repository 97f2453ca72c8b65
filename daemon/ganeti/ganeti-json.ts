// Ganeti's JSON reader (Text.JSON as confd uses it), for requests: leading whitespace rejected,
// trailing whitespace accepted, the first of duplicate keys wins, nesting bounded. Numbers keep
// their source text so that integer fields can be rounded exactly (half to even), as Haskell's
// `round` on a Rational does.

export type JValue =
  | { t: 'o'; m: Map<string, JValue> }
  | { t: 'a'; v: JValue[] }
  | { t: 's'; v: string }
  | { t: 'n'; raw: string }
  | { t: 'b'; v: boolean }
  | { t: 'z' };

/** Haskell's isSpace over the characters a Latin-1 datagram and \u escapes can produce. */
export function isHaskellSpace(c: number): boolean {
  return (
    c === 0x20 ||
    (c >= 0x09 && c <= 0x0d) ||
    c === 0xa0 ||
    c === 0x1680 ||
    (c >= 0x2000 && c <= 0x200a) ||
    c === 0x202f ||
    c === 0x205f ||
    c === 0x3000
  );
}

/** Deeper values are refused (a request is small; this bounds the parser's recursion). */
const MAX_DEPTH = 256;
/** The longest number text read (as Text.JSON's pattern on a 400-character window accepts). */
const MAX_NUMBER_CHARS = 400;
/** Larger decimal exponents are refused by roundHalfEven (no sensible integer field has them). */
const MAX_EXPONENT = 4000;

class JsonParser {
  i = 0;
  constructor(private readonly s: string) {}

  fail(): never {
    throw PARSE_ERROR;
  }

  ws(): void {
    const s = this.s;
    while (this.i < s.length && isHaskellSpace(s.charCodeAt(this.i))) this.i++;
  }

  value(depth: number): JValue {
    if (depth > MAX_DEPTH) this.fail();
    const s = this.s;
    const c = s.charCodeAt(this.i);
    if (c === 0x7b) return this.object(depth);
    if (c === 0x5b) return this.array(depth);
    if (c === 0x22) return { t: 's', v: this.string() };
    if (c === 0x2d || (c >= 0x30 && c <= 0x39)) return this.number();
    if (s.startsWith('true', this.i)) {
      this.i += 4;
      return { t: 'b', v: true };
    }
    if (s.startsWith('false', this.i)) {
      this.i += 5;
      return { t: 'b', v: false };
    }
    if (s.startsWith('null', this.i)) {
      this.i += 4;
      return { t: 'z' };
    }
    return this.fail();
  }

  object(depth: number): JValue {
    const m = new Map<string, JValue>();
    this.i++; // {
    this.ws();
    if (this.s.charCodeAt(this.i) === 0x7d) {
      this.i++;
      return { t: 'o', m };
    }
    for (;;) {
      if (this.s.charCodeAt(this.i) !== 0x22) this.fail();
      const k = this.string();
      this.ws();
      if (this.s.charCodeAt(this.i) !== 0x3a) this.fail();
      this.i++;
      this.ws();
      const v = this.value(depth + 1);
      if (!m.has(k)) m.set(k, v);
      if (!this.more(0x7d)) return { t: 'o', m };
    }
  }

  array(depth: number): JValue {
    const v: JValue[] = [];
    this.i++; // [
    this.ws();
    if (this.s.charCodeAt(this.i) === 0x5d) {
      this.i++;
      return { t: 'a', v };
    }
    for (;;) {
      v.push(this.value(depth + 1));
      if (!this.more(0x5d)) return { t: 'a', v };
    }
  }

  /** After a member or an element: true past a ',' (another follows), false past `close`. */
  more(close: number): boolean {
    this.ws();
    const c = this.s.charCodeAt(this.i);
    this.i++;
    if (c === 0x2c) {
      this.ws();
      return true;
    }
    return c === close ? false : this.fail();
  }

  string(): string {
    const s = this.s;
    let i = this.i + 1;
    let out = '';
    let start = i;
    for (;;) {
      if (i >= s.length) this.fail();
      const c = s.charCodeAt(i);
      if (c === 0x22) break;
      if (c !== 0x5c) {
        i++;
        continue;
      }
      out += s.slice(start, i);
      const e = s.charCodeAt(i + 1);
      switch (e) {
        case 0x22: out += '"'; break;
        case 0x5c: out += '\\'; break;
        case 0x2f: out += '/'; break;
        case 0x62: out += '\b'; break;
        case 0x66: out += '\f'; break;
        case 0x6e: out += '\n'; break;
        case 0x72: out += '\r'; break;
        case 0x74: out += '\t'; break;
        case 0x75: {
          const hex = s.slice(i + 2, i + 6);
          if (!/^[0-9a-fA-F]{4}$/.test(hex)) this.fail();
          out += String.fromCharCode(parseInt(hex, 16));
          i += 4;
          break;
        }
        default:
          this.fail();
      }
      i += 2;
      start = i;
    }
    out += s.slice(start, i);
    this.i = i + 1;
    return out;
  }

  number(): JValue {
    // -?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?, at most MAX_NUMBER_CHARS characters.
    const s = this.s;
    const start = this.i;
    const limit = Math.min(s.length, start + MAX_NUMBER_CHARS);
    let i = start;
    const digits = (): boolean => {
      const from = i;
      while (i < limit) {
        const c = s.charCodeAt(i);
        if (c < 0x30 || c > 0x39) break;
        i++;
      }
      return i > from;
    };
    if (s.charCodeAt(i) === 0x2d) i++;
    if (!digits()) this.fail();
    if (i + 1 < limit && s.charCodeAt(i) === 0x2e) {
      const save = i;
      i++;
      if (!digits()) i = save;
    }
    if (i + 1 < limit && (s.charCodeAt(i) | 0x20) === 0x65) {
      const save = i;
      i++;
      const sign = s.charCodeAt(i);
      if (sign === 0x2b || sign === 0x2d) i++;
      if (!digits()) i = save;
    }
    this.i = i;
    return { t: 'n', raw: s.slice(start, i) };
  }
}

/** Thrown by the parser on any error, caught by parseGanetiJson (no stack trace to build). */
const PARSE_ERROR = new Error('json');

/** Parse with Ganeti's rules; undefined when Ganeti would reject the text. */
export function parseGanetiJson(text: string): JValue | undefined {
  if (text.length === 0 || isHaskellSpace(text.charCodeAt(0))) return undefined;
  const p = new JsonParser(text);
  try {
    const v = p.value(0);
    p.ws();
    return p.i === text.length ? v : undefined;
  } catch (e) {
    if (e === PARSE_ERROR || e instanceof RangeError) return undefined;
    throw e;
  }
}

/**
 * A JSON number's exact value rounded half to even (Haskell `round` on the Rational), or
 * undefined when it is out of any sensible range. The work is bounded by the text's length,
 * never by its exponent: a value below 0.1 in magnitude rounds to 0 at once (1e-500000000 would
 * otherwise spell out half a billion zeros), and exponents above MAX_EXPONENT are refused.
 */
export function roundHalfEven(raw: string): bigint | undefined {
  const m = /^(-?)([0-9]+)(?:\.([0-9]+))?(?:[eE]([+-]?[0-9]+))?$/.exec(raw);
  if (!m) return undefined;
  const neg = m[1] === '-';
  let digits = m[2] + (m[3] ?? '');
  // A long exponent reads as ±Infinity: the checks below hold for it too.
  const exp = (m[4] ? Number(m[4]) : 0) - (m[3]?.length ?? 0);
  if (!(exp <= MAX_EXPONENT)) return undefined;
  digits = digits.replace(/^0+(?=[0-9])/, '');
  if (exp >= 0) {
    const v = BigInt(digits + '0'.repeat(exp));
    return neg ? -v : v;
  }
  const cut = digits.length + exp; // digits before the point
  // |value| < 10^cut ≤ 0.1: rounds to 0.
  if (cut < 0) return 0n;
  const intPart = cut > 0 ? digits.slice(0, cut) : '0';
  const frac = digits.slice(cut);
  let v = BigInt(intPart);
  const first = frac.charCodeAt(0) - 48;
  const rest = /[1-9]/.test(frac.slice(1));
  if (first > 5 || (first === 5 && (rest || v % 2n === 1n))) v += 1n;
  return neg ? -v : v;
}
