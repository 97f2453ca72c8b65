// Section 3 of `npm run bench`: QCF1 point lookups and other ops against the size of a generic
// document (1,000, 10,000 and 100,000 entries), with each daemon's start time and memory; with
// --baseline-js, the baseline's daemons beside them, measured in turn.
import { writeFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { rssMB } from '../../testkit/proc-stats.js';
import { fmt, fmtInt, progress, ratio } from '../lib/format.js';
import type { LoadResult } from '../lib/load-job.js';
import { GENERIC_OPS, genericBodies, genericDoc, type GenericOp } from '../lib/mixes.js';
import { abTable, type AbRow, type Report } from '../lib/report.js';
import { median, type Build, type RunContext, type Section } from '../lib/run-context.js';
import type { StartedQconfd } from '../lib/targets.js';

interface GenericResult {
  n: number;
  bytes: number;
  startMs: number;
  rssIdle: number;
  rssAfter: number;
  ops: Partial<Record<GenericOp, LoadResult>>;
}

export function genericSection(ctx: RunContext): Section {
  const { quick, rounds: ROUNDS, scaleWindowMs } = ctx.opts;
  const results: GenericResult[] = [];
  const baselineResults: GenericResult[] = [];

  async function run(): Promise<void> {
    const sizes = quick ? [1000, 100_000] : [1000, 10_000, 100_000];
    const ops: GenericOp[] = quick ? ['get-entry', 'get-field'] : GENERIC_OPS;
    progress(`generic: documents of ${sizes.map(fmtInt).join(', ')} entries; ops ${ops.join(', ')}`);
    // Every size's daemon runs for the whole section and the sizes take turns per op (point
    // lookups for several rounds), so a drift in the machine's speed does not decide the ratio.
    // A baseline's daemon of the same size takes its turn right before or after.
    const started: Array<Array<{ n: number; build: Build; d: StartedQconfd; res: GenericResult }>> = [];
    try {
      for (const n of sizes) {
        const file = join(ctx.work, `generic-${n}.json`);
        writeFileSync(file, JSON.stringify(genericDoc(n)));
        const size: (typeof started)[number] = [];
        started.push(size);
        for (const build of ctx.nextTurn()) {
          const d = await ctx.qconfd(file, { ganeti: false }, build);
          await sleep(300);
          size.push({ n, build, d, res: { n, bytes: statSync(file).size, startMs: d.startMs, rssIdle: rssMB(d.pids[0]).rss, rssAfter: NaN, ops: {} } });
        }
      }
      for (const op of ops) {
        // The ratio is the point: three rounds at least even when quick (one round's ratio moved by ±0.15).
        const rounds = op === 'get-entry' || op === 'get-field' ? Math.max(ROUNDS, 3) : 1;
        const runs = new Map<GenericResult, LoadResult[]>();
        for (let round = 1; round <= rounds; round++) {
          for (const size of started) {
            for (const build of ctx.nextTurn()) {
              const { n, d, res } = size.find((s) => s.build === build)!;
              const job = ctx.qcf1Job(d, genericBodies(op, n), { warmupMs: 1000, durationMs: scaleWindowMs, seed: 11 + round });
              // Before the first round every key is asked once: the steady state, caches filled.
              if (round === 1) await ctx.warmPass(job);
              const label = `${fmtInt(n)} entries, ${op}${rounds > 1 ? `, round ${round}/${rounds}` : ''}${build.role === 'baseline' ? ' [baseline]' : ''}`;
              runs.set(res, [...(runs.get(res) ?? []), await ctx.measure(label, job)]);
            }
          }
        }
        for (const [res, rs] of runs) res.ops[op] = median(rs, (r) => r.qps);
      }
      for (const { d, res } of started.flat()) res.rssAfter = rssMB(d.pids[0]).rss;
    } finally {
      await Promise.all(started.flat().map(({ d }) => d.stop()));
    }
    for (const { build, res } of started.flat()) (build.role === 'current' ? results : baselineResults).push(res);
  }

  function render(report: Report): void {
    if (results.length === 0) return;
    const ops = Object.keys(results[0].ops) as GenericOp[];
    const first = results[0];
    const last = results[results.length - 1];
    report.section(
      '3. Generic documents: point lookups against document size',
      'QCF1 over documents of N node entries (about 300 bytes each). Requests are spread uniformly over every entry',
      '(`get-entry`: a whole entry; `get-field`: one field; `mget-4`: four fields of four entries; `list-entry`: an',
      "entry's keys; `get-missing`: an absent key; `ping`). Each op's distinct requests are each sent once, in order,",
      'first, so the window shows the steady state (answers cached per snapshot as far as 64 MB of replies per',
      `snapshot hold them for QCF1). The daemons of every size run side by side and take turns; get-entry and get-field are`,
      `measured in ${Math.max(ROUNDS, 3)} interleaved round(s), the median shown.`,
      '',
      `| entries | file MB | start → first answer ms | RSS MB idle / after | ${ops.join(' q/s | ')} q/s |`,
      `|---:|---:|---:|---:|${ops.map(() => '---:|').join('')}`,
      ...results.map((g) => `| ${fmtInt(g.n)} | ${fmt(g.bytes / 1e6, 1)} | ${fmtInt(g.startMs)} | ${fmt(g.rssIdle, 0)} / ${fmt(g.rssAfter, 0)} | ${ops.map((o) => fmtInt(g.ops[o]?.qps ?? NaN)).join(' | ')} |`),
      '',
      `p99 latency (ms) by op: ${results.map((g) => `${fmtInt(g.n)} entries: ${ops.map((o) => `${o} ${fmt(g.ops[o]?.latencyMs.p99, 2)}`).join(', ')}`).join('; ')}.`,
      '',
      `Point lookups, ${fmtInt(last.n)} vs ${fmtInt(first.n)} entries: get-entry **${ratio(last.ops['get-entry']?.qps ?? NaN, first.ops['get-entry']?.qps ?? NaN)}**, get-field **${ratio(last.ops['get-field']?.qps ?? NaN, first.ops['get-field']?.qps ?? NaN)}**.`,
      '',
      ...abTable(abRows(ops), `Each size's two daemons run side by side and are measured one right after the other, the order alternating; queries/s are medians of the rounds.`),
    );
    const worst = Math.min(
      (last.ops['get-entry']?.qps ?? 0) / (first.ops['get-entry']?.qps ?? Infinity),
      (last.ops['get-field']?.qps ?? 0) / (first.ops['get-field']?.qps ?? Infinity),
    );
    report.target(`generic documents: point lookups on ${fmtInt(last.n)} entries ≥ 0.9× those on ${fmtInt(first.n)}`, `${worst.toFixed(2)}× (the lower of get-entry and get-field)`, worst >= 0.9);
  }

  function abRows(ops: GenericOp[]): AbRow[] {
    return results.flatMap((a) => {
      const b = baselineResults.find((x) => x.n === a.n);
      if (!b) return [];
      const e = `${fmtInt(a.n)} entries`;
      return [
        { what: `${e}: start → first answer ms`, current: a.startMs, baseline: b.startMs, digits: 0 },
        { what: `${e}: RSS MB idle`, current: a.rssIdle, baseline: b.rssIdle, digits: 0 },
        { what: `${e}: RSS MB after the run`, current: a.rssAfter, baseline: b.rssAfter, digits: 0 },
        ...ops.map((o): AbRow => ({ what: `${e}: ${o} queries/s`, current: a.ops[o]?.qps ?? NaN, baseline: b.ops[o]?.qps ?? NaN, digits: 0, others: [a.ops[o]?.otherCpuPct ?? NaN, b.ops[o]?.otherCpuPct ?? NaN] })),
      ];
    });
  }

  return { name: 'generic', run, render };
}
