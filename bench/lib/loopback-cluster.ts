// A cluster of qconfd daemons on the loopback range for the cluster section of `npm run bench`:
// daemon i binds 127.0.0.i, all on one port, each mirroring one etcd prefix. Started a few at
// a time (each is a Node process loading its snapshot from etcd), each ready once it answers a
// ping with the expected serial; every child is tracked and killed at the end (children.ts).
import type { ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { ConfdClient } from '../../client/confd-client.js';
import { Keyring } from '../../shared/keyring.js';
import { freePort } from '../../testkit/fixtures.js';
import { DAEMON_JS } from '../../testkit/paths.js';
import { rssMB } from '../../testkit/proc-stats.js';
import { spawnChild } from './children.js';

/** The loopback range has 254 usable host addresses in 127.0.0.0/24; more is not needed here. */
export const MAX_DAEMONS = 254;

export function loopbackAddress(i: number): string {
  if (!Number.isInteger(i) || i < 1 || i > MAX_DAEMONS) throw new RangeError(`no loopback address for daemon ${i}`);
  return `127.0.0.${i}`;
}

export interface ClusterDaemon {
  /** 1-based: it binds 127.0.0.index. */
  index: number;
  address: string;
  /** `address:port`, as a client's peer list names it. */
  peer: string;
  child: ChildProcess;
  /** The last lines it wrote (it logs at warn). */
  output: () => string;
  alive: () => boolean;
}

export interface ClusterOptions {
  count: number;
  port: number;
  keyFile: string;
  etcdEndpoints: string[];
  prefix: string;
  /** Ready means serving this serial or a newer one. */
  serial: number;
  /** Daemons started at once (each costs a Node start on a shared machine). */
  parallel?: number;
  readyTimeoutMs?: number;
  daemonJs?: string;
  /** Asked before each batch: a reason to start no more (memory running short), or undefined. */
  stopWhen?: (started: readonly ClusterDaemon[]) => string | undefined;
}

export interface StartedCluster {
  daemons: ClusterDaemon[];
  /** Why fewer than `count` were started. */
  stoppedBecause?: string;
}

/** Whether `port` can be bound on every one of `addresses` (UDP), checked by binding it. */
async function freeOnAll(port: number, addresses: string[]): Promise<boolean> {
  const socks: dgram.Socket[] = [];
  try {
    for (const address of addresses) {
      const s = dgram.createSocket('udp4');
      socks.push(s);
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.bind(port, address, () => resolve());
      });
    }
    return true;
  } catch {
    return false;
  } finally {
    await Promise.all(socks.map((s) => new Promise<void>((r) => s.close(() => r())).catch(() => undefined)));
  }
}

/** A UDP port free on each of the first `count` loopback addresses (a few tries). */
export async function commonPort(count: number): Promise<number> {
  const addresses = Array.from({ length: count }, (_, i) => loopbackAddress(i + 1));
  for (let attempt = 0; attempt < 20; attempt++) {
    const port = await freePort('127.0.0.1');
    if (await freeOnAll(port, addresses)) return port;
  }
  throw new Error(`no UDP port free on all of 127.0.0.1–127.0.0.${count}`);
}

function tail(child: ChildProcess): () => string {
  let out = '';
  const keep = (d: Buffer) => {
    out = (out + d.toString()).slice(-4000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  return () => out;
}

/** Wait until daemon `d` answers a ping with a ready snapshot at `serial` or newer. */
async function ready(client: ConfdClient, d: ClusterDaemon, serial: number, timeoutMs: number): Promise<void> {
  const peer = client.peerList[d.index - 1];
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (!d.alive()) throw new Error(`qconfd on ${d.peer} exited before it was ready:\n${d.output()}`);
    const r = await client.requestOne(peer, { op: 'ping' }, { timeoutMs: 500, retransmitMs: 100 }).reply;
    const a = r?.answer as { ready?: boolean } | undefined;
    if (r && r.status === 0 && a?.ready && r.serial >= serial) return;
    // Not bound yet, or still loading: ask again shortly (bounded by the deadline).
    await sleep(50);
  }
  throw new Error(`qconfd on ${d.peer} not serving serial ${serial} within ${timeoutMs} ms:\n${d.output()}`);
}

/**
 * Start up to `count` daemons on 127.0.0.1…127.0.0.count (fewer when `stopWhen` says so), all
 * ready, or throw (killing those started).
 */
export async function startCluster(o: ClusterOptions): Promise<StartedCluster> {
  if (o.count < 1 || o.count > MAX_DAEMONS) throw new RangeError(`a loopback cluster has 1 to ${MAX_DAEMONS} daemons`);
  const key = readFileSync(o.keyFile, 'utf8').split('\n')[0];
  const peers = Array.from({ length: o.count }, (_, i) => `${loopbackAddress(i + 1)}:${o.port}`);
  const client = new ConfdClient({ keyring: Keyring.fromStrings([key]), peers });
  const daemons: ClusterDaemon[] = [];
  const spawnOne = (index: number): ClusterDaemon => {
    const address = loopbackAddress(index);
    const args = [
      o.daemonJs ?? DAEMON_JS,
      '--etcd', o.etcdEndpoints.join(','),
      '--etcd-prefix', o.prefix,
      '--key-file', o.keyFile,
      '--bind', address,
      '--port', String(o.port),
      '--node-name', `n${index}`,
      '--log-level', 'warn',
    ];
    const child = spawnChild(process.execPath, args);
    return { index, address, peer: `${address}:${o.port}`, child, output: tail(child), alive: () => child.exitCode === null && child.signalCode === null };
  };
  try {
    const parallel = Math.max(1, o.parallel ?? 4);
    for (let i = 1; i <= o.count; i += parallel) {
      const why = o.stopWhen?.(daemons);
      if (why !== undefined) return { daemons, stoppedBecause: why };
      const batch: ClusterDaemon[] = [];
      for (let j = i; j < Math.min(o.count + 1, i + parallel); j++) batch.push(spawnOne(j));
      daemons.push(...batch);
      await Promise.all(batch.map((d) => ready(client, d, o.serial, o.readyTimeoutMs ?? 60_000)));
    }
    return { daemons };
  } catch (e) {
    for (const d of daemons) d.child.kill('SIGKILL');
    throw e;
  } finally {
    client.close();
  }
}

/** Resident memory of the daemons still running: the sum, and the largest, in MB. */
export function clusterRss(daemons: readonly ClusterDaemon[]): { sum: number; max: number; count: number } {
  let sum = 0;
  let max = 0;
  let count = 0;
  for (const d of daemons) {
    if (!d.alive()) continue;
    const r = rssMB(d.child.pid as number).rss;
    if (Number.isNaN(r)) continue;
    sum += r;
    max = Math.max(max, r);
    count++;
  }
  return { sum, max, count };
}

/** MemAvailable from /proc/meminfo, in MB (NaN when unreadable). */
export function availableMB(): number {
  try {
    const m = /^MemAvailable:\s+(\d+) kB/m.exec(readFileSync('/proc/meminfo', 'latin1'));
    return m ? Number(m[1]) / 1024 : NaN;
  } catch {
    return NaN;
  }
}
