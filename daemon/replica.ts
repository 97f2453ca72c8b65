// The replica: the snapshot being served, swapped atomically. A snapshot whose serial goes
// backwards is refused; the last good one keeps serving.
import { EventEmitter } from 'node:events';
import type { Snapshot } from './snapshot.js';

export type OfferResult = { ok: true; previous: Snapshot | null } | { ok: false; reason: 'serial_backwards'; message: string };

export interface ReplicaEvents {
  change: [snapshot: Snapshot, previous: Snapshot | null];
  stale: [stale: boolean];
}

export class Replica extends EventEmitter<ReplicaEvents> {
  private snap: Snapshot | null = null;
  private staleFlag = false;
  /** Unix ms of the last successful contact with the source (etcd); file sources leave it. */
  lastContact = 0;

  get current(): Snapshot | null {
    return this.snap;
  }

  get stale(): boolean {
    return this.staleFlag;
  }

  setStale(stale: boolean): void {
    if (stale === this.staleFlag) return;
    this.staleFlag = stale;
    this.emit('stale', stale);
  }

  offer(next: Snapshot, allowBackwards = false): OfferResult {
    const prev = this.snap;
    if (prev && next.serial < prev.serial && !allowBackwards) {
      return { ok: false, reason: 'serial_backwards', message: `serial ${next.serial} is older than the serving ${prev.serial}` };
    }
    this.snap = next;
    this.emit('change', next, prev);
    return { ok: true, previous: prev };
  }
}
