// Section 7 of `npm run bench`: a cluster of 100 qconfd daemons on the loopback range
// (127.0.0.1–127.0.0.100, one port), fed by one real etcd, asked by clients with the default
// coverage (a random subset of 6 per request, a quorum of 4). Measured: a publish until a
// client's quorum serves it and until all daemons do; 30 daemons killed at once, and the
// clients' success and latency while they hedge around them; the daemons' memory. The number of
// daemons is cut to what the machine's free memory holds, and the report says so.
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { Etcd3 } from 'etcd3';
import { ConfdClient } from '../../client/confd-client.js';
import { DEFAULT_COVERAGE, neededReplies } from '../../client/quorum-rule.js';
import { Keyring } from '../../shared/keyring.js';
import { startEtcd, type EtcdCluster } from '../../testkit/etcd/cluster.js';
import { cpuMs, machineCpuMs } from '../../testkit/proc-stats.js';
import { seededRandom } from '../../testkit/random.js';
import { fmt, fmtInt, progress } from '../lib/format.js';
import { percentiles, type Percentiles } from '../lib/load-job.js';
import { availableMB, clusterRss, commonPort, startCluster, type ClusterDaemon } from '../lib/loopback-cluster.js';
import type { Report } from '../lib/report.js';
import type { RunContext, Section } from '../lib/run-context.js';

const PREFIX = '/qconf/cluster';
const WANTED = 100;
const KILLED_SHARE = 0.3;
/** What one daemon is assumed to need before any is measured (about 80 MB each, measured). */
const ASSUMED_MB_PER_DAEMON = 100;
/** The share of the machine's available memory the cluster may take (others work here too). */
const MEMORY_SHARE = 0.5;
/** Start no more daemons once the machine has less than this available (MB). */
const MIN_LEFT_MB = 2048;
const CLIENTS = 10;
const WAIT_MS = 10_000;
const GET_TIMEOUT_MS = 3000;
/** Waits are sent this long before the put, so that the daemons hold them when it lands. */
const SETTLE_MS = 200;
/** Daemons started at once. */
const PARALLEL = 4;

interface Publishes {
  /** Put → a client's wait for the serial met by a quorum of its subset, ms (one per client and publish). */
  quorum: Percentiles;
  quorumSamples: number;
  quorumMissed: number;
  /** Put → the last daemon serving it, ms (one per publish). */
  all: Percentiles;
  /** Put → the first daemon serving it, ms. */
  first: Percentiles;
  publishes: number;
  daemons: number;
  /** The machine's CPU in use meanwhile, % of all its cores (this process, the cluster and everything else). */
  busyPct: number;
  /** Of it, this process (the clients) and the daemons. */
  oursPct: number;
}

interface Gets {
  calls: number;
  ok: number;
  /** Calls that asked more daemons than their first subset (a spare after a silent one). */
  hedged: number;
  latency: Percentiles;
  busyPct: number;
  oursPct: number;
  selfPct: number;
  /** The first few unanswered gets: why, and how long they took. */
  failures: string[];
}

interface ClusterResult {
  count: number;
  availableMB: number;
  /** Why fewer than planned were started (memory ran short while starting). */
  stoppedBecause?: string;
  startS: number;
  rssSum: number;
  rssMax: number;
  rssAfter: number;
  before: Publishes;
  getsUp: Gets;
  killed: number;
  getsDown: Gets;
  after: Publishes;
  needSpareShare: number;
}

/** Hypergeometric: the chance that a random `k`-subset of `n` daemons, `dead` of them down, has more than `k - q` down. */
export function shareNeedingSpare(n: number, dead: number, k: number, q: number): number {
  const choose = (a: number, b: number): number => {
    if (b < 0 || b > a) return 0;
    let r = 1;
    for (let i = 1; i <= b; i++) r = (r * (a - b + i)) / i;
    return r;
  };
  let p = 0;
  for (let down = k - q + 1; down <= k; down++) p += (choose(dead, down) * choose(n - dead, k - down)) / choose(n, k);
  return p;
}

interface CpuMark {
  machine: { busy: number; total: number };
  /** CPU time of this process and of every daemon running, ms. */
  ours: number;
  /** Of it, this process's. */
  self: number;
}

function cpuMark(daemons: readonly ClusterDaemon[]): CpuMark {
  const self = cpuMs(process.pid);
  let ours = self;
  for (const d of daemons) if (d.alive()) ours += cpuMs(d.child.pid as number) || 0;
  return { machine: machineCpuMs(), ours, self };
}

/** Since `from`: the machine's busy CPU and what this process and the daemons took, % of all its cores. */
function cpuSince(from: CpuMark, daemons: readonly ClusterDaemon[]): { busyPct: number; oursPct: number; selfPct: number } {
  const now = cpuMark(daemons);
  const total = now.machine.total - from.machine.total;
  return { busyPct: (100 * (now.machine.busy - from.machine.busy)) / total, oursPct: (100 * (now.ours - from.ours)) / total, selfPct: (100 * (now.self - from.self)) / total };
}

export function clusterSection(ctx: RunContext): Section {
  const { quick } = ctx.opts;
  let result: ClusterResult | undefined;
  let skipped: string | undefined;

  async function run(): Promise<void> {
    const avail = availableMB();
    const fits = Math.floor((avail * MEMORY_SHARE) / ASSUMED_MB_PER_DAEMON);
    const count = Math.min(quick ? 20 : WANTED, fits);
    progress(`cluster: ${fmtInt(avail)} MB available; ${count} daemons${count < WANTED && !quick ? ` (${WANTED} would need about ${fmtInt(WANTED * ASSUMED_MB_PER_DAEMON)} MB)` : ''}`);
    if (count < 5) {
      skipped = `only ${fmtInt(avail)} MB available: not even 5 daemons fit`;
      throw new Error(skipped);
    }
    let etcd: EtcdCluster | undefined;
    let daemons: ClusterDaemon[] = [];
    const clients: ConfdClient[] = [];
    let kv: Etcd3 | undefined;
    try {
      etcd = await startEtcd({ name: 'cluster' });
      kv = new Etcd3({ hosts: etcd.endpoints });
      await kv.put(`${PREFIX}/cluster/name`).value(JSON.stringify('bench'));
      let serial = Number((await kv.put(`${PREFIX}/counter`).value('0').exec()).header.revision);
      const port = await commonPort(count);
      const t0 = performance.now();
      // The daemons' real size is measured as they start: stop early if the next batch would not fit.
      const floor = Math.max(MIN_LEFT_MB, avail * (1 - MEMORY_SHARE));
      const stopWhen = (started: readonly ClusterDaemon[]): string | undefined => {
        const left = availableMB();
        const each = started.length > 0 ? clusterRss(started).sum / started.length : ASSUMED_MB_PER_DAEMON;
        return left - 4 * each < floor ? `${fmtInt(left)} MB available after ${started.length} daemons of ${fmt(each, 0)} MB each` : undefined;
      };
      const started = await startCluster({ count, port, keyFile: ctx.keyFile, etcdEndpoints: etcd.endpoints, prefix: PREFIX, serial, daemonJs: ctx.opts.daemonJs, stopWhen, parallel: PARALLEL });
      daemons = started.daemons;
      if (started.stoppedBecause) progress(`  stopped at ${daemons.length} daemons: ${started.stoppedBecause}`);
      const startS = (performance.now() - t0) / 1000;
      progress(`  ${daemons.length} daemons serving on port ${port} after ${fmt(startS, 1)} s`);
      const keyring = Keyring.fromStrings([ctx.key]);
      const peers = daemons.map((d) => d.peer);
      for (let i = 0; i < CLIENTS; i++) clients.push(new ConfdClient({ keyring, peers }));
      const observer = new ConfdClient({ keyring, peers });
      clients.push(observer);
      const etcdKv = kv;

      /** One put, timed until each client's quorum and each running daemon serves it. */
      async function publish(value: number, alive: ClusterDaemon[]): Promise<{ quorum: number[]; missed: number; daemonMs: number[] }> {
        const next = serial + 1;
        const served = alive.map((d) =>
          observer.requestOne(observer.peerList[d.index - 1], { op: 'wait', path: '/none', minSerial: next, timeoutMs: WAIT_MS }, { timeoutMs: WAIT_MS + 1000, retransmitMs: 500 }).reply.then((r) => (r !== undefined && r.serial >= next ? performance.now() : NaN)),
        );
        const met = clients.slice(0, CLIENTS).map((c) => c.waitFor({ minSerial: next }, { timeoutMs: WAIT_MS }).then((r) => (r.met ? performance.now() : NaN)));
        await sleep(SETTLE_MS);
        const start = performance.now();
        const put = await etcdKv.put(`${PREFIX}/counter`).value(String(value)).exec();
        serial = Number(put.header.revision);
        if (serial !== next) throw new Error(`the put made revision ${serial}, not ${next}: something else writes the prefix`);
        const [d, c] = await Promise.all([Promise.all(served), Promise.all(met)]);
        const quorum = c.filter((t) => !Number.isNaN(t)).map((t) => t - start);
        const daemonMs = d.map((t) => t - start);
        return { quorum, missed: c.length - quorum.length, daemonMs };
      }

      async function publishes(n: number, alive: ClusterDaemon[], label: string): Promise<Publishes> {
        await publish(-1, alive); // warm-up: cookies, compiled code
        const cpu = cpuMark(alive);
        const q: number[] = [];
        const all: number[] = [];
        const first: number[] = [];
        let missed = 0;
        for (let i = 0; i < n; i++) {
          const r = await publish(i, alive);
          q.push(...r.quorum);
          missed += r.missed;
          // A daemon that did not serve it within the wait counts as never (Infinity).
          all.push(r.daemonMs.some((t) => Number.isNaN(t)) ? Infinity : Math.max(...r.daemonMs));
          first.push(Math.min(...r.daemonMs.filter((t) => !Number.isNaN(t))));
          await sleep(300);
        }
        const p = (xs: number[]) => percentiles(Float64Array.from(xs), xs.length);
        const out = { quorum: p(q), quorumSamples: q.length, quorumMissed: missed, all: p(all), first: p(first), publishes: n, daemons: alive.length, ...cpuSince(cpu, alive) };
        progress(`  ${label}: ${n} publishes; a client's quorum: median ${fmt(out.quorum.p50, 1)} ms, p99 ${fmt(out.quorum.p99, 1)} ms; all ${alive.length}: median ${fmt(out.all.p50, 1)} ms, p99 ${fmt(out.all.p99, 1)} ms`);
        return out;
      }

      /** Each client makes `n` gets, one after another, all clients at once. */
      async function gets(n: number, label: string): Promise<Gets> {
        const lat: number[] = [];
        let calls = 0;
        let hedged = 0;
        const failures: string[] = [];
        const up = daemons.filter((d) => d.alive());
        const cpu = cpuMark(up);
        await Promise.all(
          clients.slice(0, CLIENTS).map(async (c) => {
            for (let i = 0; i < n; i++) {
              const t = performance.now();
              const r = await c.get('/counter', { timeoutMs: GET_TIMEOUT_MS });
              calls++;
              if (r.sent > DEFAULT_COVERAGE) hedged++;
              if (r.kind === 'ok') lat.push(performance.now() - t);
              else if (failures.length < 5) failures.push(`${r.kind} after ${fmt(performance.now() - t, 0)} ms, asked ${r.sent}: ${r.error?.message ?? ''}`);
            }
          }),
        );
        const out = { calls, ok: lat.length, hedged, latency: percentiles(Float64Array.from(lat), lat.length), ...cpuSince(cpu, up), failures };
        for (const f of failures) progress(`  ${label}: unanswered: ${f}`);
        progress(`  ${label}: CPU ${fmt(out.busyPct, 0)}% busy, ${fmt(out.oursPct, 0)}% ours (${fmt(out.selfPct, 0)}% the clients); ${out.ok}/${out.calls} gets answered, ${out.hedged} asked a spare; p50 ${fmt(out.latency.p50, 2)} ms, p99 ${fmt(out.latency.p99, 1)} ms, max ${fmt(out.latency.max, 1)} ms`);
        return out;
      }

      const n = quick ? 5 : 20;
      const before = await publishes(n, daemons, 'all up');
      const rss = clusterRss(daemons);
      const getCount = quick ? 30 : 100;
      // Warm-up (not reported): each daemon compiles its get path and validates the clients.
      await gets(getCount, 'warm-up');
      const getsUp = await gets(getCount, 'all up');
      // 30 % of the daemons killed at once (a seeded choice), and gone before the clients ask.
      const rand = seededRandom(30);
      const order = [...daemons].sort(() => rand() - 0.5);
      const killed = order.slice(0, Math.round(daemons.length * KILLED_SHARE));
      await Promise.all(
        killed.map(
          (d) =>
            new Promise<void>((resolve) => {
              if (!d.alive()) return resolve();
              d.child.once('exit', () => resolve());
              d.child.kill('SIGKILL');
            }),
        ),
      );
      const alive = daemons.filter((d) => d.alive());
      progress(`  killed ${killed.length} daemons at once; ${alive.length} left`);
      const getsDown = await gets(getCount, `${killed.length} killed`);
      const after = await publishes(quick ? 3 : 10, alive, `${killed.length} killed`);
      const rssAfter = clusterRss(daemons).sum;
      const coverage = Math.min(DEFAULT_COVERAGE, daemons.length);
      result = {
        count: daemons.length,
        availableMB: avail,
        stoppedBecause: started.stoppedBecause,
        startS,
        rssSum: rss.sum,
        rssMax: rss.max,
        rssAfter,
        before,
        getsUp,
        killed: killed.length,
        getsDown,
        after,
        needSpareShare: shareNeedingSpare(daemons.length, killed.length, coverage, neededReplies(coverage)),
      };
    } finally {
      for (const c of clients) c.close();
      kv?.close();
      for (const d of daemons) d.child.kill('SIGKILL');
      await etcd?.stop();
    }
  }

  function render(report: Report): void {
    if (skipped !== undefined) {
      report.section('7. A cluster of 100 daemons', `Not run: ${skipped}.`, '');
      return;
    }
    const r = result;
    if (!r) return;
    const pct = (a: number, b: number) => `${fmt((100 * a) / b, 1)}%`;
    const pubRow = (what: string, p: Publishes) =>
      `| ${what} | ${p.publishes} | ${fmt(p.quorum.p50, 1)} | ${fmt(p.quorum.p99, 1)} | ${p.quorumSamples}${p.quorumMissed ? ` (${p.quorumMissed} not met)` : ''} | ${fmt(p.first.p50, 1)} | ${fmt(p.all.p50, 1)} | ${fmt(p.all.p99, 1)} | ${fmt(p.busyPct, 0)}% (${fmt(p.oursPct, 0)}%) |`;
    const getRow = (what: string, g: Gets) => `| ${what} | ${fmtInt(g.calls)} | ${pct(g.ok, g.calls)} | ${pct(g.hedged, g.calls)} | ${fmt(g.latency.p50, 2)} | ${fmt(g.latency.p90, 2)} | ${fmt(g.latency.p99, 1)} | ${fmt(g.latency.max, 1)} | ${fmt(g.busyPct, 0)}% (${fmt(g.oursPct, 0)}%) |`;
    const cut = r.count < WANTED && !quick;
    report.section(
      `7. A cluster of ${r.count} daemons`,
      `Measured ${new Date().toISOString()} by \`npm run bench -- --only cluster\` (bench/sections/cluster.ts), on its own: ${r.count} qconfd daemons on 127.0.0.1–127.0.0.${r.count}, one port, each`,
      'mirroring one prefix of one real etcd (a single member, on the same machine), all logging at warn. The machine had',
      `${fmtInt(r.availableMB)} MB available; the cluster may take half of it (at ${ASSUMED_MB_PER_DAEMON} MB a daemon until measured)${
        quick ? ` (--quick: ${r.count} daemons)` : cut ? `, so ${r.count} daemons ran instead of ${WANTED} (${r.stoppedBecause ?? `${WANTED} would need about ${fmtInt(WANTED * ASSUMED_MB_PER_DAEMON)} MB`})` : `: all ${WANTED} fit`
      }.`,
      `Started ${PARALLEL} at a time, each ready once it answers a ping at the current revision: all serving after ${fmt(r.startS, 1)} s.`,
      '',
      `**Memory**: the daemons' resident memory summed **${fmtInt(r.rssSum)} MB** (${fmt(r.rssSum / r.count, 1)} MB a daemon on average, the largest ${fmt(r.rssMax, 1)} MB),`,
      `measured after the publishes below; ${fmtInt(r.rssAfter)} MB for the ${r.count - r.killed} left at the end.`,
      '',
      `**A publish** is one etcd put. ${CLIENTS} clients in this process (each with the whole peer list and the default coverage: a fresh`,
      `random subset of ${Math.min(DEFAULT_COVERAGE, r.count)} daemons per request, a quorum of ${neededReplies(Math.min(DEFAULT_COVERAGE, r.count))}) each wait for the new serial (\`waitFor({minSerial})\`), and`,
      `every running daemon is asked directly for a held wait on it; all are sent ${SETTLE_MS} ms before the put, and timed from the put's call`,
      "until met. \"Client's quorum\" is one sample per client and publish; \"first\" and \"all\" daemons, one per publish.",
      '',
      "| daemons | publishes | client's quorum median ms | p99 ms | samples | first daemon median ms | all daemons median ms | p99 ms | machine CPU busy (clients and cluster) |",
      '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
      pubRow(`all ${r.count}`, r.before),
      pubRow(`${r.count - r.killed} (after ${r.killed} killed)`, r.after),
      '',
      `**${r.killed} daemons killed at once** (SIGKILL, ${Math.round(KILLED_SHARE * 100)}%): each client then makes ${fmtInt(r.getsDown.calls / CLIENTS)} gets one after another (all ${CLIENTS} clients at once,`,
      `timeout ${GET_TIMEOUT_MS} ms), as before the kill (after as many unreported, to warm the daemons up). A request whose subset holds too many dead daemons for a quorum gets it only by`,
      `asking spares: at each retransmission (the first after about 200 ms) one for each daemon still silent. ${pct(r.needSpareShare, 1)} of random subsets`,
      `have more than ${Math.min(DEFAULT_COVERAGE, r.count) - neededReplies(Math.min(DEFAULT_COVERAGE, r.count))} of their daemons dead. "Asked a spare": the get was sent to more daemons than its subset.`,
      'A wait asks one spare a retransmission (its daemons hold it in silence until it is met), hence the longer tail of the waits after the kill above.',
      '',
      '| | gets | answered | asked a spare | p50 ms | p90 ms | p99 ms | max ms | machine CPU busy (clients and cluster) |',
      '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
      getRow(`all ${r.count} up`, r.getsUp),
      getRow(`${r.killed} killed`, r.getsDown),
      '',
      ...[r.getsUp, r.getsDown].flatMap((g, i) => (g.failures.length ? [`Unanswered gets ${['with all up', 'after the kill'][i]} (the first ${g.failures.length}): ${g.failures.map((f) => `"${f}"`).join('; ')}.`, ''] : [])),
      '"Machine CPU busy" is the share of all cores in use during the measurement, by anything (in brackets: by this process, the',
      'clients, and the daemons). Latencies are from one shared machine and compared within this run.',
      'With all daemons up the ten clients keep ten gets, sixty requests, in flight at all times: the two cores are saturated',
      '(a get costs a few ms of CPU in all, over a hundred processes), and the median is queueing. After the kill the gets that wait',
      'for a spare leave fewer in flight: less load, hence the lower median, and the CPU per get is about the same.',
      '',
    );
  }

  return { name: 'cluster', run, render };
}
