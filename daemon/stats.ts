// Counters the daemon keeps, reported by the `stats` op. Plain integer fields on flat objects:
// incrementing one costs a property store on the hot path.
import type { DropReason } from '../shared/qcf1.js';

export type Protocol = 'qcf1' | 'plj0';

export class Stats {
  readonly startedAt = Date.now();
  received = 0;
  readonly requests: Record<Protocol, Record<string, number>> = { qcf1: {}, plj0: {} };
  readonly replies: Record<string, number> = { ok: 0, error: 0, not_implemented: 0 };
  readonly errors: Record<string, number> = {};
  readonly drops: Record<string, number> = {};
  reloads = 0;
  refusals = 0;
  readonly refusalReasons: Record<string, number> = {};
  sendErrors = 0;
  heldWaits = 0;
  waitsBusy = 0;

  drop(reason: DropReason | string): void {
    this.drops[reason] = (this.drops[reason] ?? 0) + 1;
  }

  request(protocol: Protocol, op: string): void {
    const t = this.requests[protocol];
    t[op] = (t[op] ?? 0) + 1;
  }

  reply(status: number, errorCode?: string): void {
    if (status === 0) this.replies.ok++;
    else if (status === 2) this.replies.not_implemented++;
    else this.replies.error++;
    if (errorCode !== undefined) this.errors[errorCode] = (this.errors[errorCode] ?? 0) + 1;
  }

  refusal(reason: string): void {
    this.refusals++;
    this.refusalReasons[reason] = (this.refusalReasons[reason] ?? 0) + 1;
  }

  totalDrops(): number {
    let n = 0;
    for (const v of Object.values(this.drops)) n += v;
    return n;
  }

  toJSON(): Record<string, unknown> {
    return {
      uptimeMs: Date.now() - this.startedAt,
      received: this.received,
      requests: this.requests,
      replies: this.replies,
      errors: this.errors,
      drops: this.drops,
      reloads: this.reloads,
      refusals: this.refusals,
      refusalReasons: this.refusalReasons,
      sendErrors: this.sendErrors,
      heldWaits: this.heldWaits,
      waitsBusy: this.waitsBusy,
    };
  }
}
