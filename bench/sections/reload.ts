// Section 5 of `npm run bench`: the longest gap in replies while qconfd, under load over QCF1
// (and plj0), has its largest documents replaced; with --baseline-js, the baseline under the
// same reload, in turn.
import { copyFileSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fmt, fmtInt, progress } from '../lib/format.js';
import type { LoadResult } from '../lib/load-job.js';
import { ganetiConfigFile, ganetiFacts, genericBodies, genericDoc, headlinePlj0, headlineQcf1 } from '../lib/mixes.js';
import { abTable, type AbRow, type Report } from '../lib/report.js';
import { prioritise, type Build, type RunContext, type Section } from '../lib/run-context.js';

interface ReloadResult {
  what: string;
  build: Build;
  bytes: number;
  results: Array<{ proto: string; r: LoadResult; oldSerial: number }>;
  servedAfterMs: number;
}

export function reloadSection(ctx: RunContext): Section {
  const { quick } = ctx.opts;
  const reloads: ReloadResult[] = [];
  let runs = 0;

  async function reloadRun(what: string, file: string, replacement: string, ganeti: boolean, build: Build): Promise<void> {
    const n = runs++;
    const dir = join(ctx.work, `reload-${n}`);
    mkdirSync(dir);
    const served = join(dir, ganeti ? 'config.data' : 'doc.json');
    copyFileSync(file, served);
    const staged = join(ctx.work, `staged-${n}.json`);
    copyFileSync(replacement, staged);
    const label = `${what}${build.role === 'baseline' ? ' [baseline]' : ''}`;
    const d = await ctx.qconfd(served, { ganeti, readyTimeoutMs: 120_000 }, build);
    try {
      if (ganeti) await ctx.plj0Ready(d.port, 60_000);
      // As in every other section: the measured daemon gets a little priority over the generators.
      prioritise([...d.pids, process.pid]);
      const old = JSON.parse(readFileSync(file, 'utf8')) as { serial_no: number; cluster?: { serial_no?: number } };
      // QCF1 replies carry the document's serial; these plj0 replies, the cluster's.
      const oldSerial = old.serial_no;
      const oldPlj0Serial = old.cluster?.serial_no ?? old.serial_no;
      const durationMs = quick ? 8000 : 12_000;
      const jobs: Array<Promise<{ proto: string; r: LoadResult; oldSerial: number }>> = [];
      const facts = ganeti ? ganetiFacts(file) : undefined;
      const qBodies = ganeti && facts ? headlineQcf1(facts) : genericBodies('get-field', 100_000, 20_000);
      // plj0: request types whose replies carry the cluster's serial, so the switch is visible.
      const pMix = facts ? headlinePlj0(facts).filter((t) => t.type !== 7) : [];
      const common = { warmupMs: 1000, durationMs, concurrency: 32, verifyEvery: 4, seed: 9, expectRate: 45_000 };
      let windows = 0;
      let opened: () => void = () => undefined;
      const allOpen = new Promise<void>((r) => (opened = r));
      const need = ganeti ? 2 : 1;
      const onWindow = () => {
        if (++windows === need) opened();
      };
      const hard = common.warmupMs + durationMs + 120_000;
      jobs.push(ctx.lg.run(ctx.qcf1Job(d, qBodies, common), hard, onWindow).then((r) => ({ proto: 'QCF1', r, oldSerial })));
      if (ganeti) jobs.push(ctx.lg2.run(ctx.plj0Job(d, pMix, common), hard, onWindow).then((r) => ({ proto: 'plj0', r, oldSerial: oldPlj0Serial })));
      // Replace the document 1.5 s into the measured windows.
      await allOpen;
      await sleep(1500);
      const t0 = Date.now();
      renameSync(staged, served);
      progress(`  ${label}: replaced the document; measuring`);
      const results = await Promise.all(jobs);
      for (const { proto, r, oldSerial: was } of results) {
        const newer = r.serials.find((s) => s.serial !== was);
        progress(`  ${label}, ${proto}: ${fmtInt(r.qps)} q/s, longest gap ${fmt(r.maxGapMs, 1)} ms (from ${fmtInt(r.maxGapAtMs)} ms), p99.9 ${fmt(r.latencyMs.p999, 2)} ms, new serial first seen ${newer ? fmt(newer.firstMs, 0) : '–'} ms into the window; other processes ${fmt(r.otherCpuPct, 0)}%`);
      }
      reloads.push({ what, build, bytes: statSync(served).size, results, servedAfterMs: Date.now() - t0 });
    } finally {
      await d.stop();
    }
  }

  /** The same reload on this build and, in turn, on the baseline. */
  async function reloadEach(what: string, file: string, replacement: string, ganeti: boolean): Promise<void> {
    for (const build of ctx.nextTurn()) await reloadRun(what, file, replacement, ganeti, build);
  }

  async function run(): Promise<void> {
    progress('reload: replacing the largest documents under load');
    const g = ganetiConfigFile(ctx.configCache, 10_000);
    const g2 = ganetiConfigFile(ctx.configCache, 10_000, 9001);
    await reloadEach('Ganeti config, 10,000 nodes', g, g2, true);
    if (!quick) {
      const a = join(ctx.work, 'generic-100k-a.json');
      const b = join(ctx.work, 'generic-100k-b.json');
      writeFileSync(a, JSON.stringify(genericDoc(100_000, 1)));
      writeFileSync(b, JSON.stringify(genericDoc(100_000, 2)));
      await reloadEach('generic document, 100,000 entries', a, b, false);
    }
  }

  function render(report: Report): void {
    const current = reloads.filter((x) => x.build.role === 'current');
    if (current.length === 0) return;
    report.section(
      '5. Reload without stall',
      'qconfd under load (32 in flight per protocol) while its document is replaced by a rename (a new serial). The',
      'document is parsed in slices (`daemon/source/json-sliced.ts`) and the Ganeti view is built in slices',
      '(`buildGanetiViewSteps`), so answers keep flowing from the previous snapshot meanwhile; "longest gap" is the',
      'longest time without any reply in the window, which includes garbage-collection pauses. As in the other',
      'sections the daemon runs at a slightly higher priority (nice -5) than the two load generators sharing its two cores.',
      '',
      '| document | MB | protocol | queries/s in window | longest gap ms | gap began (ms into window) | p99 ms | p99.9 ms | max ms | new serial first answered (ms into window) |',
      '|---|---:|---|---:|---:|---:|---:|---:|---:|---:|',
      ...current.flatMap((x) =>
        x.results.map(({ proto, r, oldSerial }) => {
          const newer = r.serials.find((s) => s.serial !== oldSerial);
          return `| ${x.what} | ${fmt(x.bytes / 1e6, 1)} | ${proto} | ${fmtInt(r.qps)} | **${fmt(r.maxGapMs, 1)}** | ${fmtInt(r.maxGapAtMs)} | ${fmt(r.latencyMs.p99, 2)} | ${fmt(r.latencyMs.p999, 2)} | ${fmt(r.latencyMs.max, 1)} | ${newer ? fmtInt(newer.firstMs) : '–'} |`;
        }),
      ),
      '',
      'The replacement happens 1.5 s into the window. Ganeti requests are answered from the previous',
      'snapshot until the new view is complete; QCF1 switches as soon as the document is parsed.',
      '',
      ...abTable(abRows(current), 'Each build gets the same reload under the same load, one after the other (the order alternating).'),
    );
    const big = current[0];
    const gap = Math.max(...big.results.map((x) => x.r.maxGapMs));
    report.target(`${big.what}: longest reply gap during a reload ≤ 50 ms`, `${fmt(gap, 1)} ms`, gap <= 50);
  }

  function abRows(current: ReloadResult[]): AbRow[] {
    return current.flatMap((a) => {
      const b = reloads.find((x) => x.build.role === 'baseline' && x.what === a.what);
      if (!b) return [];
      return a.results.flatMap(({ proto, r }) => {
        const rb = b.results.find((x) => x.proto === proto)?.r;
        if (!rb) return [];
        return [
          { what: `${a.what}, ${proto}: longest gap ms`, current: r.maxGapMs, baseline: rb.maxGapMs, digits: 1, others: [r.otherCpuPct, rb.otherCpuPct] },
          { what: `${a.what}, ${proto}: p99.9 ms`, current: r.latencyMs.p999, baseline: rb.latencyMs.p999, digits: 2, others: [r.otherCpuPct, rb.otherCpuPct] },
        ];
      });
    });
  }

  return { name: 'reload', run, render };
}
