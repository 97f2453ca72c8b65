// Held `wait` requests. Bounded in total and per source address; woken by replica swaps (never
// by polling) and by their own deadline; all answered at shutdown.
import type { WaitSpec } from './handlers.js';

export interface HeldWait {
  spec: WaitSpec;
  /** Client address: the per-source limit counts by it. */
  source: string;
  /**
   * Identity of "the same wait" (address, port and the request's `rid`): a client
   * retransmitting a held wait replaces its earlier copy instead of taking another slot.
   */
  sameAs: string | undefined;
  deadline: number;
  timer: NodeJS.Timeout | undefined;
  /**
   * Replies if the condition holds, or unconditionally when `force` (deadline, shutdown);
   * returns whether a reply was sent.
   */
  settle: (force: boolean) => boolean;
}

export interface WaitLimits {
  total: number;
  perSource: number;
}

export class WaitRegistry {
  private readonly held = new Set<HeldWait>();
  private readonly bySource = new Map<string, number>();
  private readonly byIdentity = new Map<string, HeldWait>();

  constructor(private readonly limits: WaitLimits) {}

  get size(): number {
    return this.held.size;
  }

  /** Returns false when a limit is reached (the caller replies `busy`). */
  hold(w: Omit<HeldWait, 'timer'>): boolean {
    const earlier = w.sameAs === undefined ? undefined : this.byIdentity.get(w.sameAs);
    // The copy keeps the original's deadline, so a retransmission never extends a hold.
    if (earlier) this.release(earlier);
    const n = this.bySource.get(w.source) ?? 0;
    if (this.held.size >= this.limits.total || n >= this.limits.perSource) return false;
    const entry: HeldWait = { ...w, deadline: earlier ? Math.min(earlier.deadline, w.deadline) : w.deadline, timer: undefined };
    entry.timer = setTimeout(() => this.finish(entry), Math.max(0, entry.deadline - Date.now()));
    this.held.add(entry);
    if (w.sameAs !== undefined) this.byIdentity.set(w.sameAs, entry);
    this.bySource.set(w.source, n + 1);
    return true;
  }

  private release(w: HeldWait): void {
    if (!this.held.delete(w)) return;
    clearTimeout(w.timer);
    if (w.sameAs !== undefined && this.byIdentity.get(w.sameAs) === w) this.byIdentity.delete(w.sameAs);
    const n = (this.bySource.get(w.source) ?? 1) - 1;
    if (n <= 0) this.bySource.delete(w.source);
    else this.bySource.set(w.source, n);
  }

  private finish(w: HeldWait): void {
    this.release(w);
    w.settle(true);
  }

  /** Re-evaluate every held wait (after a replica swap); those now met are answered. */
  recheck(): void {
    for (const w of [...this.held]) if (w.settle(false)) this.release(w);
  }

  /** Answer every held wait as it stands (shutdown). */
  releaseAll(): void {
    for (const w of [...this.held]) this.finish(w);
  }
}
