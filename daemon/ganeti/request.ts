// A plj0 request as Ganeti reads it (ganeti-confd-protocol.md §§1–3): the parsed request's
// shape, the general parser (any datagram Ganeti accepts, by its JSON and timestamp rules), and
// the inner request's reading. request-parser.ts's fast path steps aside to these on anything
// unusual. Every way a datagram can fail is a typed drop reason: the daemon is silent on all.
import { macMatches } from '../../shared/plj0/mac.js';
import { LAST_REQUEST_TYPE, PLJ0_MAGIC, ReqField, type RequestType } from '../../shared/plj0/protocol.js';
import { parseGanetiJson, roundHalfEven, type JValue } from './ganeti-json.js';
import { PLAIN_SALT_DIGITS, parseHaskellInteger, withinSkew, withinSkewExact } from './request-timestamp.js';

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
  fields: ReqField[];
}

export type Plj0Query = { kind: 'empty' } | { kind: 'plain'; value: string } | { kind: 'dict'; value: DictQuery };

/** An authenticated request within the clock window. */
export interface Plj0Request {
  type: RequestType;
  query: Plj0Query;
  rsalt: string;
  /** The envelope's timestamp (seconds): the replay memory keeps the rsalt until it is too old. */
  timestamp: number;
}

export const EMPTY_QUERY: Plj0Query = { kind: 'empty' };

/** Whether a datagram starts with "plj0". */
export function hasMagic(d: Buffer): boolean {
  return d.length >= PLJ0_MAGIC.length && d[0] === 0x70 && d[1] === 0x6c && d[2] === 0x6a && d[3] === 0x30;
}

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

/** Plain decimal literals up to this long are read without rounding (well below 2^53). */
const SMALL_INT_DIGITS = 9;

/** A small non-negative integer literal (no sign, fraction or exponent) as a number, else -1. */
function smallInt(raw: string): number {
  if (raw.length > SMALL_INT_DIGITS) return -1;
  return decimal(raw);
}

/** A string of decimal digits as a number, else -1 (for the empty string too). */
function decimal(s: string): number {
  if (s.length === 0) return -1;
  let v = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i) - 0x30;
    if (c < 0 || c > 9) return -1;
    v = v * 10 + c;
  }
  return v;
}

/** An integer field that must lie in [0, max] (rounded as Ganeti rounds): the number, or undefined. */
function smallIntOf(v: JValue | undefined, max: number): number | undefined {
  if (v?.t !== 'n') return undefined;
  const fast = smallInt(v.raw);
  if (fast >= 0) return fast <= max ? fast : undefined;
  const b = roundHalfEven(v.raw);
  return b === undefined || b < 0n || b > BigInt(max) ? undefined : Number(b);
}

/** The dict query's keys: "0" link, "1" ip, "2" ip list, "3" fields. */
const DICT_KEYS = ['0', '1', '2', '3'];

function parseQuery(v: JValue | undefined): Plj0Query | undefined {
  if (v === undefined || v.t === 'z') return EMPTY_QUERY;
  if (v.t === 's') return { kind: 'plain', value: v.v };
  if (v.t !== 'o') return undefined;
  const q: DictQuery = { ipList: [], fields: [] };
  for (const [k, x] of v.m) {
    if (!DICT_KEYS.includes(k)) return undefined;
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
        const f = smallIntOf(e, ReqField.MNodePip);
        if (f === undefined) return undefined;
        q.fields.push(f);
      }
    }
  }
  return { kind: 'dict', value: q };
}

/** The inner request members Ganeti knows. */
const INNER_KEYS = ['protocol', 'type', 'query', 'rsalt'];

/** Parse the inner request JSON (after the MAC has been verified), sent at `timestamp`. */
export function parseInnerRequest(msg: string, timestamp: number): Plj0Request | Plj0DropReason {
  const inner = parseGanetiJson(msg);
  if (inner === undefined) return 'plj0_bad_inner_json';
  if (inner.t !== 'o') return 'plj0_bad_request';
  for (const k of inner.m.keys()) {
    if (!INNER_KEYS.includes(k)) return 'plj0_bad_request';
  }
  if (inner.m.get('protocol')?.t !== 'n') return 'plj0_bad_request';
  const type = smallIntOf(inner.m.get('type'), LAST_REQUEST_TYPE);
  if (type === undefined) return 'plj0_bad_type';
  const rsalt = inner.m.get('rsalt');
  if (rsalt?.t !== 's') return 'plj0_bad_rsalt';
  const query = parseQuery(inner.m.get('query'));
  if (query === undefined) return 'plj0_bad_query';
  return { type, query, rsalt: rsalt.v, timestamp };
}

/**
 * The general parser: a datagram whose magic is checked, read by Ganeti's rules. The MAC is
 * checked before the inner JSON is parsed; the timestamp must be within the skew of `nowSec`.
 */
export function parseGeneral(datagram: Buffer, key: Buffer, nowSec: number): Plj0Request | Plj0DropReason {
  const env = parseEnvelope(datagram.toString('latin1', PLJ0_MAGIC.length));
  if (typeof env === 'string') return env;
  if (!macMatches(key, env.salt, env.msg, env.hmac)) return 'plj0_bad_mac';
  // A plain decimal salt (what every client sends) is read as a number; anything else as
  // Haskell's `reads` would.
  const plain = env.salt.length <= PLAIN_SALT_DIGITS ? decimal(env.salt) : -1;
  let timestamp: number;
  if (plain >= 0) {
    if (!withinSkew(plain, nowSec)) return 'plj0_skew';
    timestamp = plain;
  } else {
    const ts = parseHaskellInteger(env.salt);
    if (ts === undefined) return 'plj0_bad_timestamp';
    if (!withinSkewExact(ts, nowSec)) return 'plj0_skew';
    timestamp = Number(ts);
  }
  return parseInnerRequest(env.msg, timestamp);
}
