// Section 4 of `npm run bench`: every plj0 request type on Ganeti configs of 3, 1,000 and
// 10,000 nodes, qconfd (side by side, in rounds) and the real ganeti-confd (one config at a
// time), with load time and memory; with --baseline-js, the baseline's load time and memory.
import { RequestType } from '../../shared/plj0/protocol.js';
import { statSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { confdQuery } from '../../testkit/ganeti/plj0-client.js';
import { GANETI_EXAMPLE_CONFIG } from '../../testkit/paths.js';
import { rssMB } from '../../testkit/proc-stats.js';
import { fmt, fmtInt, machine, progress, ratio } from '../lib/format.js';
import type { LoadResult, Plj0Template } from '../lib/load-job.js';
import { PLJ0_TYPES, ganetiConfigFile, ganetiFacts, plj0Templates, type GanetiFacts } from '../lib/mixes.js';
import { abTable, type AbRow, type Report } from '../lib/report.js';
import { median, waitIdle, type Build, type RunContext, type Section } from '../lib/run-context.js';
import { COLORS, logLinePanels, type Panel } from '../lib/svg.js';
import { startGaneti, type StartedGaneti, type StartedQconfd } from '../lib/targets.js';

interface GanetiSide {
  startMs: number;
  /** qconfd: spawn → the answer to a request needing the instance indexes (made after the first answer). */
  everyTypeMs?: number;
  rss: number;
  rssAfter: number;
  /** RSS after 10 s without requests (the largest config only). */
  rssIdle?: number;
  types: Record<number, { r: LoadResult; note: string } | undefined>;
}
interface GanetiResult {
  nodes: number;
  bytes: number;
  qconfd?: GanetiSide;
  ganeti?: GanetiSide;
  /** The baseline's qconfd: load time and memory only. */
  baseline?: GanetiSide;
}

/** ganeti-confd request types slower than this per query are measured with few in flight. */
const SLOW_MS = 50;

export function ganetiSection(ctx: RunContext): Section {
  const { quick, rounds, scaleWindowMs } = ctx.opts;
  const results: GanetiResult[] = [];

  /** How long ganeti-confd takes for one request of `type` (the first template), or Infinity. */
  async function probeGaneti(g: StartedGaneti, t: Plj0Template, timeoutMs: number): Promise<number> {
    const start = performance.now();
    try {
      await confdQuery({ port: g.port, hmacKey: ctx.gkey, type: t.type, query: t.query, timeoutMs });
    } catch {
      return Infinity;
    }
    return performance.now() - start;
  }

  /** ganeti-confd gets a probe first: slow request types are measured with few requests in flight. */
  async function measureGanetiType(g: StartedGaneti, templates: Plj0Template[], label: string): Promise<{ r: LoadResult; note: string }> {
    const probeMs = await probeGaneti(g, templates[Math.floor(templates.length / 2)], 20_000);
    let r: LoadResult;
    let note = '';
    if (!Number.isFinite(probeMs)) {
      // Not even one answer within 20 s: nothing to measure.
      r = { ...(await ctx.lg.run(ctx.plj0Job(g, templates, { concurrency: 1, warmupMs: 0, durationMs: 2000, timeoutMs: 2000, maxRequests: 4, expectRate: 1 }))), qps: 0 };
      note = 'no answer to a single request within 20 s';
    } else if (probeMs > SLOW_MS) {
      const conc = 4;
      const dur = Math.min(12_000, Math.max(scaleWindowMs, probeMs * 6));
      r = await ctx.measure(label, ctx.plj0Job(g, templates, { concurrency: conc, warmupMs: 0, durationMs: dur, timeoutMs: Math.max(2000, probeMs * 4), expectRate: Math.max(10, (conc * 1000) / probeMs) * 2 }));
      note = `slow: ${fmt(probeMs, 0)} ms for one query alone; measured with ${conc} in flight`;
    } else {
      // A fast single answer can still hide a low throughput: a long timeout, so queued requests count.
      r = await ctx.measure(label, ctx.plj0Job(g, templates, { warmupMs: 500, durationMs: scaleWindowMs, expectRate: 60_000, timeoutMs: 10_000 }));
    }
    // Let it finish what it has queued before the next type (bounded).
    if (!(await waitIdle(g.pids[0], 30_000))) note += (note ? '; ' : '') + 'still busy 30 s after the window';
    return { r, note };
  }

  /** qconfd of `build` on a config: spawn → first answer, → every request type, RSS after load. */
  async function loadQconfd(c: { nodes: number; file: string; facts: GanetiFacts; res: GanetiResult }, build: Build): Promise<{ d: StartedQconfd; side: GanetiSide }> {
    progress(` ${fmtInt(c.nodes)} nodes (${fmt(c.res.bytes / 1e6, 1)} MB): qconfd${build.role === 'baseline' ? ' [baseline]' : ''}`);
    const d = await ctx.qconfd(c.file, { readyTimeoutMs: 120_000 }, build);
    try {
      await ctx.plj0Ready(d.port, 60_000);
      // The first config's instance indexes are made after its first answer: a request needing
      // them (type 9) is answered once they are, and RSS is read after that.
      const [probe] = plj0Templates(RequestType.InstanceDisks, c.facts);
      await confdQuery({ port: d.port, hmacKey: ctx.gkey, type: probe.type, query: probe.query, timeoutMs: 60_000 });
    } catch (e) {
      await d.stop();
      throw e;
    }
    const everyTypeMs = performance.now() - d.spawnedAt;
    return { d, side: { startMs: d.startMs, everyTypeMs, rss: rssMB(d.pids[0]).rss, rssAfter: NaN, types: {} } };
  }

  async function run(): Promise<void> {
    const sizes = [3, 1000, 10_000];
    const types = PLJ0_TYPES;
    progress(`ganeti: configs of ${sizes.map(fmtInt).join(', ')} nodes, request types ${types.map((t) => t.type).join(',')}`);
    const configs: Array<{ nodes: number; file: string; facts: GanetiFacts; res: GanetiResult }> = [];
    for (const nodes of sizes) {
      const file = nodes === 3 ? GANETI_EXAMPLE_CONFIG : ganetiConfigFile(ctx.configCache, nodes);
      configs.push({ nodes, file, facts: ganetiFacts(file), res: { nodes, bytes: statSync(file).size } as GanetiResult });
    }
    // qconfd: one daemon per config, each started alone (its load time and RSS), then all running
    // side by side; every type is measured on each in turn, in rounds (the median shown), so that
    // a drift in the machine's speed cannot decide a type's ratio between sizes. A baseline's
    // daemon is started right before or after this build's (alternately), then stopped.
    const started: Array<{ d: StartedQconfd; side: GanetiSide }> = [];
    try {
      for (const c of configs) {
        const baseline: StartedQconfd[] = [];
        try {
          for (const build of ctx.nextTurn()) {
            const { d, side } = await loadQconfd(c, build);
            if (build.role === 'current') started.push({ d, side });
            else {
              baseline.push(d);
              c.res.baseline = side;
            }
          }
        } finally {
          await Promise.all(baseline.map((d) => d.stop()));
        }
      }
      for (const t of types) {
        const jobs = configs.map((c, i) => ctx.plj0Job(started[i].d, plj0Templates(t.type, c.facts), { warmupMs: 500, durationMs: scaleWindowMs, seed: 5 }));
        // Every distinct query once first, so the windows show the steady state.
        for (const job of jobs) await ctx.warmPass(job);
        const runs = configs.map(() => [] as LoadResult[]);
        for (let round = 1; round <= rounds; round++) {
          for (const [i, c] of configs.entries()) {
            runs[i].push(await ctx.measure(`qconfd ${fmtInt(c.nodes)} nodes, ${t.name}${rounds > 1 ? `, round ${round}/${rounds}` : ''}`, { ...jobs[i], seed: 5 + round }));
          }
        }
        started.forEach(({ side }, i) => (side.types[t.type] = { r: median(runs[i], (r) => r.qps), note: '' }));
      }
      for (const { d, side } of started) side.rssAfter = rssMB(d.pids[0]).rss;
      await sleep(10_000);
      const big = started[started.length - 1];
      big.side.rssIdle = rssMB(big.d.pids[0]).rss;
    } finally {
      await Promise.all(started.map(({ d }) => d.stop()));
    }
    started.forEach(({ side }, i) => (configs[i].res.qconfd = side));
    // qconfd's figures stand even if a ganeti-confd run below fails.
    results.push(...configs.map((c) => c.res));
    // ganeti-confd (quick mode: only on the 3-node config; its slow types on larger ones take minutes).
    for (const c of configs) {
      if (quick && c.nodes >= 1000) continue;
      progress(` ${fmtInt(c.nodes)} nodes: ganeti-confd (loading)`);
      const g = await startGaneti(c.file, ctx.gkey, 600_000);
      await sleep(500);
      const gs: GanetiSide = { startMs: g.startMs, rss: rssMB(g.pids[0]).rss, rssAfter: NaN, types: {} };
      try {
        for (const t of types) gs.types[t.type] = await measureGanetiType(g, plj0Templates(t.type, c.facts), `ganeti-confd ${fmtInt(c.nodes)} nodes, ${t.name}`);
        gs.rssAfter = rssMB(g.pids[0]).rss;
      } finally {
        await g.stop();
      }
      c.res.ganeti = gs;
    }
  }

  function render(report: Report): void {
    // The smallest and the largest config: the scaling targets compare them.
    const [small, big] = [results[0], results[results.length - 1]];
    if (!small) return;
    report.section(
      '4. Ganeti configs: every request type against config size',
      'Generated Ganeti 3.0 configs (`testkit/ganeti/generate-config.ts`: 5 instances per node, NICs on 3 links, DRBD',
      'and plain disks, 10 master candidates as Ganeti’s default candidate pool keeps them; written with one-space',
      'indent as Ganeti writes config.data) and Ganeti’s 3-node test config.',
      'Every request type, its queries spread over every node / instance / NIC IP of the config. The qconfd daemons of',
      `every size run side by side and take turns per type, after one pass over every distinct query, in ${rounds}`,
      'round(s), the median shown. ganeti-confd runs alone, one config at a time; it gets a probe request first, and a',
      'type slower than 50 ms per query is measured with 4 in flight for longer.',
      '',
      '| config | file MB | daemon | start → first answer s | → every request type answered s | RSS MB after load / after the run (/ 10 s later) |',
      '|---|---:|---|---:|---:|---:|',
      ...results.flatMap((g) => [
        ...(g.qconfd ? [`| ${fmtInt(g.nodes)} nodes | ${fmt(g.bytes / 1e6, 1)} | qconfd | ${fmt(g.qconfd.startMs / 1000, 2)} | ${fmt((g.qconfd.everyTypeMs ?? NaN) / 1000, 2)} | ${fmt(g.qconfd.rss, 0)} / ${fmt(g.qconfd.rssAfter, 0)}${g.qconfd.rssIdle !== undefined ? ` / ${fmt(g.qconfd.rssIdle, 0)}` : ''} |`] : []),
        ...(g.ganeti ? [`| ${fmtInt(g.nodes)} nodes | ${fmt(g.bytes / 1e6, 1)} | ganeti-confd | ${fmt(g.ganeti.startMs / 1000, 2)} | – | ${fmt(g.ganeti.rss, 0)} / ${fmt(g.ganeti.rssAfter, 0)} |`] : []),
      ]),
      '',
      ...abTable(abRows(), "The baseline's daemon on each config is started right before or after this build's (the order alternating), then stopped: its load only, not its request types."),
      `| request type | ${results.map((g) => `qconfd ${fmtInt(g.nodes)} n.`).join(' | ')} | ${results.map((g) => `ganeti ${fmtInt(g.nodes)} n.`).join(' | ')} | qconfd ${fmtInt(big.nodes)} / ${fmtInt(small.nodes)} | qconfd / ganeti at ${fmtInt(big.nodes)} |`,
      `|---|${results.map(() => '---:|').join('')}${results.map(() => '---:|').join('')}---:|---:|`,
      ...PLJ0_TYPES.map((t) => {
        const q = results.map((g) => g.qconfd?.types[t.type]?.r.qps ?? NaN);
        const gq = results.map((g) => g.ganeti?.types[t.type]?.r.qps ?? NaN);
        return `| ${t.type} ${t.name} | ${q.map(fmtInt).join(' | ')} | ${gq.map(fmtInt).join(' | ')} | ${ratio(q[q.length - 1], q[0])} | ${ratio(q[q.length - 1], gq[gq.length - 1])} |`;
      }),
      '',
      'queries/s; "–" not measured. Replies other than status 0 (sampled):',
      '',
      ...results.flatMap((g) =>
        PLJ0_TYPES.flatMap((t) => {
          const a = statusNote(g.qconfd?.types[t.type]?.r);
          const b = g.ganeti?.types[t.type];
          const bn = b ? statusNote(b.r) + (b.note ? ` [${b.note}]` : '') : '';
          return a || bn ? [`- ${fmtInt(g.nodes)} nodes, ${t.name}: ${a ? `qconfd${a}` : ''}${a && bn ? '; ' : ''}${bn ? `ganeti-confd${bn}` : ''}`] : [];
        }),
      ),
      '',
      `p99 latency (ms), qconfd at ${fmtInt(big.nodes)} nodes: ${PLJ0_TYPES.map((t) => `${t.name} ${fmt(big.qconfd?.types[t.type]?.r.latencyMs.p99, 2)}`).join(', ')}.`,
      '',
      '![queries/s against config size](chart-scaling.svg)',
      '',
    );
    // Chart: the four types of the issue's table, both daemons.
    const four = [3, 1, 7, 10];
    const panels: Panel[] = four.map((type) => ({
      title: `${type} ${PLJ0_TYPES[type].name}`,
      series: [
        { name: 'qconfd (plj0)', color: COLORS[0], points: results.map((g) => [g.nodes, g.qconfd?.types[type]?.r.qps ?? NaN] as [number, number]) },
        { name: 'ganeti-confd 3.0', color: COLORS[1], dashed: true, points: results.filter((g) => g.ganeti).map((g) => [g.nodes, g.ganeti?.types[type]?.r.qps ?? NaN] as [number, number]) },
      ],
    }));
    report.chart(
      'chart-scaling.svg',
      logLinePanels('Queries/s against Ganeti config size', `nodes (5 instances each); both axes logarithmic; ${machine()}`, 'nodes in the config', 'queries/s', panels, { yFloor: 1, xTicks: results.map((g) => g.nodes) }),
    );
    // Targets at the largest size.
    if (big.qconfd && small.qconfd) {
      const worst = PLJ0_TYPES.filter((t) => t.type !== 4 && t.type !== 6)
        .map((t) => ({ t, x: (big.qconfd?.types[t.type]?.r.qps ?? 0) / (small.qconfd?.types[t.type]?.r.qps ?? Infinity) }))
        .sort((a, b) => a.x - b.x)[0];
      report.target(
        `${fmtInt(big.nodes)}-node config: every request type at ≥ 50% of its ${fmtInt(small.nodes)}-node q/s`,
        `lowest: ${worst.t.name} at ${(worst.x * 100).toFixed(0)}% (node-pip-list and instances-ips-list answer too_large at this size, as their answers exceed a datagram)`,
        worst.x >= 0.5,
      );
      const vs = [1, 7, 10].map((type) => ({ name: PLJ0_TYPES[type].name, x: (big.qconfd?.types[type]?.r.qps ?? 0) / (big.ganeti?.types[type]?.r.qps ?? NaN) }));
      const measured = big.ganeti !== undefined;
      report.target(
        `${fmtInt(big.nodes)} nodes: node-role, node-drbd, config-query ≥ 1,000× ganeti-confd`,
        measured ? vs.map((v) => `${v.name} ${Number.isFinite(v.x) ? ratio(v.x, 1) : '∞ (ganeti: 0/s)'}`).join(', ') : 'ganeti-confd not run at this size (--quick)',
        measured ? vs.every((v) => !(v.x < 1000)) : undefined,
      );
      report.target(
        `${fmtInt(big.nodes)} nodes: load ≤ 3 s`,
        `${fmt(big.qconfd.startMs / 1000, 2)} s (spawn → first answer, Node start included${big.ganeti ? `; ganeti-confd ${fmt(big.ganeti.startMs / 1000, 1)} s, measured alike` : ''}); ` +
          `${fmt((big.qconfd.everyTypeMs ?? NaN) / 1000, 2)} s until the instance indexes made after the first answer serve too`,
        big.qconfd.startMs <= 3000,
      );
      report.target(
        `${fmtInt(big.nodes)} nodes: RSS ≤ 600 MB`,
        `${fmt(big.qconfd.rss, 0)} MB after load, ${fmt(big.qconfd.rssAfter, 0)} MB right after every request type (caches full, garbage not yet collected), ${fmt(big.qconfd.rssIdle, 0)} MB 10 s later (ganeti-confd: ${fmt(big.ganeti?.rss, 0)} MB)`,
        Math.max(big.qconfd.rss, big.qconfd.rssIdle ?? big.qconfd.rssAfter) <= 600,
      );
    }
  }
  /** qconfd's load on both builds, config by config. */
  function abRows(): AbRow[] {
    return results.flatMap((g) => {
      const a = g.qconfd;
      const b = g.baseline;
      if (!a || !b) return [];
      const n = `${fmtInt(g.nodes)} nodes`;
      return [
        { what: `${n}: start → first answer s`, current: a.startMs / 1000, baseline: b.startMs / 1000, digits: 2 },
        { what: `${n}: start → every request type answered s`, current: (a.everyTypeMs ?? NaN) / 1000, baseline: (b.everyTypeMs ?? NaN) / 1000, digits: 2 },
        { what: `${n}: RSS MB after load`, current: a.rss, baseline: b.rss, digits: 0 },
      ];
    });
  }

  return { name: 'ganeti', run, render };
}

function statusNote(r: LoadResult | undefined): string {
  if (!r) return '';
  const s = Object.entries(r.statuses).filter(([k]) => k !== '0');
  return s.length === 0 ? '' : ` (${s.map(([k, v]) => `status ${k}: ${v}`).join(', ')} of ${Object.values(r.statuses).reduce((a, b) => a + b, 0)} sampled)`;
}
