// The access file in force: read at start (a bad one stops the start), read again on SIGHUP and
// when the file changes. A file that is refused changes nothing: the last good policy stays,
// and the refusal is logged and counted.
import { unwatchFile, watchFile, type Stats as FileStats } from 'node:fs';
import type { Stats } from '../stats.js';
import { readAccessFile } from './access-file.js';
import { AccessPolicy } from './policy.js';

export interface AccessEvents {
  loaded: (policy: AccessPolicy, trigger: string) => void;
  refused: (message: string, trigger: string) => void;
}

/** How often the file's status is looked at (a rename over it is seen too). */
const POLL_MS = 250;

export class AccessControl {
  private current: AccessPolicy;
  private watching = false;

  /** Reads the file now: throws (QconfError `access_file`) when it is refused. */
  constructor(
    readonly path: string,
    private readonly stats: Stats,
    private readonly events: AccessEvents,
  ) {
    this.current = new AccessPolicy(readAccessFile(path), stats);
    stats.accessReloads++;
    events.loaded(this.current, 'start');
  }

  get policy(): AccessPolicy {
    return this.current;
  }

  /** Read the file again; a refused file keeps the policy in force. */
  reload(trigger: string): void {
    let next: AccessPolicy;
    try {
      next = new AccessPolicy(readAccessFile(this.path), this.stats, this.current);
    } catch (e) {
      this.stats.refusal('access_file');
      this.events.refused((e as Error).message, trigger);
      return;
    }
    this.current = next;
    this.stats.accessReloads++;
    this.events.loaded(next, trigger);
  }

  /** Reload whenever the file changes (its inode, size or times). */
  watch(): void {
    if (this.watching) return;
    this.watching = true;
    watchFile(this.path, { interval: POLL_MS, persistent: false }, (cur: FileStats, prev: FileStats) => {
      if (cur.ino === prev.ino && cur.size === prev.size && cur.mtimeMs === prev.mtimeMs && cur.ctimeMs === prev.ctimeMs) return;
      this.reload('change');
    });
  }

  stop(): void {
    if (!this.watching) return;
    this.watching = false;
    unwatchFile(this.path);
  }
}
