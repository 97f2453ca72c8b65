// The etcd replica source: mirrors a key prefix of an etcd cluster into snapshots. Range-read
// the prefix, then watch it; each burst of events becomes one snapshot. While etcd cannot be
// reached the daemon keeps serving its replica, marked stale, and reconnects with backoff.
//
// Serial: the revision of the last change under the prefix that the replica reflects. A fresh
// read knows the newest put (max mod_revision) but not a later delete; so the watch starts at
// that revision + 1, and events up to the read's revision only raise the serial (the read
// already reflects them). Replicas that applied the same events therefore report the same
// serial, whenever they started, and it only grows.
import { Etcd3, type IOptions, type Watcher } from 'etcd3';
import { etcdKeyPrefix, kvsToDocument, serialFromRevision, type SkippedKey } from '../shared/etcd-mapping.js';
import { Snapshot } from './snapshot.js';

export interface EtcdSourceOptions {
  endpoints: string[];
  prefix: string;
  tls?: { ca: Buffer; cert?: Buffer; key?: Buffer };
  auth?: { username: string; password: string };
  /** A burst of events within this window becomes one snapshot. */
  batchMs?: number;
  /** Contact older than this marks the replica stale. */
  staleAfterMs?: number;
  probeMs?: number;
  onSnapshot: (snap: Snapshot, trigger: string) => void;
  /** The keys the new snapshot skipped (empty when none), before `onSnapshot`. */
  onSkipped: (skipped: SkippedKey[], serial: number) => void;
  onState: (state: EtcdState) => void;
  onError: (event: string, message: string) => void;
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
const BACKOFF_MAX_MS = 5000;

export class EtcdSource {
  private readonly o: Required<Omit<EtcdSourceOptions, 'tls' | 'auth'>> & Pick<EtcdSourceOptions, 'tls' | 'auth'>;
  private readonly client: Etcd3;
  private readonly keyPrefix: string;
  private readonly kvs = new Map<string, string>();
  private watcher: Watcher | undefined;
  /** Revision of the last range read: events up to it are already reflected. */
  private readRevision = 0;
  private serial = 0;
  private lastEmitted: { serial: number; doc: string } | undefined;
  private dirty = false;
  private flushTimer: NodeJS.Timeout | undefined;
  private probeTimer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private backoff = BACKOFF_MIN_MS;
  private connected = false;
  private lastContact = 0;
  private stopped = false;
  private syncing: Promise<void> | undefined;
  private generation = 0;

  constructor(opts: EtcdSourceOptions) {
    this.o = { batchMs: 5, staleAfterMs: 3000, probeMs: 1000, ...opts };
    this.keyPrefix = etcdKeyPrefix(opts.prefix);
    const options: IOptions = { hosts: opts.endpoints, dialTimeout: 3000 };
    if (opts.tls) options.credentials = { rootCertificate: opts.tls.ca, privateKey: opts.tls.key, certChain: opts.tls.cert };
    if (opts.auth) options.auth = { username: opts.auth.username, password: opts.auth.password };
    this.client = new Etcd3(options);
  }

  /** Read the prefix again (SIGHUP). */
  refresh(): Promise<void> {
    return this.resync('sighup');
  }

  /** Serve a cached replica (stale until etcd answers); call before start. */
  serveCached(serial: number, kvs: Array<[string, string]>): void {
    for (const [k, v] of kvs) this.kvs.set(k, v);
    this.serial = serial;
    this.emit(this.build(), 'cache');
  }

  entries(): Array<[string, string]> {
    return [...this.kvs];
  }

  get currentSerial(): number {
    return this.serial;
  }

  /** Resolves after the first successful read, or at once when etcd is unreachable. */
  async start(): Promise<void> {
    this.probeTimer = setInterval(() => void this.probe(), this.o.probeMs);
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
    return { connected: this.connected, stale: !this.connected || Date.now() - this.lastContact > this.o.staleAfterMs, lastContact: this.lastContact, revision: this.serial };
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
      void this.resync(why);
    }, delay);
  }

  /** Range-read the prefix, replace the replica, and (re)start the watch. */
  private resync(trigger: string): Promise<void> {
    if (this.syncing) return this.syncing;
    this.syncing = this.doResync(trigger).finally(() => {
      this.syncing = undefined;
    });
    return this.syncing;
  }

  private async doResync(trigger: string): Promise<void> {
    const gen = ++this.generation;
    const old = this.watcher;
    this.watcher = undefined;
    void old?.cancel().catch(() => undefined);
    try {
      const res = await withTimeout(this.client.getAll().prefix(this.keyPrefix).exec(), 10_000);
      if (this.stopped || gen !== this.generation) return;
      const previous = this.lastEmitted;
      this.kvs.clear();
      let maxMod = 0;
      for (const kv of res.kvs) {
        this.kvs.set(kv.key.toString('utf8'), kv.value.toString('utf8'));
        maxMod = Math.max(maxMod, serialFromRevision(kv.mod_revision));
      }
      const header = serialFromRevision(res.header.revision);
      this.readRevision = header;
      this.contact(true);
      this.backoff = BACKOFF_MIN_MS;
      const first = previous === undefined && this.serial === 0;
      // Newest put under the prefix; a re-read after missed deletes knows only that the change
      // happened by the read's revision.
      let serial = Math.max(this.serial, maxMod);
      const doc = this.build();
      if (previous && doc.text !== previous.doc && serial <= previous.serial) serial = header;
      this.serial = serial;
      this.emit(doc, trigger === 'start' ? 'etcd_read' : `etcd_resync:${trigger}`);
      // Catch up from the newest put on a first read (learning later deletes' revisions);
      // otherwise resume after the read.
      await this.watchFrom(first ? maxMod + 1 : header + 1, gen);
    } catch (e) {
      if (this.stopped || gen !== this.generation) return;
      this.contact(false);
      this.o.onError('etcd_unreachable', (e as Error).message);
      this.scheduleResync('retry');
    }
  }

  private async watchFrom(revision: number, gen: number): Promise<void> {
    const w = await this.client.watch().prefix(this.keyPrefix).startRevision(String(Math.max(1, revision))).create();
    if (this.stopped || gen !== this.generation) {
      void w.cancel().catch(() => undefined);
      return;
    }
    this.watcher = w;
    w.on('data', (resp) => {
      this.contact(true);
      for (const ev of resp.events) this.apply(ev.type, ev.kv as unknown as KvLike);
    });
    const lost = (why: string) => (err?: Error) => {
      if (this.watcher !== w || this.stopped) return;
      this.watcher = undefined;
      void w.cancel().catch(() => undefined);
      this.contact(false);
      this.o.onError('etcd_watch_lost', `${why}${err?.message ? `: ${err.message}` : ''}`);
      // Compaction or a lost stream: read again rather than trust a resume point.
      this.scheduleResync(why);
    };
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
      if (type === 'Delete') this.kvs.delete(key);
      else this.kvs.set(key, kv.value.toString('utf8'));
      this.serial = Math.max(this.serial, rev);
      this.dirty = true;
    }
    if (this.dirty && !this.flushTimer) {
      this.flushTimer = setTimeout(() => {
        this.flushTimer = undefined;
        if (!this.dirty) return;
        this.dirty = false;
        this.emit(this.build(), 'etcd_watch');
      }, this.o.batchMs);
    }
  }

  private build(): { doc: Record<string, unknown>; text: string; skipped: SkippedKey[] } {
    const { doc, skipped } = kvsToDocument(this.o.prefix, [...this.kvs].map(([key, value]) => ({ key, value })));
    return { doc, skipped, text: JSON.stringify(doc) };
  }

  private emit(built: { doc: Record<string, unknown>; text: string; skipped: SkippedKey[] }, trigger: string): void {
    if (this.lastEmitted && this.lastEmitted.serial === this.serial && this.lastEmitted.doc === built.text) return;
    this.lastEmitted = { serial: this.serial, doc: built.text };
    this.o.onSkipped(built.skipped, this.serial);
    this.o.onSnapshot(new Snapshot({ doc: built.doc, serial: this.serial, source: 'etcd', origin: `${this.o.prefix}@${this.serial}` }), trigger);
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
