// Benchmark of the etcd source: (1) the time from a write to etcd until every daemon serves
// the new serial, and (2) loading a large prefix: time to first answer and memory.
// A real etcd (Debian's etcd-server) and real qconfd processes on loopback; bounded in count
// and time; every child killed at the end. Writes bench/results/etcd-source.md.
//
// Build and run: npm run build && node dist/bench/etcd-source.js [--runs N] [--keys N]
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { Etcd3 } from 'etcd3';
import { ConfdClient } from '../client/confd-client.js';
import { Keyring } from '../shared/keyring.js';
import { parsePeer } from '../shared/peers.js';
import { TestDaemon } from '../testkit/daemons.js';
import { startEtcd, type EtcdCluster } from '../testkit/etcd/cluster.js';
import { KEY_A } from '../testkit/fixtures.js';
import { rssMB } from '../testkit/proc-stats.js';
import { spawnChild } from './lib/children.js';
import { machine } from './lib/format.js';
import { RESULTS_DIR } from './lib/paths.js';

const RESULTS = join(RESULTS_DIR, 'etcd-source.md');
const KEY = KEY_A;
const PREFIX = '/qconf/bench';
const OVERALL_MS = 10 * 60_000;

const { values: argv } = parseArgs({ options: { runs: { type: 'string', default: '50' }, keys: { type: 'string', default: '100000' } } });
const RUNS = Math.max(1, Math.min(500, Number(argv.runs)));
const BIG = Math.max(1000, Math.min(200_000, Number(argv.keys)));
const started = Date.now();
const progress = (s: string) => process.stderr.write(`[etcd-bench ${((Date.now() - started) / 1000).toFixed(0)}s] ${s}\n`);

/** Every daemon started, stopped at the end whatever happens. */
const daemons: TestDaemon[] = [];

/**
 * A daemon mirroring the prefix, started (process start included in what is timed) but not
 * waited for: the caller times how soon it serves. Logging at warn, bound to loopback, nothing
 * else advertised.
 */
function startDaemon(endpoints: string[]): Promise<TestDaemon> {
  const d = new TestDaemon({
    noFile: true,
    keys: [KEY],
    logLevel: 'warn',
    advertise: false,
    waitReady: false,
    args: ['--etcd', endpoints.join(','), '--etcd-prefix', PREFIX, '--bind', '127.0.0.1'],
    // Directly, in a session of its own, as this benchmark has always started its daemons.
    spawn: (cmd, args, opts) => spawnChild(cmd, args, { ...opts, detached: true }),
  });
  daemons.push(d);
  return d.start();
}


function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
}

/** Resolve when the daemon serves serial ≥ `serial` (a held wait: no polling). */
async function servesSerial(client: ConfdClient, port: number, serial: number, timeoutMs: number): Promise<boolean> {
  const { reply } = client.requestOne(parsePeer(`127.0.0.1:${port}`), { op: 'wait', path: '/none', minSerial: serial, timeoutMs }, { timeoutMs: timeoutMs + 1000, retransmitMs: 500 });
  const r = await reply;
  return r !== undefined && r.serial >= serial;
}

async function main(): Promise<void> {
  let cluster: EtcdCluster | undefined;
  const lines: string[] = [];
  try {
    cluster = await startEtcd();
    const etcd = new Etcd3({ hosts: cluster.endpoints });
    const client = new ConfdClient({ keyring: Keyring.fromStrings([KEY]), peers: ['127.0.0.1:1'] });
    try {
      // (1) propagation to three daemons.
      progress('propagation: starting 3 daemons');
      const three = await Promise.all([0, 1, 2].map(() => startDaemon(cluster!.endpoints)));
      await etcd.put(`${PREFIX}/counter`).value('0');
      let rev = Number((await etcd.getAll().prefix(`${PREFIX}/`).exec()).header.revision);
      for (const d of three) if (!(await servesSerial(client, d.port, rev, 30_000))) throw new Error('daemon not serving');
      const times: number[] = [];
      for (let i = 1; i <= RUNS && Date.now() - started < OVERALL_MS / 2; i++) {
        const t0 = performance.now();
        const put = await etcd.put(`${PREFIX}/counter`).value(String(i)).exec();
        rev = Number(put.header.revision);
        const ok = await Promise.all(three.map((d) => servesSerial(client, d.port, rev, 10_000)));
        if (ok.includes(false)) throw new Error(`run ${i}: a daemon did not reach ${rev}`);
        times.push(performance.now() - t0);
        if (i % 10 === 0) progress(`propagation: ${i}/${RUNS}`);
      }
      await Promise.all(three.map((d) => d.stop()));
      lines.push(
        '## Write → every daemon serving the new serial',
        '',
        `3 daemons on one etcd member (loopback). Each run: one put through the etcd3 client, timed from`,
        `the call until all three daemons answer a held \`wait\` for the put's revision.`,
        '',
        '| runs | median ms | p99 ms | min ms | max ms |',
        '|---:|---:|---:|---:|---:|',
        `| ${times.length} | ${pct(times, 50).toFixed(1)} | ${pct(times, 99).toFixed(1)} | ${Math.min(...times).toFixed(1)} | ${Math.max(...times).toFixed(1)} |`,
        '',
      );
      progress(`propagation: median ${pct(times, 50).toFixed(1)} ms`);

      // (2) a large prefix: load time and memory, against a small one.
      const rows: string[] = [];
      for (const n of [1000, BIG]) {
        await etcd.delete().prefix(`${PREFIX}/`).exec();
        progress(`load: writing ${n} keys`);
        const batch = 100;
        for (let i = 0; i < n; i += batch) {
          const ops = [];
          for (let j = i; j < Math.min(n, i + batch); j++) {
            ops.push(etcd.put(`${PREFIX}/nodes/node${j}/primary_ip`).value(JSON.stringify(`10.${(j >> 16) & 255}.${(j >> 8) & 255}.${j & 255}`)));
          }
          await etcd.if(`${PREFIX}/none`, 'Create', '==', 0).then(...ops).commit();
        }
        const target = Number((await etcd.get(`${PREFIX}/nodes/node${n - 1}/primary_ip`).exec()).kvs[0].mod_revision);
        const t0 = performance.now();
        const d = await startDaemon(cluster.endpoints);
        const ok = await servesSerial(client, d.port, target, 120_000);
        const ms = performance.now() - t0;
        if (!ok) throw new Error(`${n} keys: not served`);
        const c2 = new ConfdClient({ keyring: Keyring.fromStrings([KEY]), peers: [`127.0.0.1:${d.port}`] });
        const g = await c2.get(`/nodes/node${n - 1}/primary_ip`, { timeoutMs: 5000 });
        c2.close();
        if (g.status !== 0) throw new Error(`${n} keys: lookup failed`);
        // A change to one key of this prefix: how long until the daemon serves it.
        const change: number[] = [];
        for (let i = 0; i < 10; i++) {
          const t1 = performance.now();
          const put = await etcd.put(`${PREFIX}/nodes/node${i}/primary_ip`).value(JSON.stringify(`192.0.2.${i}`)).exec();
          if (!(await servesSerial(client, d.port, Number(put.header.revision), 30_000))) throw new Error(`${n} keys: change not served`);
          change.push(performance.now() - t1);
        }
        const rss = rssMB(d.child.pid as number).hwm;
        await d.stop();
        rows.push(`| ${n.toLocaleString('en')} | ${(ms / 1000).toFixed(2)} | ${pct(change, 50).toFixed(1)} | ${rss.toFixed(0)} |`);
        progress(`load: ${n} keys served after ${(ms / 1000).toFixed(2)} s, peak RSS ${rss.toFixed(0)} MB`);
      }
      lines.push(
        '## Loading a prefix',
        '',
        'Time from starting a daemon (process start included) until it serves the prefix; then the',
        'median time from a put of one key in that prefix until the daemon serves it (10 puts); and',
        "the daemon's peak RSS (VmHWM).",
        '',
        '| keys | start → serving (s) | one change → served, median (ms) | peak RSS (MB) |',
        '|---:|---:|---:|---:|',
        ...rows,
        '',
      );
    } finally {
      client.close();
      etcd.close();
    }
  } finally {
    await Promise.all(daemons.map((d) => d.stop('SIGKILL')));
    await cluster?.stop();
  }
  const header = [
    '# etcd source',
    '',
    `Measured ${new Date().toISOString()} by \`node dist/bench/etcd-source.js\` (bench/etcd-source.ts).`,
    `Machine: ${machine()}; etcd from Debian's etcd-server.`,
    '',
  ];
  mkdirSync(dirname(RESULTS), { recursive: true });
  writeFileSync(RESULTS, [...header, ...lines].join('\n'));
  process.stdout.write([...header, ...lines].join('\n') + '\n');
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    process.stderr.write(`etcd bench failed: ${(e as Error).stack ?? String(e)}\n`);
    process.exit(1);
  },
);
