// What a caller gets from the replies of one fanned-out request: the winning answer (the newest
// serial, then the answer most daemons agree on), whether the daemons agreed, and honest counts.
// Queries and waits build their results here, from the same votes.
import { canonicalJson } from '../shared/canonical-json.js';
import { tally, type Vote as TallyVote } from './quorum-rule.js';
import type { Vote } from './fan-out.js';
import type { QueryResult, Reply } from './types.js';

/** What makes two replies "the same answer" for the quorum rules. */
export function replyKey(r: Reply): string {
  if (r.status !== 0) return `${r.status}:${r.error?.code ?? ''}:${canonicalJson(r.answer)}`;
  return r.etag !== undefined ? `0:e:${r.etag}` : `0:${canonicalJson(r.answer)}`;
}

/**
 * The result over `votes` (one per daemon): the winner's status, answer, etag and error; how
 * many replied and agreed; `quorum` (given how many agree with the winner) says whether the
 * caller's rule is met (else `timedOut` and, unless the winner carries an error of its own, the
 * error `noQuorum` gives). `count` are the votes the winner is chosen from (all of them, or
 * those meeting a wait's condition).
 */
export function buildResult<A>(
  votes: readonly Vote[],
  count: readonly Vote[],
  o: { needed: number; sent: number; quorum: (agreeing: number) => boolean; noQuorum: (agreeing: number) => { code: string; message: string } },
): QueryResult<A> {
  const t = tally<Vote>(count.map((v) => ({ serial: v.reply.serial, key: v.key, value: v }) as TallyVote<Vote>));
  const all = count === votes ? t : tally<Vote>(votes.map((v) => ({ serial: v.reply.serial, key: v.key, value: v })));
  const quorum = o.quorum(t.agreeing);
  const w = t.winner?.value.reply;
  const result: QueryResult<A> = {
    status: w ? w.status : null,
    serial: w ? w.serial : 0,
    replies: votes.length,
    needed: o.needed,
    sent: o.sent,
    agreeing: t.agreeing,
    consistent: all.consistent,
    timedOut: !quorum,
    peers: votes.map((v) => ({ peer: v.peer.label, status: v.reply.status, serial: v.reply.serial, node: v.reply.node })),
  };
  if (w) {
    if (w.answer !== undefined) result.answer = w.answer as A;
    if (w.etag !== undefined) result.etag = w.etag;
    if (w.error) result.error = w.error;
    if (w.timedOut !== undefined) result.holdTimedOut = w.timedOut;
  }
  if (!quorum && !result.error) result.error = o.noQuorum(t.agreeing);
  return result;
}
