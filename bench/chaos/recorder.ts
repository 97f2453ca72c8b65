// Collects a phase's history as it happens: the orchestrator's own observations (holds from
// daemon logs, availability from the faults it injects, direct pings, publishes, faults) and
// what the client processes report. Problems outside the checker's rules (a daemon that exited
// by itself or logged an internal error, a client process that failed) are kept apart.
import type { FaultRecord, History, PublishRecord, ReadRecord, WatchRecord } from './history.js';

interface DaemonFlags {
  running: boolean;
  paused: boolean;
  /** Its link loses nothing (delays, duplicates and reordering are no loss). */
  linkClean: boolean;
}

export class Recorder {
  readonly history: History;
  readonly problems: string[] = [];
  private readonly flags = new Map<string, DaemonFlags>();
  private readonly available = new Map<string, boolean>();
  private readonly watches = new Map<string, WatchRecord>();

  constructor(phase: string, source: 'file' | 'etcd', seed: number, daemons: string[]) {
    this.history = { phase, source, seed, daemons, endedAt: 0, publishes: [], reads: [], watches: [], holds: [], availability: [], served: [], faults: [] };
    for (const d of daemons) this.flags.set(d, { running: false, paused: false, linkClean: true });
  }

  hold(daemon: string, serial: number, at = Date.now()): void {
    this.history.holds.push({ at, daemon, serial });
  }

  /** Update what is known of a daemon; an availability event is recorded when it changes. */
  setFlags(daemon: string, change: Partial<DaemonFlags>, at = Date.now()): void {
    const f = this.flags.get(daemon);
    if (!f) throw new Error(`unknown daemon ${daemon}`);
    Object.assign(f, change);
    const now = f.running && !f.paused && f.linkClean;
    if (this.available.get(daemon) === now) return;
    this.available.set(daemon, now);
    this.history.availability.push({ at, daemon, available: now });
  }

  fault(kind: string, target?: string, detail?: string): FaultRecord {
    const f: FaultRecord = { at: Date.now(), kind, target, detail };
    this.history.faults.push(f);
    return f;
  }

  publish(p: PublishRecord): void {
    this.history.publishes.push(p);
  }

  served(daemon: string, serial: number, instance: string | undefined, at = Date.now()): void {
    this.history.served.push({ at, daemon, serial, instance });
  }

  problem(text: string): void {
    this.problems.push(text);
  }

  /** One line a client process reported (client-worker.ts, `Report`). */
  report(line: Report): void {
    switch (line.t) {
      case 'read':
        this.history.reads.push(line.read);
        return;
      case 'watch-start': {
        const w: WatchRecord = { id: line.id, client: line.client, path: line.path, startedAt: line.at, events: [], statuses: [] };
        this.watches.set(line.id, w);
        this.history.watches.push(w);
        return;
      }
      case 'watch-event':
        this.watches.get(line.id)?.events.push({ at: line.at, serial: line.serial, value: line.value });
        return;
      case 'watch-status':
        this.watches.get(line.id)?.statuses?.push({ at: line.at, quorum: line.quorum, replies: line.replies });
        return;
      case 'watch-stop': {
        const w = this.watches.get(line.id);
        if (w) w.stopAt = line.at;
        return;
      }
      case 'watch-end': {
        const w = this.watches.get(line.id);
        if (w) w.endedAt = line.at;
        return;
      }
      case 'problem':
        this.problem(line.text);
        return;
    }
  }
}

/** What a client process writes, one JSON object a line. */
export type Report =
  | { t: 'read'; read: ReadRecord }
  | { t: 'watch-start'; id: string; client: string; path: string; at: number }
  | { t: 'watch-event'; id: string; at: number; serial: number; value: string }
  | { t: 'watch-status'; id: string; at: number; quorum: boolean; replies: number }
  | { t: 'watch-stop'; id: string; at: number }
  | { t: 'watch-end'; id: string; at: number }
  | { t: 'problem'; text: string };
