// Synchronous waits over the `wait` op: each daemon holds a request until the value at a path
// changes (or its serial reaches a minimum), and the client re-arms it until the condition
// holds; the wait is met once a quorum of daemons report it. The fan-out (peers, hedging,
// counting daemons, the result) is the quorum engine's, as for queries. `watch` chains waits
// into an async iterator of changes, and says when the quorum is lost and found again.
import { randomBytes } from 'node:crypto';
import { QconfError } from '../shared/errors.js';
import { ABSENT_ETAG, etagOf } from '../shared/etag.js';
import type { Peer } from '../shared/peers.js';
import type { ConfdClient } from './confd-client.js';
import { forgedPeers, type FanOut, type Vote } from './fan-out.js';
import { buildResult } from './results.js';
import type { QueryResult, Reply, Request } from './types.js';

/** What `waitFor` waits for: a quorum of daemons reporting it. */
export type WaitCondition =
  | {
      /** The value watched (a JSON pointer). */
      path: string;
      /** Changed from the value with this etag (undefined: changed from absent, i.e. appeared). */
      changedFrom: string | undefined;
      /** Only replicas newer than this serial count (the serial the etag was read at). */
      afterSerial?: number;
    }
  | {
      /** The value watched (a JSON pointer). */
      path: string;
      /** There is a value at the path. */
      exists: true;
    }
  | {
      /** The value watched (a JSON pointer). */
      path: string;
      /** There is no value at the path. */
      absent: true;
    }
  | {
      /** The value watched (a JSON pointer). */
      path: string;
      /** The value at the path equals this one (as JSON). */
      equals: unknown;
    }
  | {
      /** The daemons serve this serial or a newer one. */
      minSerial: number;
      /** The value the result answers with (default `/serial_no`). */
      path?: string;
    };

/** Options of one `waitFor`. */
export interface WaitOptions<T = unknown> {
  /** Overall deadline (default 60 s). */
  timeoutMs?: number;
  /** How many of the peers to ask, chosen at random: default `min(peers, 6)`, -1 for all. */
  coverage?: number;
  /** How long each daemon may hold one request (the daemon caps it too; default 25 s). */
  holdMs?: number;
  /** Cancels the wait: its promise rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Check (and type) the value that met the condition, e.g. a zod schema's `parse`. */
  parse?: (v: unknown) => T;
}

/** A wait's result: a quorum result, and whether the condition was met. */
export type WaitResult<A = unknown> = QueryResult<A> & {
  /** True when a quorum reported the condition. */
  met: boolean;
};

/** An etag no value has (etags are base64url): the daemon answers such a wait at once. */
const NO_ETAG = '!';

const DEFAULT_TIMEOUT_MS = 60_000;
const DEFAULT_HOLD_MS = 25_000;
/**
 * How long a `changedFrom` wait without `afterSerial` waits for every daemon's first reply
 * before it trusts the baseline it has: until then, a lagging daemon's older value could not be
 * told from a change.
 */
const BASELINE_GRACE_MS = 3000;
/** A daemon answering busy, not ready or internal is asked again after this long. */
const TRANSIENT_RETRY_MS = 250;
/**
 * A daemon not heard from for longer than its hold and this margin is gone (stopped, or cut
 * off): its last reply no longer makes the quorum reachable.
 */
const UNREACHABLE_MARGIN_MS = 2000;

function conditionPath(c: WaitCondition): string {
  return c.path ?? '/serial_no';
}

function initialEtag(c: WaitCondition): string | undefined {
  if ('exists' in c) return ABSENT_ETAG;
  if ('minSerial' in c) return undefined;
  return NO_ETAG; // changed, absent, equals: learn each daemon's current value first
}

/**
 * Whether one daemon's reply meets the condition. For `changedFrom`, `baseline` is the newest
 * serial at which any daemon still held the old value: a lagging replica holding some older
 * value has not "changed", only one newer than that baseline has.
 */
export function conditionMet(c: WaitCondition, r: Reply, equalsTag?: string, baseline = -1): boolean {
  if ('minSerial' in c) return r.serial >= c.minSerial && !refused(r);
  // A value too large for a reply still exists, and its etag still tells a change.
  const found = r.status === 0 || (r.error?.code === 'too_large' && r.etag !== undefined && r.etag !== ABSENT_ETAG);
  const missing = r.status !== 0 && r.error?.code === 'not_found';
  if ('changedFrom' in c) return (found || missing) && (r.etag ?? ABSENT_ETAG) !== (c.changedFrom ?? ABSENT_ETAG) && r.serial > baseline;
  if ('exists' in c) return found;
  if ('absent' in c) return missing;
  return found && r.etag === equalsTag;
}

/**
 * A refusal no repetition changes — the key may not read the path or use `wait` (forbidden), or
 * must seal its requests (seal_required): it meets no condition, the daemon is not asked again,
 * and a quorum of refusals ends the wait with that error.
 */
function refused(r: Reply): boolean {
  return r.status !== 0 && (r.error?.code === 'forbidden' || r.error?.code === 'seal_required');
}

/** Replies that end a daemon's hold without telling anything about the condition. */
function transient(r: Reply): boolean {
  return r.status !== 0 && (r.error?.code === 'busy' || r.error?.code === 'not_ready' || r.error?.code === 'internal');
}

export async function waitFor<A = unknown>(client: ConfdClient, cond: WaitCondition, opts: WaitOptions<A> = {}): Promise<WaitResult<A>> {
  opts.signal?.throwIfAborted();
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const deadline = Date.now() + timeoutMs;
  const holdMs = Math.min(opts.holdMs ?? DEFAULT_HOLD_MS, timeoutMs);
  const path = conditionPath(cond);
  const equalsTag = 'equals' in cond ? etagOf(cond.equals) : undefined;
  let baseline = 'changedFrom' in cond ? (cond.afterSerial ?? -1) : -1;
  // Without `afterSerial` the baseline is learnt from the first replies: a daemon that changed
  // and a lagging one could otherwise answer first and pass for a quorum. So nothing is met
  // before every daemon first asked has answered once (or the grace has passed: some are down).
  let baselineKnown = !('changedFrom' in cond) || cond.afterSerial !== undefined;
  // Monotonic reads: a reply older than a serial this client has already returned (by any call,
  // also one that ended while this wait ran) does not meet the condition.
  const isMet = (v: Vote) => conditionMet(cond, v.reply, equalsTag, baseline) && v.reply.serial >= client.serialFloor;
  /** Each daemon's next wait is armed with the etag it last reported. */
  const etags = new Map<string, string | undefined>();
  /** Daemons that met the condition at a serial older than the floor: asked again once they reach it. */
  const behind = new Set<string>();

  const request = (peer: Peer): Request => {
    const remaining = deadline - Date.now();
    // The daemon ends its hold a little before our deadline, so its "not yet" arrives in time
    // to tell a reachable quorum (exit 1) from an unreachable one (exit 3).
    const margin = Math.min(500, remaining / 4);
    // `rid` marks retransmissions of this one hold, which the daemon then holds only once.
    const req: Request = { op: 'wait', path, timeoutMs: Math.max(1, Math.floor(Math.min(holdMs, remaining - margin))), rid: randomBytes(8).toString('hex') };
    const floor = behind.has(peer.label) ? client.serialFloor : 0;
    const etag = floor > 0 ? undefined : etags.has(peer.label) ? etags.get(peer.label) : initialEtag(cond);
    if (etag !== undefined) req.etag = etag;
    if ('minSerial' in cond || floor > 0) req.minSerial = Math.max('minSerial' in cond ? cond.minSerial : 0, floor);
    return req;
  };
  const rearm = (peer: Peer, r: Reply): number | undefined => {
    if (transient(r)) return TRANSIENT_RETRY_MS;
    if (refused(r)) return undefined;
    if ('changedFrom' in cond && (r.etag ?? ABSENT_ETAG) === (cond.changedFrom ?? ABSENT_ETAG)) baseline = Math.max(baseline, r.serial);
    if (conditionMet(cond, r, equalsTag, baseline) && r.serial < client.serialFloor) {
      behind.add(peer.label);
      return 0;
    }
    behind.delete(peer.label);
    if ('minSerial' in cond && conditionMet(cond, r)) return undefined;
    // Re-arm from what this daemon holds now: the next change wakes it.
    if (!('minSerial' in cond)) etags.set(peer.label, r.etag ?? ABSENT_ETAG);
    return 0;
  };

  // Held requests are retransmitted sparingly: each copy is held by the daemon too.
  const f = client.fanOut({
    describe: { op: 'wait', path, ...('minSerial' in cond ? { minSerial: cond.minSerial } : {}) },
    coverage: opts.coverage,
    expireMs: timeoutMs,
    retransmitMs: 300,
    maxRetransmitMs: Math.max(1000, Math.min(holdMs, 5000)),
    request,
    rearm,
    ignore: transient,
  });
  const firstAsked = [...f.targets];
  const startedAt = Date.now();
  const grace = setTimeout(() => f.notify(), BASELINE_GRACE_MS);
  try {
    await client.settle<void>(f, opts.signal, (resolve) => () => {
      if (f.done) return resolve();
      baselineKnown ||= firstAsked.every((p) => f.hasAnswered(p)) || Date.now() - startedAt >= BASELINE_GRACE_MS;
      // Another call may have raised the floor past replies that met the condition: their
      // daemons are asked again, to answer once they reach it.
      for (const v of f.votes.values()) {
        if (behind.has(v.peer.label) || v.reply.serial >= client.serialFloor || !conditionMet(cond, v.reply, equalsTag, baseline)) continue;
        behind.add(v.peer.label);
        f.askAgain(v.peer);
      }
      if (baselineKnown && [...f.votes.values()].filter(isMet).length >= f.needed) resolve();
      if ([...f.votes.values()].filter((v) => refused(v.reply)).length >= f.needed) resolve();
    });
  } finally {
    clearTimeout(grace);
    f.finish();
  }
  const result = waitResult<A>(f, holdMs, isMet, opts.parse, client.trustOf(f));
  if (result.met) client.returned(result.serial);
  return result;
}

/**
 * The result of a wait that ended: met by a quorum, or not — then `no_quorum` when fewer than
 * needed daemons were still reachable at the end (a daemon silent for longer than its hold is
 * gone, whatever it said before), else the error `timeout`.
 */
function waitResult<A>(f: FanOut, holdMs: number, isMet: (v: Vote) => boolean, parse: ((v: unknown) => A) | undefined, trust: { verified: boolean; forged: ReadonlyMap<string, string> }): WaitResult<A> {
  const votes = [...f.votes.values()];
  const metVotes = votes.filter(isMet);
  const met = metVotes.length >= f.needed;
  const reachable = votes.filter((v) => f.heardWithin(v.peer, holdMs + UNREACHABLE_MARGIN_MS)).length;
  const sent = f.targets.length;
  const result = buildResult<A>(votes, met ? metVotes : votes, {
    ...trust,
    needed: f.needed,
    sent,
    quorum: () => met,
    noQuorum: () =>
      reachable < f.needed
        ? `${reachable} of ${sent} daemons ${reachable === votes.length ? 'replied' : 'still reachable'}; ${f.needed} needed${forgedPeers(f)}`
        : `the condition was not met by ${f.needed} daemons before the timeout`,
    parse,
  });
  const refusal = votes.find((v) => refused(v.reply))?.reply.error;
  if (!met && refusal !== undefined && votes.filter((v) => refused(v.reply)).length >= f.needed) return { ...result, kind: 'error', error: refusal, met };
  if (!met && reachable >= f.needed) {
    return { ...result, kind: 'error', error: { code: 'timeout', message: result.error?.message ?? '' }, met };
  }
  return { ...result, met };
}

/** A new value of the watched path, agreed by a quorum. */
export interface ChangeEvent<A = unknown> {
  /** Tells the events apart. */
  type: 'change';
  /** The serial the new value was read at. */
  serial: number;
  /** Whether there is a value at the path now. */
  exists: boolean;
  /** The new value (when it exists). */
  value?: A;
  /** The new value's etag ("" when there is none). */
  etag: string;
}

/**
 * The quorum was lost (`quorum: false`: fewer than needed daemons answer; the watch keeps
 * trying) or found again (`quorum: true`), and how long it has been since it was last had.
 */
export interface StatusEvent {
  /** Tells the events apart. */
  type: 'status';
  /** Whether a quorum answers now. */
  quorum: boolean;
  /** Milliseconds since a quorum last answered (0 when it just came back). */
  sinceQuorumMs: number;
  /** Daemons that answered the last check. */
  replies: number;
  /** Replies a quorum needs. */
  needed: number;
}

/** What `watch` yields: a new value, or news of the quorum. */
export type WatchEvent<A = unknown> = ChangeEvent<A> | StatusEvent;

/** Options of one `watch`: those of `waitFor` (each wait's), without an overall deadline. */
export interface WatchOptions<T = unknown> extends Omit<WaitOptions<T>, 'timeoutMs'> {
  /**
   * How often the watch checks that a quorum still answers when nothing changes (default
   * 10 s): a lost quorum is reported within about this long.
   */
  checkEveryMs?: number;
}

/**
 * Each new value of `path` (the current one first), as agreed by a quorum, for as long as the
 * caller keeps iterating; and a status event when the quorum is lost or found again. Serials
 * only grow; a value is yielded once. The signal ends it (the iterator throws its reason), and
 * so does closing the client (a QconfError `closed`).
 */
export async function* watch<A = unknown>(client: ConfdClient, path: string, opts: WatchOptions<A> = {}): AsyncGenerator<WatchEvent<A>, void, undefined> {
  const every = opts.checkEveryMs ?? 10_000;
  let etag: string = NO_ETAG;
  let lastSerial = -1;
  let lastQuorumAt = Date.now();
  let lost = false;
  for (;;) {
    const r = await waitFor<A>(client, { path, changedFrom: etag, afterSerial: lastSerial }, { ...opts, timeoutMs: every, holdMs: Math.min(opts.holdMs ?? every, every) });
    if (r.kind === 'no_quorum') {
      const ev: StatusEvent = { type: 'status', quorum: false, sinceQuorumMs: Date.now() - lastQuorumAt, replies: r.replies, needed: r.needed };
      lost = true;
      yield ev;
      continue;
    }
    // The key may not read the path: no later answer will differ.
    if (!r.met && r.kind === 'error' && r.error.code === 'forbidden') throw new QconfError('forbidden', r.error.message);
    lastQuorumAt = Date.now();
    if (lost) {
      lost = false;
      yield { type: 'status', quorum: true, sinceQuorumMs: 0, replies: r.replies, needed: r.needed };
    }
    // Refused (the key must seal): no later wait would be answered either.
    if (!r.met && r.kind === 'error' && r.error.code === 'seal_required') throw new QconfError('seal_required', `${r.error.code}: ${r.error.message}`);
    if (!r.met) continue;
    const nextEtag = r.etag ?? ABSENT_ETAG;
    if (nextEtag === etag || r.serial < lastSerial) continue;
    etag = nextEtag;
    lastSerial = r.serial;
    const ev: ChangeEvent<A> = { type: 'change', serial: r.serial, exists: r.status === 0, etag };
    if (r.kind === 'ok') ev.value = r.answer;
    yield ev;
  }
}
