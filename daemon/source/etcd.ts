// The etcd replica source: mirrors a key prefix of an etcd cluster into snapshots. Range-read
// the prefix, then watch it; each burst of events becomes one snapshot. While etcd cannot be
// reached the daemon keeps serving its replica, marked stale, and reconnects with backoff.
//
// Serial: the revision of the last change under the prefix that the replica reflects. A fresh
// read knows the newest put (max mod_revision) but not a later delete; so the watch starts at
// that revision + 1, and events up to the read's revision only raise the serial (the read
// already reflects them). Replicas that applied the same events therefore report the same
// serial, whenever they started, and it only grows.
//
// A replica larger than --max-document-bytes (keys and values) is refused, like a document
// file: the last good snapshot keeps serving. Every timer and watch callback runs guarded: an
// unexpected error is reported (onInternalError), never thrown out of the callback, where it
// would stop the daemon.
import { Etcd3, type IKeyValue, type Watcher } from 'etcd3';
import { etcd3Options, prefixRangeEnd, type EtcdClientSettings } from '../../shared/etcd-connection.js';
import { etcdKeyPrefix, serialFromRevision, type SkippedKey } from '../../shared/etcd-mapping.js';
import { DEFAULT_MAX_DOCUMENT_BYTES } from './document-limits.js';
import { EtcdTree } from './etcd-tree.js';
import { Snapshot } from '../snapshot.js';

export interface EtcdSourceOptions extends EtcdClientSettings {
  endpoints: string[];
  prefix: string;
  /** A burst of events within this window becomes one snapshot. */
  batchMs?: number;
  /** Contact older than this marks the replica stale. */
  staleAfterMs?: number;
  probeMs?: number;
  /** A replica whose keys and values hold more bytes is refused (too_large); default 1 GiB. */
  maxBytes?: number;
  onSnapshot: (snap: Snapshot, trigger: string) => void;
  /** The keys the new snapshot skipped (empty when none), before `onSnapshot`. */
  onSkipped: (skipped: SkippedKey[], serial: number) => void;
  /** A replica not made a snapshot (the last good one keeps serving). */
  onRefusal: (reason: string, message: string, trigger: string) => void;
  onState: (state: EtcdState) => void;
  onError: (event: string, message: string) => void;
  /** An unexpected error in a callback (`where`: which one); the source carries on. */
  onInternalError: (where: string, err: unknown) => void;
}

export interface EtcdState {
  connected: boolean;
  stale: boolean;
  lastContact: number;
  revision: number;
}

interface KvLike {
  key: Buffer;
  value: Buffer;
  mod_revision: string;
}

const BACKOFF_MIN_MS = 250;
const READ_PAGE = 10_000;
const BACKOFF_MAX_MS = 5000;

export class EtcdSource {
  private readonly o: Required<Omit<EtcdSourceOptions, 'tls' | 'auth'>> & Pick<EtcdSourceOptions, 'tls' | 'auth'>;
  private readonly client: Etcd3;
  private readonly keyPrefix: string;
  private readonly tree: EtcdTree;
  /** Bumped by every change to the tree: what a snapshot was built from. */
  private version = 0;
  private watcher: Watcher | undefined;
  /** Revision of the last range read: events up to it are already reflected. */
  private readRevision = 0;
  private serial = 0;
  private lastEmitted: { serial: number; version: number } | undefined;
  private dirty = false;
  private flushTimer: NodeJS.Timeout | undefined;
  private probeTimer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private backoff = BACKOFF_MIN_MS;
  private connected = false;
  /** The replica reflects etcd: the last read succeeded and its watch is running. */
  private synced = false;
  /** A resync failed while it held `syncing`: retry once it has let go. */
  private retryWanted = false;
  private lastContact = 0;
  private stopped = false;
  private syncing: Promise<void> | undefined;
  private generation = 0;

  constructor(opts: EtcdSourceOptions) {
    this.o = { batchMs: 5, staleAfterMs: 3000, probeMs: 1000, maxBytes: DEFAULT_MAX_DOCUMENT_BYTES, ...opts };
    this.keyPrefix = etcdKeyPrefix(opts.prefix);
    this.tree = new EtcdTree(opts.prefix);
    this.client = new Etcd3(etcd3Options(opts.endpoints, opts));
  }

  /** Read the prefix again (SIGHUP). Never rejects. */
  async refresh(): Promise<void> {
    try {
      await this.resync('sighup');
    } catch (e) {
      this.report('refresh', e);
    }
  }

  /** Serve a cached replica (stale until etcd answers); call before start. */
  serveCached(serial: number, kvs: Array<[string, string]>): void {
    this.guarded('cache', () => {
      this.tree.replaceAll(kvs);
      this.version++;
      this.serial = serial;
      this.emit('cache');
    });
  }

  entries(): Array<[string, string]> {
    return this.tree.entries();
  }

  get currentSerial(): number {
    return this.serial;
  }

  /** Resolves after the first successful read, or at once when etcd is unreachable. */
  async start(): Promise<void> {
    this.probeTimer = setInterval(() => this.guarded('probe', () => this.probe()), this.o.probeMs);
    this.probeTimer.unref();
    await this.resync('start');
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.probeTimer);
    clearTimeout(this.flushTimer);
    clearTimeout(this.retryTimer);
    void this.watcher?.cancel().catch(() => undefined);
    this.watcher = undefined;
    this.client.close();
  }

  private state(): EtcdState {
    const stale = !this.synced || !this.connected || Date.now() - this.lastContact > this.o.staleAfterMs;
    return { connected: this.connected, stale, lastContact: this.lastContact, revision: this.serial };
  }

  private contact(ok: boolean): void {
    const was = this.state();
    if (ok) {
      this.lastContact = Date.now();
      this.connected = true;
    } else {
      this.connected = false;
    }
    const now = this.state();
    if (now.stale !== was.stale || now.connected !== was.connected || ok) this.o.onState(now);
  }

  private async probe(): Promise<void> {
    if (this.stopped || this.syncing) return;
    try {
      await withTimeout(this.client.maintenance.status(), this.o.probeMs);
      this.contact(true);
      // Reachable but not in step (a read was refused): keep trying, with backoff.
      if (!this.synced) this.scheduleResync('not in sync');
    } catch {
      this.contact(false);
      this.scheduleResync('probe failed');
    }
  }

  private scheduleResync(why: string): void {
    if (this.stopped || this.retryTimer || this.syncing) return;
    const delay = this.backoff;
    this.backoff = Math.min(this.backoff * 2, BACKOFF_MAX_MS);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.guarded('retry', () => this.resync(why));
    }, delay);
  }

  /** Range-read the prefix, replace the replica, and (re)start the watch. */
  private resync(trigger: string): Promise<void> {
    if (this.syncing) return this.syncing;
    this.syncing = this.doResync(trigger).finally(() => {
      this.syncing = undefined;
      if (this.retryWanted) {
        this.retryWanted = false;
        this.scheduleResync('retry');
      }
    });
    return this.syncing;
  }

  private async doResync(trigger: string): Promise<void> {
    const gen = ++this.generation;
    const old = this.watcher;
    this.watcher = undefined;
    void old?.cancel().catch(() => undefined);
    try {
      const { kvs, header } = await this.readPrefix();
      if (this.stopped || gen !== this.generation) return;
      const previous = this.lastEmitted;
      let maxMod = 0;
      for (const kv of kvs) maxMod = Math.max(maxMod, serialFromRevision(kv.mod_revision));
      this.readRevision = header;
      this.contact(true);
      this.backoff = BACKOFF_MIN_MS;
      const first = previous === undefined && this.serial === 0;
      // The replica made of what was read: a failure here is ours, not etcd's (reported as
      // such); the last good snapshot keeps serving, and the watch starts regardless.
      this.guarded('read', () => {
        const changed = this.tree.replaceAll(kvs.map((kv) => [kv.key.toString('utf8'), kv.value.toString('utf8')]));
        if (changed) this.version++;
        // Newest put under the prefix; a re-read after missed deletes knows only that the
        // change happened by the read's revision.
        let serial = Math.max(this.serial, maxMod);
        if (previous && previous.version !== this.version && serial <= previous.serial) serial = header;
        this.serial = serial;
        this.emit(trigger === 'start' ? 'etcd_read' : `etcd_resync:${trigger}`);
      });
      // Catch up from the newest put on a first read (learning later deletes' revisions);
      // otherwise resume after the read.
      await this.watchFrom(first ? maxMod + 1 : header + 1, gen);
    } catch (e) {
      if (this.stopped || gen !== this.generation) return;
      this.synced = false;
      this.contact(false);
      this.o.onError('etcd_unreachable', (e as Error).message);
      this.retryWanted = true;
    }
  }

  /** The whole prefix at one revision, read in pages (a large prefix exceeds one reply). */
  private async readPrefix(): Promise<{ kvs: IKeyValue[]; header: number }> {
    const end = prefixRangeEnd(this.keyPrefix);
    let start = Buffer.from(this.keyPrefix, 'utf8');
    let header: number | undefined;
    const kvs: IKeyValue[] = [];
    for (;;) {
      let b = this.client.getAll().inRange({ start, end }).limit(READ_PAGE);
      if (header !== undefined) b = b.revision(header);
      const res = await withTimeout(b.exec(), 10_000);
      header ??= serialFromRevision(res.header.revision);
      kvs.push(...res.kvs);
      if (!res.more || res.kvs.length === 0) return { kvs, header };
      start = Buffer.concat([res.kvs[res.kvs.length - 1].key, Buffer.from([0])]);
    }
  }

  private async watchFrom(revision: number, gen: number): Promise<void> {
    const w = await this.client.watch().prefix(this.keyPrefix).startRevision(String(Math.max(1, revision))).create();
    if (this.stopped || gen !== this.generation) {
      void w.cancel().catch(() => undefined);
      return;
    }
    this.watcher = w;
    this.synced = true;
    this.contact(true);
    w.on('data', (resp) =>
      this.guarded(
        'watch',
        () => {
          this.contact(true);
          for (const ev of resp.events) this.apply(ev.type, ev.kv as unknown as KvLike);
        },
        // Events may have been left unapplied: read the prefix again (with backoff).
        () => this.scheduleResync('internal error'),
      ),
    );
    const lost = (why: string) => (err?: Error) =>
      this.guarded('watch_lost', () => {
        if (this.watcher !== w || this.stopped) return;
        this.watcher = undefined;
        void w.cancel().catch(() => undefined);
        this.synced = false;
        this.contact(false);
        this.o.onError('etcd_watch_lost', `${why}${err?.message ? `: ${err.message}` : ''}`);
        // Compaction or a lost stream: read again rather than trust a resume point.
        this.scheduleResync(why);
      });
    w.on('error', lost('watch error'));
    w.on('disconnected', lost('watch disconnected'));
    w.on('end', lost('watch ended'));
  }

  private apply(type: string, kv: KvLike): void {
    const rev = serialFromRevision(kv.mod_revision);
    if (rev <= this.readRevision) {
      // Already reflected by the read: only its revision is news.
      if (rev > this.serial) {
        this.serial = rev;
        this.dirty = true;
      }
    } else {
      const key = kv.key.toString('utf8');
      if (type === 'Delete' ? this.tree.delete(key) : this.tree.put(key, kv.value.toString('utf8'))) this.version++;
      this.serial = Math.max(this.serial, rev);
      this.dirty = true;
    }
    if (this.dirty && !this.flushTimer) {
      this.flushTimer = setTimeout(() => {
        this.flushTimer = undefined;
        if (!this.dirty) return;
        this.dirty = false;
        this.guarded('flush', () => this.emit('etcd_watch'));
      }, this.o.batchMs);
    }
  }

  /** A snapshot of the tree as it is, unless nothing changed since the last one (or it is too large). */
  private emit(trigger: string): void {
    if (this.lastEmitted && this.lastEmitted.serial === this.serial && this.lastEmitted.version === this.version) return;
    const state = { serial: this.serial, version: this.version };
    const size = this.tree.sizeBytes;
    if (size > this.o.maxBytes) {
      this.lastEmitted = state;
      this.o.onRefusal('too_large', `etcd prefix ${this.o.prefix}: ${size} bytes of keys and values, larger than ${this.o.maxBytes} bytes (--max-document-bytes)`, trigger);
      return;
    }
    const snap = new Snapshot({ doc: this.tree.document(), serial: this.serial, source: 'etcd', origin: `${this.o.prefix}@${this.serial}` });
    this.lastEmitted = state;
    this.o.onSkipped(this.tree.skipped(), this.serial);
    this.o.onSnapshot(snap, trigger);
  }

  /**
   * Run a callback's work so that nothing escapes it: an error (thrown, or a rejection of the
   * promise it returns) is reported, then `recover` runs.
   */
  private guarded(where: string, work: () => unknown, recover?: () => void): void {
    const fail = (e: unknown): void => {
      this.report(where, e);
      try {
        if (!this.stopped) recover?.();
      } catch (again) {
        this.report(where, again);
      }
    };
    try {
      const r = work();
      if (r instanceof Promise) r.catch(fail);
    } catch (e) {
      fail(e);
    }
  }

  private report(where: string, e: unknown): void {
    try {
      this.o.onInternalError(where, e);
    } catch {
      // The report itself failed: nothing is left to tell.
    }
  }
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(t);
        reject(e);
      },
    );
  });
}
