// Ganeti's confd protocol (plj0) on qconfd's socket: parse and verify (shared/plj0.ts) →
// timestamp window → replay guard → answer (answers.ts over the snapshot's Ganeti view) →
// sign → send. Encoded answers are cached per snapshot; only the rsalt and the MAC are per
// request. Every silent drop is counted by reason; nothing here throws on input.
import type { RemoteInfo } from 'node:dgram';
import {
  MAX_UDP_DATA_SIZE,
  REQUEST_TYPE_NAMES,
  asciiJson,
  encodeReplyDatagram,
  innerReplyText,
  parseRequestDatagram,
  type Plj0Request,
} from '../../shared/plj0.js';
import type { ReplayGuard } from '../replay-guard.js';
import type { Replica } from '../replica.js';
import type { Snapshot } from '../snapshot.js';
import type { Stats } from '../stats.js';
import { answerGanetiRequest, notLoadedAnswer, type GanetiAnswer } from './answers.js';
import { GanetiLoadError, buildGanetiView, type GanetiView } from './view.js';

export interface Plj0Deps {
  /** The raw bytes of Ganeti's hmac.key (re-read on SIGHUP). */
  key: () => Buffer;
  replica: Replica;
  stats: Stats;
  replay: ReplayGuard;
  /** Where the document comes from, for Ganeti-style error texts. */
  configPath: string;
  send: (bytes: Buffer, to: RemoteInfo) => void;
  /** The replay guard's window (default: read from the guard, else 60 s). */
  replayWindowMs?: number;
  /** Reports a snapshot whose document is not a loadable Ganeti config (it is not served). */
  onInvalidConfig?: (snapshot: Snapshot, message: string) => void;
}

/** Ganeti's daemon reads 4096 bytes; answering larger requests is an allowed leniency. */
export const PLJ0_MAX_REQUEST_BYTES = 8192;

/** A datagram stays acceptable until its timestamp is this far behind the daemon's clock. */
const WINDOW_MS = 300_000;

interface CachedReply {
  inner: string;
  status: number;
}

const TYPES_IGNORING_QUERY = new Set([0, 4, 5, 11]);

/** What makes two requests' answers equal on one snapshot. */
function cacheKey(req: Plj0Request): string {
  if (TYPES_IGNORING_QUERY.has(req.type)) return `g${req.type}`;
  const q = req.query;
  if (q.kind === 'empty') return `g${req.type}e`;
  if (q.kind === 'plain') return `g${req.type}s${q.value}`;
  const d = q.value;
  return `g${req.type}d${JSON.stringify([d.link ?? null, d.ip ?? null, d.ipList, d.fields])}`;
}

function encodeInner(a: GanetiAnswer): CachedReply {
  return { inner: innerReplyText(a.status, asciiJson(a.answer), a.serial), status: a.status };
}

export class Plj0Service {
  /** The last snapshot whose document loaded as a Ganeti config, with its view. */
  private good: { snapshot: Snapshot; view: GanetiView } | undefined;
  private lastError: string | undefined;
  private readonly windowMs: number;

  constructor(private readonly d: Plj0Deps) {
    const guardWindow = (d.replay as unknown as { windowMs?: unknown }).windowMs;
    this.windowMs = d.replayWindowMs ?? (typeof guardWindow === 'number' ? guardWindow : 60_000);
    d.replica.on('change', (snap) => this.load(snap));
    if (d.replica.current) this.load(d.replica.current);
  }

  /** Build the view eagerly when a snapshot arrives; a bad one leaves the last good view serving. */
  private load(snap: Snapshot): void {
    let view: GanetiView | GanetiLoadError;
    try {
      view = snap.view('ganeti', buildGanetiView);
    } catch (e) {
      view = new GanetiLoadError(`internal error: ${(e as Error).message}`);
    }
    if (view instanceof GanetiLoadError) {
      this.lastError = view.message;
      this.d.stats.refusal('ganeti_config');
      this.d.onInvalidConfig?.(snap, view.message);
      return;
    }
    this.good = { snapshot: snap, view };
  }

  /** The view being served (for tests and tools). */
  get view(): GanetiView | undefined {
    return this.good?.view;
  }

  handle(msg: Buffer, rinfo: RemoteInfo): void {
    const d = this.d;
    const now = Date.now();
    const key = d.key();
    const p = parseRequestDatagram(msg, key, now / 1000);
    if (!p.ok) return d.stats.drop(p.reason);
    const req = p.request;
    // Remember the rsalt until the datagram can no longer pass the timestamp check.
    const expiresMs = Number(p.timestamp) * 1000 + WINDOW_MS;
    const verdict = d.replay.admit('g' + req.rsalt, expiresMs - this.windowMs, now);
    if (verdict !== 'fresh') return d.stats.drop(verdict === 'replay' ? 'replay' : 'replay_overflow');
    d.stats.request('plj0', REQUEST_TYPE_NAMES[req.type]);

    let reply: CachedReply;
    const good = this.good;
    if (good === undefined) {
      reply = encodeInner(notLoadedAnswer(d.configPath, this.lastError));
    } else {
      const { snapshot, view } = good;
      reply = snapshot.memo.get(cacheKey(req), () => encodeInner(answerGanetiRequest(view, req))) as CachedReply;
    }
    let bytes = encodeReplyDatagram(key, req.rsalt, reply.inner);
    let status = reply.status;
    if (bytes.length > MAX_UDP_DATA_SIZE) {
      const text = `the answer needs ${bytes.length} bytes; the limit is ${MAX_UDP_DATA_SIZE}`;
      bytes = encodeReplyDatagram(key, req.rsalt, innerReplyText(1, asciiJson(text), 0));
      status = 1;
      d.stats.reply(status, 'too_large');
    } else {
      d.stats.reply(status);
    }
    d.send(bytes, rinfo);
  }
}
