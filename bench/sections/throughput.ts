// Section 1 of `npm run bench`, side by side: queries/s of a bare echo server (the ceiling),
// qconfd over QCF1 and over plj0, and the real ganeti-confd, on Ganeti's 3-node test config
// with the same query mix, in interleaved rounds; with --baseline-js, the baseline's qconfd too.
import { RequestType } from '../../shared/plj0/protocol.js';
import { GANETI_EXAMPLE_CONFIG } from '../../testkit/paths.js';
import { fmt, fmtInt, machine, progress, ratio } from '../lib/format.js';
import type { Job, LoadResult, Plj0Template } from '../lib/load-job.js';
import { ganetiFacts, headlinePlj0, headlineQcf1 } from '../lib/mixes.js';
import { abTable, type AbRow, type Report } from '../lib/report.js';
import { median, waitIdle, type RunContext, type Section } from '../lib/run-context.js';
import { COLORS, barChart } from '../lib/svg.js';
import { startEcho, startGaneti, type Target } from '../lib/targets.js';

interface Row {
  name: string;
  r: LoadResult;
  rounds: number[];
}

/** The measurements of a round, by key, and their names in the table. */
const NAMES: Record<string, string> = {
  echo: 'echo ceiling (bare node:dgram)',
  qcf1: 'qconfd, QCF1',
  plj0: 'qconfd, plj0',
  ganeti: 'ganeti-confd 3.0, plj0',
  'plj0-master': 'qconfd, plj0 (cluster-master only)',
  'ganeti-master': 'ganeti-confd 3.0 (cluster-master only)',
};

export function throughputSection(ctx: RunContext): Section {
  const { rounds, windowMs } = ctx.opts;
  /** Every round's result per measurement; a baseline's under `KEY:baseline`. */
  const runs: Record<string, LoadResult[]> = {};
  const add = (k: string, r: LoadResult) => (runs[k] ??= []).push(r);
  const q = (k: string) => median(runs[k] ?? [], (x) => x.qps)?.qps ?? NaN;
  /** A section that failed part-way reports nothing: its rounds would be incomplete. */
  let complete = false;

  async function run(): Promise<void> {
    progress(`throughput: echo, qconfd QCF1, qconfd plj0, ganeti-confd on examples/ganeti/config.data; ${rounds} round(s) of ${windowMs / 1000} s`);
    const facts = ganetiFacts(GANETI_EXAMPLE_CONFIG);
    const qBodies = headlineQcf1(facts);
    const pMix = headlinePlj0(facts);
    const master: Plj0Template[] = [{ type: RequestType.ClusterMaster }];
    const echo = await startEcho();
    const d = await ctx.qconfd(GANETI_EXAMPLE_CONFIG);
    const b = ctx.baseline ? await ctx.qconfd(GANETI_EXAMPLE_CONFIG, {}, ctx.baseline) : undefined;
    const g = await startGaneti(GANETI_EXAMPLE_CONFIG, ctx.gkey);
    /** The same job on this build's qconfd and, in turn, on the baseline's. */
    const qconfd = async (k: string, label: string, job: (t: Target) => Job) => {
      for (const build of ctx.nextTurn()) {
        if (build.role === 'current') add(k, await ctx.measure(label, job(d)));
        else if (b) add(`${k}:baseline`, await ctx.measure(`${label} [baseline]`, job(b)));
      }
    };
    try {
      for (let round = 1; round <= rounds; round++) {
        progress(` round ${round}/${rounds}`);
        add('echo', await ctx.measure('echo (bare node:dgram)', { ...ctx.qcf1Job(echo, qBodies, { expectRate: 160_000 }), kind: 'echo' }));
        await qconfd('qcf1', 'qconfd QCF1', (t) => ctx.qcf1Job(t, qBodies));
        await qconfd('plj0', 'qconfd plj0', (t) => ctx.plj0Job(t, pMix));
        add('ganeti', await ctx.measure('ganeti-confd', ctx.plj0Job(g, pMix, { expectRate: 50_000 })));
        await waitIdle(g.pids[0], 10_000);
        await qconfd('plj0-master', 'qconfd plj0, cluster-master only', (t) => ctx.plj0Job(t, master));
        add('ganeti-master', await ctx.measure('ganeti-confd, cluster-master only', ctx.plj0Job(g, master, { expectRate: 50_000 })));
        await waitIdle(g.pids[0], 10_000);
      }
    } finally {
      await Promise.all([echo.stop(), d.stop(), b?.stop(), g.stop()]);
    }
    complete = true;
  }

  function render(report: Report): void {
    if (!complete) return;
    const rows: Row[] = Object.keys(NAMES)
      .filter((k) => (runs[k] ?? []).length > 0)
      .map((k) => ({ name: NAMES[k], r: median(runs[k], (x) => x.qps), rounds: runs[k].map((x) => x.qps) }));
    if (rows.length === 0) return;
    const h = { echo: q('echo'), qcf1: q('qcf1'), plj0: q('plj0'), ganeti: q('ganeti'), plj0Master: q('plj0-master'), ganetiMaster: q('ganeti-master') };
    report.section(
      '1. Side by side: queries/s per daemon',
      'Same machine, same run, same load generator (`bench/loadgen.ts`: 64 requests in flight, every request',
      'unique and pre-signed, replies matched by salt), same Ganeti config (`examples/ganeti/config.data`, Ganeti’s',
      '3-node test config) and the same query mix: cluster-master, node-role, node-drbd and config-query, a quarter',
      'each, over every node (plj0); the same questions as QCF1 `get`s on the same document; the echo server gets the',
      `QCF1 request datagrams. ${rounds} interleaved round(s) of ${windowMs / 1000} s after 1 s of warm-up; the median round is shown.`,
      '',
      '| daemon | queries/s | rounds | p50 ms | p99 ms | p99.9 ms | daemon CPU | daemon RSS MB | generator CPU | others CPU |',
      '|---|---:|---|---:|---:|---:|---:|---:|---:|---:|',
      ...rows.map(
        (x) =>
          `| ${x.name} | ${fmtInt(x.r.qps)} | ${x.rounds.map(fmtInt).join(', ')} | ${latencyCells(x.r)} | ${fmt(x.r.daemonCpuPct, 0)}% | ${fmt(x.r.daemonRssMB, 0)} | ${fmt(x.r.loadgenCpuPct, 0)}% | ${fmt(x.r.otherCpuPct, 0)}% |`,
      ),
      '',
      `Ratios: qconfd QCF1 / echo = **${ratio(h.qcf1, h.echo)}**; qconfd plj0 / ganeti-confd = **${ratio(h.plj0, h.ganeti)}** ` +
        `(cluster-master only: **${ratio(h.plj0Master, h.ganetiMaster)}**); ganeti-confd / echo = ${ratio(h.ganeti, h.echo)}.`,
      '',
      'CPU is per cent of one core over the window (all threads), from /proc; "others" is what every other process on',
      'the machine used meanwhile (noise: a window with more than 25% is measured again). The machine has two cores,',
      'so the generator and the daemon each get about one: where both are near 100%, the pair is at the machine’s limit.',
      '',
      ...abTable(abRows(), `Both daemons run side by side; in each round each is measured right after the other, the order alternating. Medians of ${rounds} round(s).`),
      '![queries/s per daemon](chart-throughput.svg)',
      '',
    );
    report.chart(
      'chart-throughput.svg',
      barChart(
        'Queries/s per daemon, same machine, same run',
        `Ganeti 3-node test config, mix of cluster-master/node-role/node-drbd/config-query, 64 in flight; ${machine()}`,
        'queries per second (median round)',
        rows.map((x, i) => ({
          label: x.name.replace(' (bare node:dgram)', ''),
          value: x.r.qps,
          color: [COLORS[5], COLORS[0], COLORS[2], COLORS[1], COLORS[2], COLORS[1]][i],
          note:
            x.name.startsWith('qconfd, QCF1') ? `${ratio(x.r.qps, h.echo)} echo` : x.name === 'qconfd, plj0' ? `${ratio(x.r.qps, h.ganeti)} ganeti` : x.name.includes('qconfd, plj0 (cluster') ? `${ratio(x.r.qps, h.ganetiMaster)} ganeti` : '',
        })),
      ),
    );
    report.target('qconfd over plj0 ≥ 3× ganeti-confd (same config and mix, one run)', `${ratio(h.plj0, h.ganeti)} (cluster-master only ${ratio(h.plj0Master, h.ganetiMaster)})`, (h.plj0 ?? 0) >= 3 * (h.ganeti ?? Infinity));
    report.target('qconfd over QCF1 ≥ 0.75× the echo ceiling (same run)', ratio(h.qcf1, h.echo), (h.qcf1 ?? 0) >= 0.75 * (h.echo ?? Infinity));
  }

  /** qconfd's measurements on both builds: queries/s (median round) and p99 of that round. */
  function abRows(): AbRow[] {
    return ['qcf1', 'plj0', 'plj0-master'].flatMap((k) => {
      const a = runs[k] ?? [];
      const b = runs[`${k}:baseline`] ?? [];
      if (a.length === 0 || b.length === 0) return [];
      const ma = median(a, (x) => x.qps);
      const mb = median(b, (x) => x.qps);
      return [
        { what: `${NAMES[k]}: queries/s`, current: ma.qps, baseline: mb.qps, digits: 0, others: [ma.otherCpuPct, mb.otherCpuPct] },
        { what: `${NAMES[k]}: p99 ms`, current: ma.latencyMs.p99, baseline: mb.latencyMs.p99, digits: 3, others: [ma.otherCpuPct, mb.otherCpuPct] },
      ];
    });
  }

  return { name: 'throughput', run, render };
}

export function latencyCells(r: LoadResult): string {
  return `${fmt(r.latencyMs.p50, 3)} | ${fmt(r.latencyMs.p99, 3)} | ${fmt(r.latencyMs.p999, 3)}`;
}
