// The quorum engine: one logical request fanned out to several daemons, the one place that
// chooses the daemons (an unbiased random subset, spares kept aside), retransmits to the silent
// ones, asks a spare when one stays silent (hedging), and counts replies by daemon — never by
// address. Queries send each daemon one request; waits re-arm each daemon after its reply (the
// daemon holds the next request until the value changes). What a caller makes of the replies
// (a quorum answer, a met condition) is decided by its watchers, over `votes`.
import type { Peer } from '../shared/peers.js';
import type { Reply, Request } from './types.js';

/** One daemon's latest reply, with the peer address it came from and its answer's key. */
export interface Vote {
  peer: Peer;
  reply: Reply;
  /** What makes two replies the same answer (results.ts). */
  key: string;
}

/** Which daemon a reply comes from: its node and start (QCF1), else the address it came from. */
export function daemonIdentity(reply: Reply, peer: Peer): string {
  return reply.instance !== undefined ? `${reply.node ?? ''}\u0000${reply.instance}` : `\u0001${peer.label}`;
}

/** What the engine needs from the client: sending one copy of a request, and forgetting salts. */
export interface FanOutHost {
  /** Send `request` to `peer` under a fresh salt routed back to (f, peer, generation). */
  transmit(f: FanOut, peer: Peer, request: Request, generation: number, again: boolean): void;
  /** The request is over: its salts route nowhere any more. */
  release(f: FanOut): void;
}

export interface FanOutOptions {
  id: string;
  /** The daemons asked first, and the spares asked when some stay silent. */
  targets: Peer[];
  spare: Peer[];
  needed: number;
  expireMs: number;
  /** First retransmission delay (0: none); doubles up to maxRetransmitMs. */
  retransmitMs: number;
  maxRetransmitMs: number;
  /** What to send a daemon now (a wait's request depends on that daemon's last reply). */
  request: (peer: Peer) => Request;
  /**
   * After a reply, whether to send the daemon its next request, and when (ms; 0 at once);
   * undefined: the daemon is done (a query, or a wait that needs nothing more from it).
   */
  rearm?: (peer: Peer, reply: Reply) => number | undefined;
  /** Each reply as it comes (the first per peer for a query), before `votes` is re-evaluated. */
  onReply?: (peer: Peer, reply: Reply) => void;
  /** Replies that tell nothing (a daemon busy, not ready): re-armed, never counted as votes. */
  ignore?: (reply: Reply) => boolean;
  /** The answer key of a reply (for agreement). */
  key: (reply: Reply) => string;
}

interface Slot {
  peer: Peer;
  /** What the daemon is sent now (retransmissions send it again). */
  request: Request | undefined;
  /** Bumped when the daemon is sent its next request: replies to older ones are stale. */
  generation: number;
  /** Sent and not yet answered. */
  outstanding: boolean;
  /** Answered at least once. */
  answered: boolean;
  /** When this daemon last answered (ms). */
  heardAt: number;
  rearmTimer: NodeJS.Timeout | undefined;
}

/**
 * A query asks at most this many spares per daemon first asked. Spares can be down too: with 30
 * of 100 daemons down, a query at coverage 6 was seen to find 10 of 12 daemons down when one
 * spare per daemon first asked was all it could ask.
 */
const MAX_SPARES_PER_TARGET = 3;
/** A wait asks a daemon whose reply was discarded again after this long. */
const DISCARDED_RETRY_MS = 250;

export class FanOut {
  readonly id: string;
  readonly needed: number;
  readonly targets: Peer[];
  readonly spare: Peer[];
  expiry: number;
  done = false;
  /** The latest reply of each daemon that replied (by daemonIdentity). */
  readonly votes = new Map<string, Vote>();
  /** Re-evaluated after every reply, and once the request is over. */
  readonly watchers = new Set<() => void>();
  private readonly slots = new Map<string, Slot>();
  /** Which daemon each peer address turned out to be. */
  private readonly identityOf = new Map<string, string>();
  private retransmitTimer: NodeJS.Timeout | undefined;
  private expiryTimer: NodeJS.Timeout | undefined;
  private hedged = 0;
  /** How many daemons were asked first (the coverage): a query's spares are bounded by it. */
  private readonly firstAsked: number;

  constructor(
    private readonly host: FanOutHost,
    private readonly o: FanOutOptions,
  ) {
    this.id = o.id;
    this.needed = o.needed;
    this.targets = [...o.targets];
    this.spare = [...o.spare];
    this.firstAsked = o.targets.length;
    this.expiry = Date.now() + o.expireMs;
  }

  /** Send to every target, and arm the timers. */
  start(onExpire: () => void): void {
    for (const peer of this.targets) this.send(peer, false);
    this.armExpiry(onExpire);
    if (this.o.retransmitMs > 0) this.armRetransmit(this.o.retransmitMs);
  }

  armExpiry(onExpire: () => void): void {
    clearTimeout(this.expiryTimer);
    this.expiryTimer = setTimeout(onExpire, Math.max(0, this.expiry - Date.now()) + 1);
  }

  /** Peers that answered (each once, whichever daemon they turned out to be). */
  get answered(): number {
    let n = 0;
    for (const s of this.slots.values()) if (s.answered) n++;
    return n;
  }

  /** Whether every daemon asked has answered and no spare is left (waiting longer is futile). */
  get exhausted(): boolean {
    return this.answered === this.targets.length && this.spare.length === 0;
  }

  /** Whether `peer` has answered. */
  hasAnswered(peer: Peer): boolean {
    return this.slots.get(peer.label)?.answered === true;
  }

  /** Whether `peer` answered within the last `ms` (a daemon holding a wait answers when it ends). */
  heardWithin(peer: Peer, ms: number): boolean {
    const s = this.slots.get(peer.label);
    return s !== undefined && s.heardAt > 0 && Date.now() - s.heardAt <= ms;
  }

  private send(peer: Peer, again: boolean): void {
    let s = this.slots.get(peer.label);
    if (s === undefined) this.slots.set(peer.label, (s = { peer, request: undefined, generation: 0, outstanding: false, answered: false, heardAt: 0, rearmTimer: undefined }));
    if (!again || s.request === undefined) {
      s.generation++;
      s.request = this.o.request(peer);
    }
    s.outstanding = true;
    this.host.transmit(this, peer, s.request, s.generation, again);
  }

  private armRetransmit(delay: number): void {
    this.retransmitTimer = setTimeout(() => {
      if (this.done) return;
      let silent = 0;
      for (const peer of this.targets) {
        const s = this.slots.get(peer.label);
        if (s === undefined || !s.outstanding) continue;
        if (!s.answered) silent++;
        this.send(peer, true);
      }
      // Hedge: a daemon that never answered may be down; ask a spare for it. A query asks one
      // for each silent daemon at once (several of its daemons may be down: one spare a round
      // would take rounds that double in length), up to MAX_SPARES_PER_TARGET times as many
      // spares as daemons first asked, so that overloaded daemons are not asked ever more. A
      // wait asks one a round: its daemons hold it without a word until it is met, so silence
      // says little.
      const want = this.o.rearm ? Math.min(1, silent - this.hedged) : Math.min(silent - this.hedged, MAX_SPARES_PER_TARGET * this.firstAsked - this.hedged);
      for (let i = 0; i < want && this.spare.length > 0; i++) {
        const extra = this.spare.shift() as Peer;
        this.targets.push(extra);
        this.hedged++;
        this.send(extra, false);
      }
      this.armRetransmit(Math.min(delay * 2, this.o.maxRetransmitMs));
    }, jittered(delay));
  }

  /** A reply to (peer, generation) arrived. */
  /** Whether a reply from `peer` to request `generation` would be taken now (it is the one awaited). */
  awaits(peer: Peer, generation: number): boolean {
    const s = this.slots.get(peer.label);
    return !this.done && s !== undefined && generation === s.generation && s.outstanding;
  }

  reply(peer: Peer, generation: number, reply: Reply): void {
    const s = this.slots.get(peer.label);
    if (!this.awaits(peer, generation) || s === undefined) return;
    s.outstanding = false;
    s.heardAt = Date.now();
    if (this.o.ignore?.(reply)) return this.rearm(s, reply);
    s.answered = true;
    const id = daemonIdentity(reply, peer);
    // A daemon restarted at this address is a new instance: it replaces the old one's vote.
    const before = this.identityOf.get(peer.label);
    if (before !== undefined && before !== id && this.votes.get(before)?.peer.label === peer.label) this.votes.delete(before);
    this.identityOf.set(peer.label, id);
    const owner = this.votes.get(id);
    // The same daemon reached at a second address: answered, but neither counted nor re-armed
    // (the caller hears of it: every daemon asked may now have answered).
    if (owner !== undefined && owner.peer.label !== peer.label) return this.notify();
    this.votes.set(id, { peer, reply, key: this.o.key(reply) });
    this.o.onReply?.(peer, reply);
    this.rearm(s, reply);
    this.notify();
  }

  /** Send the daemon its next request (a wait), now or after the delay `rearm` asks for. */
  private rearm(s: Slot, reply: Reply): void {
    const delay = this.o.rearm?.(s.peer, reply);
    if (delay === undefined) return;
    if (delay <= 0) this.send(s.peer, false);
    else s.rearmTimer = setTimeout(() => !this.done && this.send(s.peer, false), delay);
  }

  /** Send `peer` its next request now, unless one is outstanding (a wait asking a daemon again). */
  askAgain(peer: Peer): void {
    const s = this.slots.get(peer.label);
    if (this.done || s === undefined || s.outstanding) return;
    clearTimeout(s.rearmTimer);
    this.send(peer, false);
  }

  /**
   * A reply that is no vote: one that cannot be proven (an error such as busy) or, with `forged`,
   * one that failed verification against the publisher's signature. The daemon is not asked
   * again for this request (a wait asks again after a while).
   */
  discard(peer: Peer, generation: number, forged?: string): void {
    const s = this.slots.get(peer.label);
    if (this.done || s === undefined || generation !== s.generation || !s.outstanding) return;
    s.outstanding = false;
    s.answered = true;
    s.heardAt = Date.now();
    if (forged !== undefined) this.forged.set(peer.label, forged);
    if (this.o.rearm) s.rearmTimer = setTimeout(() => !this.done && this.send(peer, false), DISCARDED_RETRY_MS);
    this.notify();
  }

  /** Why each discarded-as-forged daemon's answer was (by peer address). */
  readonly forged = new Map<string, string>();

  /** Re-evaluate every watcher (after a reply, or at the end). */
  notify(): void {
    for (const w of [...this.watchers]) w();
  }

  /** End the request: timers cleared, salts released. Watchers are told by the caller. */
  finish(): void {
    if (this.done) return;
    this.done = true;
    clearTimeout(this.expiryTimer);
    clearTimeout(this.retransmitTimer);
    for (const s of this.slots.values()) clearTimeout(s.rearmTimer);
    this.host.release(this);
  }
}

/**
 * A retransmission delay spread by ±20 %: requests sent together (an agent's many held waits)
 * would otherwise be retransmitted together, in bursts that overflow a daemon's socket buffer
 * and lose other clients' requests with them.
 */
function jittered(ms: number): number {
  return ms * (0.8 + 0.4 * Math.random());
}

/** The newest serial among the votes (0: none). */
export function maxSerial(votes: readonly { reply: Reply }[]): number {
  let m = 0;
  for (const v of votes) if (v.reply.serial > m) m = v.reply.serial;
  return m;
}

/** The daemons asked that never answered, for a message that names them. */
export function silentPeers(f: FanOut): string {
  const silent = f.targets.filter((p) => !f.hasAnswered(p)).map((p) => p.label);
  return silent.length === 0 ? '' : ` (no answer from ${silent.join(', ')})`;
}

/** The daemons whose answers failed verification, and why. */
export function forgedPeers(f: FanOut): string {
  if (f.forged.size === 0) return '';
  return `; answers that failed verification: ${[...f.forged].map(([peer, why]) => `${peer} (${why})`).join(', ')}`;
}
