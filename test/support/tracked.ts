// What a test file starts (daemons, clients, relays, sockets, child processes, ping watches,
// etcd clusters), tracked so that all of it is stopped or closed after each test or after the
// file, whether the tests passed or not: `const owned = trackEach()` (or trackAll()) at the top.
import type { ChildProcess } from 'node:child_process';
import { afterAll, afterEach } from 'vitest';
import { ConfdClient } from '../../client/confd-client.js';
import { Keyring } from '../../shared/keyring.js';
import { TestDaemon, startDaemons, stopAll, type DaemonOptions } from '../../testkit/daemons.js';
import { startEtcd, type EtcdCluster, type StartEtcdOptions } from '../../testkit/etcd/cluster.js';
import { KEY_A } from '../../testkit/fixtures.js';
import { stopProcess } from '../../testkit/processes.js';
import type { PingWatch } from './liveness.js';
import { closeAll, startRelay, type RelayOptions, type UdpRelay } from './relay.js';

export type ClientOptions = ConstructorParameters<typeof ConfdClient>[0];

export class Tracked {
  readonly clients: ConfdClient[] = [];
  readonly daemons: TestDaemon[] = [];
  readonly relays: UdpRelay[] = [];
  readonly sockets: Array<{ close(): void }> = [];
  readonly children: ChildProcess[] = [];
  readonly watches: PingWatch[] = [];
  readonly etcds: EtcdCluster[] = [];

  /** A client with KEY_A (protocol.md's test key) of `peers`. */
  client(peers: string[], extra: Partial<ClientOptions> = {}): ConfdClient {
    const c = new ConfdClient({ keyring: Keyring.fromStrings([KEY_A]), peers, ...extra });
    this.clients.push(c);
    return c;
  }

  /** A daemon, started (tracked from before its start, so a failed start is cleaned up too). */
  async daemon(opts: DaemonOptions): Promise<TestDaemon> {
    const d = new TestDaemon(opts);
    this.daemons.push(d);
    return d.start();
  }

  /** Daemons serving `docs`, one each, named `<prefix>0`, `<prefix>1`, … */
  async serve(docs: unknown[], prefix: string, args: string[] = []): Promise<TestDaemon[]> {
    const ds = await startDaemons(docs.length, (i) => ({ doc: docs[i], nodeName: `${prefix}${i}`, args }));
    this.daemons.push(...ds);
    return ds;
  }

  async relay(opts: RelayOptions): Promise<UdpRelay> {
    const r = await startRelay(opts);
    this.relays.push(r);
    return r;
  }

  /** A real etcd cluster, stopped after the daemons that read it. */
  async etcd(opts: StartEtcdOptions = {}): Promise<EtcdCluster> {
    const c = await startEtcd(opts);
    this.etcds.push(c);
    return c;
  }

  /** Stop and close everything tracked so far. */
  async release(): Promise<void> {
    await Promise.all(this.watches.splice(0).map((w) => w.stop()));
    for (const c of this.clients.splice(0)) c.close();
    for (const s of this.sockets.splice(0)) {
      try {
        s.close();
      } catch {
        /* closed */
      }
    }
    await Promise.all(this.children.splice(0).map((c) => stopProcess(c, 'SIGKILL', 1000)));
    await closeAll(this.relays.splice(0));
    await stopAll(this.daemons.splice(0));
    await Promise.all(this.etcds.splice(0).map((c) => c.stop()));
  }
}

/** Everything a test starts is released after that test. */
export function trackEach(): Tracked {
  const t = new Tracked();
  afterEach(() => t.release());
  return t;
}

/** Everything the file's tests start is released after the file's last test. */
export function trackAll(): Tracked {
  const t = new Tracked();
  afterAll(() => t.release());
  return t;
}
