// On-disk cache of the etcd replica, so a daemon restarted while etcd is down serves its last
// replica (marked stale) instead of nothing. Written atomically (temp file, fsync, rename),
// at most once per interval, the last state always written.
import { mkdirSync, readFileSync } from 'node:fs';
import { writeFileAtomic } from '../shared/atomic-file.js';
import { join } from 'node:path';

export interface CachedReplica {
  version: 1;
  source: 'etcd';
  prefix: string;
  serial: number;
  savedAt: number;
  kvs: Array<[string, string]>;
}

export function cacheFile(dir: string): string {
  return join(dir, 'etcd-replica.json');
}

/** The cached replica for `prefix`, or undefined (missing, unreadable or for another prefix). */
export function readCache(dir: string, prefix: string): CachedReplica | undefined {
  try {
    const c = JSON.parse(readFileSync(cacheFile(dir), 'utf8')) as CachedReplica;
    if (c.version !== 1 || c.prefix !== prefix || !Number.isSafeInteger(c.serial) || !Array.isArray(c.kvs)) return undefined;
    return c;
  } catch {
    return undefined;
  }
}

export function writeCacheNow(dir: string, c: CachedReplica): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  writeFileAtomic(cacheFile(dir), JSON.stringify(c), 0o600);
}

/** Rate-limited writer: `save` at most once per `intervalMs`, the latest state last. */
export class CacheWriter {
  private pending: CachedReplica | undefined;
  private timer: NodeJS.Timeout | undefined;
  private lastWrite = 0;

  constructor(
    private readonly dir: string,
    private readonly onError: (message: string) => void,
    private readonly intervalMs = 1000,
    private readonly onWritten?: (c: CachedReplica) => void,
  ) {}

  save(c: CachedReplica): void {
    this.pending = c;
    if (this.timer) return;
    const wait = Math.max(0, this.lastWrite + this.intervalMs - Date.now());
    this.timer = setTimeout(() => this.flush(), wait);
    this.timer.unref();
  }

  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const c = this.pending;
    this.pending = undefined;
    if (!c) return;
    this.lastWrite = Date.now();
    try {
      writeCacheNow(this.dir, c);
      this.onWritten?.(c);
    } catch (e) {
      this.onError((e as Error).message);
    }
  }
}
