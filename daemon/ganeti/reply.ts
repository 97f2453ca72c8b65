// plj0 reply datagrams, plj0{"hmac":H,"msg":inner,"salt":rsalt} (ganeti-confd-protocol.md §3):
// the inner reply text, prepared once for any number of replies, and the signed datagram built
// per request in one allocation, its HMAC-SHA1 over rsalt ‖ inner computed in place. Replies are
// pure ASCII (non-ASCII escaped as \uXXXX).
import { FAST_HMAC_MAX, MacScratch, hmacKey, hmacStringBytesHexInto, macInto, writeMacHex } from '../../shared/fast-hmac.js';
import { asciiJson, isAscii } from '../../shared/plj0/ascii-json.js';
import { hmacSha1Hex } from '../../shared/plj0/mac.js';
import { CONFD_PROTOCOL_VERSION, MAC_HEX_LENGTH, PLJ0_MAGIC } from '../../shared/plj0/protocol.js';
import { allocReply } from './reply-memory.js';

/** The inner reply text, given the answer already encoded as ASCII JSON. */
export function innerReplyText(status: number, answerJson: string, serial: number): string {
  return innerReplyHead(status) + answerJson + innerReplyTail(serial);
}

/** The inner reply text up to its answer. */
export function innerReplyHead(status: number): string {
  return `{"protocol":${CONFD_PROTOCOL_VERSION},"status":${status},"answer":`;
}

/** The inner reply text after its answer. */
export function innerReplyTail(serial: number): string {
  return `,"serial":${serial}}`;
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
function innerText(inner: PreparedInner): string {
  return inner.text ?? (JSON.parse(inner.quoted.toString('latin1')) as string);
}

/** The hex digit's value (the digit is valid: made by JSON.stringify). */
function hexValue(x: number): number {
  return x <= 0x39 ? x - 0x30 : (x | 0x20) - 0x57;
}

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
        c = hexValue(q[i + 3]) * 16 + hexValue(q[i + 4]);
        i += 4;
      } else return -1;
    }
    dst[at++] = c;
  }
  return at;
}

// Working memory of one call (single-threaded, never re-entered): the MAC input of a short reply,
// and a long reply's unquoted text.
const MAC = new MacScratch();
let unquoteScratch = Buffer.allocUnsafe(65536);

/** HMAC-SHA1(rsalt ‖ inner text) as 40 hex digits into out[off..). */
function innerMacInto(key: Buffer, rsalt: string, asciiSalt: boolean, inner: PreparedInner, out: Buffer, off: number): void {
  if (asciiSalt && inner.text === undefined) {
    const q = inner.quoted;
    const hk = hmacKey('sha1', key);
    if (inner.raw !== undefined) {
      hmacStringBytesHexInto(hk, rsalt, inner.raw, 0, inner.raw.length, out, off);
      return;
    }
    // Short: rsalt and the unquoted text straight into the MAC scratch.
    if (rsalt.length + q.length <= MAC.capacity) {
      const m = MAC.msg;
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

const REPLY_HEAD = Buffer.from(`${PLJ0_MAGIC}{"hmac":"`, 'latin1'); // then the MAC's hex digits
const REPLY_MSG = Buffer.from('","msg":', 'latin1');
const REPLY_SALT = Buffer.from(',"salt":', 'latin1');
/** Where a reply's MAC and its quoted inner text begin. */
const MAC_AT = REPLY_HEAD.length;
const MSG_AT = MAC_AT + MAC_HEX_LENGTH + REPLY_MSG.length;

/**
 * The signed reply datagram for a prepared inner text, in one allocation, the MAC computed over
 * the prepared bytes in place.
 */
export function encodeReply(key: Buffer, rsalt: string, inner: PreparedInner): Buffer {
  return encodeReplySized(key, rsalt, inner, Infinity) as Buffer;
}

/**
 * rsalt's JSON text as a reply carries it when it needs escaping; undefined when the rsalt is its
 * own text between quotes (ASCII without quotes, backslashes or control characters, as every
 * client makes them).
 */
function escapedSalt(rsalt: string): string | undefined {
  for (let i = 0; i < rsalt.length; i++) {
    const c = rsalt.charCodeAt(i);
    if (c < 0x20 || c === 0x22 || c === 0x5c || c > 0x7e) return asciiJson(rsalt);
  }
  return undefined;
}

/**
 * A reply datagram with everything but its MAC (at MAC_AT) and its quoted inner text (quotedLen
 * bytes at MSG_AT) written; or its length, building nothing, when that is more than `limit`.
 * `escaped` is escapedSalt(rsalt).
 */
function replyFrame(rsalt: string, escaped: string | undefined, quotedLen: number, limit: number): Buffer | number {
  const saltLen = escaped === undefined ? rsalt.length + 2 : escaped.length;
  const n = MSG_AT + quotedLen + REPLY_SALT.length + saltLen + 1;
  if (n > limit) return n;
  const buf = allocReply(n);
  buf.set(REPLY_HEAD, 0);
  buf.set(REPLY_MSG, MAC_AT + MAC_HEX_LENGTH);
  let o = MSG_AT + quotedLen;
  buf.set(REPLY_SALT, o);
  o += REPLY_SALT.length;
  if (escaped === undefined) {
    buf[o++] = 0x22;
    for (let i = 0; i < rsalt.length; i++) buf[o++] = rsalt.charCodeAt(i);
    buf[o++] = 0x22;
  } else {
    o += buf.write(escaped, o, 'latin1');
  }
  buf[o] = 0x7d; // }
  return buf;
}

/**
 * encodeReply, or (without building anything) the length it would have when that is more than
 * `limit`: a caller that refuses oversized replies learns their size for the price of a sum.
 */
export function encodeReplySized(key: Buffer, rsalt: string, inner: PreparedInner, limit: number): Buffer | number {
  const escaped = escapedSalt(rsalt);
  const buf = replyFrame(rsalt, escaped, inner.quoted.length, limit);
  if (typeof buf === 'number') return buf;
  innerMacInto(key, rsalt, escaped === undefined || isAscii(rsalt), inner, buf, MAC_AT);
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
  const escaped = escapedSalt(rsalt);
  if (escaped !== undefined && !isAscii(rsalt)) return undefined;
  const buf = replyFrame(rsalt, escaped, n + escapes + 2, limit);
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
