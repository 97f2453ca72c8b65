// One phase of a chaos run: a cluster of real daemons (file replicas, or mirrors of a real etcd),
// a relay in front of each, client processes calling through the relays, a publisher, the fault
// schedule and direct pings, for a given time; then everything is stopped (children killed with
// their process groups whatever happens) and the recorded history is returned.
import { setMaxListeners } from 'node:events';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { EtcdConnection } from '../../shared/etcd-connection.js';
import { Keyring } from '../../shared/keyring.js';
import { startEtcd, type EtcdCluster } from '../../testkit/etcd/cluster.js';
import { KEY_A, tempDir, writeKeyFile } from '../../testkit/fixtures.js';
import { seededRandom } from '../../testkit/random.js';
import { ChaosDaemon } from './chaos-daemon.js';
import { majorityTimes } from './checker.js';
import { ClientProcesses } from './client-processes.js';
import type { WorkerConfig } from './client-worker.js';
import { WATCH_PATHS } from './document.js';
import { daemonCounters } from './daemon-counters.js';
import { monitor } from './monitor.js';
import { Nemesis } from './nemesis.js';
import type { Plant } from './planted.js';
import { EtcdPublisher, FilePublisher, type Publisher } from './publishers.js';
import { Recorder } from './recorder.js';
import type { RelayCounters } from './relay.js';
import { sleep, uniform } from './timing.js';

export interface PhaseOptions {
  source: 'file' | 'etcd';
  seconds: number;
  seed: number;
  daemons: number;
  /** Client processes (each with CLIENTS_PER_PROCESS clients). */
  processes: number;
  plant?: Plant;
  log: (line: string) => void;
}

export interface PhaseResult {
  recorder: Recorder;
  relays: RelayCounters;
  /** The daemons' own counters at the end, summed (those still running). */
  counters: Record<string, number>;
}

const CLIENTS_PER_PROCESS = 2;
const ETCD_PREFIX = '/qconf/chaos';
/** Time between publishes: some values are replaced at once, others stay for seconds. */
const PUBLISH_GAP_MS: [number, number] = [150, 2500];
/**
 * Chance that a daemon with the planted stale bug answers from its previous snapshot. Every daemon
 * has it, as every daemon of a cluster runs the same build.
 */
const STALE_PROBABILITY = 0.5;

export async function runPhase(o: PhaseOptions): Promise<PhaseResult> {
  const rand = seededRandom(o.seed);
  const seedOf = () => Math.floor(rand() * 2 ** 31);
  const names = Array.from({ length: o.daemons }, (_, i) => `d${i + 1}`);
  const rec = new Recorder(o.source, o.source, o.seed, names);
  const dir = tempDir('qconf-chaos-');
  const keyFile = writeKeyFile(dir, [KEY_A]);
  const keyring = Keyring.fromStrings([KEY_A]);
  const stop = new AbortController();
  // Every sleep and fault of the run listens for the stop.
  setMaxListeners(1000, stop.signal);
  const clients = new ClientProcesses(rec);
  let etcd: EtcdCluster | undefined;
  let daemons: ChaosDaemon[] = [];
  let publisher: Publisher | undefined;
  try {
    let nemesis: Nemesis;
    if (o.source === 'file') {
      daemons = names.map((n) => new ChaosDaemon(n, { keys: [KEY_A] }, rec));
      const p = new FilePublisher(daemons, seededRandom(seedOf()), rec);
      const first = p.initial();
      for (const d of daemons) d.td.writeDoc(first);
      publisher = p;
      nemesis = new Nemesis(daemons, { source: 'file', publisher: p }, seededRandom(seedOf()), rec, stop.signal);
    } else {
      etcd = await startEtcd({ name: 'chaos' });
      const conn: EtcdConnection = { endpoints: etcd.endpoints, prefix: ETCD_PREFIX };
      const p = new EtcdPublisher(conn, seededRandom(seedOf()), rec);
      await p.initial();
      const cacheDirs = new Map(names.map((n) => [n, join(dir, `cache-${n}`)]));
      for (const c of cacheDirs.values()) mkdirSync(c);
      daemons = names.map((n) => new ChaosDaemon(n, { keys: [KEY_A], noFile: true, args: ['--etcd', conn.endpoints.join(','), '--etcd-prefix', ETCD_PREFIX, '--cache-dir', cacheDirs.get(n) as string] }, rec));
      publisher = p;
      nemesis = new Nemesis(daemons, { source: 'etcd', publisher: p, etcd, cacheDirs }, seededRandom(seedOf()), rec, stop.signal);
    }
    await Promise.all(daemons.map((d) => d.start()));
    for (const d of daemons) await d.startRelay(seedOf(), o.plant === 'stale-daemon' ? { keyring, probability: STALE_PROBABILITY } : undefined);
    const peers = daemons.map((d) => d.front);
    const deadline = Date.now() + o.seconds * 1000;
    const configs: WorkerConfig[] = Array.from({ length: o.processes }, (_, i) => ({
      name: `p${i + 1}`,
      seed: seedOf(),
      peers,
      keyFile,
      clients: CLIENTS_PER_PROCESS,
      watchPath: WATCH_PATHS[i % WATCH_PATHS.length],
      deadline: deadline + 5000,
      plant: o.plant,
    }));
    clients.start(configs);
    const pubRand = seededRandom(seedOf());
    const pub = publisher;
    const publishing = (async () => {
      while (!stop.signal.aborted) {
        await sleep(uniform(pubRand, PUBLISH_GAP_MS[0], PUBLISH_GAP_MS[1]), stop.signal);
        if (!stop.signal.aborted) await pub.publish();
      }
    })();
    const faults = nemesis.run();
    const pings = monitor(daemons, keyring, rec, stop.signal);
    o.log(`  ${o.source}: ${o.daemons} daemons, ${o.processes} client processes, ${o.seconds} s`);
    await sleep(Math.max(0, deadline - Date.now()));
    // Faults heal and publishing stops; the clients finish the calls they have in flight.
    stop.abort();
    await Promise.all([publishing, faults, pings]);
    publisher.stop();
    await clients.stop();
    rec.history.endedAt = Date.now();
    const counters = await daemonCounters(daemons, keyring);
    const majority = majorityTimes(rec.history);
    for (const p of rec.history.publishes) p.majorityAt = majority.get(p.serial);
    const relays: RelayCounters = { forwarded: 0, lost: 0, duplicated: 0, reordered: 0, stale: 0 };
    for (const d of daemons) for (const k of Object.keys(relays) as (keyof RelayCounters)[]) relays[k] += d.relay.counters[k];
    return { recorder: rec, relays, counters };
  } finally {
    stop.abort();
    publisher?.stop();
    await clients.kill();
    await Promise.all(daemons.map((d) => d.close()));
    await etcd?.stop();
  }
}
