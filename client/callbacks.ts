// Upcall combinators equivalent to Ganeti's ConfdFilterCallback, ConfdCountingCallback and
// StoreResultCallback; chain them as Counting → Filter → Store.
import { canonicalJson } from '../shared/canonical-json.js';
import { QconfError } from '../shared/errors.js';
import type { ReplyUpcall, Upcall, UpcallHandler } from './types.js';

/**
 * Passes a reply on only if it is the first for its request, or has a strictly higher serial
 * and a different answer than the one recorded. An equal serial with a different answer marks
 * the request inconsistent. Expiry forgets the request.
 */
export class FilterCallback {
  private readonly best = new Map<string, { serial: number; answer: string }>();
  private readonly consistency = new Map<string, boolean>();

  constructor(private readonly next: UpcallHandler) {}

  /** The upcall handler: give it as the client's `callback`, or to the combinator before this one. */
  readonly handle: UpcallHandler = (u: Upcall) => {
    if (u.type === 'expire') {
      this.best.delete(u.id);
      this.consistency.delete(u.id);
      return this.next(u);
    }
    const answer = canonicalJson(u.reply.answer ?? null);
    const seen = this.best.get(u.id);
    if (seen === undefined) {
      this.best.set(u.id, { serial: u.reply.serial, answer });
      this.consistency.set(u.id, true);
      return this.next(u);
    }
    if (u.reply.serial > seen.serial) {
      const changed = answer !== seen.answer;
      this.best.set(u.id, { serial: u.reply.serial, answer });
      if (changed) this.next(u);
      return;
    }
    if (u.reply.serial === seen.serial && answer !== seen.answer) this.consistency.set(u.id, false);
  };

  /** False once two replies of one serial disagreed; undefined for an unknown request. */
  consistent(id: string): boolean | undefined {
    return this.consistency.get(id);
  }
}

/** Counts replies per registered request, filtered or not. */
export class CountingCallback {
  private readonly counts = new Map<string, number>();

  constructor(private readonly next: UpcallHandler) {}

  /** Start counting the replies to request `id` (a `sendRequest` id); throws `usage` if it is counted already. */
  registerQuery(id: string): void {
    if (this.counts.has(id)) throw new QconfError('usage', `request ${id} is already registered`);
    this.counts.set(id, 0);
  }

  /** The upcall handler: give it as the client's `callback`. */
  readonly handle: UpcallHandler = (u: Upcall) => {
    if (u.type === 'expire') this.counts.delete(u.id);
    else if (this.counts.has(u.id)) this.counts.set(u.id, (this.counts.get(u.id) ?? 0) + 1);
    this.next(u);
  };

  /** Every registered request, not yet expired, has at least one reply. */
  allAnswered(): boolean {
    for (const n of this.counts.values()) if (n < 1) return false;
    return true;
  }

  /** Replies to request `id` so far; undefined when it is not registered (or has expired). */
  count(id: string): number | undefined {
    return this.counts.get(id);
  }
}

/** Keeps the last reply upcall passed to it per request (entries are bounded, oldest first). */
export class StoreResultCallback {
  private readonly results = new Map<string, ReplyUpcall>();

  constructor(private readonly capacity = 10_000) {}

  /** The upcall handler: give it to the combinator before this one, or as the client's `callback`. */
  readonly handle: UpcallHandler = (u: Upcall) => {
    if (u.type !== 'reply') return;
    this.results.delete(u.id);
    this.results.set(u.id, u);
    if (this.results.size > this.capacity) this.results.delete(this.results.keys().next().value as string);
  };

  /** The last reply stored for request `id`: `[true, upcall]`, or `[false, undefined]` when there is none. */
  getResponse(id: string): [true, ReplyUpcall] | [false, undefined] {
    const r = this.results.get(id);
    return r ? [true, r] : [false, undefined];
  }
}
