// Section 7 of `npm run bench`: QCF1 point lookups sealed (docs/protocol.md, "Sealed traffic")
// against the same lookups in clear, on one daemon in the same run. The two modes alternate which
// goes first in each round, so that neither always meets the machine as the other left it. The
// daemon's CPU per query shows what sealing costs it: opening the request and sealing the reply
// (the reply table still answers from the opened body).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fmt, fmtInt, progress, ratio } from '../lib/format.js';
import type { LoadResult } from '../lib/load-job.js';
import { genericBodies, genericDoc, type GenericOp } from '../lib/mixes.js';
import type { Report } from '../lib/report.js';
import { median, type RunContext, type Section } from '../lib/run-context.js';
import { latencyCells } from './throughput.js';

const ENTRIES = 10_000;
/** Point lookups: one field (a short reply), and a whole entry (about 300 bytes). */
const OPS: GenericOp[] = ['get-field', 'get-entry'];
const MODES = ['clear', 'sealed'] as const;
type Mode = (typeof MODES)[number];
/** The target: sealed point lookups at least this fraction of the same in clear. */
const TARGET = 0.7;

/** Microseconds of the daemon's CPU per answered query. */
function cpuPerQueryUs(r: LoadResult): number {
  return r.qps > 0 ? (r.daemonCpuPct / 100) * (1e6 / r.qps) : NaN;
}

export function sealedSection(ctx: RunContext): Section {
  // At least seven rounds: the order alternates, and on this shared machine a round's rate moves
  // by ±10% from one to the next, which three rounds' medians carry into the ratio.
  const rounds = Math.max(7, ctx.opts.rounds);
  const windowMs = ctx.opts.scaleWindowMs;
  const runs = new Map<string, LoadResult[]>();
  const at = (op: GenericOp, mode: Mode) => `${op}:${mode}`;
  let complete = false;

  async function run(): Promise<void> {
    progress(`sealed: point lookups in clear and sealed on a document of ${fmtInt(ENTRIES)} entries; ops ${OPS.join(', ')}; ${rounds} rounds of ${windowMs / 1000} s`);
    const file = join(ctx.work, `sealed-${ENTRIES}.json`);
    writeFileSync(file, JSON.stringify(genericDoc(ENTRIES)));
    const d = await ctx.qconfd(file, { ganeti: false });
    try {
      for (const op of OPS) {
        const bodies = genericBodies(op, ENTRIES);
        const job = (mode: Mode, round: number) => ctx.qcf1Job(d, bodies, { warmupMs: 1000, durationMs: windowMs, seed: 31 + round, seal: mode === 'sealed' });
        // Both modes answer from the same reply table (keyed by the plaintext body): one pass fills it.
        await ctx.warmPass(job('clear', 0));
        for (let round = 1; round <= rounds; round++) {
          const order: Mode[] = round % 2 === 1 ? ['clear', 'sealed'] : ['sealed', 'clear'];
          for (const mode of order) {
            const r = await ctx.measure(`${op}, ${mode}, round ${round}/${rounds}`, job(mode, round));
            runs.set(at(op, mode), [...(runs.get(at(op, mode)) ?? []), r]);
          }
        }
      }
    } finally {
      await d.stop();
    }
    complete = true;
  }

  function render(report: Report): void {
    if (!complete) return;
    const m = (op: GenericOp, mode: Mode) => median(runs.get(at(op, mode)) ?? [], (x) => x.qps);
    const ratios = OPS.map((op) => (m(op, 'sealed')?.qps ?? NaN) / (m(op, 'clear')?.qps ?? NaN));
    report.section(
      '7. Sealed traffic: point lookups sealed and in clear',
      `QCF1 \`get\`s over a generic document of ${fmtInt(ENTRIES)} entries (as in section 3), each distinct request sent once first,`,
      'on one daemon; the same requests in clear and sealed (bodies in XSalsa20-Poly1305, `docs/protocol.md`,',
      `"Sealed traffic"), pre-sealed by the generator. ${rounds} rounds of ${windowMs / 1000} s, the order of the two modes alternating;`,
      'the median round is shown. "µs/query" is the daemon\'s CPU per answered query: what sealing adds is opening',
      'the request and sealing the reply; the reply itself still comes from the table of answers kept by request body.',
      '',
      '| op | mode | queries/s | rounds | p50 ms | p99 ms | p99.9 ms | daemon CPU | µs/query |',
      '|---|---|---:|---|---:|---:|---:|---:|---:|',
      ...OPS.flatMap((op) =>
        MODES.map((mode) => {
          const r = m(op, mode);
          const all = runs.get(at(op, mode)) ?? [];
          return `| ${op} | ${mode} | ${fmtInt(r.qps)} | ${all.map((x) => fmtInt(x.qps)).join(', ')} | ${latencyCells(r)} | ${fmt(r.daemonCpuPct, 0)}% | ${fmt(cpuPerQueryUs(r), 1)} |`;
        }),
      ),
      '',
      `Sealed / clear: ${OPS.map((op, i) => `${op} **${fmt(ratios[i], 2)}×**`).join(', ')}; daemon CPU per query added by sealing: ${OPS.map((op) => `${op} ${fmt(cpuPerQueryUs(m(op, 'sealed')) - cpuPerQueryUs(m(op, 'clear')), 1)} µs`).join(', ')}.`,
      // Where the daemon does not get a whole core (other processes on a loaded machine), both modes
      // are bound by the machine, not by the daemon: its CPU per query says what a daemon-bound run would.
      `A daemon-bound run would see about ${OPS.map((op) => `${op} ${fmt(cpuPerQueryUs(m(op, 'clear')) / cpuPerQueryUs(m(op, 'sealed')), 2)}×`).join(', ')} (µs/query in clear over sealed): the throughput ratio says as much only where the daemon's CPU is near 100% in both modes.`,
      '',
    );
    const worst = Math.min(...ratios);
    report.target(`sealed QCF1 point lookups ≥ ${TARGET}× the same in clear (same daemon, same run)`, `${OPS.map((op, i) => `${op} ${ratio(ratios[i], 1)}`).join(', ')}`, worst >= TARGET);
  }

  return { name: 'sealed', run, render };
}
