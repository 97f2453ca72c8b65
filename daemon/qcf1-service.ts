// The QCF1 request path: guards (size, MAC, skew, replay) → handler → cached, signed reply.
import type { RemoteInfo } from 'node:dgram';
import type { Keyring } from '../shared/keyring.js';
import {
  KIND_REPLY,
  KIND_REQUEST,
  MAX_REPLY_BYTES,
  decodeBody,
  encodeDatagram,
  packBody,
  verifyDatagram,
} from '../shared/qcf1.js';
import { errorBody, evaluateWait, handleQuery, type QueryContext, type ReplyBody } from './handlers.js';
import type { Replica } from './replica.js';
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
const KNOWN_OPS = new Set(['ping', 'get', 'mget', 'list', 'wait', 'stats']);

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

export class Qcf1Service {
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

  handle(msg: Buffer, rinfo: RemoteInfo): void {
    const d = this.d;
    const v = verifyDatagram(msg, d.keyring(), KIND_REQUEST);
    if (!v.ok) return d.stats.drop(v.reason);
    const now = Date.now();
    const { timeMs, salt } = v.header;
    if (Math.abs(timeMs - now) > d.maxSkewMs) return d.stats.drop('skew');
    const verdict = d.replay.admit('q' + salt.toString('latin1'), timeMs, now);
    if (verdict !== 'fresh') return d.stats.drop(verdict === 'replay' ? 'replay' : 'replay_overflow');
    const req = decodeBody(msg);
    if (!req) return d.stats.drop('bad_body');

    const op = typeof req.op === 'string' && KNOWN_OPS.has(req.op) ? req.op : 'unknown';
    d.stats.request('qcf1', op);
    const key = v.key;
    const saltCopy = Buffer.from(salt); // the receive buffer is not ours to keep
    const reply = (body: ReplyBody | Buffer, status: number, code?: string) => {
      let bytes = encodeDatagram(KIND_REPLY, key, Date.now(), saltCopy, Buffer.isBuffer(body) ? body : packBody(body));
      if (bytes.length > MAX_REPLY_BYTES) {
        const tooLarge = errorBody(d, 'too_large', `the answer needs ${bytes.length} bytes; the limit is ${MAX_REPLY_BYTES}`, d.replica.current?.serial ?? 0);
        bytes = encodeDatagram(KIND_REPLY, key, Date.now(), saltCopy, tooLarge);
        status = 1;
        code = 'too_large';
      }
      d.stats.reply(status, code, 'qcf1', op);
      d.send(bytes, rinfo);
    };

    const ctx = this.context();
    const out = handleQuery(ctx, req, d.waitCapMs);
    if (out.kind === 'reply') {
      const body = out.body;
      const snap = ctx.snapshot;
      const ck = out.cacheable && snap ? cacheKey(req) : undefined;
      if (ck !== undefined && snap) {
        const cached = snap.memo.get('r' + ck, () => ({ bytes: packBody(body), status: body.status, code: body.error?.code })) as {
          bytes: Buffer;
          status: number;
          code?: string;
        };
        return reply(cached.bytes, cached.status, cached.code);
      }
      return reply(body, body.status, body.error?.code);
    }

    // A wait: answer now if it already holds, else hold it.
    const spec = out.spec;
    const settle = (force: boolean): boolean => {
      const body = evaluateWait(this.context(), spec, force);
      if (!body) return false;
      reply(body, body.status, body.error?.code);
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

