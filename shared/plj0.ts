// Ganeti's confd protocol "plj0" (ganeti-confd-protocol.md §§1–3, §5): a pure codec.
// Requests are parsed with Ganeti's own JSON and timestamp rules, and every way a datagram can
// fail is a typed drop reason (the daemon stays silent on all of them). Replies are encoded as
// pure ASCII (non-ASCII escaped as \uXXXX) and signed over rsalt ‖ inner with HMAC-SHA1.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { FAST_HMAC_MAX, MacScratch, hmacAsciiHexEquals, hmacKey, hmacStringBytesHexInto, macEqualsHex, macInto, writeMacHex } from './fast-hmac.js';

const MAC = new MacScratch();
const HMAC_SCRATCH = MAC.msg;

export const PLJ0_MAGIC = 'plj0';
/** CONFD_MAX_CLOCK_SKEW: |timestamp − now| ≤ 300 s is accepted (inclusive). */
export const CONFD_MAX_CLOCK_SKEW = 300;
/** Ganeti's MAX_UDP_DATA_SIZE: the largest datagram its clients read. */
export const MAX_UDP_DATA_SIZE = 61440;

export const REQ_PING = 0;
export const REQ_NODE_ROLE_BYNAME = 1;
export const REQ_NODE_PIP_BY_INSTANCE_IP = 2;
export const REQ_CLUSTER_MASTER = 3;
export const REQ_NODE_PIP_LIST = 4;
export const REQ_MC_PIP_LIST = 5;
export const REQ_INSTANCES_IPS_LIST = 6;
export const REQ_NODE_DRBD = 7;
export const REQ_NODE_INSTANCES = 8;
export const REQ_INSTANCE_DISKS = 9;
export const REQ_CONFIG_QUERY = 10;
export const REQ_DATA_COLLECTORS = 11;

export const REQUEST_TYPE_NAMES = [
  'ping',
  'node-role',
  'node-pip-by-instance-ip',
  'cluster-master',
  'node-pip-list',
  'mc-pip-list',
  'instances-ips-list',
  'node-drbd',
  'node-instances',
  'instance-disks',
  'config-query',
  'data-collectors',
] as const;

export const REQFIELD_NAME = 0;
export const REQFIELD_IP = 1;
export const REQFIELD_MNODE_PIP = 2;

export const STATUS_OK = 0;
export const STATUS_ERROR = 1;
export const ERROR_UNKNOWN_ENTRY = 0;
export const ERROR_ARGUMENT = 2;

/** Every reason a request datagram gets silence. */
export type Plj0DropReason =
  | 'plj0_bad_magic'
  | 'plj0_bad_outer_json'
  | 'plj0_bad_envelope'
  | 'plj0_bad_mac'
  | 'plj0_bad_timestamp'
  | 'plj0_skew'
  | 'plj0_bad_inner_json'
  | 'plj0_bad_request'
  | 'plj0_bad_type'
  | 'plj0_bad_rsalt'
  | 'plj0_bad_query';

/** A dict query (keys "0"–"3"); null members count as absent. */
export interface DictQuery {
  link?: string;
  ip?: string;
  ipList: string[];
  fields: number[];
}

export type Plj0Query = { kind: 'empty' } | { kind: 'plain'; value: string } | { kind: 'dict'; value: DictQuery };

export interface Plj0Request {
  type: number;
  query: Plj0Query;
  rsalt: string;
}

export type ParseResult = { ok: true; request: Plj0Request; timestamp: bigint } | { ok: false; reason: Plj0DropReason };

// ---------------------------------------------------------------------------------------------
// Ganeti's JSON (Text.JSON as used by confd): leading whitespace rejected, trailing whitespace
// accepted, the first of duplicate keys wins. Numbers keep their source text so integer fields
// can be rounded exactly (half to even), as Haskell's `round` on a Rational does.

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

const MAX_DEPTH = 256;

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
      this.ws();
      const c = this.s.charCodeAt(this.i);
      if (c === 0x2c) {
        this.i++;
        this.ws();
        continue;
      }
      if (c === 0x7d) {
        this.i++;
        return { t: 'o', m };
      }
      this.fail();
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
      this.ws();
      const c = this.s.charCodeAt(this.i);
      if (c === 0x2c) {
        this.i++;
        this.ws();
        continue;
      }
      if (c === 0x5d) {
        this.i++;
        return { t: 'a', v };
      }
      this.fail();
    }
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
    // -?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?, at most 400 characters (as the pattern on a
    // 400-character window accepted).
    const s = this.s;
    const start = this.i;
    const limit = Math.min(s.length, start + 400);
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
 * otherwise spell out half a billion zeros), and exponents above 4000 are refused.
 */
export function roundHalfEven(raw: string): bigint | undefined {
  const m = /^(-?)([0-9]+)(?:\.([0-9]+))?(?:[eE]([+-]?[0-9]+))?$/.exec(raw);
  if (!m) return undefined;
  const neg = m[1] === '-';
  let digits = m[2] + (m[3] ?? '');
  // A long exponent reads as ±Infinity: the checks below hold for it too.
  const exp = (m[4] ? Number(m[4]) : 0) - (m[3]?.length ?? 0);
  if (!(exp <= 4000)) return undefined;
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

// ---------------------------------------------------------------------------------------------
// Strings ⇄ bytes. Incoming bytes are Latin-1 characters; the MAC covers the UTF-8 of the decoded
// strings, encoded one UTF-16 unit at a time as Haskell encodes its Chars (a \ud83d\ude00 pair is
// two 3-byte sequences there).

export function haskellUtf8(s: string): Buffer {
  let ascii = true;
  for (let i = 0; i < s.length; i++) {
    if (s.charCodeAt(i) >= 0x80) {
      ascii = false;
      break;
    }
  }
  if (ascii) return Buffer.from(s, 'latin1');
  const out: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) out.push(c);
    else if (c < 0x800) out.push(0xc0 | (c >> 6), 0x80 | (c & 0x3f));
    else out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 0x3f), 0x80 | (c & 0x3f));
  }
  return Buffer.from(out);
}

export function hmacSha1Hex(key: Buffer, salt: string, msg: string): string {
  return createHmac('sha1', key).update(haskellUtf8(salt)).update(haskellUtf8(msg)).digest('hex');
}

/** Case-insensitive, constant-time comparison of a received MAC with the expected one. */
export function macMatches(key: Buffer, salt: string, msg: string, received: string): boolean {
  if (received.length !== 40) return false;
  // ASCII salt and msg (the usual case): HMAC computed over the strings in place.
  const fast = hmacAsciiHexEquals(hmacKey('sha1', key), salt, msg, received);
  if (fast !== undefined) return fast;
  const expected = Buffer.from(hmacSha1Hex(key, salt, msg), 'latin1');
  const got = Buffer.from(received.toLowerCase(), 'latin1');
  return got.length === expected.length && timingSafeEqual(got, expected);
}

/** JSON text with every non-ASCII character escaped (\uXXXX): replies are pure ASCII. */
export function asciiJson(value: unknown): string {
  const json = JSON.stringify(value);
  // The usual text is ASCII already: a native length check instead of a regex pass over it.
  return isAscii(json) ? json : escapeNonAscii(json);
}

export function escapeNonAscii(json: string): string {
  return json.replace(/[\u0080-\uffff]/g, (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0'));
}

// ---------------------------------------------------------------------------------------------
// Timestamps: a Haskell Integer literal as `reads` accepts it with nothing left over.

/** Parse the request's outer salt as Ganeti does; undefined if it is not an integer literal. */
export function parseHaskellInteger(s: string): bigint | undefined {
  let i = 0;
  const n = s.length;
  const skip = () => {
    while (i < n && isHaskellSpace(s.charCodeAt(i))) i++;
  };
  const parse = (): bigint | undefined => {
    skip();
    if (s[i] === '(') {
      i++;
      const v = parse();
      if (v === undefined) return undefined;
      skip();
      if (s[i] !== ')') return undefined;
      i++;
      return v;
    }
    let neg = false;
    if (s[i] === '-') {
      // A symbol token: a run of symbol characters must be exactly "-".
      if (i + 1 < n && '!#$%&*+./<=>?@\\^|-~:'.includes(s[i + 1])) return undefined;
      neg = true;
      i++;
      skip();
    }
    const m = /^(?:0[xX]([0-9a-fA-F]+)|0[oO]([0-7]+)|([0-9]+))/.exec(s.slice(i));
    if (!m) return undefined;
    // A decimal followed by a fraction or an exponent lexes as a non-integer number.
    const after = i + m[0].length;
    if (m[3] !== undefined && /^(\.[0-9]|[eE][+-]?[0-9])/.test(s.slice(after, after + 3))) return undefined;
    i = after;
    const v = m[1] !== undefined ? BigInt('0x' + m[1]) : m[2] !== undefined ? BigInt('0o' + m[2]) : BigInt(m[3]);
    return neg ? -v : v;
  };
  if (n > 512) return undefined;
  const v = parse();
  return v !== undefined && i === n ? v : undefined;
}

export function timestampInWindow(ts: bigint, nowSec: number): boolean {
  const d = ts - BigInt(Math.floor(nowSec));
  return d <= BigInt(CONFD_MAX_CLOCK_SKEW) && d >= -BigInt(CONFD_MAX_CLOCK_SKEW);
}

// ---------------------------------------------------------------------------------------------
// Requests (daemon side).

function parseEnvelope(text: string): { hmac: string; msg: string; salt: string } | Plj0DropReason {
  const outer = parseGanetiJson(text);
  if (outer === undefined) return 'plj0_bad_outer_json';
  if (outer.t !== 'o' || outer.m.size !== 3) return 'plj0_bad_envelope';
  const h = outer.m.get('hmac');
  const m = outer.m.get('msg');
  const s = outer.m.get('salt');
  if (h?.t !== 's' || m?.t !== 's' || s?.t !== 's') return 'plj0_bad_envelope';
  return { hmac: h.v, msg: m.v, salt: s.v };
}

function intOf(v: JValue | undefined): bigint | undefined {
  return v?.t === 'n' ? roundHalfEven(v.raw) : undefined;
}

/** A small non-negative integer literal (no sign, fraction or exponent) as a number, else -1. */
function smallInt(raw: string): number {
  if (raw.length > 9) return -1;
  let v = 0;
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charCodeAt(i) - 0x30;
    if (c < 0 || c > 9) return -1;
    v = v * 10 + c;
  }
  return v;
}

/** intOf for values that must lie in [0, max]: the number, or undefined. */
function smallIntOf(v: JValue | undefined, max: number): number | undefined {
  if (v?.t !== 'n') return undefined;
  const fast = smallInt(v.raw);
  if (fast >= 0) return fast <= max ? fast : undefined;
  const b = roundHalfEven(v.raw);
  return b === undefined || b < 0n || b > BigInt(max) ? undefined : Number(b);
}

function parseQuery(v: JValue | undefined): Plj0Query | undefined {
  if (v === undefined || v.t === 'z') return { kind: 'empty' };
  if (v.t === 's') return { kind: 'plain', value: v.v };
  if (v.t !== 'o') return undefined;
  const q: DictQuery = { ipList: [], fields: [] };
  for (const [k, x] of v.m) {
    if (k !== '0' && k !== '1' && k !== '2' && k !== '3') return undefined;
    if (x.t === 'z') continue;
    if (k === '0' || k === '1') {
      if (x.t !== 's') return undefined;
      if (k === '0') q.link = x.v;
      else q.ip = x.v;
    } else if (k === '2') {
      if (x.t !== 'a') return undefined;
      for (const e of x.v) {
        if (e.t !== 's') return undefined;
        q.ipList.push(e.v);
      }
    } else {
      if (x.t !== 'a') return undefined;
      for (const e of x.v) {
        const f = smallIntOf(e, 2);
        if (f === undefined) return undefined;
        q.fields.push(f);
      }
    }
  }
  return { kind: 'dict', value: q };
}

/** Parse the inner request JSON (after the MAC has been verified). */
export function parseInnerRequest(msg: string): Plj0Request | Plj0DropReason {
  const inner = parseGanetiJson(msg);
  if (inner === undefined) return 'plj0_bad_inner_json';
  if (inner.t !== 'o') return 'plj0_bad_request';
  for (const k of inner.m.keys()) {
    if (k !== 'protocol' && k !== 'type' && k !== 'query' && k !== 'rsalt') return 'plj0_bad_request';
  }
  if (inner.m.get('protocol')?.t !== 'n') return 'plj0_bad_request';
  const type = smallIntOf(inner.m.get('type'), 11);
  if (type === undefined) return 'plj0_bad_type';
  const rsalt = inner.m.get('rsalt');
  if (rsalt?.t !== 's') return 'plj0_bad_rsalt';
  const query = parseQuery(inner.m.get('query'));
  if (query === undefined) return 'plj0_bad_query';
  return { type, query, rsalt: rsalt.v };
}

/**
 * Parse and authenticate a request datagram (magic included). The MAC is checked before the
 * inner JSON is parsed; the timestamp must be within ±300 s of `nowSec`.
 */
export function parseRequestDatagram(datagram: Buffer, key: Buffer, nowSec: number): ParseResult {
  const r = parseRequest(datagram, key, nowSec);
  if (typeof r === 'string') return { ok: false, reason: r };
  return { ok: true, request: r, timestamp: lastTimestamp ?? BigInt(lastTimestampSec) };
}

/** The timestamp of the request parsed last by parseRequest: seconds, and the exact value when it is not a plain number. */
let lastTimestampSec = 0;
let lastTimestamp: bigint | undefined;

/** The request timestamp (seconds) of the datagram `parseRequest` accepted last. */
export function lastRequestTimestamp(): number {
  return lastTimestampSec;
}

/**
 * parseRequestDatagram without the result object: the request, or why it is dropped. The
 * timestamp is then `lastRequestTimestamp()`.
 */
export function parseRequest(datagram: Buffer, key: Buffer, nowSec: number): Plj0Request | Plj0DropReason {
  if (datagram.length < 4 || datagram[0] !== 0x70 || datagram[1] !== 0x6c || datagram[2] !== 0x6a || datagram[3] !== 0x30) return 'plj0_bad_magic';
  const fast = fastParse(datagram, key, nowSec);
  if (fast !== FALLBACK) return fast;
  return parseRequestGeneral(datagram, key, nowSec);
}

/** parseRequest without the fast path (the general parser alone; tests compare the two). */
export function parseRequestGeneral(datagram: Buffer, key: Buffer, nowSec: number): Plj0Request | Plj0DropReason {
  if (datagram.length < 4 || datagram[0] !== 0x70 || datagram[1] !== 0x6c || datagram[2] !== 0x6a || datagram[3] !== 0x30) return 'plj0_bad_magic';
  const env = parseEnvelope(datagram.toString('latin1', 4));
  if (typeof env === 'string') return env;
  if (!macMatches(key, env.salt, env.msg, env.hmac)) return 'plj0_bad_mac';
  // A plain decimal salt (what every client sends) is read as a number; anything else as
  // Haskell's `reads` would.
  const plain = env.salt.length <= 15 ? smallDecimal(env.salt) : -1;
  if (plain >= 0) {
    const d = plain - Math.floor(nowSec);
    if (d > CONFD_MAX_CLOCK_SKEW || d < -CONFD_MAX_CLOCK_SKEW) return 'plj0_skew';
    lastTimestampSec = plain;
    lastTimestamp = undefined;
  } else {
    const ts = parseHaskellInteger(env.salt);
    if (ts === undefined) return 'plj0_bad_timestamp';
    if (!timestampInWindow(ts, nowSec)) return 'plj0_skew';
    lastTimestampSec = Number(ts);
    lastTimestamp = ts;
  }
  return parseInnerRequest(env.msg);
}

// ---------------------------------------------------------------------------------------------
// The fast path: requests as Ganeti's and qconf's clients write them, parsed from the datagram's
// bytes without building the JSON values. It handles only a strict subset (the envelope's three
// string members once each, ASCII without control characters, escapes \" \\ \/ in msg, spaces
// as the only whitespace, a plain decimal salt; an inner object of protocol, type, rsalt and an
// optional string or null query, with no escapes); on anything else it steps aside and the
// general parser above decides, so the two always agree. The msg is unescaped straight into
// the HMAC scratch, MACed there, and the inner request is read from the same bytes.

const FALLBACK = 'fallback' as const;
const EMPTY_QUERY: Plj0Query = { kind: 'empty' };

// Where the envelope's members are (set by fastEnvelope).
let saltStart = 0;
let saltEnd = 0;
let hmacStart = 0;
let hmacEnd = 0;
let msgStart = 0;
let msgEnd = 0;
let msgEscapes = false;

function skipSpaces(b: Uint8Array, i: number, n: number): number {
  while (i < n && b[i] === 0x20) i++;
  return i;
}

/** Scan the outer envelope; false when it is not in the fast subset. */
function fastEnvelope(b: Uint8Array): boolean {
  const n = b.length;
  let i = 4;
  if (b[i] !== 0x7b) return false;
  i = skipSpaces(b, i + 1, n);
  let seen = 0;
  for (let m = 0; m < 3; m++) {
    if (b[i] !== 0x22) return false;
    // The key: msg, salt or hmac.
    let which = 0;
    if (b[i + 1] === 0x6d && b[i + 2] === 0x73 && b[i + 3] === 0x67 && b[i + 4] === 0x22) {
      which = 1;
      i += 5;
    } else if (b[i + 1] === 0x73 && b[i + 2] === 0x61 && b[i + 3] === 0x6c && b[i + 4] === 0x74 && b[i + 5] === 0x22) {
      which = 2;
      i += 6;
    } else if (b[i + 1] === 0x68 && b[i + 2] === 0x6d && b[i + 3] === 0x61 && b[i + 4] === 0x63 && b[i + 5] === 0x22) {
      which = 4;
      i += 6;
    } else {
      return false;
    }
    if (seen & which) return false;
    seen |= which;
    i = skipSpaces(b, i, n);
    if (b[i] !== 0x3a) return false;
    i = skipSpaces(b, i + 1, n);
    if (b[i] !== 0x22) return false;
    const start = ++i;
    let escapes = false;
    for (;;) {
      if (i >= n) return false;
      const c = b[i];
      if (c === 0x22) break;
      if (c < 0x20 || c > 0x7e) return false;
      if (c === 0x5c) {
        if (which !== 1) return false;
        const e = b[i + 1];
        if (e !== 0x22 && e !== 0x5c && e !== 0x2f) return false;
        escapes = true;
        i += 2;
        continue;
      }
      i++;
    }
    if (which === 1) {
      msgStart = start;
      msgEnd = i;
      msgEscapes = escapes;
    } else if (which === 2) {
      saltStart = start;
      saltEnd = i;
    } else {
      hmacStart = start;
      hmacEnd = i;
    }
    i = skipSpaces(b, i + 1, n);
    if (m < 2) {
      if (b[i] !== 0x2c) return false;
      i = skipSpaces(b, i + 1, n);
    }
  }
  if (b[i] !== 0x7d) return false;
  // Trailing whitespace, which Ganeti accepts.
  for (i++; i < n; i++) {
    const c = b[i];
    if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) return false;
  }
  return true;
}

/** Digits at b[i..) as a number (at most 9 of them), the end in `numEnd`; -1 if none. */
let numEnd = 0;
function digitsAt(b: Uint8Array, i: number, end: number): number {
  let v = 0;
  const start = i;
  while (i < end && b[i] >= 0x30 && b[i] <= 0x39 && i - start < 9) {
    v = v * 10 + (b[i] - 0x30);
    i++;
  }
  numEnd = i;
  return i > start && (i >= end || b[i] < 0x30 || b[i] > 0x39) ? v : -1;
}

/** A string without escapes at b[i] (the opening quote): its end (the closing quote), or -1. */
function plainStringEnd(b: Uint8Array, i: number, end: number): number {
  if (b[i] !== 0x22) return -1;
  for (i++; i < end; i++) {
    const c = b[i];
    if (c === 0x22) return i;
    if (c === 0x5c || c < 0x20 || c > 0x7e) return -1;
  }
  return -1;
}

const KEY_PROTOCOL = [0x70, 0x72, 0x6f, 0x74, 0x6f, 0x63, 0x6f, 0x6c];
const KEY_TYPE = [0x74, 0x79, 0x70, 0x65];
const KEY_QUERY = [0x71, 0x75, 0x65, 0x72, 0x79];
const KEY_RSALT = [0x72, 0x73, 0x61, 0x6c, 0x74];

/** Whether b[start..end) spells `key`. */
function isKey(b: Uint8Array, start: number, end: number, key: number[]): boolean {
  if (end - start !== key.length) return false;
  for (let i = 0; i < key.length; i++) if (b[start + i] !== key[i]) return false;
  return true;
}

/** The inner request in HMAC_SCRATCH[s..e), or FALLBACK. */
function fastInner(s: number, e: number): Plj0Request | typeof FALLBACK {
  const b = HMAC_SCRATCH;
  if (b[s] !== 0x7b) return FALLBACK;
  let i = skipSpaces(b, s + 1, e);
  let type = -1;
  let protocol = false;
  let rsalt: string | undefined;
  let query: Plj0Query = EMPTY_QUERY;
  let hasQuery = false;
  for (;;) {
    const k = plainStringEnd(b, i, e);
    if (k < 0) return FALLBACK;
    const ks = i + 1;
    i = skipSpaces(b, k + 1, e);
    if (b[i] !== 0x3a) return FALLBACK;
    i = skipSpaces(b, i + 1, e);
    if (isKey(b, ks, k, KEY_PROTOCOL)) {
      // A plain number.
      if (protocol || digitsAt(b, i, e) < 0) return FALLBACK;
      protocol = true;
      i = numEnd;
    } else if (isKey(b, ks, k, KEY_TYPE)) {
      if (type >= 0) return FALLBACK;
      type = digitsAt(b, i, e);
      if (type < 0 || type > 11) return FALLBACK;
      i = numEnd;
    } else if (isKey(b, ks, k, KEY_QUERY)) {
      if (hasQuery) return FALLBACK;
      hasQuery = true;
      if (b[i] === 0x6e && b[i + 1] === 0x75 && b[i + 2] === 0x6c && b[i + 3] === 0x6c) {
        i += 4;
      } else {
        const q = plainStringEnd(b, i, e);
        if (q < 0) return FALLBACK;
        query = { kind: 'plain', value: b.toString('latin1', i + 1, q) };
        i = q + 1;
      }
    } else if (isKey(b, ks, k, KEY_RSALT)) {
      if (rsalt !== undefined) return FALLBACK;
      const r = plainStringEnd(b, i, e);
      if (r < 0) return FALLBACK;
      rsalt = b.toString('latin1', i + 1, r);
      i = r + 1;
    } else {
      return FALLBACK;
    }
    i = skipSpaces(b, i, e);
    if (b[i] === 0x2c) {
      i = skipSpaces(b, i + 1, e);
      continue;
    }
    if (b[i] !== 0x7d) return FALLBACK;
    i = skipSpaces(b, i + 1, e);
    if (i !== e || !protocol || type < 0 || rsalt === undefined) return FALLBACK;
    return { type, query, rsalt };
  }
}

/** The fast path of parseRequest: a verdict, or FALLBACK to the general parser. */
function fastParse(b: Buffer, key: Buffer, nowSec: number): Plj0Request | Plj0DropReason | typeof FALLBACK {
  if (!fastEnvelope(b)) return FALLBACK;
  const saltLen = saltEnd - saltStart;
  if (saltLen + (msgEnd - msgStart) > FAST_HMAC_MAX) return FALLBACK;
  // salt ‖ unescaped msg into the scratch.
  const m = HMAC_SCRATCH;
  let o = 0;
  for (let i = saltStart; i < saltEnd; i++) m[o++] = b[i];
  if (!msgEscapes) {
    for (let i = msgStart; i < msgEnd; i++) m[o++] = b[i];
  } else {
    for (let i = msgStart; i < msgEnd; i++) {
      const c = b[i];
      if (c === 0x5c) m[o++] = b[++i];
      else m[o++] = c;
    }
  }
  if (hmacEnd - hmacStart !== 40) return 'plj0_bad_mac';
  const hk = hmacKey('sha1', key);
  macInto(hk, MAC, o);
  if (!macEqualsHex(hk, MAC, b, hmacStart)) return 'plj0_bad_mac';
  const ts = saltLen <= 15 ? digitsRun(b, saltStart, saltEnd) : -1;
  if (ts < 0) return FALLBACK;
  const d = ts - Math.floor(nowSec);
  if (d > CONFD_MAX_CLOCK_SKEW || d < -CONFD_MAX_CLOCK_SKEW) return 'plj0_skew';
  lastTimestampSec = ts;
  lastTimestamp = undefined;
  const inner = fastInner(saltLen, o);
  if (inner !== FALLBACK) return inner;
  return parseInnerRequest(m.toString('latin1', saltLen, o));
}

/** b[start..end) as a decimal number when it is 1–15 digits, else -1. */
function digitsRun(b: Uint8Array, start: number, end: number): number {
  if (end <= start) return -1;
  let v = 0;
  for (let i = start; i < end; i++) {
    const c = b[i] - 0x30;
    if (c < 0 || c > 9) return -1;
    v = v * 10 + c;
  }
  return v;
}

/** A string of 1–15 decimal digits as a number, else -1. */
function smallDecimal(s: string): number {
  if (s.length === 0) return -1;
  let v = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i) - 0x30;
    if (c < 0 || c > 9) return -1;
    v = v * 10 + c;
  }
  return v;
}

// ---------------------------------------------------------------------------------------------
// Replies (daemon side).

/** The inner reply text, given the answer already encoded as ASCII JSON. */
export function innerReplyText(status: number, answerJson: string, serial: number): string {
  return `{"protocol":1,"status":${status},"answer":${answerJson},"serial":${serial}}`;
}

/** The signed reply datagram: plj0{"hmac":H,"msg":inner,"salt":rsalt}. */
export function encodeReplyDatagram(key: Buffer, rsalt: string, inner: string): Buffer {
  return encodeReply(key, rsalt, prepareInner(inner));
}

/**
 * An inner reply text prepared once for any number of replies: its JSON quoting as bytes (what
 * the reply carries as "msg"). The MAC is computed over the inner text itself, which an ASCII
 * text gives back by unquoting those bytes on the way into the HMAC; only a non-ASCII text (never
 * made by innerReplyText) is kept as well. One copy per cached reply, not two.
 */
export interface PreparedInner {
  /** asciiJson(text) as bytes. */
  quoted: Buffer;
  /** The inner text when it is not ASCII (its MAC covers its Haskell UTF-8); else undefined. */
  text: string | undefined;
  /**
   * A long ASCII text's own bytes: for it, unquoting per reply would cost more than the memory
   * of a second copy (the MAC of a long text is node:crypto's, over these bytes).
   */
  raw: Buffer | undefined;
}

/** Whether every character is below U+0080 (its UTF-8 is one byte per character; native). */
function isAscii(s: string): boolean {
  return Buffer.byteLength(s, 'utf8') === s.length;
}

export function prepareInner(inner: string): PreparedInner {
  const ascii = isAscii(inner);
  // JSON.stringify of an ASCII text is ASCII: no escaping pass needed.
  return { quoted: ownBytes(ascii ? JSON.stringify(inner) : asciiJson(inner)), text: ascii ? undefined : inner, raw: ascii && inner.length > FAST_HMAC_MAX ? ownBytes(inner) : undefined };
}

/**
 * Latin-1 bytes of `s` in memory of their own. Buffer.from would take small ones from the
 * shared 8 KB pool, where one long-lived (cached) reply keeps a whole slab of short-lived ones
 * alive: with thousands of cached replies, hundreds of megabytes.
 */
function ownBytes(s: string): Buffer {
  const b = Buffer.allocUnsafeSlow(s.length);
  b.write(s, 0, 'latin1');
  return b;
}

/** The inner text of a prepared inner. */
export function innerText(inner: PreparedInner): string {
  return inner.text ?? (JSON.parse(inner.quoted.toString('latin1')) as string);
}

let unquoteScratch = Buffer.allocUnsafe(65536);

/**
 * Unquote the JSON string literal q (of an ASCII text: the escapes \" \\ \/ \b \f \n \r \t and
 * \u00XX) into dst at `at`; the end, or -1 for anything else.
 */
function unquoteInto(q: Buffer, dst: Buffer, at: number): number {
  const end = q.length - 1;
  for (let i = 1; i < end; i++) {
    let c = q[i];
    if (c === 0x5c) {
      const e = q[++i];
      if (e === 0x22 || e === 0x5c || e === 0x2f) c = e;
      else if (e === 0x6e) c = 0x0a;
      else if (e === 0x74) c = 0x09;
      else if (e === 0x72) c = 0x0d;
      else if (e === 0x62) c = 0x08;
      else if (e === 0x66) c = 0x0c;
      else if (e === 0x75 && q[i + 1] === 0x30 && q[i + 2] === 0x30 && q[i + 3] <= 0x37) {
        const h = (x: number) => (x <= 0x39 ? x - 0x30 : (x | 0x20) - 0x57);
        c = h(q[i + 3]) * 16 + h(q[i + 4]);
        i += 4;
      } else return -1;
    }
    dst[at++] = c;
  }
  return at;
}

/** HMAC-SHA1(rsalt ‖ inner text) as 40 hex digits into out[off..). */
function innerMacInto(key: Buffer, rsalt: string, asciiSalt: boolean, inner: PreparedInner, out: Buffer, off: number): void {
  if (asciiSalt && inner.text === undefined) {
    const q = inner.quoted;
    const hk = hmacKey('sha1', key);
    if (inner.raw !== undefined) {
      hmacStringBytesHexInto(hk, rsalt, inner.raw, 0, inner.raw.length, out, off);
      return;
    }
    // Short: rsalt and the unquoted text straight into the HMAC scratch.
    if (rsalt.length + q.length <= FAST_HMAC_MAX) {
      const m = HMAC_SCRATCH;
      let o = 0;
      for (let i = 0; i < rsalt.length; i++) m[o++] = rsalt.charCodeAt(i);
      const n = unquoteInto(q, m, o);
      if (n >= 0) {
        macInto(hk, MAC, n);
        writeMacHex(hk, MAC, out, off);
        return;
      }
    } else {
      if (unquoteScratch.length < q.length) unquoteScratch = Buffer.allocUnsafe(q.length);
      const n = unquoteInto(q, unquoteScratch, 0);
      if (n >= 0) {
        hmacStringBytesHexInto(hk, rsalt, unquoteScratch, 0, n, out, off);
        return;
      }
    }
  }
  out.write(hmacSha1Hex(key, rsalt, innerText(inner)), off, 'latin1');
}

/**
 * A reply datagram's memory. Below 4 KB, Buffer.allocUnsafe takes it from Node's shared pool;
 * larger ones, which would each be a malloc and a free of their own (with page faults as the
 * heap's top grows and shrinks: 3.4 µs for 41 KB, against 1.3 µs carved from a slab), are carved
 * from slabs the same way, only larger. A datagram lives until it is sent, and keeps its slab
 * until then.
 */
const SLAB_BYTES = 512 * 1024;
let slab = Buffer.alloc(0);
let slabUsed = 0;

function allocReply(n: number): Buffer {
  if (n < 4096 || n > SLAB_BYTES / 4) return Buffer.allocUnsafe(n);
  if (slabUsed + n > slab.length) {
    slab = Buffer.allocUnsafeSlow(SLAB_BYTES);
    slabUsed = 0;
  }
  const b = slab.subarray(slabUsed, slabUsed + n);
  slabUsed = (slabUsed + n + 7) & ~7;
  return b;
}

const REPLY_HEAD = Buffer.from(`${PLJ0_MAGIC}{"hmac":"`, 'latin1'); // then 40 hex digits
const REPLY_MSG = Buffer.from('","msg":', 'latin1');
const REPLY_SALT = Buffer.from(',"salt":', 'latin1');
/** Where a reply's MAC and its quoted inner text begin. */
const MAC_AT = REPLY_HEAD.length;
const MSG_AT = MAC_AT + 40 + REPLY_MSG.length;

/**
 * The signed reply datagram for a prepared inner text: byte for byte what encodeReplyDatagram
 * builds, in one allocation, the MAC computed over the prepared bytes in place.
 */
export function encodeReply(key: Buffer, rsalt: string, inner: PreparedInner): Buffer {
  return encodeReplySized(key, rsalt, inner, Infinity) as Buffer;
}

/** The length encodeReply(key, rsalt, inner) would have, without building it. */
export function replyLength(rsalt: string, inner: PreparedInner): number {
  return MSG_AT + inner.quoted.length + REPLY_SALT.length + quoteSalt(rsalt).length + 1;
}

let quotedPlain = false;
let saltAscii = true;
/** rsalt's JSON text as a reply carries it (sets quotedPlain: it needed no escaping; saltAscii). */
function quoteSalt(rsalt: string): { length: number; text: string | undefined } {
  // An ASCII rsalt without quotes, backslashes or control characters is its own JSON text.
  let plain = true;
  let ascii = true;
  for (let i = 0; i < rsalt.length; i++) {
    const c = rsalt.charCodeAt(i);
    if (c < 0x20 || c === 0x22 || c === 0x5c || c > 0x7e) {
      plain = false;
      if (c >= 0x80) ascii = false;
    }
  }
  quotedPlain = plain;
  saltAscii = ascii;
  if (plain) return { length: rsalt.length + 2, text: undefined };
  const text = ascii ? JSON.stringify(rsalt) : asciiJson(rsalt);
  return { length: text.length, text };
}

/**
 * A reply datagram with everything but its MAC (40 hex digits at MAC_AT) and its quoted inner
 * text (quotedLen bytes at MSG_AT) written; or its length, building nothing, when that is more
 * than `limit`. Sets saltAscii.
 */
function replyFrame(rsalt: string, quotedLen: number, limit: number): Buffer | number {
  const qs = quoteSalt(rsalt);
  const n = MSG_AT + quotedLen + REPLY_SALT.length + qs.length + 1;
  if (n > limit) return n;
  const buf = allocReply(n);
  buf.set(REPLY_HEAD, 0);
  buf.set(REPLY_MSG, MAC_AT + 40);
  let o = MSG_AT + quotedLen;
  buf.set(REPLY_SALT, o);
  o += REPLY_SALT.length;
  if (quotedPlain) {
    buf[o++] = 0x22;
    for (let i = 0; i < rsalt.length; i++) buf[o++] = rsalt.charCodeAt(i);
    buf[o++] = 0x22;
  } else {
    o += buf.write(qs.text as string, o, 'latin1');
  }
  buf[o] = 0x7d; // }
  return buf;
}

/**
 * encodeReply, or (without building anything) the length it would have when that is more than
 * `limit`: a caller that refuses oversized replies learns their size for the price of a sum.
 */
export function encodeReplySized(key: Buffer, rsalt: string, inner: PreparedInner, limit: number): Buffer | number {
  const buf = replyFrame(rsalt, inner.quoted.length, limit);
  if (typeof buf === 'number') return buf;
  innerMacInto(key, rsalt, saltAscii, inner, buf, MAC_AT);
  buf.set(inner.quoted, MSG_AT);
  return buf;
}

/**
 * The signed reply datagram for an inner text held as bytes, raw[0..n): pure ASCII without
 * control characters, `escapes` of its bytes '"' or '\'. Byte for byte what encodeReply builds
 * for prepareInner(that text), the text quoted on its way into the datagram, so that a caller
 * composing answers per request keeps nothing per answer. Its length instead when that is more
 * than `limit`; undefined when the rsalt is not ASCII (its MAC input is then not these bytes'
 * plain concatenation: the caller takes the general path).
 */
export function encodeReplyFromBytes(key: Buffer, rsalt: string, raw: Buffer, n: number, escapes: number, limit: number): Buffer | number | undefined {
  const buf = replyFrame(rsalt, n + escapes + 2, limit);
  if (!saltAscii) return undefined;
  if (typeof buf === 'number') return buf;
  hmacStringBytesHexInto(hmacKey('sha1', key), rsalt, raw, 0, n, buf, MAC_AT);
  quoteAsciiInto(raw, n, buf, MSG_AT);
  return buf;
}

/** The bytes prepareInnerFromBytes(raw, n, escapes) holds. */
export function preparedBytes(n: number, escapes: number): number {
  return n + escapes + 2 + (n > FAST_HMAC_MAX ? n : 0);
}

/** prepareInner of the text encodeReplyFromBytes takes (the same bytes, kept for reuse). */
export function prepareInnerFromBytes(raw: Buffer, n: number, escapes: number): PreparedInner {
  const quoted = Buffer.allocUnsafeSlow(n + escapes + 2);
  quoteAsciiInto(raw, n, quoted, 0);
  let own: Buffer | undefined;
  if (n > FAST_HMAC_MAX) {
    own = Buffer.allocUnsafeSlow(n);
    raw.copy(own, 0, 0, n);
  }
  return { quoted, text: undefined, raw: own };
}

/**
 * src[0..n) as a JSON string literal into dst at `at` (ASCII without control characters: only
 * '"' and '\' are escaped, as JSON.stringify does); returns the end.
 */
function quoteAsciiInto(src: Buffer, n: number, dst: Buffer, at: number): number {
  dst[at++] = 0x22;
  let i = 0;
  // Four bytes a round: the loop is the per-byte cost of every composed reply.
  for (; i + 4 <= n; i += 4) {
    let c = src[i];
    if (c === 0x22 || c === 0x5c) dst[at++] = 0x5c;
    dst[at++] = c;
    c = src[i + 1];
    if (c === 0x22 || c === 0x5c) dst[at++] = 0x5c;
    dst[at++] = c;
    c = src[i + 2];
    if (c === 0x22 || c === 0x5c) dst[at++] = 0x5c;
    dst[at++] = c;
    c = src[i + 3];
    if (c === 0x22 || c === 0x5c) dst[at++] = 0x5c;
    dst[at++] = c;
  }
  for (; i < n; i++) {
    const c = src[i];
    if (c === 0x22 || c === 0x5c) dst[at++] = 0x5c;
    dst[at++] = c;
  }
  dst[at++] = 0x22;
  return at;
}

// ---------------------------------------------------------------------------------------------
// Client side.

export interface ClientRequest {
  type: number;
  /** Omitted from the request when undefined (as the Python client does for a ping). */
  query?: string | Record<string, unknown> | null;
  rsalt: string;
}

/** Encode a request as Ganeti's clients do: compact inner JSON, the timestamp as the salt. */
export function encodeRequestDatagram(key: Buffer, req: ClientRequest, nowSec = Date.now() / 1000): Buffer {
  const inner: Record<string, unknown> = { protocol: 1, type: req.type };
  if (req.query !== undefined) inner.query = req.query;
  inner.rsalt = req.rsalt;
  const msg = asciiJson(inner);
  const salt = String(Math.floor(nowSec));
  const hmac = hmacSha1Hex(key, salt, msg);
  return Buffer.from(`${PLJ0_MAGIC}{"msg":${asciiJson(msg)},"salt":"${salt}","hmac":"${hmac}"}`, 'latin1');
}

export interface DecodedReply {
  salt: string;
  status: number;
  answer: unknown;
  serial: number;
}

/** Verify and decode a reply datagram; undefined for anything not authentic or malformed. */
export function decodeReplyDatagram(key: Buffer, datagram: Buffer): DecodedReply | undefined {
  if (datagram.length < 4 || datagram.toString('latin1', 0, 4) !== PLJ0_MAGIC) return undefined;
  // Replies from the real daemon may carry raw non-ASCII bytes; they are UTF-8 when valid.
  const text = datagram.toString('utf8', 4);
  let outer: unknown;
  try {
    outer = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (outer === null || typeof outer !== 'object' || Array.isArray(outer)) return undefined;
  const { hmac, msg, salt } = outer as Record<string, unknown>;
  if (typeof hmac !== 'string' || typeof msg !== 'string' || typeof salt !== 'string') return undefined;
  if (!macMatches(key, salt, msg, hmac)) return undefined;
  let inner: unknown;
  try {
    inner = JSON.parse(msg);
  } catch {
    return undefined;
  }
  if (inner === null || typeof inner !== 'object' || Array.isArray(inner)) return undefined;
  const { status, answer, serial } = inner as Record<string, unknown>;
  if (typeof status !== 'number' || typeof serial !== 'number') return undefined;
  return { salt, status, answer, serial };
}
