// What a caller gets from the replies of one fanned-out request: the winning answer (the newest
// serial, then the answer most daemons agree on), whether the daemons agreed, and honest counts.
// Queries and waits build their results here, from the same votes.
import { canonicalJson } from '../shared/canonical-json.js';
import { tally, type Vote as TallyVote } from './quorum-rule.js';
import type { Vote } from './fan-out.js';
import type { PeerResult, QueryResult, Reply } from './types.js';

/** What makes two replies "the same answer" for the quorum rules. */
export function replyKey(r: Reply): string {
  if (r.status !== 0) return `${r.status}:${r.error?.code ?? ''}:${canonicalJson(r.answer)}`;
  return r.etag !== undefined ? `0:e:${r.etag}` : `0:${canonicalJson(r.answer)}`;
}

/**
 * The result over `votes` (one per daemon): the winner's status, answer, etag and error; how
 * many replied and agreed; `quorum` (given how many agree with the winner) says whether the
 * caller's rule is met (else the result is `no_quorum`, with the message `noQuorum` gives).
 * `count` are the votes the winner is chosen from (all of them, or those meeting a wait's
 * condition). `parse` checks an answer (a failure makes the result an `invalid_answer` error).
 */
export function buildResult<A>(
  votes: readonly Vote[],
  count: readonly Vote[],
  o: {
    needed: number;
    sent: number;
    quorum: (agreeing: number) => boolean;
    noQuorum: (agreeing: number) => string;
    parse?: (v: unknown) => A;
    /** With trusted keys: the answers discarded as forged, by peer address. */
    forged?: ReadonlyMap<string, string>;
    verified?: boolean;
  },
): QueryResult<A> {
  const t = tally<Vote>(count.map((v) => ({ serial: v.reply.serial, key: v.key, value: v }) as TallyVote<Vote>));
  const all = count === votes ? t : tally<Vote>(votes.map((v) => ({ serial: v.reply.serial, key: v.key, value: v })));
  const quorum = o.quorum(t.agreeing);
  const w = t.winner?.value.reply;
  const base = {
    status: w ? w.status : null,
    serial: w ? w.serial : 0,
    replies: votes.length,
    needed: o.needed,
    sent: o.sent,
    agreeing: t.agreeing,
    consistent: all.consistent,
    timedOut: !quorum,
    peers: votes.map((v): PeerResult => ({ peer: v.peer.label, status: v.reply.status, serial: v.reply.serial, node: v.reply.node })),
    verified: o.verified === true && votes.length > 0,
    forged: o.forged?.size ?? 0,
  };
  for (const [peer, why] of o.forged ?? []) base.peers.push({ peer, status: 1, serial: 0, forged: why });
  const extra: { etag?: string; holdTimedOut?: boolean; container?: 'object' | 'array' } = {};
  if (w?.etag !== undefined) extra.etag = w.etag;
  if (w?.container !== undefined) extra.container = w.container;
  if (w?.timedOut !== undefined) extra.holdTimedOut = w.timedOut;
  if (!quorum) {
    const r: QueryResult<A> = { ...base, ...extra, kind: 'no_quorum', timedOut: true, error: { code: 'no_quorum', message: o.noQuorum(t.agreeing) } };
    if (w?.answer !== undefined) r.answer = w.answer as A;
    return r;
  }
  const reply = w as Reply;
  if (reply.status === 0) {
    let answer = reply.answer as A;
    if (o.parse) {
      try {
        answer = o.parse(reply.answer);
      } catch (e) {
        return { ...base, ...extra, kind: 'error', error: { code: 'invalid_answer', message: `the answer does not parse: ${(e as Error).message}` } };
      }
    }
    return { ...base, ...extra, kind: 'ok', status: 0, answer };
  }
  const error = reply.error ?? { code: 'internal', message: `status ${reply.status} without an error` };
  const failed: { answer?: unknown } = reply.answer === undefined ? {} : { answer: reply.answer };
  if (reply.status === 1 && error.code === 'not_found') return { ...base, ...extra, ...failed, kind: 'not_found', status: 1, error };
  return { ...base, ...extra, ...failed, kind: 'error', error };
}
