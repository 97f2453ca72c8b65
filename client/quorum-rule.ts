// The quorum rule (Ganeti's confd client's _NeededReplies), coverage, and choosing the winner.

/** Replies that make a quorum of `n` daemons asked: 1→1, 2→2, 3→2, 4→3, 5→3, 6→4, 7→4 (Ganeti's rule). */
export function neededReplies(n: number): number {
  if (n < 3) return n;
  if (n < 5) return n - 1;
  return Math.floor(n / 2) + 1;
}

/** Ganeti's default coverage: how many peers a query goes to when the caller does not say. */
export const DEFAULT_COVERAGE = 6;

/**
 * Resolve a requested coverage against the peer count: 0/undefined → min(peers, 6), -1 → all.
 * Returns an error message instead of a number when the request cannot be met.
 */
export function resolveCoverage(requested: number | undefined, peerCount: number): number | string {
  if (peerCount === 0) return 'peer list is empty';
  if (requested === undefined || requested === 0) return Math.min(peerCount, DEFAULT_COVERAGE);
  if (requested === -1) return peerCount;
  if (!Number.isInteger(requested) || requested < -1) return `invalid coverage ${requested}`;
  if (requested > peerCount) return `coverage ${requested} exceeds the ${peerCount} known peers`;
  return requested;
}

export interface Vote<A> {
  serial: number;
  /** A canonical spelling of the answer, for equality. */
  key: string;
  value: A;
}

export interface Tally<A> {
  winner: Vote<A> | undefined;
  consistent: boolean;
  agreeing: number;
}

/**
 * Pick the winning reply: the highest serial; among replies of that serial, the answer most of
 * them agree on (the earliest received breaks a tie). `consistent` is false when two replies of
 * one serial differ; `agreeing` counts replies equal to the winner in serial and answer.
 */
export function tally<A>(votes: readonly Vote<A>[]): Tally<A> {
  let consistent = true;
  const firstKeyBySerial = new Map<number, string>();
  const counts = new Map<string, number>();
  let top = -Infinity;
  for (const v of votes) {
    const seen = firstKeyBySerial.get(v.serial);
    if (seen === undefined) firstKeyBySerial.set(v.serial, v.key);
    else if (seen !== v.key) consistent = false;
    const group = v.serial + '\u0000' + v.key;
    counts.set(group, (counts.get(group) ?? 0) + 1);
    if (v.serial > top) top = v.serial;
  }
  let winner: Vote<A> | undefined;
  let agreeing = 0;
  for (const v of votes) {
    if (v.serial !== top) continue;
    const n = counts.get(v.serial + '\u0000' + v.key) ?? 0;
    if (n > agreeing) {
      winner = v;
      agreeing = n;
    }
  }
  return { winner, consistent, agreeing };
}
