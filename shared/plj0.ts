// Ganeti's confd protocol "plj0" (ganeti-confd-protocol.md §§1–3, §5): a pure codec.
// Requests are parsed with Ganeti's own JSON and timestamp rules, and every way a datagram can
// fail is a typed drop reason (the daemon stays silent on all of them). Replies are encoded as
// pure ASCII (non-ASCII escaped as \uXXXX) and signed over rsalt ‖ inner with HMAC-SHA1.
import { createHmac, timingSafeEqual } from 'node:crypto';

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
    const m = /^-?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?/.exec(this.s.slice(this.i, this.i + 400));
    if (!m) this.fail();
    this.i += m[0].length;
    return { t: 'n', raw: m[0] };
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
 * undefined when it is out of any sensible range.
 */
export function roundHalfEven(raw: string): bigint | undefined {
  const m = /^(-?)([0-9]+)(?:\.([0-9]+))?(?:[eE]([+-]?[0-9]+))?$/.exec(raw);
  if (!m) return undefined;
  const neg = m[1] === '-';
  let digits = m[2] + (m[3] ?? '');
  let exp = (m[4] ? Number(m[4]) : 0) - (m[3]?.length ?? 0);
  if (!Number.isSafeInteger(exp) || exp > 4000) return undefined;
  digits = digits.replace(/^0+(?=[0-9])/, '');
  if (exp >= 0) {
    const v = BigInt(digits + '0'.repeat(exp));
    return neg ? -v : v;
  }
  const cut = digits.length + exp; // digits before the point
  const intPart = cut > 0 ? digits.slice(0, cut) : '0';
  const frac = cut > 0 ? digits.slice(cut) : '0'.repeat(-cut) + digits;
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
  const expected = Buffer.from(hmacSha1Hex(key, salt, msg), 'latin1');
  const got = Buffer.from(received.toLowerCase(), 'latin1');
  return got.length === expected.length && timingSafeEqual(got, expected);
}

/** JSON text with every non-ASCII character escaped (\uXXXX): replies are pure ASCII. */
export function asciiJson(value: unknown): string {
  return escapeNonAscii(JSON.stringify(value));
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
        const f = intOf(e);
        if (f === undefined || f < 0n || f > 2n) return undefined;
        q.fields.push(Number(f));
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
  const type = intOf(inner.m.get('type'));
  if (type === undefined || type < 0n || type > 11n) return 'plj0_bad_type';
  const rsalt = inner.m.get('rsalt');
  if (rsalt?.t !== 's') return 'plj0_bad_rsalt';
  const query = parseQuery(inner.m.get('query'));
  if (query === undefined) return 'plj0_bad_query';
  return { type: Number(type), query, rsalt: rsalt.v };
}

/**
 * Parse and authenticate a request datagram (magic included). The MAC is checked before the
 * inner JSON is parsed; the timestamp must be within ±300 s of `nowSec`.
 */
export function parseRequestDatagram(datagram: Buffer, key: Buffer, nowSec: number): ParseResult {
  if (datagram.length < 4 || datagram.toString('latin1', 0, 4) !== PLJ0_MAGIC) return { ok: false, reason: 'plj0_bad_magic' };
  const env = parseEnvelope(datagram.toString('latin1', 4));
  if (typeof env === 'string') return { ok: false, reason: env };
  if (!macMatches(key, env.salt, env.msg, env.hmac)) return { ok: false, reason: 'plj0_bad_mac' };
  const ts = parseHaskellInteger(env.salt);
  if (ts === undefined) return { ok: false, reason: 'plj0_bad_timestamp' };
  if (!timestampInWindow(ts, nowSec)) return { ok: false, reason: 'plj0_skew' };
  const req = parseInnerRequest(env.msg);
  if (typeof req === 'string') return { ok: false, reason: req };
  return { ok: true, request: req, timestamp: ts };
}

// ---------------------------------------------------------------------------------------------
// Replies (daemon side).

/** The inner reply text, given the answer already encoded as ASCII JSON. */
export function innerReplyText(status: number, answerJson: string, serial: number): string {
  return `{"protocol":1,"status":${status},"answer":${answerJson},"serial":${serial}}`;
}

/** The signed reply datagram: plj0{"hmac":H,"msg":inner,"salt":rsalt}. */
export function encodeReplyDatagram(key: Buffer, rsalt: string, inner: string): Buffer {
  const hmac = hmacSha1Hex(key, rsalt, inner);
  return Buffer.from(`${PLJ0_MAGIC}{"hmac":"${hmac}","msg":${asciiJson(inner)},"salt":${asciiJson(rsalt)}}`, 'latin1');
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
