// The QCF1 request path: guards (size, MAC, skew, replay, destination) → handler → cached,
// signed reply, sent only where it cannot be used for reflection. One guarded boundary: nothing
// that goes wrong while answering an authenticated request escapes; it becomes the error
// `internal`, sent to the client and counted.
import type { RemoteInfo } from 'node:dgram';
import { WIRE_ERROR_CODES } from '../../shared/errors.js';
import { ABSENT_ETAG, etagSteps } from '../../shared/etag.js';
import { resolveSegments } from '../../shared/json-pointer.js';
import type { Key, Keyring } from '../../shared/keyring.js';
import { packBounded } from '../../shared/msgpack-encode.js';
import { HEADER_LEN, KIND_REQUEST, KIND_SEALED_REQUEST, SALT_LEN, SALT_OFFSET, decodeBody, timeOf, verifyKey } from '../../shared/qcf1.js';
import type { AddressValidation } from '../address-validation.js';
import { MAX_BODY_BYTES, errorBody, forbiddenMessage, handleQuery, waitBody, waitMet, type Identity, type QueryContext, type ReplyBody, type WaitSpec } from './ops.js';
import type { OwnAddresses } from '../own-addresses.js';
import type { Replica } from '../replica.js';
import { ReplyTable } from './reply-table.js';
import { SealedReplies, isSealedRequest, openRequest, replyBytes, replyDatagram, type SealPolicy } from './sealing.js';
import { REPLY_CACHE_ENTRIES, SnapshotCaches } from '../reply-cache.js';
import type { Snapshot } from '../snapshot.js';
import type { ReplayGuard } from '../replay-guard.js';
import type { Stats } from '../stats.js';
import { WaitRegistry, type EncodedReply, type HeldWait, type WaitLimits } from './waits.js';
import type { Scope } from '../access/scope.js';
import { drain } from '../slices.js';
import { requiresSealedTraffic, type AccessPolicy, type KeyAccess } from '../access/policy.js';
import { ScopedTables, forbiddenIn, scopedContext } from '../access/request-scope.js';

export interface Qcf1Deps {
  keyring: () => Keyring;
  replica: Replica;
  stats: Stats;
  replay: ReplayGuard;
  maxSkewMs: number;
  identity: Identity;
  version: string;
  waitLimits: WaitLimits;
  waitCapMs: number;
  /** The `to` values naming this daemon (known once the socket is bound). */
  destinations: () => OwnAddresses | undefined;
  validation: AddressValidation;
  send: (bytes: Buffer, to: RemoteInfo) => void;
  debug: (fields: Record<string, unknown>, msg: string) => void;
  /** An unexpected error (a bug): logged by the caller; the request was answered `internal`. */
  onError: (err: unknown) => void;
  /** The access policy in force (--access-file); undefined: every key has full access. */
  access?: () => AccessPolicy | undefined;
  /**
   * Whether a key must seal its requests (docs/protocol.md, "Sealed traffic"): an unsealed
   * request with it is answered with the error `seal_required`. Default: no key must.
   */
  sealRequired?: SealPolicy;
}

/** The ops counted by name; any other op is counted as 'unknown' (bounded label values). */
const OPS = ['ping', 'get', 'mget', 'list', 'wait', 'stats'] as const;
const KNOWN_OPS = new Set<string>(OPS);

/**
 * Reply bodies for a given request on a given snapshot never change: encode them once. Only
 * well-formed arguments are cached, keyed by their exact values (so `depth: "1"` and
 * `depth: 1` never share an entry).
 */
function cacheKey(req: Record<string, unknown>): string | undefined {
  const op = req.op;
  if (typeof req.path === 'string' && req.path.length <= 1024) {
    if (op === 'get') return 'g' + req.path;
    if (op === 'list' && (req.depth === undefined || (typeof req.depth === 'number' && Number.isSafeInteger(req.depth)))) {
      return 'l' + String(req.depth ?? 1) + '\u0000' + req.path;
    }
  }
  if (op === 'mget' && Array.isArray(req.paths) && req.paths.every((x) => typeof x === 'string')) {
    const k = JSON.stringify(req.paths);
    if (k.length <= 8192) return 'm' + k;
  }
  return undefined;
}

interface CachedEncoded extends EncodedReply {
  bytes: number;
}

/**
 * A reply kept under its request's body bytes carries two meta bytes: the op's index in OPS,
 * and the status with the error code's index in WIRE_ERROR_CODES + 1 (0: none) above it.
 */
function statusMeta(e: EncodedReply): number {
  return e.status | ((e.code === undefined ? 0 : WIRE_ERROR_CODES.indexOf(e.code as (typeof WIRE_ERROR_CODES)[number]) + 1) << 2) | (e.forbidden === true ? FORBIDDEN_META : 0);
}
/** In a reply's second meta byte: it (or an mget entry of it) is `forbidden`. */
const FORBIDDEN_META = 0x80;

/**
 * The request keys each cacheable op reads. Only a body with no other key is cached by its
 * bytes: one carrying anything per request or per client (an `rid`, a `cookie`) would fill the
 * cache with entries that are never asked for again. `to` and `pad` are the same for every
 * client asking one daemon alike.
 */
const BODY_KEYS: Record<string, readonly string[]> = {
  get: ['op', 'path', 'to', 'pad'],
  list: ['op', 'path', 'depth', 'to', 'pad'],
  mget: ['op', 'paths', 'to', 'pad'],
};
/** Request bodies up to this size are looked up by their bytes (padded first requests too). */
const MAX_CACHED_REQUEST = 1536;

/**
 * A cached body in memory of its own: the encoder's output shares a larger buffer with other,
 * short-lived, bodies, which one cached body would keep alive.
 */
function ownCopy(b: Buffer): Buffer {
  const c = Buffer.allocUnsafeSlow(b.length);
  b.copy(c);
  return c;
}

function onlyKeys(req: Record<string, unknown>, allowed: readonly string[] | undefined): boolean {
  if (allowed === undefined) return false;
  for (const k in req) if (!allowed.includes(k)) return false;
  return true;
}

/** The request being answered: where replies go, with which key and salt, and how large they may be. */
interface Requester {
  key: Key;
  salt: Uint8Array;
  saltOffset: number;
  rinfo: RemoteInfo;
  /** The request datagram's size: a reply to an unvalidated address is at most this large. */
  requestBytes: number;
  /** Whether the source address is validated (docs/protocol.md, "Address validation"). */
  validated: boolean;
  op: string;
  /** The signing key's access (with an access file). */
  access?: KeyAccess;
  /** Whether the request was sealed: then so is every reply to it. */
  sealed: boolean;
  /** An unsealed request from a key that must seal: its replies say nothing of the document, not even the serial. */
  refused?: boolean;
}

/** The refusal of an unsealed request from a key that must seal: serial 0, nothing of the document. */
function sealRequired(who: Identity): ReplyBody {
  return errorBody(who, 'seal_required', 'requests with this key must be sealed: repeat it sealed (qconf --seal, or seal: true in the library)', 0);
}

/**
 * Per snapshot: replies kept by request bytes (the hot path), and by request for the rest. QCF1's
 * documents are whatever users publish: a point lookup over 100,000 entries needs about 60 MB to
 * stay cached; from a signed document, whose replies carry a proof and the signature (about three
 * times the bytes), about 180 MB. Chunks are taken as replies come, so a table holds what its
 * snapshot's requests need, up to its bound.
 */
const TABLE_BYTES = 64 * 1024 * 1024;
const SIGNED_TABLE_BYTES = 3 * TABLE_BYTES;
const BY_REQUEST_BYTES = 16 * 1024 * 1024;

export class Qcf1Service {
  /** The serving snapshot and its replies by request bytes (made when it starts serving). */
  private serving: { snapshot: Snapshot; table: ReplyTable; scoped: ScopedTables; sealed: SealedReplies } | undefined;
  private readonly byRequest = new SnapshotCaches<CachedEncoded>(BY_REQUEST_BYTES);
  readonly waits: WaitRegistry;

  constructor(private readonly d: Qcf1Deps) {
    const serve = (snapshot: Snapshot) =>
      (this.serving = { snapshot, table: new ReplyTable({ maxBytes: snapshot.signed ? SIGNED_TABLE_BYTES : TABLE_BYTES, maxEntries: REPLY_CACHE_ENTRIES }), scoped: new ScopedTables(TABLE_BYTES, REPLY_CACHE_ENTRIES), sealed: new SealedReplies() });
    if (d.replica.current) serve(d.replica.current);
    d.replica.on('change', (snap) => {
      serve(snap);
      this.waits.changed();
    });
    this.waits = new WaitRegistry(d.waitLimits, {
      version: () => d.replica.current,
      answer: (spec, timedOut) => this.waitAnswer(spec, timedOut),
      onError: (e) => this.internal(e),
    });
  }

  /** The context of a request: the serving snapshot, or a scoped key's view of it. */
  private context(access?: KeyAccess, scope = access?.scope): QueryContext {
    return scopedContext(this.plainContext(), scope);
  }

  private plainContext(): QueryContext {
    const d = this.d;
    return {
      node: d.identity.node,
      instance: d.identity.instance,
      version: d.version,
      snapshot: d.replica.current,
      stale: d.replica.stale,
      lastContact: d.replica.lastContact,
      now: Date.now(),
      stats: () => d.stats.toJSON(),
    };
  }

  /** The final encoding of a reply body: a body too large for a datagram becomes `too_large`. */
  private encode(body: ReplyBody): EncodedReply {
    const bytes = packBounded(body, MAX_BODY_BYTES);
    if (typeof bytes !== 'string') return { body: bytes, status: body.status, code: body.error?.code, forbidden: forbiddenIn(body) };
    const tooLarge = errorBody(this.d.identity, 'too_large', `the reply needs more than the ${MAX_BODY_BYTES} bytes a datagram has room for`, body.serial);
    return { body: packBounded(tooLarge, MAX_BODY_BYTES) as Buffer, status: 1, code: 'too_large' };
  }

  /**
   * Frame, sign and send — if the reply is no larger than its request, or goes to a validated
   * address. Otherwise the client gets the error `retry` with a cookie for its address (no
   * larger than its request either), or nothing (counted `unvalidated`).
   */
  private send(e: EncodedReply, r: Requester): void {
    if (replyBytes(e.body.length, r.sealed) > r.requestBytes && !r.validated) return this.retry(r, 'the answer is larger than the request');
    this.d.stats.reply(e.status, e.code, 'qcf1', r.op);
    if (r.access !== undefined) this.d.stats.keyReply(r.access.counters, e.status, e.forbidden === true ? 1 : 0);
    this.d.send(replyDatagram(r.sealed, r.key, Date.now(), r.salt, r.saltOffset, e.body, 0, e.body.length, this.d.stats), r.rinfo);
  }

  /**
   * The error `retry`, with a cookie for the client's address: repeated with it, the request
   * gets its answer. Sent only if no larger than the request (else counted `unvalidated`).
   */
  private retry(r: Requester, why: string): void {
    const d = this.d;
    const body = errorBody(d.identity, 'retry', `${why}: repeat it with this cookie`, r.refused === true ? 0 : (d.replica.current?.serial ?? 0));
    body.cookie = d.validation.cookie(r.rinfo.address);
    const bytes = packBounded(body, MAX_BODY_BYTES) as Buffer;
    if (replyBytes(bytes.length, r.sealed) > r.requestBytes) {
      d.stats.withheld++;
      return;
    }
    d.stats.reply(1, 'retry', 'qcf1', r.op);
    if (r.access !== undefined) d.stats.keyReply(r.access.counters, 1, 0);
    d.send(replyDatagram(r.sealed, r.key, Date.now(), r.salt, r.saltOffset, bytes, 0, bytes.length, d.stats), r.rinfo);
  }

  /** An unexpected error while answering: logged by the daemon, counted, answered `internal`. */
  private internal(err: unknown, r?: Requester): void {
    const d = this.d;
    d.onError(err);
    // Before the request was counted, a drop; after, the error reply counts it.
    if (r === undefined) return d.stats.drop('internal');
    try {
      this.send(this.encode(errorBody(d.identity, 'internal', 'the daemon failed to answer this request; it is logged', d.replica.current?.serial ?? 0)), r);
    } catch (e) {
      d.onError(e);
    }
  }

  handle(msg: Buffer, rinfo: RemoteInfo): void {
    const d = this.d;
    const sealed = isSealedRequest(msg);
    const key = verifyKey(msg, d.keyring(), sealed ? KIND_SEALED_REQUEST : KIND_REQUEST);
    if (typeof key === 'string') return d.stats.drop(key);
    const now = Date.now();
    const timeMs = timeOf(msg);
    if (Math.abs(timeMs - now) > d.maxSkewMs) return d.stats.drop('skew');
    const verdict = d.replay.admitBytes(msg, SALT_OFFSET, timeMs, now);
    if (verdict !== 'fresh') return d.stats.drop(verdict === 'replay' ? 'replay' : 'replay_overflow');
    // The key's access: over its rate, a request is dropped, or (once a second) told `busy`.
    const access = d.access?.()?.forKey(key);
    const rate = access?.admit();
    if (rate === 'drop') return d.stats.drop('rate_limited');
    // The body to read: the datagram's own, or a sealed one's plaintext after a copy of its header.
    let body = msg;
    if (sealed) {
      const opened = openRequest(msg, key, d.stats);
      // Like an undecodable body: its `to` cannot be read, so no daemon may answer it.
      if (opened === undefined) return d.stats.drop('bad_box');
      body = opened;
    }
    // An unsealed request from a key that must seal goes the long way, to its refusal.
    const refuse = !sealed && (d.sealRequired?.(key) === true || requiresSealedTraffic(access));

    // The hot path: a request whose body bytes were answered before on this snapshot (its `to`
    // was checked then). A reply larger than the request needs a validated address: checked
    // here; anything else goes the long way.
    const serving = this.serving;
    const current = serving?.snapshot ?? null;
    let table: ReplyTable | undefined;
    if (serving !== undefined && rate !== 'busy' && !refuse && body.length - HEADER_LEN <= MAX_CACHED_REQUEST) {
      // Replies are kept per scope: a scoped key never gets a reply made for another scope.
      table = access === undefined || access.scope.full ? serving.table : serving.scoped.of(access.scope);
      if (table !== undefined && table.get(body, HEADER_LEN, body.length)) {
        const end = table.valueEnd;
        const start = table.valueStart;
        if (replyBytes(end - start, sealed) <= msg.length || d.validation.isValidated(rinfo.address)) {
          const op = OPS[table.meta0];
          const m = table.meta1;
          d.stats.request('qcf1', op);
          const code = (m >> 2) & 0x1f;
          d.stats.reply(m & 3, code === 0 ? undefined : WIRE_ERROR_CODES[code - 1], 'qcf1', op);
          if (access !== undefined) d.stats.keyReply(access.counters, m & 3, m & FORBIDDEN_META ? 1 : 0);
          d.send(
            sealed
              ? serving.sealed.datagram(key, table, now, msg, SALT_OFFSET, d.stats)
              : replyDatagram(false, key, now, msg, SALT_OFFSET, table.valueBuf, start, end, d.stats),
            rinfo,
          );
          return;
        }
      }
    }
    let r: Requester | undefined;
    try {
      const req = decodeBody(body);
      if (!req) return d.stats.drop('bad_body');
      const to = req.to;
      const own = d.destinations();
      if (typeof to !== 'string' || own === undefined || !own.matches(to)) {
        if (rate === 'admit') access?.unadmit();
        return d.stats.drop('wrong_destination');
      }
      const cookie = req.cookie;
      const validated = (cookie instanceof Uint8Array && d.validation.accept(rinfo.address, cookie)) || d.validation.isValidated(rinfo.address);
      const op = typeof req.op === 'string' && KNOWN_OPS.has(req.op) ? req.op : 'unknown';
      d.stats.request('qcf1', op);
      r = { key, salt: msg, saltOffset: SALT_OFFSET, rinfo, requestBytes: msg.length, validated, op, access, sealed, refused: refuse };
      // Nothing from the document, not even its serial, to a request that must have been sealed.
      if (refuse) return this.send(this.encode(sealRequired(d.identity)), r);
      if (rate === 'busy') return this.send(this.encode(errorBody(d.identity, 'busy', `key ${key.idHex} is over its request rate`, current?.serial ?? 0)), r);
      this.answer(req, body, r, table, current, now);
    } catch (e) {
      this.internal(e, r);
    }
  }

  /** `msg`: the request's header and (plaintext) body, whose bytes key the reply table. */
  private answer(req: Record<string, unknown>, msg: Buffer, r: Requester, table: ReplyTable | undefined, current: Snapshot | null, now: number): void {
    const d = this.d;
    const snap = d.replica.current;
    const ctx = this.context(r.access);
    const out = handleQuery(ctx, req, d.waitCapMs);
    if (out.kind === 'wait') return this.wait(req, out.spec, r, now);
    const body = out.body;
    if (out.cacheable && snap) {
      if (table !== undefined && snap === current && onlyKeys(req, BODY_KEYS[r.op])) {
        const e = this.encode(body);
        table.set(msg, HEADER_LEN, msg.length, e.body, OPS.indexOf(r.op as (typeof OPS)[number]), statusMeta(e));
        return this.send(e, r);
      }
      const ck = cacheKey(req);
      if (ck !== undefined) {
        const cache = this.byRequest.of(snap, ctx.scope === undefined ? 'qcf1' : `qcf1 ${ctx.scope.id}`);
        let e = cache.get(ck);
        if (e === undefined) {
          const fresh = this.encode(body);
          e = { ...fresh, body: ownCopy(fresh.body), bytes: fresh.body.length };
          cache.set(ck, e);
        }
        return this.send(e, r);
      }
    }
    this.send(this.encode(body), r);
  }

  /**
   * A wait: answered now if it holds; else held, for a validated address only (its later reply
   * may be large, and a forged source must not be able to aim it), else told to come back with
   * a cookie.
   */
  private wait(req: Record<string, unknown>, spec: WaitSpec, r: Requester, now: number): void {
    const d = this.d;
    // A held wait keeps a copy of its salt, not the receive buffer.
    const held: Requester = { ...r, salt: Buffer.from(r.salt.subarray(r.saltOffset, r.saltOffset + SALT_LEN)), saltOffset: 0, validated: true };
    const sameAs = typeof req.rid === 'string' && req.rid.length <= 64 ? `${r.rinfo.address}|${r.rinfo.port}|${req.rid}` : undefined;
    if (!r.validated) {
      // Answered at once if it holds (within the request's size); else the cookie first.
      const met = this.waits.immediate(spec);
      if (met !== null && met !== 'pending') return this.send(met, r);
      return this.retry(r, 'a wait is held only for a validated address');
    }
    const result = this.waits.arrive({ spec, source: r.rinfo.address, keyId: r.key.id, sealed: r.sealed, sameAs, deadline: now + spec.timeoutMs, deliver: (e) => this.send(e, held) });
    if (result === 'held') return;
    if (result === 'busy') {
      d.stats.waitsBusy++;
      return this.send(this.encode(errorBody(d.identity, 'busy', 'too many held waits', d.replica.current?.serial ?? 0)), r);
    }
    this.send(result, r);
  }

  /**
   * The access file changed: a held wait whose key's scope is no longer the one it was taken in
   * ends now, answered in the key's new scope as it stands (or `forbidden`, now out of it), so
   * that no answer reaches a key in a scope it has lost. The client asks again if it still waits.
   */
  accessChanged(): void {
    const d = this.d;
    const policy = d.access?.();
    if (policy === undefined) return;
    const keyring = d.keyring();
    const scopeNow = (w: HeldWait) => {
      const key = keyring.byId(w.keyId);
      return key === undefined ? undefined : policy.forKey(key).scope;
    };
    // A wait held in clear for a key that must now seal gets nothing more in clear.
    const mustSealNow = (w: HeldWait) => {
      const key = keyring.byId(w.keyId);
      return !w.sealed && key !== undefined && (d.sealRequired?.(key) === true || requiresSealedTraffic(policy.forKey(key)));
    };
    const idOf = (scope: Scope | undefined) => (scope === undefined || scope.full ? '' : scope.id);
    this.waits.endWhere(
      (w) => {
        const now = scopeNow(w);
        return now === undefined || idOf(now) !== idOf(w.spec.scope) || mustSealNow(w);
      },
      (w) => {
        if (mustSealNow(w)) return this.encode(sealRequired(d.identity));
        const now = scopeNow(w);
        const serial = d.replica.current?.serial ?? 0;
        if (now === undefined || !now.allowsOp('wait') || !now.allows(w.spec.segments)) return this.encode(errorBody(d.identity, 'forbidden', forbiddenMessage(w.spec.path), serial));
        return drain(this.waitAnswer({ ...w.spec, scope: now.full ? undefined : now }, true));
      },
    );
  }

  /** The reply to a wait on the serving snapshot, if it holds (or `timedOut`); its etag in steps. */
  private *waitAnswer(spec: WaitSpec, timedOut: boolean): Generator<void, EncodedReply | null> {
    const ctx = this.context(undefined, spec.scope);
    const snap = ctx.snapshot;
    const value = snap === null ? undefined : resolveSegments(snap.doc, spec.segments);
    const etag = value === undefined ? ABSENT_ETAG : yield* etagSteps(value);
    const state = { found: value !== undefined, value, etag };
    if (!timedOut && !waitMet(spec, snap, state)) return null;
    return this.encode(waitBody(ctx, spec, state, timedOut));
  }
}
