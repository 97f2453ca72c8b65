// Synchronous waits over the `wait` op: each daemon holds a request until the value at a path
// changes (or its serial reaches a minimum), and the client re-arms it until the condition
// holds; the wait is met once a quorum of daemons report it. `watch` chains waits into an
// async iterator of changes.
import { randomBytes } from 'node:crypto';
import { canonicalJson, etagOf } from '../shared/canonical-json.js';
import { QconfError } from '../shared/errors.js';
import type { Peer } from '../shared/peers.js';
import { neededReplies, resolveCoverage, tally, type Vote } from '../shared/quorum.js';
import { daemonIdentity, type ConfdClient } from './confd-client.js';
import type { QueryResult, Reply, Request } from './types.js';

export type WaitCondition =
  /** Changed from the value with this etag; `afterSerial`: only replicas newer than that count. */
  | { path: string; changedFrom: string; afterSerial?: number }
  | { path: string; exists: true }
  | { path: string; absent: true }
  | { path: string; equals: unknown }
  | { minSerial: number; path?: string };

export interface WaitOptions {
  /** Overall deadline (default 60 s). */
  timeoutMs?: number;
  coverage?: number;
  /** How long each daemon may hold one request (the daemon caps it too; default 25 s). */
  holdMs?: number;
  /** Stop early (e.g. a watch whose consumer went away). */
  signal?: AbortSignal;
}

export interface WaitResult<A = unknown> extends QueryResult<A> {
  /** True when a quorum reported the condition. */
  met: boolean;
}

/** An etag no value has (etags are base64url): the daemon answers such a wait at once. */
const NO_ETAG = '!';
/** A missing value's etag, in the daemon's wait replies. */
const ABSENT_ETAG = '';

const DEFAULT_TIMEOUT_MS = 60_000;
const DEFAULT_HOLD_MS = 25_000;
/** After this long without a first reply from a peer, a spare peer is asked too. */
const HEDGE_AFTER_MS = 1000;
/**
 * How long a `changedFrom` wait without `afterSerial` waits for every daemon's first reply
 * before it trusts the baseline it has: until then, a lagging daemon's older value could not be
 * told from a change.
 */
const BASELINE_GRACE_MS = 3000;

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
  if ('minSerial' in c) return r.serial >= c.minSerial;
  // A value too large for a reply still exists, and its etag still tells a change.
  const found = r.status === 0 || (r.error?.code === 'too_large' && r.etag !== undefined && r.etag !== ABSENT_ETAG);
  const missing = r.status !== 0 && r.error?.code === 'not_found';
  if ('changedFrom' in c) return (found || missing) && (r.etag ?? ABSENT_ETAG) !== c.changedFrom && r.serial > baseline;
  if ('exists' in c) return found;
  if ('absent' in c) return missing;
  return found && r.etag === equalsTag;
}

interface PeerState {
  peer: Peer;
  latest: Reply | undefined;
  requestId: string | undefined;
}

/** Replies that end a daemon's hold without telling anything about the condition. */
function transient(r: Reply): boolean {
  return r.status !== 0 && (r.error?.code === 'busy' || r.error?.code === 'not_ready' || r.error?.code === 'internal');
}

export async function waitFor<A = unknown>(client: ConfdClient, cond: WaitCondition, opts: WaitOptions = {}): Promise<WaitResult<A>> {
  const peers = client.peerList;
  const coverage = resolveCoverage(opts.coverage, peers.length);
  if (typeof coverage === 'string') throw new QconfError('usage', coverage);
  const needed = neededReplies(coverage);
  const deadline = Date.now() + (opts.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  const holdMs = opts.holdMs ?? DEFAULT_HOLD_MS;
  const path = conditionPath(cond);
  const equalsTag = 'equals' in cond ? etagOf(cond.equals) : undefined;
  const order = [...peers].sort(() => Math.random() - 0.5);
  const states: PeerState[] = [];
  const spare = order.slice(coverage);
  let finished = false;
  let baseline = 'changedFrom' in cond ? (cond.afterSerial ?? -1) : -1;
  // Without `afterSerial` the baseline is learnt from the first replies: a daemon that changed
  // and a lagging one could otherwise answer first and pass for a quorum. So nothing is met
  // before every daemon first asked has answered once (or the grace has passed: some are down).
  let baselineKnown = !('changedFrom' in cond) || cond.afterSerial !== undefined;
  const startedAt = Date.now();
  const isMet = (st: PeerState) => st.latest !== undefined && conditionMet(cond, st.latest, equalsTag, baseline);
  let wake: () => void = () => undefined;
  const changed = () => wake();

  const follow = async (st: PeerState) => {
    let etag = initialEtag(cond);
    while (!finished && Date.now() < deadline) {
      const remaining = deadline - Date.now();
      // The daemon ends its hold a little before our deadline, so its "not yet" arrives in time
      // to tell a reachable quorum (exit 1) from an unreachable one (exit 3).
      const margin = Math.min(500, remaining / 4);
      // `rid` marks retransmissions of this one hold, which the daemon then holds only once.
      const request: Request = { op: 'wait', path, timeoutMs: Math.max(1, Math.floor(Math.min(holdMs, remaining - margin))), rid: randomBytes(8).toString('hex') };
      if (etag !== undefined) request.etag = etag;
      if ('minSerial' in cond) request.minSerial = cond.minSerial;
      // Held requests are retransmitted sparingly: each copy is held by the daemon too.
      const { id, reply } = client.requestOne(st.peer, request, { timeoutMs: remaining, retransmitMs: 300, maxRetransmitMs: Math.max(1000, Math.min(holdMs, 5000)) });
      st.requestId = id;
      const r = await reply;
      st.requestId = undefined;
      if (!r || finished) return;
      if (transient(r)) {
        await new Promise((res) => setTimeout(res, 250));
        continue;
      }
      st.latest = r;
      if ('changedFrom' in cond && (r.etag ?? ABSENT_ETAG) === cond.changedFrom) baseline = Math.max(baseline, r.serial);
      changed();
      if ('minSerial' in cond && conditionMet(cond, r)) return;
      // Re-arm from what this daemon holds now: the next change wakes it.
      if (!('minSerial' in cond)) etag = r.etag ?? ABSENT_ETAG;
    }
  };

  const start = (peer: Peer) => {
    const st: PeerState = { peer, latest: undefined, requestId: undefined };
    states.push(st);
    void follow(st);
  };
  for (const p of order.slice(0, coverage)) start(p);

  const hedge = setInterval(() => {
    if (!baselineKnown) wake();
    // A peer that never answered may be down: ask a spare one, as queries do.
    const silent = states.filter((s) => s.latest === undefined).length;
    const asked = states.length - coverage;
    if (silent > asked && spare.length > 0) start(spare.shift() as Peer);
  }, HEDGE_AFTER_MS);

  let timer: NodeJS.Timeout | undefined;
  const onAbort = () => wake();
  try {
    await new Promise<void>((resolve) => {
      timer = setTimeout(resolve, Math.max(0, deadline - Date.now()));
      wake = () => {
        if (opts.signal?.aborted) return resolve();
        baselineKnown ||= states.slice(0, coverage).every((s) => s.latest !== undefined) || Date.now() - startedAt >= BASELINE_GRACE_MS;
        if (baselineKnown && distinct(states.filter(isMet)).length >= needed) resolve();
      };
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      wake();
    });
  } finally {
    finished = true;
    clearTimeout(timer);
    clearInterval(hedge);
    opts.signal?.removeEventListener('abort', onAbort);
    for (const st of states) if (st.requestId) client.cancel(st.requestId);
  }
  return waitResult<A>(states, needed, isMet);
}

function replyKey(r: Reply): string {
  return r.status === 0 ? `0:${r.etag ?? canonicalJson(r.answer)}` : `${r.status}:${r.error?.code ?? ''}`;
}

/** One state per daemon: a daemon reached at two addresses counts once. */
function distinct(states: PeerState[]): PeerState[] {
  const seen = new Set<string>();
  return states.filter((s) => {
    const id = daemonIdentity(s.latest as Reply, s.peer);
    if (seen.has(id)) return false;
    seen.add(id);
    return true;
  });
}

function waitResult<A>(states: PeerState[], needed: number, isMet: (s: PeerState) => boolean): WaitResult<A> {
  const answered = distinct(states.filter((s) => s.latest !== undefined));
  const metStates = answered.filter(isMet);
  const met = metStates.length >= needed;
  const pool = met ? metStates : answered;
  const votes: Vote<PeerState>[] = pool.map((s) => ({ serial: (s.latest as Reply).serial, key: replyKey(s.latest as Reply), value: s }));
  const t = tally(votes);
  const all = tally(answered.map((s) => ({ serial: (s.latest as Reply).serial, key: replyKey(s.latest as Reply), value: s })));
  const w = t.winner?.value.latest;
  const result: WaitResult<A> = {
    met,
    status: w ? w.status : null,
    serial: w ? w.serial : 0,
    replies: answered.length,
    needed,
    sent: states.length,
    agreeing: t.agreeing,
    consistent: all.consistent,
    timedOut: !met,
    peers: answered.map((s) => ({ peer: s.peer.label, status: (s.latest as Reply).status, serial: (s.latest as Reply).serial, node: (s.latest as Reply).node })),
  };
  if (w?.answer !== undefined) result.answer = w.answer as A;
  if (w?.etag !== undefined) result.etag = w.etag;
  if (w?.error) result.error = w.error;
  if (!met && answered.length < needed) {
    result.error = { code: 'no_quorum', message: `${answered.length} of ${states.length} daemons replied; ${needed} needed` };
  } else if (!met) {
    result.error = { code: 'timeout', message: `the condition was not met by ${needed} daemons before the timeout` };
  }
  return result;
}

export interface WatchEvent<A = unknown> {
  serial: number;
  exists: boolean;
  value?: A;
  etag: string;
}

/**
 * Each new value of `path` (the current one first), as agreed by a quorum, for as long as the
 * caller keeps iterating. Serials only grow; a value is yielded once.
 */
export async function* watch<A = unknown>(client: ConfdClient, path: string, opts: Omit<WaitOptions, 'timeoutMs'> = {}): AsyncGenerator<WatchEvent<A>, void, undefined> {
  const ac = new AbortController();
  const outer = opts.signal;
  const onOuterAbort = () => ac.abort();
  outer?.addEventListener('abort', onOuterAbort, { once: true });
  let etag: string = NO_ETAG;
  let lastSerial = -1;
  try {
    while (!ac.signal.aborted) {
      const r = await waitFor<A>(client, { path, changedFrom: etag, afterSerial: lastSerial }, { ...opts, timeoutMs: 60_000, signal: ac.signal });
      if (ac.signal.aborted) return;
      if (!r.met) {
        if (r.replies < r.needed) await new Promise((res) => setTimeout(res, 500));
        continue;
      }
      const nextEtag = r.etag ?? ABSENT_ETAG;
      if (nextEtag === etag || r.serial < lastSerial) continue;
      etag = nextEtag;
      lastSerial = r.serial;
      const ev: WatchEvent<A> = { serial: r.serial, exists: r.status === 0, etag };
      if (r.status === 0) ev.value = r.answer;
      yield ev;
    }
  } finally {
    outer?.removeEventListener('abort', onOuterAbort);
    ac.abort();
  }
}
