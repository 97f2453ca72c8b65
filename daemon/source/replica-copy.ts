// On-disk cache of the etcd replica, so a daemon restarted while etcd is down serves its last
// replica (marked stale) instead of nothing. Written atomically (temp file, fsync, rename),
// at most once per interval, the last state always written. Read like a document: a regular
// file only, of bounded size, without blocking.
import { mkdirSync } from 'node:fs';
import { writeFileAtomic } from '../../shared/atomic-file.js';
import { join } from 'node:path';
import { readRegularFile } from './regular-file.js';

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

/**
 * The largest cache file read for a replica of at most `maxReplicaBytes` (keys and values): its
 * JSON escapes the values' quotes, and adds a few bytes per key.
 */
export function cacheFileLimit(maxReplicaBytes: number): number {
  return Math.min(2 * maxReplicaBytes + 64 * 1024 * 1024, MAX_CACHE_FILE_BYTES);
}

/** Its text must fit in one string (V8's longest is just under 512 MiB). */
const MAX_CACHE_FILE_BYTES = 500 * 1024 * 1024;

/**
 * The cached replica for `prefix`, or undefined (missing, unreadable, not a regular file, larger
 * than cacheFileLimit(maxReplicaBytes), or for another prefix).
 */
export async function readCache(dir: string, prefix: string, maxReplicaBytes: number): Promise<CachedReplica | undefined> {
  try {
    const bytes = await readRegularFile(cacheFile(dir), cacheFileLimit(maxReplicaBytes));
    const c = JSON.parse(bytes.toString('utf8')) as CachedReplica;
    if (c === null || typeof c !== 'object' || c.version !== 1 || c.prefix !== prefix || !Number.isSafeInteger(c.serial) || !Array.isArray(c.kvs)) return undefined;
    if (!c.kvs.every((kv) => Array.isArray(kv) && kv.length === 2 && typeof kv[0] === 'string' && typeof kv[1] === 'string')) return undefined;
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
