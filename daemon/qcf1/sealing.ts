// The daemon's side of sealed traffic (docs/protocol.md, "Sealed traffic"): a sealed request is
// opened into a datagram of its own — the request's header, then the plaintext body — so that
// the request path reads it as it reads an unsealed one (the same reply table lookup by body
// bytes, the same decoder); a reply to a sealed request is sealed on its way out. Whether a key
// must seal is a policy the daemon is given (`SealPolicy`); by default no key must.
import type { Key } from '../../shared/keyring.js';
import { HEADER_LEN, KIND_REPLY, KIND_SEALED_REPLY, KIND_SEALED_REQUEST, frame, frameInPlace } from '../../shared/qcf1-frame.js';
import { SEAL_OVERHEAD, openBody, sealBody, sealKeys } from '../../shared/seal.js';
import type { Stats } from '../stats.js';
import type { ReplyTable } from './reply-table.js';

/** Whether requests made with `key` must be sealed (an unsealed one is refused `seal_required`). */
export type SealPolicy = (key: Key) => boolean;

/** Whether a datagram says it is a sealed request (its MAC is checked before anything is believed). */
export function isSealedRequest(msg: Buffer): boolean {
  return msg.length > 4 && msg[4] === KIND_SEALED_REQUEST;
}

/**
 * The authenticated sealed request `msg`, opened: a new buffer holding its header and then its
 * plaintext body; undefined when the box does not open (counted). `msg` is left as it is.
 */
export function openRequest(msg: Buffer, key: Key, stats: Stats): Buffer | undefined {
  const plain = openBody(sealKeys(key).request, msg, HEADER_LEN, msg.length, HEADER_LEN);
  if (plain === undefined) {
    stats.sealed.openFailures++;
    return undefined;
  }
  msg.copy(plain, 0, 0, HEADER_LEN);
  stats.sealed.requests++;
  return plain;
}

/** How many bytes a reply body of `bodyBytes` takes on the wire, sealed or not. */
export function replyBytes(bodyBytes: number, sealed: boolean): number {
  return HEADER_LEN + bodyBytes + (sealed ? SEAL_OVERHEAD : 0);
}

/**
 * The reply datagram for body[start..end): framed and signed with `key` under the request's salt
 * (salt[saltOff..]), its body sealed when the request's was.
 */
export function replyDatagram(sealed: boolean, key: Key, timeMs: number, salt: Uint8Array, saltOff: number, body: Uint8Array, start: number, end: number, stats: Stats): Buffer {
  if (!sealed) return frame(KIND_REPLY, key, timeMs, salt, saltOff, start === 0 && end === body.length ? body : body.subarray(start, end));
  stats.sealed.replies++;
  return frameInPlace(sealBody(sealKeys(key).reply, body, start, end, HEADER_LEN), KIND_SEALED_REPLY, key, timeMs, salt, saltOff);
}

/** Sealed answers kept at most, per snapshot (about 6 MB at 300 bytes each). */
const SEALED_REPLIES = 16_384;

/**
 * Answers from the table kept by request body, sealed once per key and snapshot and sent again
 * as they are: the same answer to the same key, the same sealed bytes. A nonce is still used for
 * one plaintext only (docs/protocol.md, "Sealed traffic"); what an onlooker learns is that two
 * replies carry the same answer. Kept with the snapshot's table, so they go with it; each is
 * keyed by the table's name for its record (reference and generation), which a record keeps
 * for as long as it lives: no answer's bytes are compared or kept twice.
 */
export class SealedReplies {
  private readonly byKey = new Map<Key, { table: ReplyTable; kept: Map<number, { gen: number; sealed: Buffer }> }>();
  private size = 0;

  /** The sealed reply datagram for the answer `table`'s last get() found, signed under the request's salt. */
  datagram(key: Key, table: ReplyTable, timeMs: number, salt: Uint8Array, saltOff: number, stats: Stats): Buffer {
    let mine = this.byKey.get(key);
    // A key's scope changed with its policy: its answers now come from another table.
    if (mine === undefined || mine.table !== table) {
      if (mine !== undefined) this.size -= mine.kept.size;
      this.byKey.set(key, (mine = { table, kept: new Map() }));
    }
    const ref = table.valueRef;
    let e = mine.kept.get(ref);
    if (e === undefined || e.gen !== table.valueGen) {
      // Full: start again (every key's), as the table of answers itself is made anew per snapshot.
      if (e === undefined && ++this.size > SEALED_REPLIES) {
        this.byKey.clear();
        this.byKey.set(key, (mine = { table, kept: new Map() }));
        this.size = 1;
      }
      e = { gen: table.valueGen, sealed: sealBody(sealKeys(key).reply, table.valueBuf, table.valueStart, table.valueEnd, 0) };
      mine.kept.set(ref, e);
    }
    const out = Buffer.allocUnsafe(HEADER_LEN + e.sealed.length);
    e.sealed.copy(out, HEADER_LEN);
    stats.sealed.replies++;
    return frameInPlace(out, KIND_SEALED_REPLY, key, timeMs, salt, saltOff);
  }
}
