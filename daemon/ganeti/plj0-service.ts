// Ganeti's confd protocol (plj0) on qconfd's socket: parse and verify (request-parser.ts) →
// timestamp window → replay guard → answer (answers.ts over the snapshot's Ganeti view) →
// sign (reply.ts) → send. Encoded answers are cached per snapshot; only the rsalt and the MAC are per
// request. Answers made of kept object texts (fragments.ts) are put together per request
// instead, cached only while the cache has room. Every silent drop is counted by reason;
// nothing here throws on input.
import type { RemoteInfo } from 'node:dgram';
import { asciiJson } from '../../shared/plj0/ascii-json.js';
import { CONFD_MAX_CLOCK_SKEW, MAX_UDP_DATA_SIZE, REQUEST_TYPE_NAMES, ReplyStatus, RequestType } from '../../shared/plj0/protocol.js';
import { encodeReply, encodeReplyFromBytes, encodeReplySized, innerReplyText, prepareInner, prepareInnerFromBytes, preparedBytes, type PreparedInner } from './reply.js';
import type { Plj0Request } from './request.js';
import { RequestParser } from './request-parser.js';
import { ReplayGuard } from '../replay-guard.js';
import type { Replica } from '../replica.js';
import type { Snapshot } from '../snapshot.js';
import { SnapshotCaches } from '../reply-cache.js';
import type { Stats } from '../stats.js';
import { answerGanetiRequest, notLoadedAnswer, type GanetiAnswer } from './answers.js';
import { ComposedAnswer, ComposedText, composeInner } from './fragments.js';
import { GanetiLoadError, buildGanetiView, buildGanetiViewSteps, prepareInstanceTextsSteps, type GanetiView } from './view.js';
import { runSliced } from '../slices.js';

/**
 * A config with more objects than this (nodes, instances and disks) has its Ganeti view built
 * in slices when it replaces one already serving: Ganeti requests keep being answered from the
 * previous snapshot until the new view is complete (QCF1 serves the new snapshot at once).
 * Smaller configs, and the first config, are built at once, as before.
 */
export const SLICED_VIEW_OBJECTS = 4000;
const SLICE_MS = 4;

/** Whether `doc` holds more than SLICED_VIEW_OBJECTS nodes, instances and disks (stops counting there). */
function isLarge(doc: unknown): boolean {
  if (doc === null || typeof doc !== 'object') return false;
  let n = 0;
  for (const k of ['nodes', 'instances', 'disks']) {
    const m = (doc as Record<string, unknown>)[k];
    if (m === null || typeof m !== 'object') continue;
    for (const _ in m) if (++n > SLICED_VIEW_OBJECTS) return true;
  }
  return false;
}

export interface Plj0Deps {
  /** The raw bytes of Ganeti's hmac.key (re-read on SIGHUP). */
  key: () => Buffer;
  replica: Replica;
  stats: Stats;
  replay: ReplayGuard;
  /** Where the document comes from, for Ganeti-style error texts. */
  configPath: string;
  send: (bytes: Buffer, to: RemoteInfo) => void;
  /** Reports a snapshot whose document is not a loadable Ganeti config (it is not served). */
  onInvalidConfig?: (snapshot: Snapshot, message: string) => void;
  /** An unexpected error (a bug) while answering: logged by the caller. */
  onError?: (err: unknown) => void;
}

/** Ganeti's daemon reads 4096 bytes; answering larger requests is an allowed leniency. */
export const PLJ0_MAX_REQUEST_BYTES = 8192;

/** A datagram stays acceptable until its timestamp is this far behind the daemon's clock. */
const WINDOW_MS = CONFD_MAX_CLOCK_SKEW * 1000;

interface CachedReply {
  inner: PreparedInner;
  status: number;
  /** The too_large error replacing this reply, by the reply's size (it varies with the rsalt). */
  tooLarge?: Map<number, PreparedInner>;
  /** Memory estimate for the cache's bound. */
  bytes: number;
}

/** Where the replay memory keeps plj0 rsalts apart from any other salt: 'g'. */
const REPLAY_PREFIX = 0x67;

/** Request types whose answer does not depend on the query. */
const TYPES_IGNORING_QUERY = new Set<RequestType>([RequestType.Ping, RequestType.NodePipList, RequestType.McPipList, RequestType.DataCollectors]);
/**
 * Reply caches: one per request type for plain queries (the query string is the key as it is,
 * nothing concatenated per request), and one for the rest (keys naming the type).
 */
const PLAIN_CACHES = REQUEST_TYPE_NAMES.map((_, t) => `type${t}`);
const OTHER_CACHE = 'other';
const TYPE_KEYS = REQUEST_TYPE_NAMES.map((_, t) => (TYPES_IGNORING_QUERY.has(t) ? `g${t}` : `g${t}e`));

/** The cache and key under which a request's answer is kept: requests alike answer alike. */
function cacheOf(req: Plj0Request): string {
  return req.query.kind === 'plain' && !TYPES_IGNORING_QUERY.has(req.type) ? PLAIN_CACHES[req.type] : OTHER_CACHE;
}

function cacheKey(req: Plj0Request): string {
  const q = req.query;
  if (q.kind === 'empty' || TYPES_IGNORING_QUERY.has(req.type)) return TYPE_KEYS[req.type];
  if (q.kind === 'plain') return q.value;
  const d = q.value;
  return `g${req.type}d${JSON.stringify([d.link ?? null, d.ip ?? null, d.ipList, d.fields])}`;
}

/** Memory estimate of a cached reply: its prepared inner's bytes, and its objects. */
const REPLY_OVERHEAD = 256;
/** What the reply caches of all snapshots hold together. */
const REPLY_CACHE_BYTES = 32 * 1024 * 1024;
/** Entries a cached reply keeps of the too_large errors replacing it (one per reply size). */
const MAX_TOO_LARGE_SIZES = 64;
/** The Stats protocol label. */
const PROTOCOL = 'plj0';

function encodeInner(a: GanetiAnswer): CachedReply {
  const inner = prepareInner(innerReplyText(a.status, asciiJson(a.answer), a.serial));
  return { inner, status: a.status, bytes: inner.quoted.length + (inner.text?.length ?? 0) + (inner.raw?.length ?? 0) + REPLY_OVERHEAD };
}

export class Plj0Service {
  /** The last snapshot whose document loaded as a Ganeti config, with its view. */
  private good: { snapshot: Snapshot; view: GanetiView } | undefined;
  private lastError: string | undefined;
  /**
   * plj0's replay memory: rsalts by request time, for Ganeti's ±300 s, with the capacity of the
   * daemon's guard (`--replay-capacity`). Its own, not the QCF1 one: kept 300 s, plj0 salts in a
   * shared, full memory would push QCF1's out, and the overflow rule would then refuse every
   * QCF1 request for minutes; apart, a flood of either protocol cannot starve the other.
   */
  private readonly replay: ReplayGuard;
  /**
   * Replies per snapshot, one cache per request type, sharing 32 MB: Ganeti configs are large
   * themselves (a 10,000-node config is some 200 MB of objects with its view).
   */
  private readonly caches = new SnapshotCaches<CachedReply>(REPLY_CACHE_BYTES);
  private readonly parser = new RequestParser();
  /** Where answers put together per request are written. */
  private readonly composed = new ComposedText();

  constructor(private readonly d: Plj0Deps) {
    this.replay = new ReplayGuard({ windowMs: WINDOW_MS, capacity: d.replay.capacity });
    d.replica.on('change', (snap) => {
      try {
        this.load(snap);
      } catch (e) {
        this.reject(snap, `internal error: ${(e as Error).message}`);
      }
    });
    if (d.replica.current) this.load(d.replica.current);
  }

  /** A view being built in slices, for a snapshot not yet served over plj0. */
  private building: { snap: Snapshot; cancelled: boolean } | undefined;

  /**
   * Build the view when a snapshot arrives: at once, or in slices (large configs replacing a
   * served one). A bad config leaves the last good view serving.
   */
  private load(snap: Snapshot): void {
    if (this.building) {
      this.building.cancelled = true;
      this.building = undefined;
    }
    if (this.good === undefined || snap.hasView('ganeti') || !isLarge(snap.doc)) return this.install(snap);
    const job = { snap, cancelled: false };
    this.building = job;
    runSliced(buildGanetiViewSteps(snap.doc), SLICE_MS, () => job.cancelled).then(
      (view) => {
        if (job.cancelled || view === undefined) return;
        this.building = undefined;
        snap.setView('ganeti', view);
        this.install(snap);
      },
      (e: unknown) => {
        if (job.cancelled) return;
        this.building = undefined;
        this.reject(snap, `internal error: ${(e as Error).message}`);
      },
    );
  }

  /** Whether a view is being built in slices (for tests and tools). */
  get pending(): boolean {
    return this.building !== undefined;
  }

  private reject(snap: Snapshot, message: string): void {
    this.lastError = message;
    this.d.stats.refusal('ganeti_config');
    this.d.onInvalidConfig?.(snap, message);
  }

  /** Serve `snap` over plj0 (building its view now if it has none). */
  private install(snap: Snapshot): void {
    let view: GanetiView | GanetiLoadError;
    try {
      view = snap.view('ganeti', buildGanetiView);
    } catch (e) {
      view = new GanetiLoadError(`internal error: ${(e as Error).message}`);
    }
    if (view instanceof GanetiLoadError) return this.reject(snap, view.message);
    this.good = { snapshot: snap, view };
    // Serve first, then finish the instance indexes (a view built at once has them pending) and
    // make the texts that answers are put together from, between requests.
    const served = this.good;
    runSliced(prepareInstanceTextsSteps(view), SLICE_MS, () => this.good !== served).catch((e: unknown) => {
      // The instance indexes failing is a bug (they only read a checked config): the view is
      // refused, as one whose building threw. A text that cannot be made is made, or refused,
      // again on first use: nothing to report for it.
      if (this.good !== served || !view.inst.failed) return;
      this.good = undefined;
      this.reject(snap, `internal error: ${(e as Error).message}`);
    });
  }

  /** The view being served (for tests and tools). */
  get view(): GanetiView | undefined {
    return this.good?.view;
  }

  handle(msg: Buffer, rinfo: RemoteInfo): void {
    const d = this.d;
    const now = Date.now();
    const key = d.key();
    const req = this.parser.parse(msg, key, now / 1000);
    if (typeof req === 'string') return d.stats.drop(req);
    // Remember the rsalt until the datagram can no longer pass the timestamp check.
    const verdict = this.replay.admitPrefixed(REPLAY_PREFIX, req.rsalt, req.timestamp * 1000, now);
    if (verdict !== 'fresh') return d.stats.drop(verdict === 'replay' ? 'replay' : 'replay_overflow');
    const op = REQUEST_TYPE_NAMES[req.type];
    d.stats.request(PROTOCOL, op);
    try {
      this.answer(req, op, key, rinfo);
    } catch (e) {
      // A bug while answering an authenticated request: Ganeti's error form, not silence.
      d.onError?.(e);
      d.stats.reply(ReplyStatus.Error, 'internal', PROTOCOL, op);
      d.send(encodeReply(key, req.rsalt, prepareInner(innerReplyText(ReplyStatus.Error, asciiJson('internal error; see the daemon log'), 0))), rinfo);
    }
  }

  /** Answer an admitted request (`op`: its type's name, for the counters). */
  private answer(req: Plj0Request, op: string, key: Buffer, rinfo: RemoteInfo): void {
    const d = this.d;
    let reply: CachedReply;
    const good = this.good;
    if (good === undefined) {
      reply = encodeInner(notLoadedAnswer(d.configPath, this.lastError));
    } else {
      const cache = this.caches.of(good.snapshot, cacheOf(req));
      const ck = cacheKey(req);
      const hit = cache.get(ck);
      if (hit !== undefined) {
        reply = hit;
      } else {
        const a = answerGanetiRequest(good.view, req);
        if (a.answer instanceof ComposedAnswer) {
          const text = this.composed;
          const bytes = composeInner(a.status, a.answer, a.serial, text) && encodeReplyFromBytes(key, req.rsalt, text.bytes, text.length, text.escapes, MAX_UDP_DATA_SIZE);
          if (bytes instanceof Buffer) {
            // Kept only where the budget has room: composing again costs less than pushing
            // out another reply (and leaving it to the collector) would.
            const size = preparedBytes(text.length, text.escapes) + REPLY_OVERHEAD;
            if (cache.hasRoom(ck, size)) cache.set(ck, { inner: prepareInnerFromBytes(text.bytes, text.length, text.escapes), status: a.status, bytes: size });
            d.stats.reply(a.status, undefined, PROTOCOL, op);
            d.send(bytes, rinfo);
            return;
          }
          // Too large, a text that cannot be kept, or a non-ASCII rsalt: the general path.
        }
        reply = encodeInner(a);
        cache.set(ck, reply);
      }
    }
    let bytes = encodeReplySized(key, req.rsalt, reply.inner, MAX_UDP_DATA_SIZE);
    let status = reply.status;
    if (typeof bytes === 'number') {
      // The error text names the size, which depends on the rsalt's length: kept per size.
      let tl = reply.tooLarge?.get(bytes);
      if (tl === undefined) {
        const text = `the answer needs ${bytes} bytes; the limit is ${MAX_UDP_DATA_SIZE}`;
        tl = prepareInner(innerReplyText(ReplyStatus.Error, asciiJson(text), 0));
        if ((reply.tooLarge ??= new Map()).size < MAX_TOO_LARGE_SIZES) reply.tooLarge.set(bytes, tl);
      }
      bytes = encodeReply(key, req.rsalt, tl);
      status = ReplyStatus.Error;
      d.stats.reply(status, 'too_large', PROTOCOL, op);
    } else {
      d.stats.reply(status, undefined, PROTOCOL, op);
    }
    d.send(bytes, rinfo);
  }
}
