// The QCF1 request path: guards (size, MAC, skew, replay) → handler → cached, signed reply.
import type { RemoteInfo } from 'node:dgram';
import { WIRE_ERROR_CODES } from '../shared/errors.js';
import type { Keyring } from '../shared/keyring.js';
import { HEADER_LEN, KIND_REPLY, KIND_REQUEST, MAX_REPLY_BYTES, decodeBody, frame, packBody, timeOf, verifyKey } from '../shared/qcf1.js';
import type { Key } from '../shared/keyring.js';
import { errorBody, evaluateWait, handleQuery, type QueryContext, type ReplyBody } from './handlers.js';
import type { Replica } from './replica.js';
import type { ReplyTable } from './reply-table.js';
import type { Snapshot } from './snapshot.js';
import type { ReplayGuard } from './replay-guard.js';
import type { Stats } from './stats.js';
import type { WaitRegistry } from './wait-registry.js';

export interface Qcf1Deps {
  keyring: () => Keyring;
  replica: Replica;
  stats: Stats;
  replay: ReplayGuard;
  maxSkewMs: number;
  node: string;
  version: string;
  waits: WaitRegistry;
  waitCapMs: number;
  send: (bytes: Buffer, to: RemoteInfo) => void;
  debug: (fields: Record<string, unknown>, msg: string) => void;
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
  if (op === 'mget' && Array.isArray(req.paths) && req.paths.every((x) => typeof x === 'string')) return 'm' + JSON.stringify(req.paths);
  return undefined;
}

/** An encoded reply body, ready to be framed (the answer, or the too_large error replacing it). */
interface Encoded {
  body: Buffer;
  status: number;
  code: string | undefined;
}

/**
 * A reply kept under its request's body bytes carries two meta bytes: the op's index in OPS,
 * and the status with the error code's index in WIRE_ERROR_CODES + 1 (0: none) above it.
 */
function statusMeta(e: Encoded): number {
  return e.status | ((e.code === undefined ? 0 : WIRE_ERROR_CODES.indexOf(e.code as (typeof WIRE_ERROR_CODES)[number]) + 1) << 2);
}

/**
 * The request keys each cacheable op reads. Only a body with no other key is cached by its
 * bytes: one carrying anything per request (e.g. an `rid`) would fill the cache with entries
 * that are never asked for again.
 */
const BODY_KEYS: Record<string, readonly string[]> = { get: ['op', 'path'], list: ['op', 'path', 'depth'], mget: ['op', 'paths'] };
/** Request bodies up to this size are looked up by their bytes. */
const MAX_CACHED_REQUEST = 1024;

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

export class Qcf1Service {
  /** The serving snapshot's replies by request bytes, looked up once per snapshot. */
  private cacheOf: Snapshot | null = null;
  private cache: ReplyTable | undefined;

  constructor(private readonly d: Qcf1Deps) {}

  private context(): QueryContext {
    const d = this.d;
    return {
      node: d.node,
      version: d.version,
      snapshot: d.replica.current,
      stale: d.replica.stale,
      lastContact: d.replica.lastContact,
      now: Date.now(),
      stats: () => d.stats.toJSON(),
    };
  }

  /** The final encoding of a reply body: a body too large for a datagram becomes `too_large`. */
  private encode(body: ReplyBody | Buffer, status: number, code: string | undefined): Encoded {
    const bytes = Buffer.isBuffer(body) ? body : packBody(body);
    if (HEADER_LEN + bytes.length <= MAX_REPLY_BYTES) return { body: bytes, status, code };
    const d = this.d;
    const tooLarge = errorBody(d, 'too_large', `the answer needs ${HEADER_LEN + bytes.length} bytes; the limit is ${MAX_REPLY_BYTES}`, d.replica.current?.serial ?? 0);
    return { body: packBody(tooLarge), status: 1, code: 'too_large' };
  }

  /** Frame, sign and send; the reply's salt is read from `saltSrc` at `saltOff`. */
  private sendEncoded(e: Encoded, op: string, key: Key, saltSrc: Buffer, saltOff: number, rinfo: RemoteInfo): void {
    this.sendBody(e.status, e.code, op, e.body, key, saltSrc, saltOff, rinfo);
  }

  private sendBody(status: number, code: string | undefined, op: string, body: Buffer, key: Key, saltSrc: Buffer, saltOff: number, rinfo: RemoteInfo): void {
    this.d.stats.reply(status, code, 'qcf1', op);
    this.d.send(frame(KIND_REPLY, key, Date.now(), saltSrc, saltOff, body), rinfo);
  }

  handle(msg: Buffer, rinfo: RemoteInfo): void {
    const d = this.d;
    const key = verifyKey(msg, d.keyring(), KIND_REQUEST);
    if (typeof key === 'string') return d.stats.drop(key);
    const now = Date.now();
    const timeMs = timeOf(msg);
    if (Math.abs(timeMs - now) > d.maxSkewMs) return d.stats.drop('skew');
    const verdict = d.replay.admitBytes(msg, 20, timeMs, now);
    if (verdict !== 'fresh') return d.stats.drop(verdict === 'replay' ? 'replay' : 'replay_overflow');

    // The hot path: a request whose bytes were answered before on this snapshot.
    const current = d.replica.current;
    let table: ReplyTable | undefined;
    if (current !== null && msg.length - HEADER_LEN <= MAX_CACHED_REQUEST) {
      if (current !== this.cacheOf) {
        this.cacheOf = current;
        this.cache = current.qcf1Replies();
      }
      table = this.cache as ReplyTable;
      if (table.get(msg, HEADER_LEN, msg.length)) {
        const op = OPS[table.meta0];
        const m = table.meta1;
        d.stats.request('qcf1', op);
        const body = table.valueBuf.subarray(table.valueStart, table.valueEnd);
        return this.sendBody(m & 3, m >> 2 === 0 ? undefined : WIRE_ERROR_CODES[(m >> 2) - 1], op, body, key, msg, 20, rinfo);
      }
    }

    const req = decodeBody(msg);
    if (!req) return d.stats.drop('bad_body');

    const op = typeof req.op === 'string' && KNOWN_OPS.has(req.op) ? req.op : 'unknown';
    d.stats.request('qcf1', op);
    const reply = (body: ReplyBody, status: number, code?: string) => this.sendEncoded(this.encode(body, status, code), op, key, msg, 20, rinfo);

    const ctx = this.context();
    const out = handleQuery(ctx, req, d.waitCapMs);
    if (out.kind === 'reply') {
      const body = out.body;
      const snap = ctx.snapshot;
      if (out.cacheable && snap) {
        if (table !== undefined && snap === current && onlyKeys(req, BODY_KEYS[op])) {
          const e = this.encode(body, body.status, body.error?.code);
          table.set(msg, HEADER_LEN, msg.length, e.body, OPS.indexOf(op as (typeof OPS)[number]), statusMeta(e));
          return this.sendEncoded(e, op, key, msg, 20, rinfo);
        }
        const ck = cacheKey(req);
        if (ck !== undefined) {
          const cached = snap.memo.get('r' + ck, () => {
            const e = this.encode(body, body.status, body.error?.code);
            return { ...e, body: ownCopy(e.body) };
          }) as Encoded;
          return this.sendEncoded(cached, op, key, msg, 20, rinfo);
        }
      }
      return reply(body, body.status, body.error?.code);
    }

    // A wait: answer now if it already holds, else hold it. A held wait keeps a copy of its
    // salt, not the receive buffer.
    const spec = out.spec;
    const salt = Buffer.from(msg.subarray(20, 36));
    const settle = (force: boolean): boolean => {
      const body = evaluateWait(this.context(), spec, force);
      if (!body) return false;
      this.sendEncoded(this.encode(body, body.status, body.error?.code), op, key, salt, 0, rinfo);
      return true;
    };
    if (settle(false)) return;
    const sameAs = typeof req.rid === 'string' && req.rid.length <= 64 ? `${rinfo.address}|${rinfo.port}|${req.rid}` : undefined;
    const held = d.waits.hold({ spec, source: rinfo.address, sameAs, deadline: now + spec.timeoutMs, settle });
    if (!held) {
      d.stats.waitsBusy++;
      const busy = errorBody(d, 'busy', 'too many held waits', ctx.snapshot?.serial ?? 0);
      reply(busy, busy.status, 'busy');
    }
  }
}

