// The daemon's plj0 request parser: requests as Ganeti's and qconf's clients write them are read
// straight from the datagram's bytes, without building JSON values; anything else goes to the
// general parser (request.ts), so the two always agree.
//
// The fast path handles only a strict subset: the envelope's three string members once each,
// ASCII without control characters, escapes \" \\ \/ in msg only, spaces as the only
// whitespace, a plain decimal salt; an inner object of protocol, type, rsalt and an optional
// string or null query, without escapes. The msg is unescaped straight into the parser's MAC
// scratch after the salt, MACed there, and the inner request is read from the same bytes.
import { MacScratch, hmacKey, macEqualsHex, macInto } from '../../shared/fast-hmac.js';
import { LAST_REQUEST_TYPE, MAC_HEX_LENGTH, PLJ0_MAGIC } from '../../shared/plj0/protocol.js';
import { EMPTY_QUERY, hasMagic, parseGeneral, parseInnerRequest, type Plj0DropReason, type Plj0Query, type Plj0Request } from './request.js';
import { PLAIN_SALT_DIGITS, withinSkew } from './request-timestamp.js';

/** The fast path's verdict when the request is outside its subset. */
const FALLBACK = 'fallback' as const;

/** Where an envelope's members lie in a datagram: [start, end) of each string's contents. */
class EnvelopeSpans {
  saltStart = 0;
  saltEnd = 0;
  hmacStart = 0;
  hmacEnd = 0;
  msgStart = 0;
  msgEnd = 0;
  /** Whether the msg has escapes (\" \\ \/) to undo. */
  msgEscapes = false;
}

/**
 * Parses request datagrams. Each parser has its own scratch (the envelope's spans, the MAC
 * input): a request leaves nothing behind for the next but that memory.
 */
export class RequestParser {
  private readonly spans = new EnvelopeSpans();
  private readonly mac = new MacScratch();

  /**
   * Parse and authenticate a request datagram: the request (with its timestamp), or why it is
   * dropped. The MAC is checked before the inner JSON is parsed; the timestamp must be within
   * the skew of `nowSec`.
   */
  parse(datagram: Buffer, key: Buffer, nowSec: number): Plj0Request | Plj0DropReason {
    if (!hasMagic(datagram)) return 'plj0_bad_magic';
    const fast = this.fastParse(datagram, key, nowSec);
    return fast !== FALLBACK ? fast : parseGeneral(datagram, key, nowSec);
  }

  /** The fast path: a verdict, or FALLBACK to the general parser. */
  private fastParse(b: Buffer, key: Buffer, nowSec: number): Plj0Request | Plj0DropReason | typeof FALLBACK {
    const env = this.spans;
    if (!scanEnvelope(b, env)) return FALLBACK;
    const saltLen = env.saltEnd - env.saltStart;
    const s = this.mac;
    if (saltLen + (env.msgEnd - env.msgStart) > s.capacity) return FALLBACK;
    // salt ‖ unescaped msg into the scratch.
    const m = s.msg;
    let o = 0;
    for (let i = env.saltStart; i < env.saltEnd; i++) m[o++] = b[i];
    if (!env.msgEscapes) {
      for (let i = env.msgStart; i < env.msgEnd; i++) m[o++] = b[i];
    } else {
      for (let i = env.msgStart; i < env.msgEnd; i++) {
        const c = b[i];
        if (c === 0x5c) m[o++] = b[++i];
        else m[o++] = c;
      }
    }
    if (env.hmacEnd - env.hmacStart !== MAC_HEX_LENGTH) return 'plj0_bad_mac';
    const hk = hmacKey('sha1', key);
    macInto(hk, s, o);
    if (!macEqualsHex(hk, s, b, env.hmacStart)) return 'plj0_bad_mac';
    const ts = saltLen <= PLAIN_SALT_DIGITS ? decimalAt(b, env.saltStart, env.saltEnd) : -1;
    if (ts < 0) return FALLBACK;
    if (!withinSkew(ts, nowSec)) return 'plj0_skew';
    const inner = fastInner(m, saltLen, o, ts);
    if (inner !== FALLBACK) return inner;
    return parseInnerRequest(m.toString('latin1', saltLen, o), ts);
  }
}

function skipSpaces(b: Uint8Array, i: number, n: number): number {
  while (i < n && b[i] === 0x20) i++;
  return i;
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

const codes = (s: string): number[] => Array.from(s, (c) => c.charCodeAt(0));
const KEY_MSG = codes('msg');
const KEY_SALT = codes('salt');
const KEY_HMAC = codes('hmac');
const KEY_PROTOCOL = codes('protocol');
const KEY_TYPE = codes('type');
const KEY_QUERY = codes('query');
const KEY_RSALT = codes('rsalt');
const NULL = codes('null');

/** Whether b[start..end) spells `key`. */
function isKey(b: Uint8Array, start: number, end: number, key: number[]): boolean {
  if (end - start !== key.length) return false;
  for (let i = 0; i < key.length; i++) if (b[start + i] !== key[i]) return false;
  return true;
}

/** The envelope members by bit, to see each once. */
const MSG = 1;
const SALT = 2;
const HMAC = 4;
const ENVELOPE_MEMBERS = 3;

/** Scan the outer envelope into `env`; false when it is not in the fast subset. */
function scanEnvelope(b: Uint8Array, env: EnvelopeSpans): boolean {
  const n = b.length;
  let i = PLJ0_MAGIC.length;
  if (b[i] !== 0x7b) return false;
  i = skipSpaces(b, i + 1, n);
  let seen = 0;
  for (let m = 0; m < ENVELOPE_MEMBERS; m++) {
    const ke = plainStringEnd(b, i, n);
    if (ke < 0) return false;
    const which = isKey(b, i + 1, ke, KEY_MSG) ? MSG : isKey(b, i + 1, ke, KEY_SALT) ? SALT : isKey(b, i + 1, ke, KEY_HMAC) ? HMAC : 0;
    if (which === 0 || seen & which) return false;
    seen |= which;
    i = skipSpaces(b, ke + 1, n);
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
        if (which !== MSG) return false;
        const e = b[i + 1];
        if (e !== 0x22 && e !== 0x5c && e !== 0x2f) return false;
        escapes = true;
        i += 2;
        continue;
      }
      i++;
    }
    if (which === MSG) {
      env.msgStart = start;
      env.msgEnd = i;
      env.msgEscapes = escapes;
    } else if (which === SALT) {
      env.saltStart = start;
      env.saltEnd = i;
    } else {
      env.hmacStart = start;
      env.hmacEnd = i;
    }
    i = skipSpaces(b, i + 1, n);
    if (m < ENVELOPE_MEMBERS - 1) {
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

/** Inner numbers up to this many digits are read here; longer ones go to the general parser. */
const MAX_FAST_DIGITS = 9;

/** The end of a run of 1–MAX_FAST_DIGITS digits at b[i] that no digit follows, or -1. */
function digitRunEnd(b: Uint8Array, i: number, end: number): number {
  const start = i;
  while (i < end && b[i] >= 0x30 && b[i] <= 0x39 && i - start < MAX_FAST_DIGITS) i++;
  return i > start && (i >= end || b[i] < 0x30 || b[i] > 0x39) ? i : -1;
}

/** b[start..end) as a decimal number when it is all digits (at least one), else -1. */
function decimalAt(b: Uint8Array, start: number, end: number): number {
  if (end <= start) return -1;
  let v = 0;
  for (let i = start; i < end; i++) {
    const c = b[i] - 0x30;
    if (c < 0 || c > 9) return -1;
    v = v * 10 + c;
  }
  return v;
}

/** The inner request in b[s..e), sent at `timestamp`; or FALLBACK. */
function fastInner(b: Buffer, s: number, e: number, timestamp: number): Plj0Request | typeof FALLBACK {
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
      const end = digitRunEnd(b, i, e);
      if (protocol || end < 0) return FALLBACK;
      protocol = true;
      i = end;
    } else if (isKey(b, ks, k, KEY_TYPE)) {
      const end = digitRunEnd(b, i, e);
      if (type >= 0 || end < 0) return FALLBACK;
      type = decimalAt(b, i, end);
      if (type > LAST_REQUEST_TYPE) return FALLBACK;
      i = end;
    } else if (isKey(b, ks, k, KEY_QUERY)) {
      if (hasQuery) return FALLBACK;
      hasQuery = true;
      if (isKey(b, i, Math.min(i + NULL.length, e), NULL)) {
        i += NULL.length;
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
    return { type, query, rsalt, timestamp };
  }
}
