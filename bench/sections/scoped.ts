// Section 6 of `npm run bench`: access control (--access-file). One daemon serving a generic
// document of 10,000 entries to three keys: a full-access key, a key scoped to /cluster and
// /nodes, and a key limited to 50 requests/s. Measured in the same run, as ratios:
//   - point lookups by the scoped key against the same lookups by the full-access key (the
//     scoped key's replies are cached per scope, so the target is ≥ 0.9×), in interleaved rounds;
//   - the full-access key's p99 latency at a steady 2,000 queries/s while the limited key floods
//     with 64 requests in flight, against the same load with no flood.
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { makeKey } from '../../shared/keyring.js';
import { fmt, fmtInt, progress, ratio } from '../lib/format.js';
import type { LoadResult } from '../lib/load-job.js';
import { genericBodies, genericDoc } from '../lib/mixes.js';
import type { Report } from '../lib/report.js';
import { median, prioritise, quiet, type RunContext, type Section } from '../lib/run-context.js';
import { startQconfd, type StartedQconfd } from '../lib/targets.js';

const ENTRIES = 10_000;
const FLOOD_RATE = 50;
/** The steady load whose latency is measured, idle and under the flood. */
const STEADY_QPS = 2000;

interface ScopedResult {
  full: LoadResult[];
  scoped: LoadResult[];
  idle: LoadResult[];
  flooded: LoadResult[];
  flood: LoadResult[];
}

export function scopedSection(ctx: RunContext): Section {
  const { rounds: ROUNDS, scaleWindowMs } = ctx.opts;
  const res: ScopedResult = { full: [], scoped: [], idle: [], flooded: [], flood: [] };
  const scopedKey = randomBytes(32).toString('hex');
  const floodKey = randomBytes(32).toString('hex');

  async function run(): Promise<void> {
    const file = join(ctx.work, `scoped-${ENTRIES}.json`);
    writeFileSync(file, JSON.stringify(genericDoc(ENTRIES)));
    const keyFile = join(ctx.work, 'scoped.key');
    writeFileSync(keyFile, [ctx.key, scopedKey, floodKey].join('\n') + '\n', { mode: 0o600 });
    const access = join(ctx.work, 'access.json');
    const id = (k: string) => makeKey(Buffer.from(k)).idHex;
    writeFileSync(access, JSON.stringify({ default: { paths: ['*'] }, keys: { [id(scopedKey)]: { paths: ['/cluster', '/nodes'] }, [id(floodKey)]: { paths: ['/cluster'], rate: FLOOD_RATE } } }));
    progress(`scoped: a document of ${fmtInt(ENTRIES)} entries, a full-access key, a scoped key, a key limited to ${FLOOD_RATE}/s`);
    let d: StartedQconfd | undefined;
    try {
      d = await startQconfd({ file, keyFile, extraArgs: ['--access-file', access], daemonJs: ctx.current.daemonJs });
      await sleep(300);
      const lookups = genericBodies('get-field', ENTRIES);
      const as = (key: string, extra = {}) => ctx.qcf1Job(d as StartedQconfd, lookups, { key, warmupMs: 1000, durationMs: scaleWindowMs, ...extra });
      await ctx.warmPass(as(ctx.key));
      await ctx.warmPass(as(scopedKey));
      for (let round = 1; round <= ROUNDS; round++) {
        // Alternate which key goes first, so neither always meets the machine as the other left it.
        const order: Array<['full' | 'scoped', string]> = round % 2 === 1 ? [['full', ctx.key], ['scoped', scopedKey]] : [['scoped', scopedKey], ['full', ctx.key]];
        for (const [which, key] of order) res[which].push(await ctx.measure(`scoped: ${which}-access point lookups, round ${round}/${ROUNDS}`, as(key, { seed: 20 + round })));
      }
      const steady = as(ctx.key, { concurrency: 8, rateLimit: STEADY_QPS, expectRate: STEADY_QPS * 2, seed: 40 });
      // A p99 over one window moves with a single pause: three rounds at least, the median kept.
      const floodRounds = Math.max(3, ROUNDS);
      for (let round = 1; round <= floodRounds; round++) {
        res.idle.push(await ctx.measure(`scoped: full-access key at ${STEADY_QPS}/s, no flood, round ${round}/${floodRounds}`, steady));
        // The flood runs beyond the measured window on both sides; its lost requests time out fast.
        const flood = ctx.qcf1Job(d, genericBodies('get-field', 100).map(() => lookups[0]), {
          key: floodKey,
          concurrency: 64,
          warmupMs: 0,
          durationMs: steady.warmupMs + steady.durationMs + 1500,
          timeoutMs: 50,
          verifyEvery: 0,
          seed: 50,
        });
        prioritise([...steady.pids, process.pid]);
        await quiet(4000);
        const flooding = ctx.lg2.run(flood);
        await sleep(500);
        const [measured, f] = await Promise.all([ctx.lg.run(steady), flooding]);
        progress(`  scoped: full-access key at ${STEADY_QPS}/s under the flood, round ${round}/${floodRounds}: ${fmtInt(measured.qps)} q/s, p99 ${fmt(measured.latencyMs.p99, 3)} ms, daemon CPU ${fmt(measured.daemonCpuPct, 0)}%, other processes ${fmt(measured.otherCpuPct, 0)}% (the flood's generator among them); the flood got ${fmtInt(f.qps)} answers/s of ${fmtInt(f.sent / (f.windowMs / 1000))} sent/s`);
        res.flooded.push(measured);
        res.flood.push(f);
      }
    } finally {
      await d?.stop();
    }
  }

  function render(report: Report): void {
    if (res.full.length === 0) return;
    const full = median(res.full, (r) => r.qps);
    const scoped = median(res.scoped, (r) => r.qps);
    const idle = median(res.idle, (r) => r.latencyMs.p99);
    const flooded = median(res.flooded, (r) => r.latencyMs.p99);
    const flood = median(res.flood, (r) => r.qps);
    const lookupRatio = scoped.qps / full.qps;
    report.section(
      '6. Access control: scoped keys and rates',
      `One qconfd with --access-file serving a generic document of ${fmtInt(ENTRIES)} entries (get-field lookups spread over every entry,`,
      'each asked once first). The scoped key may read /cluster and /nodes: its answers come from its filtered view and',
      `are cached per scope. Point lookups by each key alternate over ${ROUNDS} round(s); the median is shown.`,
      '',
      '| key | queries/s | p50 ms | p99 ms |',
      '|---|---:|---:|---:|',
      `| full access | ${fmtInt(full.qps)} | ${fmt(full.latencyMs.p50, 3)} | ${fmt(full.latencyMs.p99, 3)} |`,
      `| scoped (/cluster, /nodes) | ${fmtInt(scoped.qps)} | ${fmt(scoped.latencyMs.p50, 3)} | ${fmt(scoped.latencyMs.p99, 3)} |`,
      '',
      `Scoped against full-access point lookups: **${ratio(scoped.qps, full.qps)}**.`,
      '',
      `A key limited to ${FLOOD_RATE} requests/s floods with 64 requests in flight while the full-access key asks at a steady`,
      `${fmtInt(STEADY_QPS)} queries/s (8 in flight); the same steady load without the flood is the reference. ${res.idle.length} rounds of each,`,
      `alternating; the median round by p99 is shown (rounds' p99 ms, no flood / under the flood: ${res.idle.map((r, i) => `${fmt(r.latencyMs.p99, 2)} / ${fmt(res.flooded[i].latencyMs.p99, 2)}`).join(', ')}).`,
      '',
      "| full-access key at 2,000 q/s | p50 ms | p99 ms | p99.9 ms | daemon CPU % | other processes' CPU % (the flood's generator included) |",
      '|---|---:|---:|---:|---:|---:|',
      `| no flood | ${fmt(idle.latencyMs.p50, 3)} | ${fmt(idle.latencyMs.p99, 3)} | ${fmt(idle.latencyMs.p999, 3)} | ${fmt(idle.daemonCpuPct, 0)} | ${fmt(idle.otherCpuPct, 0)} |`,
      `| under the flood | ${fmt(flooded.latencyMs.p50, 3)} | ${fmt(flooded.latencyMs.p99, 3)} | ${fmt(flooded.latencyMs.p999, 3)} | ${fmt(flooded.daemonCpuPct, 0)} | ${fmt(flooded.otherCpuPct, 0)} |`,
      '',
      `p99 under the flood against no flood: **${ratio(flooded.latencyMs.p99, idle.latencyMs.p99)}**. The flooding key got ${fmtInt(flood.qps)} answers/s`,
      `(its rate is ${FLOOD_RATE}/s; one \`busy\` a second is among them) of ${fmtInt(flood.sent / (flood.windowMs / 1000))} requests/s sent.`,
      '',
    );
    report.target('scoped point lookups ≥ 0.9× full-access lookups (same daemon, same run)', `${lookupRatio.toFixed(2)}×`, lookupRatio >= 0.9);
    const floodRatio = flooded.latencyMs.p99 / idle.latencyMs.p99;
    report.target(
      `a key flooding at 64 in flight against rate ${FLOOD_RATE}: another key's p99 within 2× of the same load without the flood`,
      `${floodRatio.toFixed(2)}× (${fmt(flooded.latencyMs.p99, 3)} against ${fmt(idle.latencyMs.p99, 3)} ms); the flooding key got ${fmtInt(flood.qps)} answers/s`,
      floodRatio <= 2,
    );
  }

  return { name: 'scoped', run, render };
}
