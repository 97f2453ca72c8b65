// Counters the daemon keeps: the one place both the `stats` op and the Prometheus endpoint
// (metrics.ts) read from, so the two always report the same numbers. Plain integer fields on
// flat objects: incrementing one costs a property store on the hot path.
//
// For code that feeds it (protocol services, replica sources):
//   stats.request(protocol, op)                  a request passed the guards (before answering)
//   stats.reply(status, code, protocol, op)      a reply is sent (code: the error's, or undefined)
//   stats.drop(reason)                           a datagram was dropped silently
//   stats.refusal(reason), stats.reloads++       a document was refused / accepted
//   stats.setEtcdState('connected' | ...)        the etcd source's connection state
//   stats.internalErrors++                       an unexpected error caught in a source's callback
//   stats.sealed.requests++ / .replies++ / .openFailures++   sealed QCF1 traffic (qcf1/sealing.ts)
// Reply latency (receive → send) is measured by the UDP server, only when `timing` is on.
import type { DropReason } from '../shared/qcf1.js';

export type Protocol = 'qcf1' | 'plj0';

/** Reply statuses by name, as the counters are labelled. */
export type StatusName = 'ok' | 'error' | 'not_implemented';

/** The etcd source's connection as the metrics report it ('none': no etcd source). */
export type EtcdConnectionState = 'none' | 'connecting' | 'connected' | 'disconnected';

export const ETCD_STATES: readonly EtcdConnectionState[] = ['connecting', 'connected', 'disconnected'];

/** Drop reasons known in advance, reported as 0 before they first happen. */
export const KNOWN_DROP_REASONS: readonly string[] = [
  'too_short',
  'too_long',
  'bad_magic',
  'bad_kind',
  'bad_reserved',
  'unknown_key',
  'bad_mac',
  'skew',
  'replay',
  'replay_overflow',
  'bad_body',
  'bad_box',
  'wrong_destination',
  'internal',
  'rate_limited',
];

/** Upper bounds (milliseconds) of the reply latency histogram's buckets; +Inf is implied. */
export const LATENCY_BUCKETS_MS: readonly number[] = [0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 1000];

export interface LatencyHistogram {
  /** counts[i]: observations ≤ LATENCY_BUCKETS_MS[i] and > the previous bound; the last: above all. */
  counts: number[];
  sumMs: number;
  count: number;
}

function newHistogram(): LatencyHistogram {
  return { counts: new Array<number>(LATENCY_BUCKETS_MS.length + 1).fill(0), sumMs: 0, count: 0 };
}

/** Live values that are not counters (the replica, held waits), supplied by the daemon. */
export interface Gauges {
  heldWaits: number;
  replica: {
    ready: boolean;
    serial: number;
    source: string;
    /** Unix ms when the serving snapshot was loaded; 0 when none. */
    loadedAt: number;
    stale: boolean;
    /** Unix ms of the last contact with the source (etcd); 0 when not applicable. */
    lastContact: number;
  };
}

/** One key's traffic (--access-file): by the key id the file names, or "default" for the rest. */
export interface KeyCounters {
  /** Authenticated requests signed by the key (rate-limited ones included). */
  requests: number;
  replies: Record<StatusName, number>;
  /** Error replies `forbidden` (a path or op outside the key's scope; mget entries included). */
  forbidden: number;
  /** Requests over the key's rate (told `busy` at most once a second, the rest dropped). */
  rateLimited: number;
}

export interface StatsReport {
  uptimeMs: number;
  received: number;
  /** Requests that passed the guards, by protocol and op (Ganeti: request type). */
  requests: Record<Protocol, Record<string, number>>;
  /** Replies by protocol, op and status. */
  answered: Record<Protocol, Record<string, Record<StatusName, number>>>;
  replies: Record<StatusName, number>;
  errors: Record<string, number>;
  drops: Record<string, number>;
  reloads: number;
  refusals: number;
  refusalReasons: Record<string, number>;
  keyReloads: number;
  sendErrors: number;
  heldWaits: number;
  waitsBusy: number;
  /**
   * Requests left unanswered: the reply was larger than the request, the client's address was
   * not validated, and the request too small even for the error `retry` (a client that does not
   * pad its first requests; docs/protocol.md, "Address validation").
   */
  withheld: number;
  etcdState: EtcdConnectionState;
  /** etcd keys the current snapshot skipped (bad JSON, leaf/parent conflicts, too deep). */
  skippedKeys: number;
  /** Unexpected errors caught in a replica source's callbacks (the last good replica kept serving). */
  internalErrors: number;
  /** Sealed QCF1 traffic: requests opened, replies sealed, and authentic requests whose box did not open (also dropped as `bad_box`). */
  sealed: SealedCounts;
  replica: Gauges['replica'] & { ageMs: number; lastContactAgeMs: number | null };
  /** Per key (with an access file): labels are its key ids and "default". */
  keys?: Record<string, KeyCounters>;
  /** Access files accepted (at start and on reloads), when one is used. */
  accessReloads?: number;
  /** Present when latency is measured (the metrics endpoint is on). */
  latency?: Partial<Record<Protocol, LatencyHistogram & { bucketsMs: readonly number[] }>>;
}

export interface SealedCounts {
  requests: number;
  replies: number;
  openFailures: number;
}

function statusName(status: number): StatusName {
  return status === 0 ? 'ok' : status === 2 ? 'not_implemented' : 'error';
}

export class Stats {
  readonly startedAt = Date.now();
  received = 0;
  readonly requests: Record<Protocol, Record<string, number>> = { qcf1: {}, plj0: {} };
  readonly answered: Record<Protocol, Record<string, Record<StatusName, number>>> = { qcf1: {}, plj0: {} };
  readonly replies: Record<StatusName, number> = { ok: 0, error: 0, not_implemented: 0 };
  readonly errors: Record<string, number> = {};
  readonly drops: Record<string, number> = {};
  reloads = 0;
  refusals = 0;
  readonly refusalReasons: Record<string, number> = {};
  keyReloads = 0;
  sendErrors = 0;
  /** Kept for callers that set it; the report reads the live count from `gauges`. */
  heldWaits = 0;
  waitsBusy = 0;
  withheld = 0;
  etcdState: EtcdConnectionState = 'none';
  skippedKeys = 0;
  internalErrors = 0;
  readonly sealed: SealedCounts = { requests: 0, replies: 0, openFailures: 0 };
  /** Whether reply latency is measured (the UDP server checks this once per datagram). */
  timing = false;
  readonly latency: Record<Protocol, LatencyHistogram> = { qcf1: newHistogram(), plj0: newHistogram() };
  /** Supplied by the daemon: live gauges read at report time. */
  gauges: (() => Gauges) | undefined;
  /** Per-key counters, by label; undefined until an access file is used. */
  keys: Map<string, KeyCounters> | undefined;
  accessReloads = 0;

  /** The counters of a key label (made on first use). */
  keyCounters(label: string): KeyCounters {
    const keys = (this.keys ??= new Map());
    let c = keys.get(label);
    if (c === undefined) keys.set(label, (c = { requests: 0, replies: { ok: 0, error: 0, not_implemented: 0 }, forbidden: 0, rateLimited: 0 }));
    return c;
  }

  /** Keep only these labels' counters (an access file was loaded: the rest are no longer keys). */
  keepKeyLabels(labels: readonly string[]): void {
    const keep = new Set(labels);
    for (const l of keep) this.keyCounters(l);
    for (const l of [...(this.keys?.keys() ?? [])]) if (!keep.has(l)) this.keys?.delete(l);
  }

  /** A reply to a key's request: its status, and whether it (or an mget entry of it) was `forbidden`. */
  keyReply(c: KeyCounters, status: number, forbidden: number): void {
    c.replies[statusName(status)]++;
    c.forbidden += forbidden;
  }

  drop(reason: DropReason | string): void {
    this.drops[reason] = (this.drops[reason] ?? 0) + 1;
  }

  request(protocol: Protocol, op: string): void {
    const t = this.requests[protocol];
    t[op] = (t[op] ?? 0) + 1;
  }

  /** A reply sent: its status, its error code (undefined for none), its protocol and op. */
  reply(status: number, errorCode: string | undefined, protocol: Protocol, op: string): void {
    const name = statusName(status);
    this.replies[name]++;
    if (errorCode !== undefined) this.errors[errorCode] = (this.errors[errorCode] ?? 0) + 1;
    const byOp = this.answered[protocol];
    const s = byOp[op] ?? (byOp[op] = { ok: 0, error: 0, not_implemented: 0 });
    s[name]++;
  }

  refusal(reason: string): void {
    this.refusals++;
    this.refusalReasons[reason] = (this.refusalReasons[reason] ?? 0) + 1;
  }

  setEtcdState(state: EtcdConnectionState): void {
    this.etcdState = state;
  }

  /** One receive → send latency, in milliseconds. */
  observeLatency(protocol: Protocol, ms: number): void {
    const h = this.latency[protocol];
    const b = LATENCY_BUCKETS_MS;
    let i = 0;
    while (i < b.length && ms > b[i]) i++;
    h.counts[i]++;
    h.sumMs += ms;
    h.count++;
  }

  totalDrops(): number {
    let n = 0;
    for (const v of Object.values(this.drops)) n += v;
    return n;
  }

  report(now = Date.now()): StatsReport {
    const g = this.gauges?.();
    const replica = g?.replica ?? { ready: false, serial: 0, source: 'none', loadedAt: 0, stale: false, lastContact: 0 };
    const out: StatsReport = {
      uptimeMs: now - this.startedAt,
      received: this.received,
      requests: this.requests,
      answered: this.answered,
      replies: this.replies,
      errors: this.errors,
      drops: this.drops,
      reloads: this.reloads,
      refusals: this.refusals,
      refusalReasons: this.refusalReasons,
      keyReloads: this.keyReloads,
      sendErrors: this.sendErrors,
      heldWaits: g?.heldWaits ?? this.heldWaits,
      waitsBusy: this.waitsBusy,
      withheld: this.withheld,
      etcdState: this.etcdState,
      skippedKeys: this.skippedKeys,
      internalErrors: this.internalErrors,
      sealed: { ...this.sealed },
      replica: {
        ...replica,
        ageMs: replica.loadedAt > 0 ? Math.max(0, now - replica.loadedAt) : 0,
        lastContactAgeMs: replica.lastContact > 0 ? Math.max(0, now - replica.lastContact) : null,
      },
    };
    if (this.keys !== undefined) {
      out.keys = Object.fromEntries(this.keys);
      out.accessReloads = this.accessReloads;
    }
    if (this.timing) {
      out.latency = {};
      for (const p of ['qcf1', 'plj0'] as const) out.latency[p] = { bucketsMs: LATENCY_BUCKETS_MS, ...this.latency[p] };
    }
    return out;
  }

  toJSON(): Record<string, unknown> {
    return this.report() as unknown as Record<string, unknown>;
  }
}
