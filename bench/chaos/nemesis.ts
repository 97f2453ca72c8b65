// The fault schedule: every second or two (with calm spells between storms), a fault drawn
// (seeded) from the phase's kinds, each with its own duration and its own recovery. At most two daemons are in a process fault at
// once (a quorum can still be had), but link faults come on top, so now and then no quorum
// answers. Stopping cuts every fault's wait short, and every fault then heals what it did.
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { EtcdCluster } from '../../testkit/etcd/cluster.js';
import type { ChaosDaemon } from './chaos-daemon.js';
import type { EtcdPublisher, FilePublisher } from './publishers.js';
import type { Recorder } from './recorder.js';
import { CLEAN, type LinkFaults } from './relay.js';
import { sleep, uniform } from './timing.js';

/** Daemons in a process fault (killed, paused, restarting) at once, at most. */
const MAX_PROCESS_FAULTS = 2;
/** Chance that the next fault waits for a calm spell. */
const CALM_CHANCE = 0.2;
/** The etcd source's replica copy in a daemon's cache dir (daemon/source/replica-copy.ts). */
const CACHE_FILE = 'etcd-replica.json';

export interface FileTarget {
  source: 'file';
  publisher: FilePublisher;
}

export interface EtcdTarget {
  source: 'etcd';
  publisher: EtcdPublisher;
  etcd: EtcdCluster;
  /** Each daemon's cache dir. */
  cacheDirs: Map<string, string>;
}

interface Kind {
  name: string;
  weight: number;
  /** The fault, or undefined when it cannot be made now (no daemon free for it). */
  make: () => (() => Promise<void>) | undefined;
}

export class Nemesis {
  private readonly inflight = new Set<Promise<void>>();
  /** Daemons in a process fault, and daemons whose link is faulty. */
  private readonly busy = new Set<string>();
  private readonly linkBusy = new Set<string>();
  private readonly kinds: Kind[];
  /** etcd: an earlier copy of each daemon's cached replica, for restarts with an older one. */
  private readonly olderCache = new Map<string, Buffer>();
  /** etcd is stopped (one etcd fault at a time). */
  private etcdDown = false;

  constructor(
    private readonly daemons: readonly ChaosDaemon[],
    private readonly target: FileTarget | EtcdTarget,
    private readonly rand: () => number,
    private readonly rec: Recorder,
    private readonly signal: AbortSignal,
  ) {
    this.kinds = target.source === 'file' ? this.fileKinds(target) : this.etcdKinds(target);
  }

  /** Inject faults until the signal aborts; then wait for every fault to heal. */
  async run(): Promise<void> {
    while (!this.signal.aborted) {
      // Now and then a calm spell, long enough for the faults in force to heal: the checker's
      // watch rule asks most of a reachable quorum, which storms of faults seldom leave.
      const calm = this.rand() < CALM_CHANCE;
      await sleep(calm ? uniform(this.rand, 4000, 9000) : uniform(this.rand, 400, 2000), this.signal);
      if (this.signal.aborted) break;
      if (this.target.source === 'etcd') this.keepOlderCaches(this.target);
      const fault = this.pick();
      if (!fault) continue;
      const p = fault().catch((e: unknown) => this.rec.problem(`fault failed: ${(e as Error).stack ?? String(e)}`));
      this.inflight.add(p);
      void p.finally(() => this.inflight.delete(p));
    }
    await Promise.all([...this.inflight]);
  }

  private pick(): (() => Promise<void>) | undefined {
    // A few draws: a kind that cannot be made now gives way to another.
    for (let tries = 0; tries < 4; tries++) {
      const total = this.kinds.reduce((s, k) => s + k.weight, 0);
      let r = this.rand() * total;
      const kind = this.kinds.find((k) => (r -= k.weight) < 0) ?? this.kinds[0];
      const f = kind.make();
      if (f) return f;
    }
    return undefined;
  }

  /** A daemon free for a process fault (filtered by `ok`), claimed; undefined if none. */
  private claim(ok: (d: ChaosDaemon) => boolean = () => true): ChaosDaemon | undefined {
    if (this.busy.size >= MAX_PROCESS_FAULTS) return undefined;
    const free = this.daemons.filter((d) => !this.busy.has(d.name) && d.state === 'up' && ok(d));
    if (free.length === 0) return undefined;
    const d = free[Math.floor(this.rand() * free.length)];
    this.busy.add(d.name);
    return d;
  }

  /** Run a process fault on `d`, releasing it afterwards. */
  private onDaemon(d: ChaosDaemon, fn: () => Promise<void>): () => Promise<void> {
    return () => fn().finally(() => this.busy.delete(d.name));
  }

  /** Wait a drawn time, cut short when the run stops. */
  private hold(lo: number, hi: number): Promise<void> {
    return sleep(uniform(this.rand, lo, hi), this.signal);
  }

  /** SIGKILL `d`, do `before` while it is down, and start it again after `downMs` (if given). */
  private kill(d: ChaosDaemon, kind: string, before?: () => void, downMs?: [number, number]): () => Promise<void> {
    return this.onDaemon(d, async () => {
      this.rec.fault(kind, d.name);
      await d.kill();
      before?.();
      if (downMs) await this.hold(downMs[0], downMs[1]);
      await d.start();
    });
  }

  private common(): Kind[] {
    return [
      {
        name: 'pause',
        weight: 3,
        make: () => {
          const d = this.claim();
          return (
            d &&
            this.onDaemon(d, async () => {
              this.rec.fault('pause', d.name);
              d.pause();
              await this.hold(300, 3000);
              d.resume();
            })
          );
        },
      },
      { name: 'loss', weight: 3, make: () => this.link('loss', () => this.lossFaults()) },
      { name: 'jitter', weight: 3, make: () => this.link('jitter', () => this.jitterFaults()) },
      {
        name: 'loss-all',
        weight: 1,
        make: () => {
          const free = this.daemons.filter((d) => !this.linkBusy.has(d.name));
          if (free.length < this.daemons.length) return undefined;
          return async () => {
            this.rec.fault('loss-all');
            const loss = uniform(this.rand, 0.05, 0.3);
            for (const d of free) {
              this.linkBusy.add(d.name);
              d.setLink({ ...CLEAN, loss });
            }
            await this.hold(1000, 4000);
            for (const d of free) {
              d.healLink();
              this.linkBusy.delete(d.name);
            }
          };
        },
      },
    ];
  }

  /** Up to 30 % loss, in one direction or both, with some jitter. */
  private lossFaults(): [LinkFaults, LinkFaults] {
    const loss = uniform(this.rand, 0.05, 0.3);
    const f: LinkFaults = { loss, duplicate: 0, delayMs: [0, uniform(this.rand, 0, 50)], reorder: 0 };
    const r = this.rand();
    return r < 0.2 ? [f, CLEAN] : r < 0.4 ? [CLEAN, f] : [f, f];
  }

  /** Delays (which reorder), duplicates and held-back datagrams: slow, but nothing lost. */
  private jitterFaults(): [LinkFaults, LinkFaults] {
    const f = (): LinkFaults => ({ loss: 0, duplicate: uniform(this.rand, 0, 0.3), delayMs: [0, uniform(this.rand, 20, 250)], reorder: uniform(this.rand, 0, 0.3) });
    return [f(), f()];
  }

  private link(kind: string, faults: () => [LinkFaults, LinkFaults]): (() => Promise<void>) | undefined {
    const free = this.daemons.filter((d) => !this.linkBusy.has(d.name));
    if (free.length === 0) return undefined;
    const d = free[Math.floor(this.rand() * free.length)];
    this.linkBusy.add(d.name);
    const [toDaemon, toClient] = faults();
    return async () => {
      this.rec.fault(kind, d.name, `to daemon ${describe(toDaemon)}, to client ${describe(toClient)}`);
      d.setLink(toDaemon, toClient);
      await this.hold(1000, 6000);
      d.healLink();
      this.linkBusy.delete(d.name);
    };
  }

  private fileKinds(t: FileTarget): Kind[] {
    return [
      ...this.common(),
      { name: 'kill', weight: 3, make: () => this.withDaemon((d) => this.kill(d, 'kill', undefined, [300, 2500])) },
      {
        name: 'restart-empty',
        weight: 1,
        make: () =>
          this.withDaemon((d) =>
            this.kill(d, 'restart-empty', () => {
              // The replica is gone from now on: claimed before the process even restarts.
              this.rec.hold(d.name, 0);
              t.publisher.empty(d);
            }),
          ),
      },
      {
        name: 'restart-behind',
        weight: 1,
        make: () => {
          const behind = new Set(t.publisher.behind().map((d) => d.name));
          const d = this.claim((x) => behind.has(x.name));
          return d && this.kill(d, 'restart-behind');
        },
      },
    ];
  }

  private etcdKinds(t: EtcdTarget): Kind[] {
    // A restarted daemon serves its cached copy until etcd answers, which may be older than
    // what it served before: the replica is claimed lost when it is killed.
    const lose = (d: ChaosDaemon) => this.rec.hold(d.name, 0);
    return [
      ...this.common(),
      { name: 'kill', weight: 2, make: () => this.withDaemon((d) => this.kill(d, 'kill', () => lose(d), [300, 2500])) },
      {
        name: 'restart-empty',
        weight: 1,
        make: () =>
          this.withDaemon((d) =>
            this.kill(d, 'restart-empty', () => {
              lose(d);
              rmSync(join(t.cacheDirs.get(d.name) as string, CACHE_FILE), { force: true });
            }),
          ),
      },
      {
        name: 'restart-older',
        weight: 1,
        make: () => {
          const d = this.claim((x) => this.olderCache.has(x.name));
          return (
            d &&
            this.kill(d, 'restart-older', () => {
              lose(d);
              writeFileSync(join(t.cacheDirs.get(d.name) as string, CACHE_FILE), this.olderCache.get(d.name) as Buffer);
            })
          );
        },
      },
      {
        name: 'etcd-stop',
        weight: 2,
        make: () => {
          if (this.etcdDown) return undefined;
          this.etcdDown = true;
          return () => this.stopEtcd(t).finally(() => (this.etcdDown = false));
        },
      },
    ];
  }

  /** Stop etcd between two publishes, and start it again a few seconds later. */
  private async stopEtcd(t: EtcdTarget): Promise<void> {
    const signal = this.rand() < 0.5 ? 'SIGKILL' : 'SIGTERM';
    await t.publisher.exclusive(async () => {
      this.rec.fault('etcd-stop', 'etcd', signal);
      t.publisher.etcdUp = false;
      await t.etcd.stopMember(0, { signal });
    });
    await this.hold(1000, 5000);
    await t.etcd.startMember(0);
    if (!this.signal.aborted) t.publisher.etcdUp = true;
  }

  private withDaemon(fn: (d: ChaosDaemon) => () => Promise<void>): (() => Promise<void>) | undefined {
    const d = this.claim();
    return d && fn(d);
  }

  /** Keep, per daemon, a copy of its cached replica from a while ago (replaced now and then). */
  private keepOlderCaches(t: EtcdTarget): void {
    for (const d of this.daemons) {
      const file = join(t.cacheDirs.get(d.name) as string, CACHE_FILE);
      if (!existsSync(file) || (this.olderCache.has(d.name) && this.rand() < 0.7)) continue;
      try {
        this.olderCache.set(d.name, readFileSync(file));
      } catch {
        /* being replaced right now: next time */
      }
    }
  }
}

function describe(f: LinkFaults): string {
  if (f.loss === 0 && f.duplicate === 0 && f.delayMs[1] === 0 && f.reorder === 0) return 'clean';
  const parts = [];
  if (f.loss > 0) parts.push(`loss ${(f.loss * 100).toFixed(0)}%`);
  if (f.duplicate > 0) parts.push(`dup ${(f.duplicate * 100).toFixed(0)}%`);
  if (f.delayMs[1] > 0) parts.push(`delay ≤${f.delayMs[1].toFixed(0)} ms`);
  if (f.reorder > 0) parts.push(`reorder ${(f.reorder * 100).toFixed(0)}%`);
  return parts.join(' ');
}

