// Held `wait` requests. Waits alike (same path and condition) form one group: when the replica
// changes, each group is evaluated once and its reply encoded once, then sent to every member,
// all in slices of a few milliseconds, so neither many waits nor a large value hold a reload or
// other requests. Bounded in total, per source address and per key; woken by replica swaps (never
// by polling) and by their own deadline; all answered at shutdown.
import { drain, runSliced } from '../slices.js';
import type { WaitSpec } from './ops.js';

/** A reply ready to frame (the body is encoded once per group and snapshot). */
export interface EncodedReply {
  body: Buffer;
  status: number;
  code: string | undefined;
  /** It (or an mget entry of it) is the error `forbidden` (counted per key). */
  forbidden?: boolean;
}

export interface HeldWait {
  spec: WaitSpec;
  /** Client address: the per-source limit counts by it. */
  source: string;
  /** The key that signed the request: the per-key limit counts by it. */
  keyId: number;
  /** Whether the request was sealed (its reply will be): a key made to seal ends its waits held in clear. */
  sealed: boolean;
  /**
   * Identity of "the same wait" (address, port and the request's `rid`): a client
   * retransmitting a held wait replaces its earlier copy instead of taking another slot.
   */
  sameAs: string | undefined;
  deadline: number;
  /** Frame, sign and send a reply to this wait's client. */
  deliver: (reply: EncodedReply) => void;
}

interface Held extends HeldWait {
  group: Group;
  timer: NodeJS.Timeout | undefined;
}

interface Group {
  key: string;
  spec: WaitSpec;
  members: Set<Held>;
  /** The last evaluation: for which snapshot (the answerer's version), and its reply if met. */
  version: unknown;
  met: EncodedReply | null;
}

/** What the registry asks of the protocol: the reply to a wait, computed in steps. */
export interface WaitAnswerer {
  /** The serving snapshot (or anything that changes exactly when it does). */
  version(): unknown;
  /**
   * The reply if `spec` holds now (or, with `timedOut`, whatever holds); null when it does not.
   * Yields between steps of work so that a large value can be dealt with in slices.
   */
  answer(spec: WaitSpec, timedOut: boolean): Generator<void, EncodedReply | null>;
  /** An unexpected error while settling (logged and counted by the caller). */
  onError(err: unknown): void;
}

export interface WaitLimits {
  total: number;
  perSource: number;
  perKey: number;
}

export type HoldResult = 'held' | 'busy';

/** Steps of an evaluation run at arrival before it is left to the sliced settling. */
const STEPS_AT_ARRIVAL = 16;
const SLICE_MS = 4;

function groupKey(spec: WaitSpec): string {
  // Waits of different scopes are evaluated on different views: never one group.
  return `${spec.minSerial ?? ''}\u0000${spec.etag ?? '\u0001'}\u0000${spec.scope?.id ?? ''}\u0000${spec.path}`;
}

export class WaitRegistry {
  private readonly groups = new Map<string, Group>();
  private readonly bySource = new Map<string, number>();
  private readonly byKey = new Map<number, number>();
  private readonly byIdentity = new Map<string, Held>();
  private count = 0;
  /** The sliced settling run, while one is under way; `dirty`: the replica changed again. */
  private running: Promise<void> | undefined;
  private dirty = false;

  constructor(
    private readonly limits: WaitLimits,
    private readonly answerer: WaitAnswerer,
  ) {}

  get size(): number {
    return this.count;
  }

  /**
   * The reply to a wait that holds now, null when it does not, 'pending' when its value takes
   * longer to evaluate than a request may take (then the sliced settling does it, once held).
   */
  immediate(spec: WaitSpec): EncodedReply | null | 'pending' {
    const existing = this.groups.get(groupKey(spec));
    if (existing !== undefined) {
      if (existing.version === this.answerer.version()) return existing.met;
      // Being settled: evaluating it again at each arrival would repeat that work once per
      // retransmission, and a stream of them would keep the daemon from reading its socket.
      if (this.running !== undefined) return 'pending';
    }
    const gen = this.answerer.answer(spec, false);
    for (let i = 0; i < STEPS_AT_ARRIVAL; i++) {
      const r = gen.next();
      if (r.done) return r.value;
    }
    gen.return(null);
    return 'pending';
  }

  /**
   * Answer a wait at once if it holds (the reply is returned, for the caller to send), else hold
   * it; 'busy' when a limit is reached.
   */
  arrive(w: HeldWait): EncodedReply | HoldResult {
    const now = this.immediate(w.spec);
    if (now !== null && now !== 'pending') return now;
    const held = this.hold(w, groupKey(w.spec));
    // A value too large to evaluate at arrival is evaluated in slices.
    if (held === 'held' && now === 'pending') this.changed();
    return held;
  }

  private hold(w: HeldWait, key: string): HoldResult {
    const earlier = w.sameAs === undefined ? undefined : this.byIdentity.get(w.sameAs);
    // The copy keeps the original's deadline, so a retransmission never extends a hold.
    if (earlier) this.release(earlier);
    const l = this.limits;
    if (this.count >= l.total || (this.bySource.get(w.source) ?? 0) >= l.perSource || (this.byKey.get(w.keyId) ?? 0) >= l.perKey) return 'busy';
    let g = this.groups.get(key);
    if (g === undefined) this.groups.set(key, (g = { key, spec: w.spec, members: new Set(), version: undefined, met: null }));
    const entry: Held = { ...w, group: g, deadline: earlier ? Math.min(earlier.deadline, w.deadline) : w.deadline, timer: undefined };
    entry.timer = setTimeout(() => this.expire(entry), Math.max(0, entry.deadline - Date.now()));
    g.members.add(entry);
    this.count++;
    if (w.sameAs !== undefined) this.byIdentity.set(w.sameAs, entry);
    this.bySource.set(w.source, (this.bySource.get(w.source) ?? 0) + 1);
    this.byKey.set(w.keyId, (this.byKey.get(w.keyId) ?? 0) + 1);
    return 'held';
  }

  /** Stop holding `w`; false when it was no longer held (answered already: it gets no second reply). */
  private release(w: Held): boolean {
    if (!w.group.members.delete(w)) return false;
    this.count--;
    clearTimeout(w.timer);
    if (w.group.members.size === 0) this.groups.delete(w.group.key);
    if (w.sameAs !== undefined && this.byIdentity.get(w.sameAs) === w) this.byIdentity.delete(w.sameAs);
    decrement(this.bySource, w.source);
    decrement(this.byKey, w.keyId);
    return true;
  }

  /** The deadline passed: answer with the state as it stands. */
  private expire(w: Held): void {
    if (this.release(w)) this.deliver(w, () => drain(this.answerer.answer(w.spec, true)));
  }

  private deliver(w: Held, reply: () => EncodedReply | null): void {
    try {
      const r = reply();
      if (r !== null) w.deliver(r);
    } catch (e) {
      this.answerer.onError(e);
    }
  }

  /** The replica changed: settle every group now met, in slices. */
  changed(): void {
    this.dirty = true;
    if (this.running !== undefined) return;
    this.running = runSliced(this.settleSteps(), SLICE_MS)
      .catch((e: unknown) => this.answerer.onError(e))
      .finally(() => {
        this.running = undefined;
        // A failure part-way leaves later changes to be settled by a new run.
        if (this.dirty) this.changed();
      });
  }

  /** Whether a settling run is under way (tests). */
  get settling(): boolean {
    return this.running !== undefined;
  }

  private *settleSteps(): Generator<void, void> {
    while (this.dirty) {
      this.dirty = false;
      for (const g of [...this.groups.values()]) {
        if (g.members.size === 0) continue;
        const version = this.answerer.version();
        if (g.version !== version) {
          let met: EncodedReply | null = null;
          try {
            met = yield* this.answerer.answer(g.spec, false);
          } catch (e) {
            this.answerer.onError(e);
          }
          // A newer snapshot arrived while this one was evaluated: start over with it.
          if (this.answerer.version() !== version) break;
          g.version = version;
          g.met = met;
        }
        const met = g.met;
        if (met !== null) {
          // Between two deliveries a wait may have been answered otherwise (its key's access
          // changed, say): only those still held get the met reply.
          for (const w of [...g.members]) {
            if (this.release(w)) this.deliver(w, () => met);
            yield;
          }
        }
        yield;
      }
    }
  }

  /** End the held waits `ends` picks now, each answered by `answer` (null: none). */
  endWhere(ends: (w: HeldWait) => boolean, answer: (w: HeldWait) => EncodedReply | null): void {
    for (const g of [...this.groups.values()]) {
      for (const w of [...g.members]) {
        if (ends(w) && this.release(w)) this.deliver(w, () => answer(w));
      }
    }
  }

  /** Answer every held wait as it stands (shutdown). */
  releaseAll(): void {
    for (const g of [...this.groups.values()]) for (const w of [...g.members]) this.expire(w);
  }
}

function decrement<K>(m: Map<K, number>, k: K): void {
  const n = (m.get(k) ?? 1) - 1;
  if (n <= 0) m.delete(k);
  else m.set(k, n);
}
